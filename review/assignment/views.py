"""Web pages of the assignment capability: a group's preferences, and the staff's runs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from models import db, utcnow
from review.accounts.forms import EmptyForm
from review.assignment import services
from review.assignment.forms import RunForm, preferences_form_class
from review.core.errors import DomainError
from review.courses.forms import TableUploadForm
from review.groups.services import group_of
from review.permissions import course_staff, course_student
from review.permissions import course_staff_can

bp = Blueprint("assignment", __name__)


@bp.route("/c/<course_code>/preferences", methods=["GET", "POST"])
@course_student
def preferences(course_code: str) -> tuple[str, int]:
    course = g.course
    group = group_of(course, current_user)
    now = utcnow()
    window = services.preference_window(course, now)
    sessions = services.upcoming_sessions(course, now)
    form_class = preferences_form_class(sessions)
    status = 200
    if group is None:
        return render_template("assignment/preferences.html", course=course, group=None,
                               window=window, sessions=sessions, form=None), 200
    if request.method == "POST":
        form = form_class()
        if not form.validate():
            status = 422
        else:
            ranks, unavailable = form.choices()
            try:
                services.save_group_preferences(group, current_user, ranks, unavailable, now)
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc), "error")
                status = 422
            else:
                db.session.commit()
                flash("Your group's preferences are saved.", "success")
                return redirect(url_for("assignment.preferences", course_code=course_code))
    else:
        stored = services.preferences_of(group)
        data = {f"rank_{sid}": rank for rank, sid in enumerate(stored.ranking, start=1)}
        data.update({f"unavailable_{sid}": True for sid in stored.unavailable})
        form = form_class(data=data)
    return render_template("assignment/preferences.html", course=course, group=group,
                           window=window, sessions=sessions, form=form), status


@bp.get("/c/<course_code>/assignment")
@course_staff
def index(course_code: str) -> str:
    course = g.course
    return render_template(
        "assignment/index.html", course=course, groups=services.preference_status(course),
        runs=services.course_runs(course), run_form=RunForm(), upload_form=TableUploadForm(),
        window=services.preference_window(course, utcnow()),
        rules=services.signup_rules(course))


@bp.post("/c/<course_code>/assignment/run")
@course_staff_can("publish_assignment")
def run(course_code: str) -> WerkzeugResponse:
    form = RunForm()
    if not form.validate_on_submit():
        problems = [message for name, messages in form.errors.items() if name != "csrf_token"
                    for message in messages]
        flash(" ".join(problems) or "The form expired; try again.", "error")
        return redirect(url_for("assignment.index", course_code=course_code))
    try:
        new_run = services.run_assignment(g.course, current_user, utcnow(), form.options())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("assignment.index", course_code=course_code))
    db.session.commit()
    return redirect(url_for("assignment.show_run", course_code=course_code, run_id=new_run.id))


@bp.get("/c/<course_code>/assignment/runs/<int:run_id>")
@course_staff
def show_run(course_code: str, run_id: int) -> str:
    course = g.course
    found = services.run_in_course(course, run_id)
    if found is None:
        abort(404)
    sessions = {session.week.number: session for session in services.course_sessions(course)}
    roles = {role.key: role for role in services.course_roles(course)}
    return render_template("assignment/run.html", course=course, run=found, doc=found.result,
                           sessions=sessions, roles=roles,
                           fairness_labels={c.value: c.label for c in RunForm.fairness_choices},
                           newer=services.newer_optimal_run(found), publish_form=EmptyForm())


@bp.post("/c/<course_code>/assignment/runs/<int:run_id>/publish")
@course_staff_can("publish_assignment")
def publish(course_code: str, run_id: int) -> WerkzeugResponse:
    found = services.run_in_course(g.course, run_id)
    if found is None:
        abort(404)
    back = redirect(url_for("assignment.show_run", course_code=course_code, run_id=run_id))
    if not EmptyForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return back
    try:
        changed = services.publish_run(found, current_user, utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    db.session.commit()
    flash(f"Run #{run_id} is published: {changed} slot(s) changed holder. Students now see "
          "their slots on the course page.", "success")
    return back


@bp.route("/c/<course_code>/assignment/import", methods=["GET", "POST"])
@course_staff_can("publish_assignment")
def import_page(course_code: str) -> tuple[str, int] | WerkzeugResponse:
    course = g.course
    form = TableUploadForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result = services.import_preferences(course, upload.read(), upload.filename,
                                                 current_user)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            status = 422
        else:
            db.session.commit()
            flash(result.summary(), "success")
            return redirect(url_for("assignment.index", course_code=course_code))
    elif form.is_submitted():
        status = 422
    return render_template("assignment/import.html", course=course, form=form), status
