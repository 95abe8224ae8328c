"""A roster of more than IMPORT_JOB_ROWS rows is checked by the page, stored, and applied by a job
(one transaction, with the set-password mails); the instructor follows it on a status page. A
job that fails retries with back-off, then shows as failed there and in the outbox, whose "Run
again" applies it. A small roster is imported by the page itself, as always.

On the embedded SQLite queue, as ``make run`` has it: pages only enqueue, ``run_due_jobs`` is
the worker. The course is in Chicago, whose clocks go back on 1 November 2026."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from models import CourseRole, Enrollment, ImportJob, OutboxMessage, db
from review.courses import imports
from review.courses.roster import RosterRow
from review.jobs import jobs, run_due_jobs
from tests.factories import make_course, make_member, make_user
from tests.smtp import Inbox

REFRESH = '<meta http-equiv="refresh"'


@pytest.fixture
def app_config(tmp_path, smtp: tuple[Inbox, int]) -> dict[str, Any]:
    return {"JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite"),
            "IMPORT_JOB_ROWS": 300, "JOBS_IMPORT_ATTEMPTS": 3, "JOBS_IMPORT_RETRY_DELAY": 60,
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1],
            "PUBLIC_BASE_URL": "https://review.example.edu"}


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    course = make_course("chicago", timezone="America/Chicago", first_monday=date(2026, 10, 19))
    people = {"instructor": make_member(course, CourseRole.instructor),
              "ta": make_member(course, CourseRole.ta)}
    db.session.commit()
    yield {"course": course, **people}
    jobs().huey.flush()


def _roster(count: int, *, bad: dict[int, str] | None = None) -> bytes:
    """A roster file of ``count`` students; ``bad`` replaces the email of some file rows."""
    lines = ["student_id,first_name,last_name,email,section"]
    for number in range(1, count + 1):
        email = (bad or {}).get(number + 1, f"s{number}@example.edu")  # row 1 is the header
        lines.append(f"{1000 + number},Student,Number{number},{email},S{number % 4 + 1}")
    return ("\n".join(lines) + "\n").encode()


def _upload(client: FlaskClient, content: bytes) -> Any:
    return client.post("/c/chicago/roster", data={"file": (io.BytesIO(content), "roster.csv")},
                       content_type="multipart/form-data")


def _students(course: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student))


def _job() -> ImportJob:
    db.session.expire_all()
    return db.session.scalars(select(ImportJob)).one()


def test_a_large_roster_is_queued_and_the_worker_imports_it_with_its_mails(
        client, login, world: dict[str, Any], smtp: tuple[Inbox, int]) -> None:
    huey = jobs().huey
    login(world["instructor"])
    response = _upload(client, _roster(400))
    job = _job()
    assert response.status_code == 302
    assert response.location.endswith(f"/c/chicago/imports/{job.id}")
    assert (job.kind, job.state, len(job.rows), job.created_by_id) == (
        "roster", "queued", 400, world["instructor"].id)
    # Nothing is in the roster until the worker runs: the page only stored the rows.
    assert _students(world["course"]) == 0 and huey.pending_count() == 1
    page = client.get(response.location).get_data(as_text=True)
    assert "Queued" in page and "400 students" in page and REFRESH in page
    assert "<script" not in page

    # The import, then its 400 set-password mails, which the import queued.
    assert run_due_jobs(huey) == 401
    job = _job()
    assert job.state == "done" and job.error == "" and job.finished_at is not None
    assert _students(world["course"]) == 400
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 400
    inbox, _ = smtp
    assert len(inbox.messages) == 400
    page = client.get(f"/c/chicago/imports/{job.id}").get_data(as_text=True)
    assert "Done" in page and REFRESH not in page
    assert "Roster imported: 400 new account(s), 0 existing account(s) enrolled" in page
    assert "Queued 400 set-password mail(s)" in page

    # The same file again is a new job that changes nothing: re-importing is idempotent.
    _upload(client, _roster(400))
    assert run_due_jobs(huey) == 1
    second = db.session.scalars(select(ImportJob).order_by(ImportJob.id.desc())).first()
    assert second.state == "done" and "0 new account(s)" in second.summary
    assert "400 unchanged" in second.summary


def test_a_small_roster_is_imported_by_the_page_itself(client, login,
                                                       world: dict[str, Any]) -> None:
    login(world["instructor"])
    response = _upload(client, _roster(300))
    assert response.status_code == 200
    assert "Roster imported: 300 new account(s)" in response.get_data(as_text=True)
    assert _students(world["course"]) == 300
    assert db.session.scalars(select(ImportJob)).all() == []
    # Only the mails wait for the worker.
    assert jobs().huey.pending_count() == 300


def test_a_bad_large_file_is_refused_at_once_with_its_rows_and_nothing_is_stored(
        client, login, world: dict[str, Any]) -> None:
    login(world["instructor"])
    response = _upload(client, _roster(400, bad={57: "not-an-address", 300: "s1@example.edu"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "row 57, column email: invalid email &#39;not-an-address&#39;" in page
    assert "row 300, column email: &#39;s1@example.edu&#39; is also on row 2" in page
    assert db.session.scalars(select(ImportJob)).all() == []
    assert _students(world["course"]) == 0 and jobs().huey.pending_count() == 0


def test_a_second_import_of_the_course_is_refused_while_one_is_queued(
        client, login, world: dict[str, Any]) -> None:
    huey = jobs().huey
    login(world["instructor"])
    _upload(client, _roster(400))
    for content in (_roster(5), _roster(350)):
        response = _upload(client, content)
        assert response.status_code == 422
        assert "Another roster import of this course" in response.get_data(as_text=True)
    assert len(db.session.scalars(select(ImportJob)).all()) == 1 and _students(world["course"]) == 0
    # Another course imports meanwhile.
    other = make_course("elsewhere")
    other_instructor = make_member(other, CourseRole.instructor)
    db.session.commit()
    login(other_instructor)
    assert client.post("/c/elsewhere/roster", data={"file": (io.BytesIO(_roster(5)), "r.csv")},
                       content_type="multipart/form-data").status_code == 200
    # An import queued longer than JOBS_PENDING_SECONDS is taken as lost and blocks nothing.
    job = _job()
    with pytest.raises(imports.ImportRunning):
        imports.require_no_import_running(world["course"], job.created_at + timedelta(seconds=899))
    imports.require_no_import_running(world["course"], job.created_at + timedelta(seconds=901))
    db.session.rollback()
    run_due_jobs(huey)
    login(world["instructor"])
    assert _upload(client, _roster(5)).status_code == 200


def test_a_failing_import_is_retried_then_shown_failed_and_run_again_from_the_outbox(
        client, login, world: dict[str, Any], monkeypatch) -> None:
    huey, tries = jobs().huey, []

    def database_gone(course: Any, rows: list[dict[str, Any]]) -> str:
        tries.append(1)
        imports.apply_roster(course, [RosterRow(**row) for row in rows])  # written, then lost
        raise OSError("the database server went away")

    monkeypatch.setitem(imports.APPLY, "roster", database_gone)
    login(world["instructor"])
    status_url = _upload(client, _roster(400)).location
    assert run_due_jobs(huey) == 1
    job = _job()
    assert job.state == "queued" and "went away" in job.error
    page = client.get(status_url).get_data(as_text=True)
    assert "The last try failed (OSError: the database server went away)" in page
    assert REFRESH in page
    delays = []
    for _ in range(2):
        (retry,) = huey.scheduled()
        delays.append(round((retry.eta - huey._get_timestamp()).total_seconds()))
        huey.storage.flush_schedule()  # the clock moves on: the retry is due
        retry.eta = None
        huey.execute(retry)
        assert run_due_jobs(huey) == 0
    assert delays == [60, 120] and len(tries) == 3 and huey.scheduled() == []
    job = _job()
    assert job.state == "failed" and job.error == "OSError: the database server went away"
    # Every try rolled back whole: no student, no mail.
    assert _students(world["course"]) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    page = client.get(status_url).get_data(as_text=True)
    assert "Failed" in page and "went away" in page and REFRESH not in page
    outbox = client.get("/c/chicago/outbox").get_data(as_text=True)
    assert "Jobs that failed" in outbox and "roster import of 400 students" in outbox
    assert "went away" in outbox

    other = make_course("elsewhere")
    other_instructor = make_member(other, CourseRole.instructor)
    admin = make_user()
    admin.is_admin = True
    db.session.commit()
    login(other_instructor)
    assert "went away" not in client.get("/c/elsewhere/outbox").get_data(as_text=True)
    assert client.post("/c/elsewhere/outbox/rerun-import",
                       data={"import_id": job.id}).status_code == 404
    login(admin)
    assert "went away" in client.get("/admin/outbox").get_data(as_text=True)

    monkeypatch.undo()
    login(world["instructor"])
    response = client.post("/c/chicago/outbox/rerun-import", data={"import_id": job.id})
    assert response.status_code == 302 and response.location.endswith(status_url)
    assert _job().state == "queued"
    assert run_due_jobs(huey) == 401  # the import and its mails
    job = _job()
    assert job.state == "done" and job.error == "" and _students(world["course"]) == 400
    assert "Jobs that failed" not in client.get("/c/chicago/outbox").get_data(as_text=True)
    # Run again is for failed imports only.
    assert client.post("/c/chicago/outbox/rerun-import",
                       data={"import_id": job.id}).status_code == 404


def test_a_rule_that_refuses_the_rows_at_apply_time_fails_the_import_at_once(
        client, login, world: dict[str, Any]) -> None:
    huey = jobs().huey
    login(world["instructor"])
    status_url = _upload(client, _roster(400)).location
    # Between the check and the job, s7@ joins the course as a TA.
    make_member(world["course"], CourseRole.ta, email="s7@example.edu")
    db.session.commit()
    assert run_due_jobs(huey) == 1
    job = _job()
    assert job.state == "failed" and huey.scheduled() == []
    assert "row 8, column email: 's7@example.edu' is already in this course as ta" in job.error
    assert _students(world["course"]) == 0
    assert "is already in this course as ta" in client.get(status_url).get_data(as_text=True)


def test_the_status_page_is_for_the_courses_instructors_in_course_time(
        client, login, world: dict[str, Any]) -> None:
    rows = [RosterRow(row=2, student_id="1", first_name="A", last_name="B", email="a@example.edu")]
    # Queued on either side of the end of daylight saving time in Chicago.
    before = imports.queue_roster_import(world["course"], world["instructor"], rows,
                                         datetime(2026, 10, 31, 15, 0, tzinfo=timezone.utc))
    after = imports.queue_roster_import(world["course"], world["instructor"], rows,
                                        datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc))
    student = make_member(world["course"])
    other = make_course("elsewhere")
    other_instructor = make_member(other, CourseRole.instructor)
    db.session.commit()
    jobs().huey.flush()
    login(world["instructor"])
    assert "Sat 31 Oct 2026, 10:00 (CDT)" in client.get(
        f"/c/chicago/imports/{before.id}").get_data(as_text=True)
    assert "Mon 02 Nov 2026, 09:00 (CST)" in client.get(
        f"/c/chicago/imports/{after.id}").get_data(as_text=True)
    for user, status in ((world["ta"], 403), (student, 403), (other_instructor, 404)):
        login(user)
        assert client.get(f"/c/chicago/imports/{before.id}").status_code == status
    # Another course's instructor with their own course in the URL: not their import.
    assert client.get(f"/c/elsewhere/imports/{before.id}").status_code == 404

