"""The similarity check and the question digest run as jobs: queued after a submit (one waiting
job per session and kind), read from storage by the pages, shown as "updating" while stale,
retried with back-off, and listed in the outbox for staff when they fail for good.

On the embedded SQLite queue, as ``make run`` has it: pages only enqueue, ``run_due_jobs`` is
the worker. The course is in Chicago and its last session falls just after the end of daylight
saving time (1 November 2026)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app
from sqlalchemy import select

from models import CourseRole, PaperSession, SessionAnalysis, db
from review.jobs import job_started, jobs, run_due_jobs
from review.reviews import analysis, services
from review.reviews.services import ReviewContent
from tests.factories import make_course, make_member, make_user

PROJECT = Path(__file__).resolve().parents[2]
SHARED = "How does the method behave when the batch size is much smaller than in the paper?"


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    return {"JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite"),
            "JOBS_ANALYSIS_ATTEMPTS": 3, "JOBS_ANALYSIS_RETRY_DELAY": 60}


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    course = make_course("chicago", timezone="America/Chicago", first_monday=date(2026, 10, 19),
                         session_weeks=(1, 3))
    session = course.sessions[-1]
    people = {"instructor": make_member(course, CourseRole.instructor),
              "ta": make_member(course, CourseRole.ta),
              "students": [make_member(course) for _ in range(3)]}
    db.session.commit()
    yield {"course": course, "session": session, **people}
    jobs().huey.flush()


def _submit(session: PaperSession, student: Any, question: str, summary: str = "A summary.") -> None:
    services.submit_review(session, student, ReviewContent.build(
        summary=summary, strengths="Clear.", weaknesses="One dataset.", remedies="Add one.",
        questions=[question]), session.review_deadline - timedelta(hours=1))
    db.session.commit()


def _rows() -> dict[str, SessionAnalysis]:
    db.session.expire_all()
    return {row.kind: row for row in db.session.scalars(select(SessionAnalysis))}


def _digest_url(world: dict[str, Any]) -> str:
    return f"/c/chicago/reviews/{world['session'].id}/digest"


def test_submits_queue_one_job_per_kind_and_the_worker_brings_both_up_to_date(
        world: dict[str, Any], monkeypatch) -> None:
    session, huey = world["session"], jobs().huey
    for number, student in enumerate(world["students"]):
        _submit(session, student, f"Question {number} about the {['loss', 'data', 'code'][number]}?")
    # Three submits, three commits: one digest job and one similarity job wait, not six.
    assert huey.pending_count() == 2
    assert _rows() == {}
    assert run_due_jobs(huey) == 2
    rows = _rows()
    assert set(rows) == {"similarity", "digest"}
    for kind, row in rows.items():
        assert row.source_hash == analysis.source_hash(session, kind) and row.error == ""
    assert sum(c.count for c in analysis.session_digest(session)) == 3

    # A job for a result that is already current does nothing (it would fail if it computed).
    def must_not_run(_: PaperSession) -> dict[str, Any]:
        raise AssertionError("recomputed a current result")

    monkeypatch.setitem(analysis.COMPUTE, "digest", must_not_run)
    analysis.request_analysis(session.id, "digest")
    assert run_due_jobs(huey) == 1
    assert _rows()["digest"].error == "" and huey.scheduled() == []


def test_the_waiting_mark_coalesces_a_burst_until_the_job_starts_or_goes_stale(
        world: dict[str, Any], monkeypatch) -> None:
    session, huey = world["session"], jobs().huey
    key = analysis._pending_key(session.id, "digest")
    clock = [1_000_000.0]
    monkeypatch.setattr("review.jobs.time.time", lambda: clock[0])
    assert analysis.request_analysis(session.id, "digest")
    clock[0] += 60
    assert not analysis.request_analysis(session.id, "digest")  # one waits already
    assert huey.pending_count() == 1 and huey.get(key, peek=True) == 1_000_000.0
    # A worker that was lost with its job: once the mark is older than JOBS_PENDING_SECONDS,
    # the next change queues a job again, and the mark is renewed.
    clock[0] += float(current_app.config["JOBS_PENDING_SECONDS"])
    assert analysis.request_analysis(session.id, "digest")
    assert huey.pending_count() == 2 and huey.get(key, peek=True) == clock[0]
    # A job that started cleared the mark: a change made while it runs queues the next one.
    job_started(key)
    assert analysis.request_analysis(session.id, "digest")
    assert huey.pending_count() == 3


def test_a_stale_digest_shows_updating_with_its_time_and_leaves_out_changed_reviews(
        client, login, world: dict[str, Any]) -> None:
    session, (first, second, third) = world["session"], world["students"]
    huey = jobs().huey
    _submit(session, first, "Why was the learning rate schedule never tuned?")
    _submit(session, second, SHARED)
    run_due_jobs(huey)
    # Computed just after the change back to standard time: 15:00 UTC is 09:00 in Chicago.
    _rows()["digest"].computed_at = datetime(2026, 11, 2, 15, 0, tzinfo=timezone.utc)
    db.session.commit()
    _submit(session, first, "Does the result hold on a second dataset?")
    _submit(session, third, "What would change with a tenth of the data?")
    assert huey.pending_count() == 2

    login(world["ta"])
    page = client.get(_digest_url(world)).get_data(as_text=True)
    assert "Updating…" in page and "Shown as of Mon 02 Nov 2026, 09:00" in page
    # The unchanged review's question is shown; the resubmitted one's old and new questions
    # and the new review's wait for the job.
    assert SHARED in page
    assert "learning rate" not in page and "second dataset" not in page and "tenth" not in page
    # The page asked for nothing more: the waiting job covers it.
    assert huey.pending_count() == 2
    similarity = client.get(f"/c/chicago/reviews/{session.id}/similarity").get_data(as_text=True)
    assert "Updating…" in similarity

    assert run_due_jobs(huey) == 2
    page = client.get(_digest_url(world)).get_data(as_text=True)
    assert "Updating" not in page
    assert SHARED in page and "second dataset" in page and "tenth" in page
    assert "learning rate" not in page


def test_a_page_with_nothing_computed_yet_asks_for_the_job_once(
        client, login, world: dict[str, Any]) -> None:
    # Reviews that reached the database without a submit (an import, a restored backup).
    session, huey = world["session"], jobs().huey
    _submit(session, world["students"][0], SHARED)
    huey.flush()
    login(world["instructor"])
    for _ in range(3):
        page = client.get(_digest_url(world)).get_data(as_text=True)
        assert "The first result is being computed" in page
        assert "No discussion questions yet" not in page
    assert huey.pending_count() == 1
    run_due_jobs(huey)
    assert SHARED in client.get(_digest_url(world)).get_data(as_text=True)


_PROBE = """
import json, sys
from datetime import timedelta
from app import create_app
from models import CourseRole, db
from review.jobs import jobs, run_due_jobs
from review.reviews import services
from tests.factories import make_course, make_member
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///%(dir)s/probe.sqlite", "SECRET_KEY": "p",
                  "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": "%(dir)s/jobs.sqlite",
                  "SERVER_NAME": "localhost", "SESSION_COOKIE_SECURE": False})
