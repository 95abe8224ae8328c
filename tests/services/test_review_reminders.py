"""Review reminders 24 and 2 hours before the deadline, with a controlled clock, in a course of
its own whose deadline falls on the morning Europe/Berlin moves its clocks forward."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import (CourseRole, PaperSession, ReminderOptOut, ReviewReminder, Week, db)
from review.notifications.reminders import send_review_reminders, set_opt_out
from tests.factories import make_course, make_member, make_review
from tests.smtp import plain_text

BERLIN = ZoneInfo("Europe/Berlin")
# Sunday 28 March 2027, 12:00 CEST; the clocks went from 02:00 CET to 03:00 CEST that night.
DEADLINE = datetime(2027, 3, 28, 12, 0, tzinfo=BERLIN).astimezone(timezone.utc)


@pytest.fixture
def app_config(smtp) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1],
            "PUBLIC_BASE_URL": "https://review.example.edu"}


@pytest.fixture(autouse=True)
def _app(app) -> None:
    """Every test here needs the app and its database."""


def build(notifications: dict[str, Any] | None = None) -> dict[str, Any]:
    extra = {"notifications": notifications} if notifications else {}
    course = make_course("dst-course", timezone="Europe/Berlin", session_weeks=(3,), **extra)
    session = db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == 3))
    session.review_opens_at = DEADLINE - timedelta(days=7)
    session.review_deadline = DEADLINE
    people = {name: make_member(course, CourseRole.student, first_name=name.title())
              for name in ("nothing", "drafted", "submitted", "opted")}
    make_member(course, CourseRole.ta)
    make_review(session, people["drafted"], submitted=False)
    make_review(session, people["submitted"])
    set_opt_out(course, people["opted"], opted_out=True)
    db.session.commit()
    return {"course": course, "session": session, **people}


def run_at(moment: datetime) -> int:
    queued = send_review_reminders(moment)
    db.session.commit()
    return queued


def test_reminders_go_24_and_2_hours_before_the_deadline_across_a_dst_change(smtp) -> None:
    inbox, _ = smtp
    world = build()
    expected = sorted([world["nothing"].email, world["drafted"].email])
    day_before = DEADLINE - timedelta(hours=24)
    # 24 elapsed hours before 12:00 CEST is 11:00 CET the day before: the clocks moved between.
    assert day_before.astimezone(BERLIN).strftime("%H:%M %Z") == "11:00 CET"
    assert run_at(day_before - timedelta(minutes=1)) == 0
    assert run_at(day_before) == 2
    assert sorted(m["To"] for m in inbox.messages) == expected
    assert all("due in 24 hours" in m["Subject"] for m in inbox.messages)
    text = plain_text(inbox.messages[0])
    assert "Sun 28 Mar 2027, 12:00" in text
    assert f"https://review.example.edu/c/dst-course/reviews/{world['session'].id}/write" in text
    assert run_at(day_before + timedelta(minutes=5)) == 0          # never twice
    two_hours = DEADLINE - timedelta(hours=2)
    assert two_hours.astimezone(BERLIN).strftime("%H:%M %Z") == "10:00 CEST"
    assert run_at(two_hours - timedelta(minutes=1)) == 0
    assert run_at(two_hours) == 2
    assert run_at(two_hours + timedelta(minutes=5)) == 0
    assert sorted(m["To"] for m in inbox.messages[2:]) == expected
    assert all("due in 2 hours" in m["Subject"] for m in inbox.messages[2:])
    assert run_at(DEADLINE + timedelta(minutes=1)) == 0            # never after the deadline
    assert len(inbox.messages) == 4


def test_a_worker_that_missed_the_24_hour_mark_sends_only_the_2_hour_reminder(smtp) -> None:
    inbox, _ = smtp
    build()
    assert run_at(DEADLINE - timedelta(hours=1)) == 2
    assert run_at(DEADLINE - timedelta(minutes=30)) == 0
    assert {r.hours_before for r in db.session.scalars(select(ReviewReminder))} == {2}
    assert all("due in 2 hours" in m["Subject"] for m in inbox.messages)


def test_no_reminder_before_the_review_opens(smtp) -> None:
    world = build()
    world["session"].review_opens_at = DEADLINE - timedelta(hours=12)
    db.session.commit()
    assert run_at(DEADLINE - timedelta(hours=20)) == 0
    assert run_at(DEADLINE - timedelta(hours=2)) == 2


def test_a_course_file_can_switch_reminders_off(smtp) -> None:
    inbox, _ = smtp
    build({"review_reminders": False})
    assert run_at(DEADLINE - timedelta(hours=24)) == 0
    assert run_at(DEADLINE - timedelta(hours=2)) == 0
    assert inbox.messages == []


def test_the_same_reminder_cannot_be_recorded_twice(app) -> None:
    from sqlalchemy.exc import IntegrityError

    world = build()
    for _ in range(2):
        db.session.add(ReviewReminder(session_id=world["session"].id,
                                      user_id=world["nothing"].id, hours_before=24))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_student_switches_reminders_off_and_on_from_the_reviews_page(client, login) -> None:
    world = build()
    student = world["nothing"]
    login(student)
    page = client.get("/c/dst-course/reviews")
    assert b"Mail me 24 and 2 hours before" in page.data
    response = client.post("/c/dst-course/reminders", data={"reminders": "off"})
    assert response.status_code == 302
    opted = set(db.session.scalars(select(ReminderOptOut.user_id)))
    assert opted == {student.id, world["opted"].id}
    assert run_at(DEADLINE - timedelta(hours=24)) == 1               # only "drafted" now
    client.post("/c/dst-course/reminders", data={"reminders": "on"})
    assert set(db.session.scalars(select(ReminderOptOut.user_id))) == {world["opted"].id}
    assert client.post("/c/dst-course/reminders", data={"reminders": "maybe"}).status_code == 302


def test_the_worker_runs_the_reminders_every_five_minutes(smtp, monkeypatch) -> None:
    from review.jobs import jobs

    inbox, _ = smtp
    build()
    huey = jobs().huey
    due = {task.name for task in huey.read_periodic(datetime(2027, 3, 27, 10, 5))}
    assert "review_reminders" in due
    assert huey.read_periodic(datetime(2027, 3, 27, 10, 7)) == []
    monkeypatch.setattr("models.utcnow", lambda: DEADLINE - timedelta(hours=24))
    jobs().review_reminders()       # as the worker's scheduler calls it
    assert len(inbox.messages) == 2
