"""Course pages: the list of my courses, a course's home (its schedule), its roster, and the
status of a large roster import (review.courses.imports)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from models import CourseRole, Enrollment, Group, ImportJob, Membership, User, db, utcnow
from review.accounts.forms import EmptyForm
from review.courses.links import issue_links, links_csv_text
from review.core.errors import DomainError
from review.core.timeutil import today_in
from review.courses import imports, roster, services
from review.courses.due import DueItem, due_items
from review.courses.forms import TableUploadForm
from review.outbox.forms import ImportRerunForm
from review.permissions import course_instructor, course_member, course_staff, is_staff, public

bp = Blueprint("courses", __name__)


@bp.get("/")
@public
def index() -> str | WerkzeugResponse:
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    memberships = services.courses_of(current_user)
    items: dict[int, list[DueItem]] = defaultdict(list)
    for item in due_items(current_user, memberships, utcnow()):
        items[item.course.id].append(item)
    return render_template("courses/index.html", memberships=memberships, items=items,
                           rotate_form=EmptyForm())


@bp.get("/c/<course_code>/")
@course_member
def home(course_code: str) -> str:
    course = g.course
    weeks = services.course_schedule(course)
    sessions = [week.session for week in weeks if week.session is not None]
    # Loaded before the slots' roles are read (the list, the template): one statement for all.
    roles = course.roles
    my_group = None
    my_slot_ids: set[int] = set()
    if g.enrollment.role == CourseRole.student:
        my_group = db.session.scalar(select(Group).join(Membership).where(
            Membership.course_id == course.id, Membership.user_id == current_user.id))
        if my_group is not None:
            my_slot_ids = {slot.id for session in sessions for slot in session.slots
                           if slot.group_id == my_group.id}
    now = utcnow()
    today = today_in(course.timezone, now)
    current_week = next((week.number for week in weeks
                         if week.starts_on <= today < week.starts_on + timedelta(days=7)), None)
    return render_template("courses/home.html", course=course, weeks=weeks, roles=roles,
                           my_group=my_group, my_slot_ids=my_slot_ids, current_week=current_week,
                           staff=is_staff(g.enrollment),
                           due=due_items(current_user, [(course, g.enrollment)], now, sessions),
                           rotate_form=EmptyForm())


@bp.route("/c/<course_code>/roster", methods=["GET", "POST"])
@course_staff
def roster_page(course_code: str) -> tuple[str, int] | str | WerkzeugResponse:
    course = g.course
    form = TableUploadForm()
    status = 200
    failed_ids = ""
    if form.validate_on_submit():
        if g.enrollment.role != CourseRole.instructor:
            flash("Only instructors import the roster.", "error")
            status = 403
        else:
            upload = form.file.data
            job = None
            try:
                rows = roster.parse_roster(roster.read_table(upload.read(), upload.filename))
                # After parsing: the check locks the course row, and no import holds a
                # database lock while it parses.
                imports.require_no_import_running(course, utcnow())
                if imports.runs_as_job(rows):
                    job = imports.queue_roster_import(course, current_user, rows, utcnow())
                else:
                    # The mails are queued with the roster and sent after the commit: a mail
                    # server that is down neither fails the page nor undoes the import (the
                    # outbox shows the failures).
                    result, report = imports.apply_roster(course, rows)
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc), "error")
                status = 422
            else:
                db.session.commit()
                if job is not None:
                    return redirect(url_for("courses.import_status", course_code=course.code,
                                            import_id=job.id))
                flash("\n".join(result.lines()), "success")
                if report is not None:
                    flash(report.summary(), "error" if report.failed else "info")
                    failed = {link["email"] for link in report.failed_links}
                    failed_ids = ",".join(str(user.id) for user in result.created
                                          if user.email in failed)
    elif form.is_submitted():
        status = 422
    students = db.session.execute(
        select(Enrollment, User).join(User).where(Enrollment.course_id == course.id)
        .order_by(Enrollment.role, User.last_name, User.first_name)).tuples().all()
    return render_template("courses/roster.html", course=course, form=form, people=students,
                           links_form=EmptyForm(), failed_ids=failed_ids,
                           is_instructor=g.enrollment.role == CourseRole.instructor), status


@bp.post("/c/<course_code>/roster/links.csv")
@course_instructor
def roster_links(course_code: str) -> WerkzeugResponse:
    form = EmptyForm()
    if not form.validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("courses.roster_page", course_code=course_code))
    links = issue_links([user for _, user in roster.students_without_password(g.course)])
    db.session.commit()
    return Response(links_csv_text(links), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={course_code}-set-password-links.csv",
        "Cache-Control": "no-store"})


@bp.get("/c/<course_code>/imports/<int:import_id>")
@course_instructor
def import_status(course_code: str, import_id: int) -> str:
    job = db.session.scalar(select(ImportJob).where(ImportJob.id == import_id,
                                                    ImportJob.course_id == g.course.id))
    if job is None:
        abort(404)
    return render_template("courses/import.html", course=g.course, job=job,
                           students=len(job.rows), active=job.state in imports.ACTIVE,
                           rerun_form=ImportRerunForm())