with app.app_context():
    db.create_all()
    course = make_course("probe")
    session = course.sessions[0]
    staff = make_member(course, CourseRole.instructor)
    for n in range(3):
        services.submit_review(session, make_member(course), services.ReviewContent.build(
            summary="s", strengths="s", weaknesses="w", remedies="r",
            questions=[f"Question {n}?"]), session.review_deadline - timedelta(hours=1))
    db.session.commit()
    staff_id, session_id = staff.get_id(), session.id
client = app.test_client()
with client.session_transaction() as cookie:
    cookie["_user_id"], cookie["_fresh"] = staff_id, True
statuses = [client.get(f"/c/probe/reviews/{session_id}/{page}").status_code
            for page in ("digest", "similarity")]
on_request = "sklearn" in sys.modules
with app.app_context():
    ran = run_due_jobs(jobs().huey)
print(json.dumps({"statuses": statuses, "on_request": on_request, "ran": ran,
                  "in_job": "sklearn" in sys.modules}))
"""


def test_digest_and_similarity_pages_import_no_sklearn_on_a_request(tmp_path) -> None:
    result = subprocess.run(  # nosec B603 - the test runs its own probe
        [sys.executable, "-c", _PROBE % {"dir": tmp_path}], cwd=PROJECT, capture_output=True,
        text=True, timeout=180, check=True)
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["statuses"] == [200, 200]
    assert probe["on_request"] is False
    # The same process imports it once the worker runs the jobs: the probe can see it.
    assert probe["ran"] == 2 and probe["in_job"] is True


def test_a_failing_job_is_retried_with_growing_delays_then_shown_to_staff_who_run_it_again(
        client, login, world: dict[str, Any], monkeypatch) -> None:
    session, huey = world["session"], jobs().huey
    tries = []

    def out_of_memory(_: PaperSession) -> dict[str, Any]:
        tries.append(1)
        raise MemoryError("the worker ran out of memory")

    monkeypatch.setitem(analysis.COMPUTE, "digest", out_of_memory)
    _submit(session, world["students"][0], SHARED)
    assert run_due_jobs(huey) == 2
    delays = []
    for _ in range(2):
        (retry,) = huey.scheduled()
        delays.append(round((retry.eta - huey._get_timestamp()).total_seconds()))
        # The clock moves on: the retry is due.
        huey.storage.flush_schedule()
        retry.eta = None
        huey.execute(retry)
        # The worker parks the next retry until its time instead of running it now.
        assert run_due_jobs(huey) == 0
    assert delays == [60, 120] and len(tries) == 3 and huey.scheduled() == []
    row = _rows()["digest"]
    assert row.error == "MemoryError: the worker ran out of memory" and row.failed_at is not None

    login(world["ta"])
    page = client.get(_digest_url(world)).get_data(as_text=True)
    assert "The last update failed" in page and "ran out of memory" in page
    # A failed result is not asked for again on every page view: staff decide.
    assert huey.pending_count() == 0 and len(tries) == 3

    other = make_course("elsewhere")
    other_instructor = make_member(other, CourseRole.instructor)
    admin = make_user()
    admin.is_admin = True
    db.session.commit()
    login(other_instructor)
    assert b"ran out of memory" not in client.get("/c/elsewhere/outbox").data
    assert client.post("/c/elsewhere/outbox/rerun",
                       data={"analysis_id": row.id}).status_code == 404
    login(admin)
    assert b"ran out of memory" in client.get("/admin/outbox").data
    login(world["instructor"])
    outbox = client.get("/c/chicago/outbox").get_data(as_text=True)
    assert "Jobs that failed" in outbox and "ran out of memory" in outbox

    monkeypatch.undo()
    assert client.post("/c/chicago/outbox/rerun",
                       data={"analysis_id": row.id}).status_code == 302
    assert run_due_jobs(huey) == 1
    row = _rows()["digest"]
    assert row.error == "" and row.source_hash == analysis.source_hash(session, "digest")
    assert "Jobs that failed" not in client.get("/c/chicago/outbox").get_data(as_text=True)
    page = client.get(_digest_url(world)).get_data(as_text=True)
    assert SHARED in page and "failed" not in page
