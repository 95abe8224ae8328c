"""The fairness option of a run, from the run form and the CLI, with its cost reported."""

from __future__ import annotations

import json

import pytest

from models import CourseRole, db
from review.assignment import services
from review.assignment.services import RunOptions
from tests.factories import make_member
from tests.services.test_assignment_frozen import BEFORE_TERM, save, second_course

ONE_ROLE = [{"key": "talk", "name": "Talk", "minutes": 25}]


@pytest.fixture
def unfair(app):
    """Team A ranks weeks 1, 2; Team B only week 1; Team C weeks 2, 3. The plain optimum
    (cost 6) gives B the unranked week 3; the fair one (cost 9) gives B week 1."""
    course, groups = second_course(3, (1, 2, 3), code="fair-course", roles=ONE_ROLE)
    for group, weeks in zip(groups, ([1, 2], [1], [2, 3])):
        save(group, weeks, course=course, now=BEFORE_TERM)
    staff = make_member(course, CourseRole.instructor)
    db.session.commit()
    return course, groups, staff


def test_a_plain_run_can_leave_a_group_without_a_ranked_session(unfair) -> None:
    course, groups, _ = unfair
    run = services.run_assignment(course, None, BEFORE_TERM)
    assert run.objective == 6
    b = next(row for row in run.result["groups"] if row["group"] == "Team B")
    assert [slot["rank"] for slot in b["slots"]] == [None]
    assert "fairness" not in run.result


def test_the_fair_run_reports_its_cost_against_the_plain_optimum(unfair) -> None:
    course, groups, _ = unfair
    run = services.run_assignment(course, None, BEFORE_TERM,
                                  RunOptions(fairness="at-least-one-ranked"))
    assert run.status == "optimal" and run.objective == 9
    report = run.result["fairness"]
    assert report["plain_objective"] == 6 and report["plain_without_ranked"] == ["Team B"]
    assert report["without_ranked"] == []
    assert "objective 9 vs 6 without it" in run.result["message"]


def test_the_cli_takes_the_fairness_option(unfair, runner, monkeypatch) -> None:
    monkeypatch.setattr("review.assignment.commands.utcnow", lambda: BEFORE_TERM)
    result = runner.invoke(args=["assign", "run", "fair-course", "--json",
                                 "--fairness", "at-least-one-ranked"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["objective"] == 9
    assert document["fairness"]["plain_objective"] == 6
    assert document["fairness"]["plain_without_ranked"] == ["Team B"]
    readable = runner.invoke(args=["assign", "run", "fair-course", "--fairness", "min-worst"])
    assert readable.exit_code == 0, readable.output
    assert "Fairness rule (the worst choice first, then the total)" in readable.output
    bad = runner.invoke(args=["assign", "run", "fair-course", "--fairness", "kind"])
    assert bad.exit_code != 0 and "at-least-one-ranked" in bad.output


def test_an_impossible_fairness_rule_is_explained_and_the_plain_run_offered(app, runner,
                                                                              monkeypatch) -> None:
    course, groups = second_course(3, (1, 2, 3), code="unfair-course", roles=ONE_ROLE)
    for group in groups[:2]:
        save(group, [1], course=course, now=BEFORE_TERM)
    db.session.commit()
    run = services.run_assignment(course, None, BEFORE_TERM,
                                  RunOptions(fairness="at-least-one-ranked"))
    assert run.status == "infeasible"
    (reason,) = run.result["explanation"]
    assert reason["rule"] == "fairness" and "at least 1 group must go without one" in reason["message"]
    (offer,) = run.result["relaxations"]
    assert offer["label"] == "Run again without the fairness rule"
    again = services.run_assignment(course, None, BEFORE_TERM,
                                    RunOptions.from_dict(offer["options"]))
    assert again.status == "optimal"


def test_the_run_page_offers_fairness_and_shows_its_cost_changes_and_warnings(
        unfair, client, login, monkeypatch) -> None:
    course, groups, staff = unfair
    monkeypatch.setattr("review.assignment.views.utcnow", lambda: BEFORE_TERM)
    login(staff)
    index = client.get("/c/fair-course/assignment")
    assert 'name="fairness"' in index.text and "at-least-one-ranked" in index.text
    response = client.post("/c/fair-course/assignment/run", data={"fairness": "at-least-one-ranked"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert 'id="fairness"' in page.text
    assert "Total cost 9 vs 6 without the rule" in page.text
    assert "without the rule 1 (Team B)" in page.text
    assert 'id="changes"' in page.text and "Publishing gives 3 slot(s) a new holder" in page.text
    assert "Preferences are still open until" in page.text
    bad = client.post("/c/fair-course/assignment/run", data={"fairness": "kind"},
                      follow_redirects=True)
    assert "Not a valid choice" in bad.text
