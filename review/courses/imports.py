"""Large roster imports run as a job.

The page reads and validates the file as always, so a bad file is refused at once with its
problems by row and column and nothing is stored. A roster of more than IMPORT_JOB_ROWS rows
(applying 5,000 rows and queueing their mails takes seconds) is then stored as an ``ImportJob``
and applied by ``apply_import`` after the commit; the page sends the instructor to the job's
status page. Small rosters are applied in the request, by the same ``apply_roster``.

- The job applies the rows, queues the set-password mails and records its summary in one
  transaction: a failure leaves nothing half-applied.
- A job that raises is retried with back-off; after the last try it is marked failed with the
  reason, which the status page and the outbox ("Jobs that failed", with "Run again") show.
  Applying again is safe: ``import_roster`` changes nothing it has already done.
- A rule that refuses the rows at apply time (the roster changed since the file was checked)
  fails the job at once with its message: trying again would not help.
- One import per course at a time: while one is queued or running, another upload is refused,
  and two jobs of a course that meet anyway (a race of two uploads) wait for each other on the
  course row.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import Course, ImportJob, User, db, utcnow
from review.core.errors import DomainError
from review.courses.links import MailReport, issue_links, mail_links
from review.courses.roster import RosterResult, RosterRow, import_roster
from review.jobs import after_commit, jobs, retry_delay
from review.mail import mail_configured

ROSTER = "roster"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)
#: Rosters with more rows than this (IMPORT_JOB_ROWS) are applied by a job.
DEFAULT_JOB_ROWS = 300


class ImportRunning(DomainError):
    """Another import of the course is queued or running."""

    def __init__(self, job: ImportJob):
        self.job = job
        super().__init__(f"Another roster import of this course (queued "
                         f"{job.created_at:%Y-%m-%d %H:%M} UTC) is {job.state}; wait until it "
                         "is done, then upload again. Nothing was imported.")


# ---------------------------------------------------------------------------------- the page


def runs_as_job(rows: list[RosterRow]) -> bool:
    return len(rows) > int(current_app.config.get("IMPORT_JOB_ROWS", DEFAULT_JOB_ROWS))


def require_no_import_running(course: Course, now: datetime) -> None:
    """Refuse a second import while one of the course is queued or running.

    The course row is locked first (PostgreSQL), so of two uploads at the same moment the second
    waits for the first's commit and then sees its job. An import queued or running for longer
    than JOBS_PENDING_SECONDS is taken as lost (a worker killed under it) and blocks nothing.
    """
    _lock(course.id)
    since = now - timedelta(seconds=float(current_app.config["JOBS_PENDING_SECONDS"]))
    job = db.session.scalar(select(ImportJob).where(
        ImportJob.course_id == course.id, ImportJob.state.in_(ACTIVE),
        ImportJob.created_at >= since).order_by(ImportJob.id).limit(1))
    if job is not None:
        raise ImportRunning(job)


def apply_roster(course: Course, rows: list[RosterRow]) -> tuple[RosterResult, Optional[MailReport]]:
    """Import the rows and queue a set-password mail to each new account (when mail is set up);
    the caller commits once, and the mails go out after that."""
    result = import_roster(course, rows)
    links = issue_links(result.created) if mail_configured() else []
    return result, mail_links(course, links) if links else None


def queue_roster_import(course: Course, user: User, rows: list[RosterRow],
                        now: datetime) -> ImportJob:
    """Store validated rows as an import job; it is queued after the caller's commit."""
    job = ImportJob(course_id=course.id, kind=ROSTER, created_by_id=user.id, created_at=now,
                    state=QUEUED, rows=[asdict(row) for row in rows])
    db.session.add(job)
    db.session.flush()
    _enqueue_after_commit(job.id)
    return job


def run_again(job: ImportJob, now: datetime) -> None:
    """Staff's "run again" for an import that failed; queued after the caller's commit."""
    require_no_import_running(job.course, now)
    # created_at is when the job was last queued: what "queued or running too long" counts from.
    job.state, job.error, job.summary, job.finished_at, job.created_at = QUEUED, "", "", None, now
    _enqueue_after_commit(job.id)


def failed_imports(course_id: Optional[int], limit: int) -> list[ImportJob]:
    """Imports that failed for good, newest first (every course's when None)."""
    query = (select(ImportJob).where(ImportJob.state == FAILED)
             .options(selectinload(ImportJob.course))
             .order_by(ImportJob.finished_at.desc(), ImportJob.id.desc()).limit(limit))
    if course_id is not None:
        query = query.where(ImportJob.course_id == course_id)
    return list(db.session.scalars(query))


def _enqueue_after_commit(import_id: int) -> None:
    apply = jobs().apply_import
    after_commit(lambda: apply(import_id))


def _lock(course_id: int) -> Course:
    # FOR UPDATE is a no-op on SQLite, whose writers take turns anyway.
    return db.session.scalars(select(Course).where(Course.id == course_id).with_for_update()).one()


# ---------------------------------------------------------------------------------- the job


def _apply_roster_rows(course: Course, rows: list[dict[str, Any]]) -> str:
    result, report = apply_roster(course, [RosterRow(**row) for row in rows])
    return "\n".join([*result.lines(), *([report.summary()] if report else [])])


#: What applies each kind of import and returns its summary (tests replace an entry).
APPLY: dict[str, Callable[[Course, list[dict[str, Any]]], str]] = {ROSTER: _apply_roster_rows}


def apply_import(import_id: int, attempt: int = 1) -> None:
    """The job: apply a queued import in one transaction, or record why not and retry."""
    job = db.session.get(ImportJob, import_id)
    if job is None or job.state != QUEUED:
        return  # the course is gone, or the import ran already (a queue may deliver twice)
    job.state = RUNNING
    db.session.commit()
    try:
        summary = APPLY[job.kind](_lock(job.course_id), job.rows)
        job.state, job.summary, job.error, job.finished_at = DONE, summary, "", utcnow()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _failed(import_id, str(exc))
    except Exception as exc:  # any failure: staff must see it, and the worker must go on
        db.session.rollback()
        reason = f"{type(exc).__name__}: {exc}"[:500]
        delay = retry_delay("JOBS_IMPORT", attempt)
        if delay is None:
            _failed(import_id, reason)
            return
        current_app.logger.info("Import %s failed (try %s), retrying in %g s: %s",
                                import_id, attempt, delay, reason)
        job = db.session.get(ImportJob, import_id)
        # Queued again, with the reason for the page; the retry starts from "queued".
        job.state, job.error = QUEUED, reason
        db.session.commit()
        jobs().apply_import.schedule(args=(import_id, attempt + 1), delay=delay)


def _failed(import_id: int, reason: str) -> None:
    current_app.logger.warning("Import %s failed for good: %s", import_id, reason)
    job = db.session.get(ImportJob, import_id)
    job.state, job.error, job.finished_at = FAILED, reason, utcnow()
    db.session.commit()
