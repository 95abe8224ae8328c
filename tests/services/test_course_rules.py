"""Every rule of a syllabus can be said in the course file: per-session day, time and room,
late limits, a rubric for every role, course-local rubrics, and re-evaluated late states."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from icalendar import Calendar
from sqlalchemy import select

import models
from models import CourseRole, db
from review.courses.definition import CourseFileError, load_course_file
from review.courses.services import apply_course_definition
from review.grading import services as grading
from review.reviews import services as review_services
from review.reviews.services import ReviewContent
from tests.factories import course_definition_data, hold_slot, make_course, make_group, make_member

PROJECT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: dict, name: str = "course.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_session_can_move_to_another_day_time_and_room(app, tmp_path: Path) -> None:
    data = course_definition_data("moved-sessions", timezone="America/Chicago")
    # Week 3 is Monday 2026-09-21; this session is on the Wednesday, at 14:00, in room B-101.
    data["paper_sessions"][0].update({"date": "2026-09-23", "time": "14:00", "room": "B-101"})
    definition = load_course_file(write(tmp_path, data))
    course, _ = apply_course_definition(definition)
    moved, usual = sorted(course.sessions, key=lambda s: s.week.number)[:2]
    assert moved.starts_at == datetime(2026, 9, 23, 19, 0, tzinfo=timezone.utc)  # CDT = UTC-5
    assert moved.room == "B-101"
    assert usual.starts_at == datetime(2026, 9, 28, 13, 30, tzinfo=timezone.utc)  # 08:30 CDT
    assert usual.room == ""


def test_a_session_date_that_is_not_a_date_is_named(tmp_path: Path) -> None:
    data = course_definition_data()
    data["paper_sessions"][1]["date"] = "next tuesday"
    with pytest.raises(CourseFileError) as caught:
        load_course_file(write(tmp_path, data))
    assert "paper_sessions[1].date:" in str(caught.value)
    assert "'next tuesday'" in str(caught.value)


def test_the_room_is_on_the_schedule_pages_and_the_calendar_feed(app, client, login,
                                                                 tmp_path: Path) -> None:
    data = course_definition_data("roomed", first_monday=datetime(2030, 9, 2).date())
    data["paper_sessions"][0]["room"] = "SNA-B21"
    course, _ = apply_course_definition(load_course_file(write(tmp_path, data)))
    student = make_member(course, CourseRole.student)
    db.session.commit()
    login(student)
    for url in (f"/c/{course.code}/", f"/c/{course.code}/signup"):
        assert "room SNA-B21" in client.get(url).get_data(as_text=True), url
    feed = client.get(f"/calendar/course/{course.calendar_token}.ics")
    events = sorted(Calendar.from_ical(feed.data).walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert str(events[0]["location"]) == "SNA-B21"
    assert "location" not in events[1]


# ---------------------------------------------------------------------------- late limits


GOOD = ReviewContent.build(
    summary="The paper proposes a sparse attention scheme. It scales to long inputs.",
    strengths="A clear ablation of the window size.",
    weaknesses="Only evaluated on English text.",
    remedies="Evaluate on a multilingual benchmark.",
    questions=["Would the method work for images?", ""])

UTC = timezone.utc


def _capped_course(**late_policy):
    # Sessions on Mondays 10:00 in Los Angeles; reviews due the evening before at 20:00 local.
    return make_course("capped", timezone="America/Los_Angeles", session_time="10:00",
                       reviews={"deadline_time": "20:00", "late_policy": {
                           "mode": "penalty", "penalty_per_day_pct": 10, "max_days_late": 3,
                           **late_policy}})


@pytest.mark.parametrize("after, days, penalty", [
    (-timedelta(seconds=1), 0, 0.0),
    (timedelta(0), 0, 0.0),
    (timedelta(seconds=1), 1, 10.0),
    (timedelta(days=1), 1, 10.0),
    (timedelta(days=1, seconds=1), 2, 20.0),
    (timedelta(days=2), 2, 20.0),
    (timedelta(days=2, seconds=1), 3, 30.0),
    (timedelta(days=3), 3, 30.0),
])
def test_a_20h_deadline_in_los_angeles_with_10pct_a_day_up_to_3_days(app, after, days,
                                                                      penalty) -> None:
    course = _capped_course()
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    # Sunday 20 Sep 2026, 20:00 PDT (UTC-7).
    assert session.review_deadline == datetime(2026, 9, 21, 3, 0, tzinfo=UTC)
    result = review_services.submit_review(session, make_member(course), GOOD,
                                           session.review_deadline + after, confirm_late=True)
    assert (result.review.days_late, result.review.late_penalty_pct) == (days, penalty)


def test_past_the_last_accepted_day_the_refusal_names_the_limit(app) -> None:
    course = _capped_course()
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    student = make_member(course)
    too_late = session.review_deadline + timedelta(days=3, seconds=1)
    with pytest.raises(review_services.ReviewClosed) as caught:
        review_services.submit_review(session, student, GOOD, too_late, confirm_late=True)
    assert ("Reviews are accepted at most 3 days late; this one would be 4 days late."
            in str(caught.value))
    with pytest.raises(review_services.ReviewClosed):
        review_services.save_draft(session, student, GOOD, too_late)
    assert review_services.review_of(session, student) is None


def test_the_penalty_never_takes_a_review_below_its_floor(app) -> None:
    course = _capped_course(penalty_per_day_pct=30, min_score_pct=50)
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    late = session.review_deadline + timedelta(days=2, hours=1)  # 3 days: 90%, floored to 50%
    result = review_services.submit_review(session, make_member(course), GOOD, late,
                                           confirm_late=True)
    assert (result.review.days_late, result.review.late_penalty_pct) == (3, 50.0)


def test_grace_days_mode_keeps_the_limit_and_the_floor(app) -> None:
    course = _capped_course(mode="grace_days", grace_days=1, penalty_per_day_pct=40,
                            min_score_pct=30)
    first, second = sorted(course.sessions, key=lambda s: s.week.number)[:2]
    student = make_member(course)
    with pytest.raises(review_services.ReviewClosed, match="at most 3 days late; this one "
                                                           "would be 4 days late"):
        review_services.submit_review(first, student, GOOD,
                                      first.review_deadline + timedelta(days=3, hours=1),
                                      confirm_late=True)
    # 3 days late: 1 grace day, then 2 uncovered days at 40% = 80%, floored to 70%.
    result = review_services.submit_review(first, student, GOOD,
                                           first.review_deadline + timedelta(days=2, hours=1),
                                           confirm_late=True)
    assert (result.review.days_late, result.review.late_penalty_pct) == (3, 70.0)
    assert review_services.grace_days_used(course, student) == 1


# ---------------------------------------------------------------------------- {minutes}


def test_no_shipped_rubric_states_a_time_box_literally() -> None:
    for path in sorted((PROJECT / "rubrics").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\b\d+[- ]minutes?\b", text), path.name


def test_a_course_with_15_minute_overviews_never_shows_14(app, client, login) -> None:
    course = make_course("fifteen", roles=[
        {"key": "overview", "name": "Overview", "minutes": 15},
        {"key": "strengths", "name": "Strengths", "minutes": 7},
        {"key": "weaknesses", "name": "Weaknesses", "minutes": 6}])
    ta = make_member(course, CourseRole.ta)
    a, b = make_member(course), make_member(course)
    slots = {key: hold_slot(course, make_group(course, [a, b]) if key == "overview" else
                            make_group(course, [make_member(course)]), 3, key)
             for key in ("overview", "strengths", "weaknesses")}
    db.session.commit()
    login(ta)
    for key, minutes in (("overview", 15), ("strengths", 7), ("weaknesses", 6)):
        page = client.get(f"/c/fifteen/grading/presentations/{slots[key].id}").get_data(
            as_text=True)
        assert f"Time box ({minutes} minutes)" in page and f"{minutes}-minute slot" in page
        assert "14 minutes" not in page and "14-minute" not in page and "8-minute" not in page
        assert "{minutes}" not in page


def test_an_unknown_rubric_variable_is_named_by_the_check(app, runner, tmp_path: Path) -> None:
    source = PROJECT / "rubrics" / "presentation-overview.yaml"
    (tmp_path / "presentation-overview.yaml").write_text(
        source.read_text(encoding="utf-8").replace("({minutes} minutes)", "({minuets} minutes)"),
        encoding="utf-8")
    source = PROJECT / "rubrics" / "review.yaml"
    (tmp_path / "review.yaml").write_text(source.read_text(encoding="utf-8").replace(
        "title: Weekly paper review", "title: Weekly paper review ({minutes})"), encoding="utf-8")
    result = runner.invoke(args=["rubrics", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert ("presentation-overview.yaml: criteria[4] (id 'time').title: unknown variable "
            "{minuets}") in result.output
    assert ("review.yaml: title: unknown variable {minutes} (variables known in review rubrics: "
            "none") in result.output


# ---------------------------------------------------------------------------- rubrics per role


REBUTTAL = {"key": "rebuttal", "name": "Rebuttal", "minutes": 5}


def _rebuttal_rubric() -> str:
    text = (PROJECT / "rubrics" / "presentation-strengths.yaml").read_text(encoding="utf-8")
    return (text.replace("id: presentation-strengths", "id: presentation-rebuttal")
            .replace("role: strengths", "role: rebuttal")
            .replace("title: Paper presentation — strengths", "title: Rebuttal"))


def test_a_role_without_a_rubric_is_refused_at_import(app, runner, tmp_path: Path) -> None:
    data = course_definition_data("four-roles")
    data["roles"].append(REBUTTAL)
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Role 'rebuttal' of four-roles has no rubric" in result.output
    assert "'presentation-rebuttal'" in result.output
    assert db.session.scalar(select(models.Course).where(models.Course.code == "four-roles")) is None


def test_a_course_brings_its_own_rubric_for_its_own_role(app, runner, client, login,
                                                         tmp_path: Path) -> None:
    data = course_definition_data("four-roles", rubrics_dir="rubrics")
    data["roles"].append(REBUTTAL)
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "presentation-rebuttal.yaml").write_text(_rebuttal_rubric(),
                                                                   encoding="utf-8")
    path = write(tmp_path, data)
    first = runner.invoke(args=["course", "import", str(path)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["course", "import", str(path)])
    assert "already up to date" in again.output, again.output

    course = db.session.scalar(select(models.Course).where(models.Course.code == "four-roles"))
    row = db.session.scalars(select(models.Rubric)).one()
    assert (row.scope, row.key, row.version) == ("four-roles", "presentation-rebuttal", 1)
    assert "presentation-rebuttal" not in grading.loaded_rubrics()  # the deployment is untouched

    # Grading the rebuttal shows the course's rubric with the role's 5 minutes and stores the
    # score against the course's row.
    ta, a = make_member(course, CourseRole.ta), make_member(course)
    slot = hold_slot(course, make_group(course, [a]), 3, "rebuttal")
    db.session.commit()
    login(ta)
    url = f"/c/four-roles/grading/presentations/{slot.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Rebuttal" in page and "Time box (5 minutes)" in page
    rubric = grading.course_rubric(course, "presentation", "rebuttal")
    form = {f"score-{c.id}": f"{c.points:g}" for c in rubric.criteria}
    assert client.post(url, data={**form, "version": "0"}).status_code == 302
    assert db.session.scalars(select(models.Score)).one().rubric_id == row.id

    # An edited file is a new version of the course's rubric, reported by the import.
    (tmp_path / "rubrics" / "presentation-rebuttal.yaml").write_text(
        _rebuttal_rubric().replace("title: Rebuttal", "title: Rebuttal talk"), encoding="utf-8")
    changed = runner.invoke(args=["course", "import", str(path)])
    assert "course rubric presentation-rebuttal version 2" in changed.output, changed.output


def test_a_course_rubric_takes_precedence_for_that_course_only(app, tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    review_text = (PROJECT / "rubrics" / "review.yaml").read_text(encoding="utf-8")
    (tmp_path / "rubrics" / "review.yaml").write_text(
        review_text.replace("title: Weekly paper review", "title: Our own review rubric"),
        encoding="utf-8")
    own, _ = apply_course_definition(load_course_file(write(
        tmp_path, course_definition_data("own-review", rubrics_dir="rubrics"))))
    other = make_course("deployment-review")
    assert grading.course_rubric(own, "review").title == "Our own review rubric"
    assert grading.course_rubric(other, "review").title == "Weekly paper review"
    assert grading.rubric_scope(own, grading.course_rubric(own, "review")) == "own-review"
    assert grading.rubric_scope(other, grading.course_rubric(other, "review")) == ""
    # The same content in the deployment's scope and the course's coexist.
    deployment_row = grading.ensure_rubric_row(grading.loaded_rubrics()["review"])
    assert deployment_row.scope == "" and deployment_row.version == 1


def test_errors_in_a_course_rubric_name_the_file_and_the_field(app, tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "presentation-rebuttal.yaml").write_text(
        _rebuttal_rubric().replace("points: 2", "points: -2", 1), encoding="utf-8")
    data = course_definition_data("bad-rubric", rubrics_dir="rubrics")
    with pytest.raises(CourseFileError) as caught:
        load_course_file(write(tmp_path, data))
    text = str(caught.value)
    assert "course.yaml: rubrics_dir: " in text
    assert "presentation-rebuttal.yaml: criteria[" in text and ".points: " in text
    missing = course_definition_data("no-dir", rubrics_dir="nowhere")
    with pytest.raises(CourseFileError, match="rubrics_dir: .*nowhere: not a directory"):
        load_course_file(write(tmp_path, missing))


# ---------------------------------------------------------------------------- changed deadlines


def _submit(session, student, at):
    return review_services.submit_review(session, student, GOOD, at, confirm_late=True).review


def test_moving_the_deadline_re_evaluates_submitted_reviews(app, runner, tmp_path: Path) -> None:
    data = course_definition_data("moving", timezone="America/Los_Angeles", reviews={
        "deadline_time": "20:00",
        "late_policy": {"mode": "penalty", "penalty_per_day_pct": 10}})
    assert runner.invoke(args=["course", "import", str(write(tmp_path, data))]).exit_code == 0
    course = db.session.scalar(select(models.Course).where(models.Course.code == "moving"))
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    deadline = session.review_deadline
    students = [make_member(course) for _ in range(5)]
    # Three are 1-3 hours late today, one is on time, one is 26 hours late (2 days).
    late = [_submit(session, s, deadline + timedelta(hours=h))
            for s, h in zip(students[:3], (1, 2, 3))]
    on_time = _submit(session, students[3], deadline - timedelta(hours=1))
    very_late = _submit(session, students[4], deadline + timedelta(hours=26))
    db.session.commit()

    # The deadline moves from 20:00 to 23:59: the three are on time, the last 1 day late.
    data["reviews"]["deadline_time"] = "23:59"
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert ("submitted reviews re-evaluated under the new deadline rule: 3 reviews are now on "
            "time, 1 is late by a different amount") in result.output
    db.session.expire_all()
    assert [r.days_late for r in late] == [0, 0, 0] and [r.late_penalty_pct for r in late] == [0] * 3
    assert (very_late.days_late, very_late.late_penalty_pct) == (1, 10.0)
    audits = db.session.scalars(select(models.AuditEntry).where(
        models.AuditEntry.action == "late_reassessed").order_by(models.AuditEntry.entity_id)).all()
    assert {a.entity_id for a in audits} == {r.id for r in late} | {very_late.id}
    first = next(a for a in audits if a.entity_id == late[0].id)
    assert first.old["days_late"] == 1 and first.new == {"days_late": 0, "late_penalty_pct": 0.0,
                                                         "grace_days": 0}

    again = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert "already up to date" in again.output, again.output

    # An earlier deadline and a lower penalty: the three are late again (1 day, 5%), the last
    # 2 days (10%), and the one submitted at 19:00 stays on time.
    data["reviews"]["deadline_time"] = "19:30"
    data["reviews"]["late_policy"]["penalty_per_day_pct"] = 5
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert "3 reviews are now late, 1 is late by a different amount" in result.output
    db.session.expire_all()
    assert (on_time.days_late, on_time.late_penalty_pct) == (0, 0.0)
    assert (late[0].days_late, late[0].late_penalty_pct) == (1, 5.0)
    assert (very_late.days_late, very_late.late_penalty_pct) == (2, 10.0)


def test_grace_days_follow_a_changed_deadline(app, runner, tmp_path: Path) -> None:
    data = course_definition_data("grace-move", reviews={
        "late_policy": {"mode": "grace_days", "grace_days": 3, "penalty_per_day_pct": 10}})
    assert runner.invoke(args=["course", "import", str(write(tmp_path, data))]).exit_code == 0
    course = db.session.scalar(select(models.Course).where(models.Course.code == "grace-move"))
    first, second = sorted(course.sessions, key=lambda s: s.week.number)[:2]
    student = make_member(course)
    a = _submit(first, student, first.review_deadline + timedelta(hours=30))   # 2 grace days
    b = _submit(second, student, second.review_deadline + timedelta(hours=40))  # 1 + 10%
    db.session.commit()
    assert (b.days_late, b.late_penalty_pct) == (2, 10.0)
    assert review_services.grace_days_used(course, student) == 3

    # A deadline a day later: the first review is 1 day late (1 grace day), which leaves
    # enough grace for the second (1 day late): no penalty, 2 grace days spent in all.
    data["reviews"]["deadline_days_before"] = 0
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert (a.days_late, b.days_late, b.late_penalty_pct) == (1, 1, 0.0)
    entries = db.session.scalars(select(models.LateDayEntry).order_by(
        models.LateDayEntry.review_id)).all()
    assert [(e.review_id, e.days) for e in entries] == [(a.id, 1), (b.id, 1)]

    # Penalty mode instead: the grace days go back to the student.
    data["reviews"]["late_policy"]["mode"] = "penalty"
    assert runner.invoke(args=["course", "import", str(write(tmp_path, data))]).exit_code == 0
    db.session.expire_all()
    assert review_services.grace_days_used(course, student) == 0
    assert (a.late_penalty_pct, b.late_penalty_pct) == (10.0, 10.0)


def test_a_review_the_new_rule_would_refuse_keeps_its_penalty(app, runner,
                                                              tmp_path: Path) -> None:
    data = course_definition_data("now-refused", reviews={
        "late_policy": {"mode": "penalty", "penalty_per_day_pct": 10}})
    assert runner.invoke(args=["course", "import", str(write(tmp_path, data))]).exit_code == 0
    course = db.session.scalar(select(models.Course).where(models.Course.code == "now-refused"))
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    review = _submit(session, make_member(course), session.review_deadline + timedelta(days=4))
    db.session.commit()
    data["reviews"]["late_policy"]["max_days_late"] = 2
    data["reviews"]["deadline_time"] = "23:00"
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert "1 review would now be refused, so it keeps its earlier penalty" in result.output
    db.session.expire_all()
    assert (review.days_late, review.late_penalty_pct) == (5, 40.0)


# ---------------------------------------------------------------------------- clear refusals


def _bad_rubric_dir(tmp_path: Path) -> dict:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "presentation-rebuttal.yaml").write_text(
        _rebuttal_rubric().replace("({minutes} minutes)", "({minuts} minutes)"), encoding="utf-8")
    return {"rubrics_dir": "rubrics"}


@pytest.mark.parametrize("change, expected", [
    (lambda d, t: d["paper_sessions"][0].update(time="25:00"), "paper_sessions[0].time:"),
    (lambda d, t: d["paper_sessions"][0].update(room="x" * 101), "paper_sessions[0].room:"),
    (lambda d, t: d["reviews"].update(late_policy={"max_days_late": 0}),
     "reviews.late_policy.max_days_late: Input should be greater than or equal to 1 (got 0)"),
    (lambda d, t: d["reviews"].update(late_policy={"min_score_pct": 120}),
     "reviews.late_policy.min_score_pct: Input should be less than or equal to 100 (got 120)"),
    (lambda d, t: d.update(_bad_rubric_dir(t)),
     "rubrics_dir: {tmp}/rubrics/presentation-rebuttal.yaml: criteria[3] (id 'time').title: "
     "unknown variable {minuts}"),
    (lambda d, t: d.update(rubrics_dir="missing"), "rubrics_dir: {tmp}/missing: not a directory"),
    (lambda d, t: d["roles"].append(REBUTTAL), "Role 'rebuttal' of refusals has no rubric"),
], ids=["time", "room", "max_days_late", "min_score_pct", "rubric", "rubrics_dir", "role"])
def test_course_import_refuses_with_a_message_not_a_traceback(app, runner, tmp_path: Path,
                                                              change, expected) -> None:
    data = course_definition_data("refusals", reviews={})
    change(data, tmp_path)
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert expected.replace("{tmp}", str(tmp_path)) in result.output, result.output
    assert db.session.scalar(select(models.Course.id)) is None


def test_the_demo_course_file_imports_and_then_is_up_to_date(app, runner) -> None:
    path = str(PROJECT / "courses" / "comp541-fall2023.yaml")
    first = runner.invoke(args=["course", "import", path])
    assert first.exit_code == 0 and "Created course comp541-fall2023." in first.output, first.output
    second = runner.invoke(args=["course", "import", path])
    assert "already up to date" in second.output, second.output


def test_a_course_rubric_removed_from_its_folder_stops_being_used(app, runner,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    own = tmp_path / "rubrics" / "review.yaml"
    own.write_text((PROJECT / "rubrics" / "review.yaml").read_text(encoding="utf-8").replace(
        "title: Weekly paper review", "title: Our own review rubric"), encoding="utf-8")
    data = course_definition_data("dropping", rubrics_dir="rubrics")
    assert runner.invoke(args=["course", "import", str(write(tmp_path, data))]).exit_code == 0
    course = db.session.scalar(select(models.Course).where(models.Course.code == "dropping"))
    assert grading.course_rubric(course, "review").title == "Our own review rubric"

    # Once a score uses it, it cannot silently go away.
    ta, student = make_member(course, CourseRole.ta), make_member(course)
    review = _submit(sorted(course.sessions, key=lambda s: s.week.number)[0], student,
                     sorted(course.sessions, key=lambda s: s.week.number)[0].review_deadline)
    rubric = grading.course_rubric(course, "review")
    score = grading.save_score(course, ta, grading.ScoreItem(models.ScoreTarget.review,
                                                             review=review),
                               values={c.id: c.points for c in rubric.criteria}, comments={},
                               overall_comment="", loaded_version=0)
    db.session.commit()
    own.rename(tmp_path / "kept-aside.yaml")
    (tmp_path / "rubrics" / "peer.yaml").write_text(
        (PROJECT / "rubrics" / "peer.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    refused = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert refused.exit_code == 1
    assert ("The course's rubric 'review' is no longer in its rubrics_dir, but 1 score(s) were "
            "given with it") in refused.output

    # Unused, it is dropped and the deployment's rubric applies again.
    db.session.delete(db.session.get(models.Score, score.id))
    db.session.commit()
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert "removed course rubric review" in result.output, result.output
    assert grading.course_rubric(course, "review").title == "Weekly paper review"


def test_the_review_page_names_the_limit_and_submitting_past_it_is_refused(
        app, client, login, monkeypatch) -> None:
    course = _capped_course()
    session = sorted(course.sessions, key=lambda s: s.week.number)[0]
    student = make_member(course)
    db.session.commit()
    monkeypatch.setattr("review.reviews.views._now",
                        lambda: session.review_deadline + timedelta(days=3, minutes=1))
    login(student)
    url = f"/c/capped/reviews/{session.id}/write"
    limit = "Reviews are accepted at most 3 days late; this one would be 4 days late."
    assert limit in client.get(url).get_data(as_text=True)
    form = {"summary": "A summary.", "strengths": "S.", "weaknesses": "W.", "remedies": "R.",
            "questions-0": "Why?", "submit": "Submit review", "confirm_late": "yes"}
    response = client.post(url, data=form, follow_redirects=True)
    assert limit in response.get_data(as_text=True)
    assert db.session.scalar(select(models.Review.id)) is None


def test_a_rubric_gone_from_the_deployment_is_a_message_on_the_grading_page(
        app, client, login, monkeypatch) -> None:
    course = make_course("lost-rubric")
    ta, a = make_member(course, CourseRole.ta), make_member(course)
    slot = hold_slot(course, make_group(course, [a]), 3, "strengths")
    db.session.commit()
    remaining = {k: v for k, v in app.extensions["rubrics"].items()
                 if k != "presentation-strengths"}
    monkeypatch.setitem(app.extensions, "rubrics", remaining)
    login(ta)
    response = client.get(f"/c/lost-rubric/grading/presentations/{slot.id}",
                          follow_redirects=True)
    assert response.status_code == 200
    assert "Role &#39;strengths&#39; of lost-rubric has no rubric" in response.get_data(
        as_text=True)
