"""The instructor's Staff page: add or remove TAs and co-instructors, see who has signed in."""

from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from models import CourseRole, Enrollment, User, db
from review.accounts.forms import EmptyForm
from review.core.errors import DomainError
from review.courses import staff
from review.courses.forms import StaffForm, UserIdsForm
from review.courses.links import MailReport, issue_links, links_csv_text, mail_links
from review.mail import mail_configured
from review.permissions import course_instructor

bp = Blueprint("staff", __name__)


def render_staff_page(form: StaffForm, *, status: int = 200, links: Optional[list[Any]] = None,
                      report: Optional[MailReport] = None) -> tuple[str, int]:
    """The page; ``links`` are shown when they could not be mailed (no mail, or it failed)."""
    course = g.course
    failed_ids = ""
    if report and report.failed:
        emails = {link["email"] for link in report.failed_links}
        failed_ids = ",".join(str(user.id) for _, user in staff.staff_of(course)
                              if user.email in emails)
    return render_template("courses/staff.html", course=course, form=form,
                           people=staff.staff_of(course), remove_form=EmptyForm(),
                           links=links or [], report=report, failed_ids=failed_ids,
                           links_form=UserIdsForm(), mail_enabled=mail_configured()), status


@bp.route("/c/<course_code>/staff", methods=["GET", "POST"])
@course_instructor
def page(course_code: str) -> tuple[str, int]:
    course = g.course
    form = StaffForm()
    if not form.validate_on_submit():
        return render_staff_page(form, status=422 if form.is_submitted() else 200)
    try:
        added = staff.add_staff(course, form.email.data, CourseRole(form.role.data),
                                first_name=form.first_name.data or "",
                                last_name=form.last_name.data or "", actor=current_user)
        links = issue_links([added.user]) if not added.user.password_hash else []
        report = None
        if links and mail_configured():
            report = mail_links(course, links,
                                why=staff.staff_mail_reason(course, added.enrollment.role))
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return render_staff_page(form, status=422)
    db.session.commit()
    flash(added.summary(course), "success" if added.changed else "info")
    if report is not None:
        return render_staff_page(StaffForm(formdata=None), report=report)
    return render_staff_page(StaffForm(formdata=None), links=links)


@bp.post("/c/<course_code>/staff/<int:user_id>/remove")
@course_instructor
def remove(course_code: str, user_id: int) -> WerkzeugResponse:
    course = g.course
    user = db.get_or_404(User, user_id)
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id,
        Enrollment.role.in_(staff.STAFF_ROLES)))
    if enrollment is None:
        abort(404)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("staff.page", course_code=course_code))
    try:
        role = staff.remove_staff(course, user, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{user.full_name} is no longer {role.value} of this course; their grading "
              "stays.", "success")
    return redirect(url_for("staff.page", course_code=course_code))


@bp.post("/c/<course_code>/staff/links.csv")
@course_instructor
def links_csv(course_code: str) -> WerkzeugResponse:
    """Fresh links, as CSV, for named members without a password (e.g. whose mail failed)."""
    form = UserIdsForm()
    if not form.validate_on_submit():
        flash(" ".join(error for errors in form.errors.values() for error in errors), "error")
        return redirect(url_for("staff.page", course_code=course_code))
    people = staff.members_without_password(g.course, form.ids())
    if not people:
        flash("None of those people needs a link: they have set a password, or they are not "
              "in this course.", "error")
        return redirect(url_for("staff.page", course_code=course_code))
    links = issue_links(people)
    db.session.commit()
    return Response(links_csv_text(links), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={course_code}-set-password-links.csv",
        "Cache-Control": "no-store"})
