"""The sign-up board: every session and its role slots, claims, waitlists, moves, swaps,
staff overrides, the settings page, and the calendar feeds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Optional

from flask import (Blueprint, Response, abort, flash, g, redirect, render_template, request,
                   url_for)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from models import Course, Group, SwapProposal, User, db, utcnow
from review.accounts.forms import EmptyForm
from review.accounts.views import safe_next
from review.courses.services import courses_of
from review.core.errors import DomainError
from review.groups.impact import slot_holder_impact
from review.groups.services import course_groups, group_in_course, group_of
from review.permissions import (course_member, course_staff_can, course_student, is_staff,
                                public, signed_in)
from review.signup import calendar, services
from review.signup.forms import (MoveForm, SettingsForm, SlotActionForm, StaffAssignForm,
                                 StaffSwapForm, SwapProposalForm)

bp = Blueprint("signup", __name__)


def _board() -> WerkzeugResponse:
    return redirect(url_for("signup.board", course_code=g.course.code))


def _act(action: Callable[[], Any], success: str | Callable[[Any], str]) -> Optional[Any]:
    """Run a service; commit once on success, roll back and flash the rule on refusal."""
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return None
    db.session.commit()
    flash(success(result) if callable(success) else success, "success")
    return result if result is not None else True


def _valid(form: Any) -> bool:
    if form.validate_on_submit():
        return True
    flash("The form was incomplete or expired; reload the board and try again. "
          "Nothing was changed.", "error")
    return False


def _slot_or_404(slot_id: int) -> Any:
    slot = services.slot_in_course(g.course, slot_id)
    if slot is None:
        abort(404)
    return slot


def _my_group_or_refuse() -> Optional[Group]:
    group = group_of(g.course, current_user)
    if group is None:
        flash("Join or create a group first; slots are held by groups.", "error")
    return group


@bp.get("/c/<course_code>/signup")
@course_member
def board(course_code: str) -> str:
    course = g.course
    now = utcnow()
    rules = services.signup_rules(course)
    staff = is_staff(g.enrollment)
    group = None if staff else group_of(course, current_user)
    data = services.load_board(course)
    mine = [slot for session in data.sessions for slot in session.slots
            if group is not None and slot.group_id == group.id]
    waiting = {slot_id for slot_id, entries in data.waitlists.items()
               if group is not None and any(e.group_id == group.id for e in entries)}
    notices = services.promotions_for(group, now - timedelta(days=14)) if group else []
    slot_names = {slot.id: f"Week {session.week.number} {slot.role.name}"
                  for session in data.sessions for slot in session.slots}
    return render_template(
        "signup/board.html", course=course, rules=rules, now=now, staff=staff, group=group,
        sessions=data.sessions, waitlists=data.waitlists, proposals=data.proposals, mine=mine,
        waiting=waiting, notices=notices, slot_names=slot_names,
        is_open=rules.is_open(now), may_drop=rules.may_drop(now),
        may_move=(group is not None and services.may_move_after_publication(course, rules, now)),
        groups=course_groups(course) if staff else [],
        frozen=services.frozen_slot_ids(course, now) if staff else set(),
        form=SlotActionForm(), empty_form=EmptyForm())


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/claim")
@course_student
def claim(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _slot_or_404(slot_id)
    form = SlotActionForm()
    group = _my_group_or_refuse()
    if group is not None and _valid(form):
        def action() -> Any:
            if slot.group_id is None:
                services.check_version(slot, form.version.data)
            return services.claim_slot(slot, group, current_user, utcnow())

        _act(action, lambda s: f"Your group now holds {s.role.name} of week "
                               f"{s.session.week.number}.")
    return _board()


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/release")
@course_student
def release(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _slot_or_404(slot_id)
    form = SlotActionForm()
    group = _my_group_or_refuse()
    if group is not None and _valid(form):
        def action() -> Any:
            services.check_version(slot, form.version.data)
            result = services.release_slot(slot, group, current_user, utcnow())
            services.send_notices(result.notices)
            return result

        _act(action, "Your group released the slot.")
    return _board()


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/waitlist")
@course_student
def wait(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _slot_or_404(slot_id)
    group = _my_group_or_refuse()
    if group is not None and _valid(SlotActionForm()):
        _act(lambda: services.join_waitlist(slot, group, current_user, utcnow()),
             "Your group is on the waitlist; it gets the slot if it comes free and still fits "
             "your group's rules.")
    return _board()


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/unwait")
@course_student
def unwait(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _slot_or_404(slot_id)
    group = _my_group_or_refuse()
    if group is not None and _valid(SlotActionForm()):
        _act(lambda: services.leave_waitlist(slot, group, current_user),
             "Your group left the waitlist.")
    return _board()


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/move")
@course_student
def move(course_code: str, slot_id: int) -> WerkzeugResponse:
    slot = _slot_or_404(slot_id)
    form = MoveForm()
    group = _my_group_or_refuse()
    if group is not None and _valid(form):
        target = _slot_or_404(form.target.data)

        def action() -> Any:
            services.check_version(slot, form.version.data)
            return services.move_to_open_slot(slot, target, group, current_user, utcnow())

        _act(action, lambda s: f"Moved to {s.role.name} of week {s.session.week.number}.")
    return _board()


@bp.post("/c/<course_code>/signup/swaps")
@course_student
def propose(course_code: str) -> WerkzeugResponse:
    form = SwapProposalForm()
    group = _my_group_or_refuse()
    if group is not None and _valid(form):
        mine, theirs = _slot_or_404(form.from_slot.data), _slot_or_404(form.to_slot.data)
        _act(lambda: services.propose_swap(mine, theirs, group, current_user, utcnow()),
             "Swap proposed; the other group sees it on the board and can accept it.")
    return _board()


@bp.post("/c/<course_code>/signup/swaps/<int:proposal_id>/<decision>")
@course_student
def decide(course_code: str, proposal_id: int, decision: str) -> WerkzeugResponse:
    proposal = db.session.scalar(select(SwapProposal).where(
        SwapProposal.id == proposal_id, SwapProposal.course_id == g.course.id))
    if proposal is None or decision not in ("accept", "decline", "withdraw"):
        abort(404)
    if _valid(EmptyForm()):
        if decision == "accept":
            _act(lambda: services.accept_swap(proposal, current_user, utcnow()),
                 "Swap done: both groups now hold each other's slot.")
        else:
            status = "declined" if decision == "decline" else "withdrawn"
            _act(lambda: services.decide_swap(proposal, current_user, utcnow(), decision=status),
                 f"Swap proposal {status}.")
    return _board()


# ---------------------------------------------------------------------------- staff


@bp.post("/c/<course_code>/signup/slots/<int:slot_id>/assign")
@course_staff_can("manage_slots")
def staff_assign(course_code: str, slot_id: int) -> str | WerkzeugResponse:
    """Giving an open slot to a group just happens; taking a slot from its holder first shows
    what that changes (a confirmation page) and acts on the confirmed second POST."""
    slot = _slot_or_404(slot_id)
    form = StaffAssignForm()
    if form.validate_on_submit():
        group = None
        if form.group.data:
            group = group_in_course(g.course, form.group.data)
            if group is None:
                abort(404)
        holder = slot.group
        if holder is not None and holder is not group and request.form.get("confirm") != "1":
            return render_template(
                "confirm.html", course=g.course,
                impact=slot_holder_impact(g.course, slot, holder, group, utcnow()),
                action=url_for("signup.staff_assign", course_code=course_code, slot_id=slot.id),
                fields=[("group", form.group.data), ("reason", form.reason.data),
                        ("presenters", form.presenters.data or ""),
                        ("version", form.version.data if form.version.data is not None else "")],
                cancel=url_for("signup.board", course_code=course_code))

        def action() -> Any:
            services.check_version(slot, form.version.data)
            presenters = services.presenter_ids(g.course, form.presenters.data or "")
            return services.assign_slot_by_staff(slot, group, current_user, form.reason.data,
                                                 utcnow(), presenters=presenters)

        _act(action, f"Slot now held by {group.name if group else 'nobody (open)'}.")
    elif form.reason.errors:
        # The reason is the one field people leave out; say so rather than "incomplete".
        flash(form.reason.errors[0], "error")
    else:
        _valid(form)
    return _board()


@bp.post("/c/<course_code>/signup/staff-swap")
@course_staff_can("manage_slots")
def staff_swap(course_code: str) -> WerkzeugResponse:
    form = StaffSwapForm()
    if form.validate_on_submit():
        a, b = _slot_or_404(form.slot_a.data), _slot_or_404(form.slot_b.data)
        _act(lambda: services.swap_slots_by_staff(a, b, current_user, form.reason.data, utcnow()),
             "The two slots swapped holders.")
    elif form.reason.errors:
        flash(form.reason.errors[0], "error")
    else:
        _valid(form)
    return _board()


@bp.route("/c/<course_code>/signup/settings", methods=["GET", "POST"])
@course_staff_can("manage_slots")
def settings(course_code: str) -> tuple[str, int] | WerkzeugResponse:
    course = g.course
    current = services.signup_definition(course)
    form = SettingsForm(data=current.model_dump())
    status = 200
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in services.SETTING_FIELDS}
        if _act(lambda: services.update_signup_settings(course, values, current_user),
                "Sign-up settings saved."):
            return redirect(url_for("signup.settings", course_code=course.code))
        status = 422
    elif form.is_submitted():
        status = 422
    return render_template("signup/settings.html", course=course, form=form,
                           rules=services.signup_rules(course)), status


# ---------------------------------------------------------------------------- calendar feeds


def _ics(body: bytes, name: str) -> Response:
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{name}.ics"', "Cache-Control": "no-cache"})


@bp.get("/calendar/course/<token>.ics")
@public
def course_feed(token: str) -> Response:
    course = db.session.scalar(select(Course).where(Course.calendar_token == token))
    if course is None:
        abort(404)
    return _ics(calendar.course_feed(course, utcnow()), course.code)


@bp.get("/calendar/group/<token>.ics")
@public
def group_feed(token: str) -> Response:
    group = db.session.scalar(select(Group).where(Group.calendar_token == token))
    if group is None:
        abort(404)
    course = db.session.get(Course, group.course_id)
    return _ics(calendar.group_feed(course, group, utcnow()), f"{course.code}-group-{group.id}")



@bp.get("/calendar/me/<token>.ics")
@public
def personal_feed(token: str) -> Response:
    user = db.session.scalar(select(User).where(User.calendar_token == token))
    if user is None:
        abort(404)
    return _ics(calendar.personal_feed(user, courses_of(user), utcnow()), "my-courses")


@bp.post("/calendar/me/rotate")
@signed_in
def rotate_personal_feed() -> WerkzeugResponse:
    if EmptyForm().validate_on_submit():
        calendar.rotate_personal_token(current_user)
        db.session.commit()
        flash("Your calendar has a new address; the old one no longer works. Subscribe again "
              "with the new one.", "success")
    else:
        flash("The form expired; try again.", "error")
    return redirect(safe_next(request.form.get("next")) or url_for("courses.index"))
