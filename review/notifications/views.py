"""A student switches review reminders on or off for one course."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from models import db
from review.notifications.forms import RemindersForm
from review.notifications.reminders import set_opt_out
from review.permissions import course_student

bp = Blueprint("notifications", __name__)


@bp.post("/c/<course_code>/reminders")
@course_student
def reminders(course_code: str) -> WerkzeugResponse:
    form = RemindersForm()
    if not form.validate_on_submit():
        flash("Choose whether you want review reminders: on or off.", "error")
    else:
        set_opt_out(g.course, current_user, opted_out=form.reminders.data == "off")
        db.session.commit()
        flash("Review reminders are " + ("off" if form.reminders.data == "off" else "on")
              + " for this course.", "success")
    return redirect(url_for("reviews.index", course_code=course_code))
