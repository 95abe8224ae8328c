"""Mail goes through the outbox and the job queue: a mail server that is down never fails a page
or loses a saved action, failures show in the staff outbox, and "resend" works once mail is back.
Against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

from models import CourseRole, OutboxMessage, OutboxStatus, User, db
from review.jobs import jobs, run_due_jobs
from review.mail import queue_mail
from tests.factories import make_course, make_member, make_user
from tests.smtp import Inbox, free_port, html_text, plain_text

ROSTER = ("student_id,first_name,last_name,email\n"
          "1,Ayşe,Aslan,ayse@example.edu\n2,Emre,Kurt,emre@example.edu\n").encode()


@pytest.fixture
def mail_port() -> int:
    return free_port()


@pytest.fixture
def app_config(mail_port: int, tmp_path) -> dict[str, Any]:
    # Nothing listens on the port until a test starts a server there: the mail server is down.
    # The embedded queue (SQLite) as `make run` has it: pages enqueue, a worker sends.
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail_port, "JOBS_MAIL_ATTEMPTS": 2,
            "JOBS_MAIL_RETRY_DELAY": 0, "PUBLIC_BASE_URL": "https://review.example.edu",
            "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite")}


def _outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_roster_import_with_smtp_down_saves_shows_failures_and_resends_when_smtp_is_back(
        app: Flask, client, login, mail_port: int) -> None:
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    response = client.post(f"/c/{course.code}/roster",
                           data={"file": (io.BytesIO(ROSTER), "roster.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert b"Roster imported" in response.data
    assert db.session.scalar(select(User).where(User.email == "emre@example.edu")) is not None

    # The page only queued the mails; the worker tries each twice (back-off 0 here).
    assert [(m.status, m.attempts) for m in _outbox()] == [(OutboxStatus.queued, 0)] * 2
    assert run_due_jobs(jobs().huey) == 4
    messages = _outbox()
    assert [(m.status, m.attempts) for m in messages] == [(OutboxStatus.failed, 2)] * 2
    assert all("refused the connection" in m.last_error for m in messages)
    page = client.get(f"/c/{course.code}/outbox")
    assert page.status_code == 200
    assert page.data.count(b"failed") >= 2 and b"refused the connection" in page.data

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=mail_port)
    server.start()
    try:
        for message in messages:
            response = client.post(f"/c/{course.code}/outbox/resend",
                                   data={"message_id": message.id})
            assert response.status_code == 302
        assert run_due_jobs(jobs().huey) == 2
    finally:
        server.stop()
    assert sorted(m["To"] for m in inbox.messages) == ["ayse@example.edu", "emre@example.edu"]
    assert [m.status for m in _outbox()] == [OutboxStatus.sent] * 2
    # The resent mail carries a working link to the public site, in text and HTML.
    text = plain_text(inbox.messages[0])
    link = re.search(r"https://review\.example\.edu(/password/set/\S+)", text).group(1)
    assert link in html_text(inbox.messages[0])
    assert client.get(link).status_code == 200
    # Once sent, the outbox keeps no link (no usable token at rest).
    assert all("link" not in m.context for m in _outbox())


def test_a_mail_whose_action_rolls_back_is_never_sent(app: Flask, smtp) -> None:
    inbox, port = smtp
    app.config["MAIL_PORT"] = port
    queue_mail("x@example.edu", "Hello", "reset_password", {"hours": 2, "link": "https://x/y"})
    db.session.rollback()
    db.session.commit()
    assert run_due_jobs(jobs().huey) == 0
    assert inbox.messages == [] and _outbox() == []


def test_a_mail_is_sent_only_after_its_action_commits(app: Flask, smtp) -> None:
    inbox, port = smtp
    app.config["MAIL_PORT"] = port
    queue_mail("x@example.edu", "Hello", "reset_password", {"hours": 2, "link": "https://x/y"})
    assert inbox.messages == []
    db.session.commit()
    assert inbox.messages == []
    assert run_due_jobs(jobs().huey) == 1
    assert [m["Subject"] for m in inbox.messages] == ["Hello"]
    assert _outbox()[0].status == OutboxStatus.sent


@pytest.mark.parametrize("app_config", [{
    "MAIL_SERVER": "127.0.0.1", "JOBS_MAIL_ATTEMPTS": 3, "JOBS_MAIL_RETRY_DELAY": 60}])
def test_a_failing_mail_is_retried_with_growing_delays_then_recorded_as_failed(
        app: Flask) -> None:
    app.config["MAIL_PORT"] = free_port()
    huey = jobs().huey
    message = queue_mail("x@example.edu", "Hello", "reset_password", {"hours": 2, "link": "l"})
    db.session.commit()
    delays = []
    for _ in range(2):
        (retry,) = huey.scheduled()
        delays.append(round((retry.eta - huey._get_timestamp()).total_seconds()))
        # The clock moves on: the retry is due.
        huey.storage.flush_schedule()
        retry.eta = None
        huey.execute(retry)
    assert delays == [60, 120]
    assert huey.scheduled() == []
    db.session.expire_all()
    assert (message.status, message.attempts) == (OutboxStatus.failed, 3)


@pytest.fixture
def two_courses_mail(app: Flask) -> dict[str, Any]:
    a, b = make_course("course-a"), make_course("course-b")
    people = {"a_instructor": make_member(a, CourseRole.instructor),
              "a_ta": make_member(a, CourseRole.ta), "a_student": make_member(a),
              "b_instructor": make_member(b, CourseRole.instructor),
              "admin": make_user()}
    people["admin"].is_admin = True
    for course, subject in ((a, "Mail of A"), (b, "Mail of B")):
        db.session.add(OutboxMessage(course_id=course.id, to="s@example.edu", subject=subject,
                                     template="slot_promotion", context={},
                                     status=OutboxStatus.failed, last_error="down"))
    db.session.add(OutboxMessage(to="t@example.edu", subject="Site mail", template="x",
                                 context={}, status=OutboxStatus.sent))
    db.session.commit()
    return {"a": a, "b": b, **people}


@pytest.mark.parametrize("app_config", [{}])
def test_instructors_see_their_course_outbox_and_admins_see_every_mail(
        client, login, two_courses_mail: dict[str, Any]) -> None:
    world = two_courses_mail
    login(world["a_instructor"])
    page = client.get("/c/course-a/outbox").data
    assert b"Mail of A" in page and b"Mail of B" not in page and b"Site mail" not in page
    b_message = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.subject == "Mail of B"))
    assert client.post("/c/course-a/outbox/resend",
                       data={"message_id": b_message}).status_code == 404
    assert client.get("/admin/outbox").status_code == 403
    for who in ("a_ta", "a_student"):
        login(world[who])
        assert client.get("/c/course-a/outbox").status_code == 403
    login(world["admin"])
    page = client.get("/admin/outbox").data
    assert b"Mail of A" in page and b"Mail of B" in page and b"Site mail" in page
    assert client.post("/admin/outbox/resend", data={"message_id": b_message}).status_code == 302
    db.session.expire_all()
    assert db.session.get(OutboxMessage, b_message).status == OutboxStatus.queued
