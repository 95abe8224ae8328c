"""The weekly staff digest, with a controlled clock, in a course of its own in America/Chicago
whose digest Mondays fall either side of the end of daylight saving time (Sunday 1 November
2026): 08:00 local is 13:00 UTC on 26 October and 14:00 UTC on 2 November."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import CourseRole, PaperSession, RegradeRequest, StaffDigest, Week, db
from review.courses.definition import CourseFileError, parse_course_definition
from review.notifications.digest import send_staff_digests
from tests.factories import (course_definition_data, hold_slot, make_course, make_group,
                             make_member, make_staff_score, make_submitted_review)
from tests.smtp import html_text, plain_text

BASE = "https://review.example.edu"
CHICAGO = ZoneInfo("America/Chicago")
MONDAY_CDT = datetime(2026, 10, 26, 13, 0, tzinfo=timezone.utc)
MONDAY_CST = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def app_config(smtp) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "PUBLIC_BASE_URL": BASE}


def build(notifications: dict[str, Any] | None = None) -> dict[str, Any]:
    """Weeks 1-2 held before 26 October (week 3 meets that Monday at 08:30, after the digest):
    week 1 released and fully graded, week 2 not released, with ungraded work."""
    extra = {"notifications": notifications} if notifications is not None else {}
    course = make_course("digest-course", timezone="America/Chicago",
                         first_monday=date(2026, 10, 12), weeks=6, session_weeks=(1, 2, 3),
                         **extra)
    people = {"instructor": make_member(course, CourseRole.instructor),
              "ta": make_member(course, CourseRole.ta)}
    students = [make_member(course) for _ in range(4)]
    group = make_group(course, students[:2], name="Alpha")
    other = make_group(course, students[2:], name="Beta")
    graded_slot = hold_slot(course, group, 1, "overview")
    make_staff_score(course, people["ta"], 75, rubric_key="presentation-overview",
                     slot_id=graded_slot.id)
    hold_slot(course, group, 2, "overview")
    hold_slot(course, other, 2, "strengths")
    for student in students[:3]:
        make_submitted_review(course, student, 2)
    review = make_submitted_review(course, students[3], 2)
    make_staff_score(course, people["ta"], 60, rubric_key="review", review_id=review.id)
    week1 = session_of(course, 1)
    week1.feedback_released_at = MONDAY_CDT - timedelta(days=5)
    db.session.add(RegradeRequest(course_id=course.id, user_id=students[0].id,
                                  slot_id=graded_slot.id, reason="Please look again at slide 4.",
                                  created_at=datetime(2026, 10, 20, 3, 0, tzinfo=timezone.utc)))
    db.session.commit()
    return {"course": course, "students": students, **people}


def session_of(course, week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == week))


def run_at(moment: datetime) -> int:
    queued = send_staff_digests(moment)
    db.session.commit()
    return queued


def test_the_digest_goes_at_the_local_hour_on_both_sides_of_the_dst_change(app, smtp) -> None:
    inbox, _ = smtp
    world = build()
    staff = sorted([world["instructor"].email, world["ta"].email])
    for monday in (MONDAY_CDT, MONDAY_CST):
        assert monday.astimezone(CHICAGO).strftime("%a %H:%M") == "Mon 08:00"
        sent = len(inbox.messages)
        assert run_at(monday - timedelta(minutes=1)) == 0
        assert run_at(monday) == 2
        assert sorted(m["To"] for m in inbox.messages[sent:]) == staff
        assert run_at(monday + timedelta(minutes=30)) == 0          # never twice
        assert run_at(monday + timedelta(hours=1)) == 0
    weeks = sorted(db.session.scalars(select(StaffDigest.week_start)))
    assert weeks == [date(2026, 10, 26), date(2026, 11, 2)]
    assert len(inbox.messages) == 4


def test_an_hour_early_after_the_change_is_not_yet_the_digest(app, smtp) -> None:
    build()
    assert run_at(MONDAY_CST - timedelta(hours=1)) == 0       # 13:00 UTC = 07:00 CST
    assert db.session.scalar(select(StaffDigest.id)) is None
    assert run_at(MONDAY_CST) == 2


def test_the_digest_lists_ungraded_work_open_regrades_and_unreleased_weeks(app, smtp) -> None:
    inbox, _ = smtp
    world = build()
    run_at(MONDAY_CDT)
    message = next(m for m in inbox.messages if m["To"] == world["instructor"].email)
    assert message["Subject"] == "Course digest-course: staff digest for the week of 2026-10-26"
    text = plain_text(message).replace("\r\n", "\n")
    assert '- week 2 ("Paper of week 2"): 2 presentation(s), 3 review(s)' in text
    assert "week 1" not in text.split("Ungraded work:")[1].split("Presentations:")[0]
    assert "Open regrade requests: 1 (the oldest from Mon 19 Oct 2026, 22:00 CDT)" in text
    assert '- week 2 ("Paper of week 2"), held Mon 19 Oct 2026, 08:30 CDT' in text
    assert f"{BASE}/c/digest-course/grading/regrades" in text
    assert f"{BASE}/c/digest-course/grading/reviews" in text
    assert f'href="{BASE}/c/digest-course/grading"' in html_text(message)
    # Students get no digest.
    assert not {m["To"] for m in inbox.messages} & {s.email for s in world["students"]}


def test_a_course_can_move_the_digest_or_switch_it_off(app, smtp) -> None:
    inbox, _ = smtp
    world = build({"staff_digest": {"weekday": "sun", "hour": 20}})
    # Sunday 1 November, 20:00 CST (the clocks went back that morning) = Monday 02:00 UTC.
    sunday = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
    assert run_at(sunday - timedelta(hours=12)) == 0                # Sunday 08:00
    assert run_at(sunday - timedelta(minutes=1)) == 0
    assert run_at(sunday) == 2
    assert run_at(MONDAY_CST) == 0
    assert db.session.scalar(select(StaffDigest.week_start)) == date(2026, 10, 26)
    course = world["course"]
    course.definition = {**course.definition, "notifications": {"staff_digest": False}}
    db.session.commit()
    assert run_at(sunday + timedelta(days=7)) == 0
    assert len(inbox.messages) == 2


def test_a_worker_down_for_a_day_skips_that_weeks_digest(app, smtp) -> None:
    build()
    assert run_at(MONDAY_CDT + timedelta(hours=23)) == 2
    assert run_at(MONDAY_CST + timedelta(hours=24)) == 0
    assert run_at(MONDAY_CST + timedelta(days=6)) == 0


def test_a_week_with_nothing_to_report_sends_nothing_and_is_not_retried(app, smtp) -> None:
    inbox, _ = smtp
    course = make_course("quiet-course", timezone="America/Chicago",
                         first_monday=date(2026, 10, 12), session_weeks=(5,))
    make_member(course, CourseRole.instructor)
    db.session.commit()
    assert run_at(MONDAY_CDT) == 0
    assert db.session.scalar(select(StaffDigest.course_id)) == course.id
    # Work that turns up later that week waits for next week's digest.
    student = make_member(course)
    db.session.add(RegradeRequest(course_id=course.id, user_id=student.id, reason="Look again.",
                                  review_id=make_submitted_review(course, student, 5).id))
    db.session.commit()
    assert run_at(MONDAY_CDT + timedelta(hours=3)) == 0
    assert run_at(MONDAY_CST) == 1
    assert inbox.messages and all("Open regrade requests: 1" in plain_text(m)
                                  for m in inbox.messages)


def test_the_same_digest_cannot_be_recorded_twice(app) -> None:
    from sqlalchemy.exc import IntegrityError

    world = build()
    for _ in range(2):
        db.session.add(StaffDigest(course_id=world["course"].id, week_start=date(2026, 10, 26)))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize("setting, problem", [
    ({"weekday": "monday"}, "notifications.staff_digest.weekday: Input should be 'mon'"),
    ({"hour": 24}, "notifications.staff_digest.hour: Input should be less than or equal to 23"),
    ({"hour": "eight"}, "notifications.staff_digest.hour: Input should be a valid integer"),
    ({"when": "mon"}, "notifications.staff_digest.when: Extra inputs are not permitted"),
])
def test_a_bad_digest_setting_is_named_by_its_field(setting, problem) -> None:
    data = course_definition_data("bad-digest", notifications={"staff_digest": setting})
    with pytest.raises(CourseFileError) as error:
        parse_course_definition(data, "course.yaml")
    assert any(line.startswith(problem) for line in error.value.problems), error.value.problems


@pytest.mark.parametrize("setting, enabled", [(False, False), (True, True), ({}, True)])
def test_the_digest_switch_accepts_true_false_or_a_time(setting, enabled) -> None:
    data = course_definition_data("digest-switch", notifications={"staff_digest": setting})
    digest = parse_course_definition(data, "course.yaml").notifications.staff_digest
    assert (digest.enabled, digest.weekday, digest.hour) == (enabled, "mon", 8)


def test_the_worker_runs_the_digest_hourly(app, smtp, monkeypatch) -> None:
    from review.jobs import jobs

    inbox, _ = smtp
    build()
    huey = jobs().huey
    assert "staff_digest" in {task.name for task in huey.read_periodic(datetime(2026, 11, 2, 14, 0))}
    assert "staff_digest" not in {task.name for task in huey.read_periodic(
        datetime(2026, 11, 2, 14, 5))}
    monkeypatch.setattr("models.utcnow", lambda: MONDAY_CST)
    jobs().staff_digest()          # as the worker's scheduler calls it
    assert len(inbox.messages) == 2
    jobs().staff_digest()
    assert len(inbox.messages) == 2
