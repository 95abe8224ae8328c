"""``flask assign ...``: the JSON shape of a run, the readable summary, publish, import."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from models import AssignmentRun, Slot, db
from tests.services.test_assignment_services import (BEFORE_TERM, course_with_groups, holders,
                                                     save)


@pytest.fixture(autouse=True)
def before_the_term(monkeypatch) -> None:
    monkeypatch.setattr("review.assignment.commands.utcnow", lambda: BEFORE_TERM)


def test_run_json_has_the_documented_shape(app, runner) -> None:
    course, groups = course_with_groups(4)
    save(groups[0], [3, 4], course=course)
    db.session.commit()
    result = runner.invoke(args=["assign", "run", "asg-course", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "optimal"
    assert isinstance(document["objective"], int)
    assert "explanation" not in document
    assert len(document["assignments"]) == 12
    for item in document["assignments"]:
        assert set(item) == {"group", "week", "role", "rank"}
    ranks = {(a["group"], a["week"]): a["rank"] for a in document["assignments"]}
    assert all(rank is None for (group, _), rank in ranks.items() if group != "G01")
    assert document["published"] is False
    assert db.session.get(AssignmentRun, document["run_id"]) is not None
    assert set(holders(course).values()) == {None}


def test_an_infeasible_run_exits_zero_with_the_explanation(app, runner) -> None:
    course_with_groups(4, signup={"quota": 2})
    db.session.commit()
    result = runner.invoke(args=["assign", "run", "asg-course", "--json", "--publish"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "infeasible" and document["objective"] is None
    assert document["assignments"] == []
    assert document["explanation"][0]["rule"] == "quota"
    assert document["explanation"][0]["relaxation"] == "allow a quota of 3"
    assert document["published"] is False

    readable = runner.invoke(args=["assign", "run", "asg-course"])
    assert readable.exit_code == 0
    assert "No assignment meets every rule" in readable.output
    assert "Run again allowing a quota of 3" in readable.output
    fixed = runner.invoke(args=["assign", "run", "asg-course", "--quota", "3", "--json"])
    assert json.loads(fixed.output)["status"] == "optimal"


def test_readable_run_and_publish(app, runner) -> None:
    course, groups = course_with_groups(4)
    save(groups[1], [6, 5], course=course)
    db.session.commit()
    result = runner.invoke(args=["assign", "run", "asg-course", "--publish"])
    assert result.exit_code == 0, result.output
    assert "G02: week" in result.output and "rank 1" in result.output
    assert "Ranks: #1: " in result.output
    assert "Worst-off group: " in result.output
    assert "Published run #" in result.output
    db.session.expire_all()
    assert None not in set(holders(course).values())
    assert set(db.session.scalars(select(Slot.source))) == {"assignment"}


def test_publish_command_refuses_an_older_run(app, runner) -> None:
    course_with_groups(4)
    db.session.commit()
    first = json.loads(runner.invoke(args=["assign", "run", "asg-course", "--json"]).output)
    second = json.loads(runner.invoke(args=["assign", "run", "asg-course", "--json"]).output)
    refused = runner.invoke(args=["assign", "publish", "asg-course", str(first["run_id"])])
    assert refused.exit_code == 1
    assert f"older than run #{second['run_id']}" in refused.output
    done = runner.invoke(args=["assign", "publish", "asg-course", str(second["run_id"])])
    assert done.exit_code == 0 and "12 slot(s) changed holder" in done.output


def test_import_preferences_command(app, runner, tmp_path) -> None:
    course, _ = course_with_groups(3)
    db.session.commit()
    bad = tmp_path / "bad.csv"
    bad.write_text("group,ranking,unavailable\nG01,3;4,\nGhost,3,\nG02,7,\n")
    result = runner.invoke(args=["assign", "import-preferences", "asg-course", str(bad)])
    assert result.exit_code == 1
    assert "row 3, column group: no group named 'Ghost'" in result.output
    assert "row 4, column ranking: week(s) 7 have no paper session" in result.output
    good = tmp_path / "good.csv"
    good.write_text("group,ranking,unavailable\nG01,3;4,6\n")
    result = runner.invoke(args=["assign", "import-preferences", "asg-course", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported preferences of 1 group(s)" in result.output
    from review.assignment.services import build_problem

    db.session.expire_all()
    assert build_problem(course).problem.groups[0].ranking == (3, 4)
