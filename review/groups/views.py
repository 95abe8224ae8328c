"""Group pages: my group (create, join by code or link, leave) and the staff's group admin.

Leaving, dissolving, merging and moving a student are destructive: their first POST renders a
confirmation page with what will change (review.groups.impact), and only the second POST, with
``confirm=1``, acts."""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from models import db, utcnow
from review.accounts.forms import EmptyForm
from review.core.errors import DomainError
from review.courses.roster import read_table
from review.groups import impact, services
from review.groups.forms import (AutoFormApplyForm, GroupImportForm, GroupNameForm, JoinForm,
                                 MergeForm, MoveStudentForm)
from review.permissions import course_member, course_staff_can, course_student, is_staff

bp = Blueprint("groups", __name__)


def _groups_page() -> Response:
    return redirect(url_for("groups.index", course_code=g.course.code))


def _act(action: Callable[[], Any], success: str | Callable[[Any], str]) -> bool:
    """Run a service, commit once on success; roll back and flash the rule on refusal."""
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return False
    db.session.commit()
    flash(success(result) if callable(success) else success, "success")
    return True


def _confirmed() -> bool:
    """The second step of a destructive action: its confirmation page posted confirm=1."""
    return request.form.get("confirm") == "1"


def _confirmation(consequences: impact.Impact, action: str,
                  fields: list[tuple[str, Any]] | None = None) -> str:
    return render_template("confirm.html", course=g.course, impact=consequences, action=action,
                           fields=fields or [], cancel=url_for("groups.index",
                                                               course_code=g.course.code))


def _form_or_flash(form: Any) -> bool:
    if form.validate_on_submit():
        return True
    errors = [f"{getattr(form, name).label.text}: {msgs[0]}" for name, msgs in form.errors.items()
              if name != "csrf_token"]
    flash("; ".join(errors) or "The form expired; reload the page and try again.", "error")
    return False


@bp.get("/c/<course_code>/groups")
@course_member
def index(course_code: str) -> str:
    course = g.course
    staff = is_staff(g.enrollment)
    context: dict[str, Any] = {"course": course, "staff": staff, "empty_form": EmptyForm(),
                               "lock_reason": services.groups_locked(course, utcnow())}
    if staff:
        context.update(groups=services.course_groups(course),
                       ungrouped=services.ungrouped_students(course),
                       history=services.group_history(course, limit=20),
                       name_form=GroupNameForm(), merge_form=MergeForm(),
                       move_form=MoveStudentForm())
    else:
        group = services.group_of(course, current_user)
        context.update(group=group, name_form=GroupNameForm(), join_form=JoinForm(),
                       members=group.memberships if group else [])
    return render_template("groups/index.html", **context)


@bp.post("/c/<course_code>/groups/create")
@course_student
def create(course_code: str) -> Response:
    form = GroupNameForm()
    if _form_or_flash(form):
        _act(lambda: services.create_group(g.course, current_user, form.name.data, now=utcnow()),
             lambda group: f"Group {group.name} created. Share its join code with your classmates.")
    return _groups_page()


@bp.post("/c/<course_code>/groups/join")
@course_student
def join(course_code: str) -> Response:
    form = JoinForm()
    if _form_or_flash(form):
        _act(lambda: services.join_group(g.course, current_user, form.code.data, now=utcnow()),
             lambda group: f"You joined {group.name}.")
    return _groups_page()


@bp.route("/c/<course_code>/groups/join/<code>", methods=["GET", "POST"])
@course_student
def join_link(course_code: str, code: str) -> str | Response:
    """The join link: a confirmation page, so following a link never changes anything."""
    try:
        group = services.find_by_code(g.course, code)
    except DomainError:
        abort(404)
    form = EmptyForm()
    lock_reason = services.groups_locked(g.course, utcnow())
    if form.validate_on_submit():
        _act(lambda: services.join_group(g.course, current_user, code, now=utcnow()),
             f"You joined {group.name}.")
        return _groups_page()
    return render_template("groups/join.html", course=g.course, group=group, form=form,
                           size=len(group.memberships), lock_reason=lock_reason)


@bp.post("/c/<course_code>/groups/leave")
@course_student
def leave(course_code: str) -> str | Response:
    if not _form_or_flash(EmptyForm()):
        return _groups_page()
    now = utcnow()
    group = services.group_of(g.course, current_user)
    if group is not None and not _confirmed() and services.groups_locked(g.course, now) is None:
        return _confirmation(impact.leave_impact(g.course, group, current_user, now),
                             url_for("groups.leave", course_code=g.course.code))
    _act(lambda: services.leave_group(g.course, current_user, now=now), "You left the group.")
    return _groups_page()


# ---------------------------------------------------------------------------- staff


@bp.post("/c/<course_code>/groups/lock")
@course_staff_can("manage_groups")
def lock(course_code: str) -> Response:
    locked = request.form.get("locked") == "1"
    if _form_or_flash(EmptyForm()):
        _act(lambda: services.set_locked(g.course, current_user, locked),
             "Groups are locked: students can no longer join or leave." if locked
             else "Groups are unlocked: students can join and leave again.")
    return _groups_page()


