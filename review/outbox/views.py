"""Outbox pages: site administrators see every mail and failed job, a course's instructors
their course's."""

from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from models import ImportJob, OutboxMessage, PaperSession, SessionAnalysis, db, utcnow
from review.core.errors import DomainError
from review.courses import imports
from review.mail import mail_configured, resend
from review.outbox.forms import ImportRerunForm, RerunForm, ResendForm
from review.permissions import course_instructor, site_admin
from review.reviews.analysis import failed_analyses, run_again

bp = Blueprint("outbox", __name__)

# The newest mails only: the page must stay small however long the site has run.
SHOWN = 200


def _messages(course_id: Optional[int]) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(SHOWN)
    if course_id is not None:
        query = query.where(OutboxMessage.course_id == course_id)
    return list(db.session.scalars(query))


def _page(course: Any, messages: list[OutboxMessage], resend_url: str, rerun_url: str,
          rerun_import_url: str) -> str:
    course_id = course.id if course else None
    return render_template("outbox/index.html", course=course, messages=messages,
                           resend_url=resend_url, form=ResendForm(), shown=SHOWN,
                           mail_enabled=mail_configured(), rerun_url=rerun_url,
                           failed_jobs=failed_analyses(course_id, SHOWN),
                           rerun_form=RerunForm(), rerun_import_url=rerun_import_url,
                           failed_imports=imports.failed_imports(course_id, SHOWN),
                           rerun_import_form=ImportRerunForm())


def _resend(message: Optional[OutboxMessage]) -> None:
    if message is None:
        abort(404)
    resend(message)
    db.session.commit()
    flash(f"The mail to {message.to} is queued again.", "success")


def _rerun(row: Optional[SessionAnalysis]) -> None:
    if row is None or not row.error:
        abort(404)
    run_again(row)
    db.session.commit()
    flash(f"The {row.kind} of week {row.session.week.number} is queued again.", "success")


def _rerun_import(job: Optional[ImportJob]) -> None:
    if job is None or job.state != imports.FAILED:
        abort(404)
    try:
        imports.run_again(job, utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return
    db.session.commit()
    flash(f"The roster import of {job.course.code} is queued again.", "success")


@bp.get("/admin/outbox")
@site_admin
def admin_index() -> str:
    return _page(None, _messages(None), url_for("outbox.admin_resend"),
                 url_for("outbox.admin_rerun"), url_for("outbox.admin_rerun_import"))


@bp.post("/admin/outbox/resend")
@site_admin
def admin_resend() -> WerkzeugResponse:
    form = ResendForm()
    if not form.validate_on_submit():
        abort(404)
    _resend(db.session.get(OutboxMessage, form.message_id.data))
    return redirect(url_for("outbox.admin_index"))


@bp.get("/c/<course_code>/outbox")
@course_instructor
def course_index(course_code: str) -> str:
    return _page(g.course, _messages(g.course.id),
                 url_for("outbox.course_resend", course_code=course_code),
                 url_for("outbox.course_rerun", course_code=course_code),
                 url_for("outbox.course_rerun_import", course_code=course_code))


@bp.post("/c/<course_code>/outbox/resend")
@course_instructor
def course_resend(course_code: str) -> WerkzeugResponse:
    form = ResendForm()
    if not form.validate_on_submit():
        abort(404)
    message = db.session.scalar(select(OutboxMessage).where(
        OutboxMessage.id == form.message_id.data, OutboxMessage.course_id == g.course.id))
    _resend(message)
    return redirect(url_for("outbox.course_index", course_code=course_code))


@bp.post("/admin/outbox/rerun")
@site_admin
def admin_rerun() -> WerkzeugResponse:
    form = RerunForm()
    if not form.validate_on_submit():
        abort(404)
    _rerun(db.session.get(SessionAnalysis, form.analysis_id.data))
    return redirect(url_for("outbox.admin_index"))


@bp.post("/c/<course_code>/outbox/rerun")
@course_instructor
def course_rerun(course_code: str) -> WerkzeugResponse:
    form = RerunForm()
    if not form.validate_on_submit():
        abort(404)
    row = db.session.scalar(select(SessionAnalysis).join(PaperSession).where(
        SessionAnalysis.id == form.analysis_id.data, PaperSession.course_id == g.course.id))
    _rerun(row)
    return redirect(url_for("outbox.course_index", course_code=course_code))


@bp.post("/admin/outbox/rerun-import")
@site_admin
def admin_rerun_import() -> WerkzeugResponse:
    form = ImportRerunForm()
    if not form.validate_on_submit():
        abort(404)
    _rerun_import(db.session.get(ImportJob, form.import_id.data))
    return redirect(url_for("outbox.admin_index"))


@bp.post("/c/<course_code>/outbox/rerun-import")
@course_instructor
def course_rerun_import(course_code: str) -> WerkzeugResponse:
    form = ImportRerunForm()
    if not form.validate_on_submit():
        abort(404)
    job = db.session.scalar(select(ImportJob).where(ImportJob.id == form.import_id.data,
                                                    ImportJob.course_id == g.course.id))
    _rerun_import(job)
    # Back to the import's page, which follows it to the end.
    return redirect(url_for("courses.import_status", course_code=course_code,
                            import_id=form.import_id.data))
