"""Outbox pages: site administrators see every mail, a course's instructors their course's."""

from __future__ import annotations

from typing import Optional

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from models import OutboxMessage, db
from review.mail import mail_configured, resend
from review.outbox.forms import ResendForm
from review.permissions import course_instructor, site_admin

bp = Blueprint("outbox", __name__)

# The newest mails only: the page must stay small however long the site has run.
SHOWN = 200


def _messages(course_id: Optional[int]) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(SHOWN)
    if course_id is not None:
        query = query.where(OutboxMessage.course_id == course_id)
    return list(db.session.scalars(query))


def _page(course: object, messages: list[OutboxMessage], resend_url: str) -> str:
    return render_template("outbox/index.html", course=course, messages=messages,
                           resend_url=resend_url, form=ResendForm(), shown=SHOWN,
                           mail_enabled=mail_configured())


def _resend(message: Optional[OutboxMessage]) -> None:
    if message is None:
        abort(404)
    resend(message)
    db.session.commit()
    flash(f"The mail to {message.to} is queued again.", "success")


@bp.get("/admin/outbox")
@site_admin
def admin_index() -> str:
    return _page(None, _messages(None), url_for("outbox.admin_resend"))


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
                 url_for("outbox.course_resend", course_code=course_code))


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