@bp.post("/c/<course_code>/groups/new")
@course_staff_can("manage_groups")
def staff_create(course_code: str) -> Response:
    form = GroupNameForm()
    if _form_or_flash(form):
        _act(lambda: services.staff_create_group(g.course, current_user, form.name.data, now=utcnow()),
             lambda group: f"Group {group.name} created.")
    return _groups_page()


def _group_or_404(group_id: int) -> Any:
    group = services.group_in_course(g.course, group_id)
    if group is None:
        abort(404)
    return group


@bp.post("/c/<course_code>/groups/<int:group_id>/rename")
@course_staff_can("manage_groups")
def rename(course_code: str, group_id: int) -> Response:
    group = _group_or_404(group_id)
    form = GroupNameForm()
    if _form_or_flash(form):
        _act(lambda: services.rename_group(g.course, group, current_user, form.name.data),
             lambda renamed: f"Renamed to {renamed.name}.")
    return _groups_page()


@bp.post("/c/<course_code>/groups/<int:group_id>/dissolve")
@course_staff_can("dissolve_groups")
def dissolve(course_code: str, group_id: int) -> str | Response:
    group = _group_or_404(group_id)
    name = group.name
    if _form_or_flash(EmptyForm()):
        if not _confirmed():
            return _confirmation(impact.dissolve_impact(g.course, group, utcnow()),
                                 url_for("groups.dissolve", course_code=g.course.code,
                                         group_id=group.id))
        _act(lambda: services.dissolve_group(g.course, group, current_user, now=utcnow()),
             f"Group {name} dissolved; its members have no group and its slots are open.")
    return _groups_page()


@bp.post("/c/<course_code>/groups/merge")
@course_staff_can("dissolve_groups")
def merge(course_code: str) -> str | Response:
    form = MergeForm()
    if _form_or_flash(form):
        keep, absorb = _group_or_404(form.keep.data), _group_or_404(form.absorb.data)
        absorbed = absorb.name
        if not _confirmed() and keep.id != absorb.id:
            return _confirmation(impact.merge_impact(g.course, keep, absorb, utcnow()),
                                 url_for("groups.merge", course_code=g.course.code),
                                 [("keep", keep.id), ("absorb", absorb.id)])
        _act(lambda: services.merge_groups(g.course, keep, absorb, current_user, now=utcnow()),
             lambda kept: f"{absorbed} merged into {kept.name}.")
    return _groups_page()


@bp.post("/c/<course_code>/groups/move")
@course_staff_can("manage_groups")
def move(course_code: str) -> str | Response:
    form = MoveStudentForm()
    if _form_or_flash(form):
        student = services.student_in_course(g.course, form.student.data)
        if student is None:
            abort(404)
        target = _group_or_404(form.group.data) if form.group.data else None
        current = services.group_of(g.course, student)
        # Only a move out of a group takes anything away; placing an ungrouped student doesn't.
        if not _confirmed() and current is not None and current is not target:
            return _confirmation(impact.move_impact(g.course, student, current, target, utcnow()),
                                 url_for("groups.move", course_code=g.course.code),
                                 [("student", student.id), ("group", form.group.data)])
        _act(lambda: services.move_student(g.course, student, target, current_user, now=utcnow()),
             f"{student.full_name} moved to {target.name if target else 'no group'}.")
    return _groups_page()


@bp.route("/c/<course_code>/groups/auto", methods=["GET", "POST"])
@course_staff_can("manage_groups")
def auto_form(course_code: str) -> str | Response:
    """Preview first; the apply button carries a fingerprint so a stale preview saves nothing."""
    form = AutoFormApplyForm()
    if form.validate_on_submit():
        if _act(lambda: services.apply_auto_form(g.course, current_user, form.fingerprint.data,
                                                  now=utcnow()),
                lambda plan: f"Created {len(plan.new_groups)} group(s) and added "
                             f"{len(plan.additions)} student(s) to existing groups."):
            return _groups_page()
    plan = services.plan_auto_form(g.course)
    form.fingerprint.data = plan.fingerprint
    return render_template("groups/auto.html", course=g.course, plan=plan, form=form)


@bp.route("/c/<course_code>/groups/import", methods=["GET", "POST"])
@course_staff_can("manage_groups")
def import_page(course_code: str) -> tuple[str, int] | Response:
    form = GroupImportForm()
    status = 200
    if form.validate_on_submit():
        upload = form.file.data

        def action() -> Any:
            rows = services.parse_group_table(read_table(upload.read(), upload.filename))
            return services.import_groups(g.course, rows, current_user,
                                          allow_small=form.allow_small.data, now=utcnow())

        if _act(action, lambda result: "\n".join(
                [f"Groups imported: {result.summary()}", *result.warnings])):
            return _groups_page()
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("groups/import.html", course=g.course, form=form), status

