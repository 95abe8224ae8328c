"""Assignment pages: preferences for members, runs and publication for staff, access rules."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from models import AssignmentRun, AuditEntry, CourseRole, db
from review.assignment import services
from tests.factories import grant_ta, make_course, make_group, make_member
from tests.querycount import count_queries
from tests.services.test_assignment_services import (BEFORE_TERM, OPEN, course_with_groups,
                                                     holders, member_of, session_ids)


@pytest.fixture(autouse=True)
def before_the_term(monkeypatch) -> None:
    monkeypatch.setattr("review.assignment.views.utcnow", lambda: BEFORE_TERM)


@pytest.fixture
def setup(app):
    course, groups = course_with_groups(4)
    other = make_course("other-course", signup=OPEN)
    people = {
        "instructor": make_member(course, CourseRole.instructor),
        "ta": make_member(course, CourseRole.ta),
        "loner": make_member(course, CourseRole.student),
        "outsider": make_member(other, CourseRole.student),
        "outsider_staff": make_member(other, CourseRole.instructor),
    }
    db.session.commit()
    return {"course": course, "groups": groups, **people}


def test_a_member_ranks_papers_without_javascript(client, login, setup) -> None:
    course, group = setup["course"], setup["groups"][0]
    ids = session_ids(course)
    login(member_of(group))
    page = client.get("/c/asg-course/preferences")
    assert page.status_code == 200
    assert f'name="rank_{ids[3]}"' in page.text and f'name="unavailable_{ids[6]}"' in page.text
    assert "<script>" not in page.text
    response = client.post("/c/asg-course/preferences",
                           data={f"rank_{ids[5]}": "1", f"rank_{ids[3]}": "2",
                                 f"unavailable_{ids[6]}": "y"})
    assert response.status_code == 302
    stored = services.preferences_of(group)
    assert stored.ranking == [ids[5], ids[3]] and stored.unavailable == {ids[6]}
    again = client.get("/c/asg-course/preferences")
    assert f'name="rank_{ids[5]}" size="3" type="number" value="1"' in again.text
    assert f'name="rank_{ids[3]}" size="3" type="number" value="2"' in again.text
    assert f'checked id="unavailable_{ids[6]}"' in again.text


def test_duplicate_ranks_are_shown_by_paper_and_not_saved(client, login, setup) -> None:
    course, group = setup["course"], setup["groups"][0]
    ids = session_ids(course)
    login(member_of(group))
    response = client.post("/c/asg-course/preferences",
                           data={f"rank_{ids[3]}": "1", f"rank_{ids[4]}": "1"})
    assert response.status_code == 422
    assert "rank 1 is given to more than one paper: week 3 (&#39;Paper of week 3&#39;) and " \
           "week 4" in response.text
    assert services.preferences_of(group).ranking == []


def test_closed_preferences_refuse_saving(client, login, app) -> None:
    course, groups = course_with_groups(3, signup={"closes_at": "2021-01-01T00:00:00"})
    db.session.commit()
    ids = session_ids(course)
    login(member_of(groups[0]))
    page = client.get("/c/asg-course/preferences")
    assert "Preferences are closed" in page.text and "Save preferences" not in page.text
    response = client.post("/c/asg-course/preferences", data={f"rank_{ids[3]}": "1"})
    assert response.status_code == 422
    assert services.preferences_of(groups[0]).ranking == []


def test_a_student_without_a_group_is_told_so(client, login, setup) -> None:
    login(setup["loner"])
    page = client.get("/c/asg-course/preferences")
    assert page.status_code == 200 and "You are not in a group yet" in page.text


@pytest.mark.parametrize("url", ["/c/asg-course/preferences", "/c/asg-course/assignment",
                                 "/c/asg-course/assignment/import"])
def test_people_of_another_course_get_404(client, login, setup, url) -> None:
    for who in ("outsider", "outsider_staff"):
        login(setup[who])
        assert client.get(url).status_code == 404
    assert client.post("/c/asg-course/assignment/run").status_code == 404


def test_students_cannot_run_publish_or_import(client, login, setup) -> None:
    run = services.run_assignment(setup["course"], None, BEFORE_TERM)
    db.session.commit()
    login(member_of(setup["groups"][0]))
    assert client.get("/c/asg-course/assignment").status_code == 403
    assert client.post("/c/asg-course/assignment/run").status_code == 403
    assert client.get(f"/c/asg-course/assignment/runs/{run.id}").status_code == 403
    assert client.post(f"/c/asg-course/assignment/runs/{run.id}/publish").status_code == 403
    assert client.post("/c/asg-course/assignment/import").status_code == 403
    assert set(holders(setup["course"]).values()) == {None}


def test_staff_do_not_edit_group_preferences(client, login, setup) -> None:
    login(setup["ta"])
    assert client.get("/c/asg-course/preferences").status_code == 403


def test_a_run_of_another_course_is_404(client, login, setup) -> None:
    other_course, _ = course_with_groups(3, code="third-course")
    run = services.run_assignment(other_course, None, BEFORE_TERM)
    grant_ta(setup["course"], "publish_assignment")
    db.session.commit()
    login(setup["ta"])
    assert client.get(f"/c/asg-course/assignment/runs/{run.id}").status_code == 404
    assert client.post(f"/c/asg-course/assignment/runs/{run.id}/publish").status_code == 404


def test_staff_run_preview_and_publish(client, login, setup) -> None:
    course, groups = setup["course"], setup["groups"]
    ids = session_ids(course)
    services.save_group_preferences(groups[0], member_of(groups[0]), {ids[4]: 1}, set(),
                                    BEFORE_TERM)
    grant_ta(course, "publish_assignment")
    db.session.commit()
    login(setup["ta"])
    index = client.get("/c/asg-course/assignment")
    assert index.status_code == 200 and "G01" in index.text
    assert "none (gets the slots nobody wanted)" in index.text
    response = client.post("/c/asg-course/assignment/run")
    assert response.status_code == 302
    run = db.session.scalar(select(AssignmentRun))
    assert response.headers["Location"].endswith(f"/c/asg-course/assignment/runs/{run.id}")
    preview = client.get(f"/c/asg-course/assignment/runs/{run.id}")
    assert preview.status_code == 200
    assert re.search(r"Week 4 \(Paper of week 4\): (Overview|Strengths|Weaknesses) · choice 1",
                     preview.text)
    assert 'id="histogram"' in preview.text and "Worst-off group" in preview.text
    assert "Publish this assignment" in preview.text
    assert set(holders(course).values()) == {None}
    published = client.post(f"/c/asg-course/assignment/runs/{run.id}/publish",
                            follow_redirects=True)
    assert "is published: 12 slot(s) changed holder" in published.text
    db.session.expire_all()
    assert None not in set(holders(course).values())
    assert db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "publish_assignment")).actor_id == setup["ta"].id
    # Students see their slots on the course page.
    login(member_of(groups[0]))
    home = client.get("/c/asg-course/")
    assert "It presents in the highlighted slots below" in home.text


def test_an_infeasible_run_explains_and_offers_the_relaxation(client, login, app) -> None:
    course, _ = course_with_groups(4, signup={"quota": 2})
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    page = client.post("/c/asg-course/assignment/run", follow_redirects=True)
    assert "No assignment meets every rule" in page.text
    assert "4 slots short" in page.text
    assert "Run again allowing a quota of 3" in page.text
    assert "Publish this assignment" not in page.text
    relaxed = client.post("/c/asg-course/assignment/run",
                          data={"quota": "3", "min_gap_weeks": "", "keep_fixed": "1"},
                          follow_redirects=True)
    assert "Publish this assignment" in relaxed.text
    latest = db.session.scalars(select(AssignmentRun).order_by(AssignmentRun.id.desc())).first()
    assert latest.status == "optimal" and latest.result["options"]["effective_quota"] == 3


def test_publishing_an_outdated_run_is_refused_on_the_page(client, login, setup) -> None:
    course = setup["course"]
    older = services.run_assignment(course, None, BEFORE_TERM)
    newer = services.run_assignment(course, None, BEFORE_TERM)
    db.session.commit()
    login(setup["instructor"])
    page = client.get(f"/c/asg-course/assignment/runs/{older.id}")
    assert f"Run #{newer.id} is newer" in page.text
    refused = client.post(f"/c/asg-course/assignment/runs/{older.id}/publish",
                          follow_redirects=True)
    assert f"older than run #{newer.id}" in refused.text
    assert set(holders(course).values()) == {None}


def test_import_page_reports_bad_rows(client, login, setup) -> None:
    login(setup["instructor"])
    data = {"file": (io.BytesIO(b"group,ranking,unavailable\nG01,3;4,\nNope,4,\nG02,3;z,\n"),
                     "prefs.csv")}
    response = client.post("/c/asg-course/assignment/import", data=data,
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert "row 3, column group: no group named &#39;Nope&#39;" in response.text
    assert "row 4, column ranking: &#39;z&#39; is not a week number" in response.text
    assert services.preferences_of(setup["groups"][0]).ranking == []
    good = {"file": (io.BytesIO(b"group,ranking,unavailable\nG01,3;4,\n"), "prefs.csv")}
    response = client.post("/c/asg-course/assignment/import", data=good,
                           content_type="multipart/form-data", follow_redirects=True)
    assert "Imported preferences of 1 group(s)" in response.text
    assert len(services.preferences_of(setup["groups"][0]).ranking) == 2


def test_nav_shows_assignment_to_staff_and_preferences_to_students(client, login, setup) -> None:
    login(setup["ta"])
    assert 'href="/c/asg-course/assignment">Assignment</a>' in client.get("/c/asg-course/").text
    login(member_of(setup["groups"][0]))
    assert 'href="/c/asg-course/preferences">Preferences</a>' in client.get("/c/asg-course/").text


def _preview_queries(client, login, groups: int) -> int:
    code = f"size-{groups}"
    course = make_course(code, session_weeks=tuple(range(2, 10)), weeks=10, signup=OPEN)
    instructor = make_member(course, CourseRole.instructor)
    for index in range(groups):
        make_group(course, [make_member(course)], name=f"T{index:02d}")
    run = services.run_assignment(course, instructor, BEFORE_TERM)
    db.session.commit()
    login(instructor)
    with count_queries() as counter:
        page = client.get(f"/c/{code}/assignment/runs/{run.id}")
    assert page.status_code == 200 and "Worst-off group" in page.text
    index_count = 0
    with count_queries() as index_counter:
        assert client.get(f"/c/{code}/assignment").status_code == 200
    index_count = index_counter.count
    return counter.count * 1000 + index_count


def test_preview_and_index_queries_do_not_grow_with_the_number_of_groups(client, login) -> None:
    assert _preview_queries(client, login, 6) == _preview_queries(client, login, 12)
