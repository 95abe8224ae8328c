"""Sign-up: the rules of who may hold which slot, and the workflows that change holders.

The API the assignment capability builds on:

    signup_rules(course) -> SignupRules
    check_group_may_hold(group, slot, *, ignoring_slot=None)   # raises a SignupError subclass
    claim_slot(slot, group, actor, now) -> Slot                 # first come, first served
    release_slot(slot, group, actor, now) -> Group | None       # returns the group promoted
    assign_slot_by_staff(slot, group_or_None, actor, reason, now) -> Slot

A slot has at most one group even when many claims arrive at once: the claim is a conditional
``UPDATE ... WHERE id = :slot AND group_id IS NULL`` whose row count decides the winner, and the
unique ``(session_id, group_id)`` constraint stops a group holding two roles of one paper. Two
claims by the same group are serialised by locking the group's row (PostgreSQL) or by SQLite's
single writer, and every rule is checked again after the update, inside the same transaction.

Services flush and raise; the caller queues mail (``send_notices``) and commits once: the mail
goes out after the commit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from models import (AssignmentRun, AuditEntry, Course, CourseRole, Enrollment, Group, Membership,
                    PaperSession, Score, Slot, SlotWaitlist, SwapProposal, User, db)
from review.core.errors import DomainError
from review.courses.definition import SignupDef, describe_validation_error
from review.notifications import events as notify
from review.signup.presenters import set_presenters

FIRST_COME = "first_come"
PREFERENCES = "preferences"


# ---------------------------------------------------------------------------- errors


class SignupError(DomainError):
    """A sign-up rule said no; the message names the rule."""


class SignupClosed(SignupError):
    pass


class WrongMode(SignupError):
    pass


class SlotTaken(SignupError):
    pass


class QuotaReached(SignupError):
    pass


class SamePaper(SignupError):
    pass


class GapTooSmall(SignupError):
    pass


class DropDeadlinePassed(SignupError):
    pass


class NotYourSlot(SignupError):
    pass


class NotAMember(SignupError):
    pass


class WrongCourse(SignupError):
    pass


class StaleForm(SignupError):
    pass


class SettingsInvalid(SignupError):
    pass


# ---------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class SignupRules:
    """The course's sign-up settings with times as aware UTC and the quota resolved."""

    mode: str
    opens_at: Optional[datetime]
    closes_at: Optional[datetime]
    drop_deadline: Optional[datetime]
    quota: int
    quota_derived: bool
    min_gap_weeks: int

    def is_open(self, now: datetime) -> bool:
        if self.mode != FIRST_COME or self.opens_at is None or now < self.opens_at:
            return False
        return self.closes_at is None or now < self.closes_at

    def may_drop(self, now: datetime) -> bool:
        """Releasing is allowed until the drop deadline (or, without one, the close time)."""
        limit = self.drop_deadline or self.closes_at
        return limit is None or now < limit


def signup_definition(course: Course) -> SignupDef:
    return SignupDef.model_validate((course.definition or {}).get("signup") or {})


def _to_utc(moment: Optional[datetime], tz: str) -> Optional[datetime]:
    """The YAML holds naive local times in the course timezone."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(ZoneInfo("UTC"))


def derived_quota(course: Course) -> int:
    """ceil(slots / groups): every slot can be filled when each group takes its share."""
    slots = db.session.scalar(select(func.count()).select_from(Slot).join(PaperSession)
                              .where(PaperSession.course_id == course.id)) or 0
    groups = db.session.scalar(select(func.count()).select_from(Group)
                               .where(Group.course_id == course.id,
                                      Group.dissolved_at.is_(None))) or 0
    return max(1, math.ceil(slots / groups)) if groups else max(1, slots)


def signup_rules(course: Course) -> SignupRules:
    signup = signup_definition(course)
    quota = signup.quota if signup.quota is not None else derived_quota(course)
    return SignupRules(
        mode=signup.mode,
        opens_at=_to_utc(signup.opens_at, course.timezone),
        closes_at=_to_utc(signup.closes_at, course.timezone),
        drop_deadline=_to_utc(signup.drop_deadline, course.timezone),
        quota=quota, quota_derived=signup.quota is None, min_gap_weeks=signup.min_gap_weeks)


def _slot_label(slot: Slot) -> str:
    return f"{slot.role.name} of week {slot.session.week.number} ('{slot.session.paper.title}')"


def _held_slots(group: Group) -> list[Slot]:
    return list(db.session.scalars(
        select(Slot).where(Slot.group_id == group.id)
        .options(joinedload(Slot.session).joinedload(PaperSession.week),
                 joinedload(Slot.session).joinedload(PaperSession.paper), joinedload(Slot.role))
        .execution_options(populate_existing=True)))


def check_group_may_hold(group: Group, slot: Slot, *, ignoring_slot: Optional[Slot] = None,
                         rules: Optional[SignupRules] = None) -> None:
    """Raise the SignupError naming the first rule broken if ``group`` took ``slot``.

    ``ignoring_slot`` is a slot the group gives up in the same step (a move or a swap). The slot
    itself is never counted, so the check also holds after the group has taken it.
    """
    if slot.session.course_id != group.course_id:
        raise WrongCourse("That slot belongs to another course.")
    rules = rules or signup_rules(group_course(group))
    skip = {slot.id} | ({ignoring_slot.id} if ignoring_slot is not None else set())
    held = [other for other in _held_slots(group) if other.id not in skip]
    if len(held) + 1 > rules.quota:
        raise QuotaReached(f"Group {group.name} already holds {len(held)} slot(s), its quota "
                           f"of {rules.quota}; release one first.")
    for other in held:
        if other.session_id == slot.session_id:
            raise SamePaper(f"Group {group.name} already presents this paper "
                            f"({other.role.name}); a group never takes two roles of one paper.")
    if rules.min_gap_weeks:
        week = slot.session.week.number
        for other in held:
            gap = abs(other.session.week.number - week)
            if gap < rules.min_gap_weeks:
                raise GapTooSmall(
                    f"Group {group.name} presents in week {other.session.week.number}; slots must "
                    f"be at least {rules.min_gap_weeks} week(s) apart (week {week} is {gap} away).")


def group_course(group: Group) -> Course:
    return db.session.get(Course, group.course_id)  # type: ignore[return-value]


# What the slot mail says when staff change a holder by hand.
STAFF_CHANGE = "the course staff changed them"


def is_member(group: Group, user: User) -> bool:
    return db.session.scalar(select(Membership.id).where(
        Membership.group_id == group.id, Membership.user_id == user.id)) is not None


def _require_member(group: Group, actor: User) -> None:
    if not is_member(group, actor):
        raise NotAMember(f"Only members of {group.name} can act for it.")


def _is_staff(course_id: int, user: User) -> bool:
    role = db.session.scalar(select(Enrollment.role).where(
        Enrollment.course_id == course_id, Enrollment.user_id == user.id))
    return role in (CourseRole.instructor, CourseRole.ta)


def _lock_group(group: Group) -> None:
    """Serialise one group's sign-up actions (PostgreSQL row lock; SQLite has one writer)."""
    db.session.execute(select(Group.id).where(Group.id == group.id).with_for_update())


def audit(course_id: int, actor: Optional[User], action: str, slot: Optional[Slot], *,
          old: Any = None, new: Any = None, reason: str = "", category: str = "slot",
          entity: str = "slot", entity_id: Optional[int] = None) -> None:
    db.session.add(AuditEntry(
        course_id=course_id, actor_id=actor.id if actor is not None else None, category=category,
        action=action, entity=entity,
        entity_id=entity_id if entity_id is not None else (slot.id if slot is not None else None),
        old=old, new=new, reason=reason))


def _holder(group_id: Optional[int]) -> dict[str, Any]:
    if group_id is None:
        return {"group_id": None, "group": None}
    group = db.session.get(Group, group_id)
    return {"group_id": group_id, "group": group.name if group else None}


def _set_holder_if(slot: Slot, *, expected: Optional[int], new: Optional[int],
                   source: Optional[str], now: datetime) -> bool:
    """Conditional UPDATE of the holder: true when this transaction won the row."""
    condition = Slot.group_id.is_(None) if expected is None else Slot.group_id == expected
    try:
        result = db.session.execute(
            update(Slot).where(Slot.id == slot.id, condition)
            .values(group_id=new, source=source, held_since=now if new is not None else None,
                    version=Slot.version + 1)
            .execution_options(synchronize_session=False))
    except IntegrityError:
        raise SamePaper("That group already presents this paper; a group never takes two roles "
                        "of one paper.") from None
    return result.rowcount == 1


def _refresh(slot: Slot) -> None:
    db.session.refresh(slot)


def check_version(slot: Slot, version: Optional[int]) -> None:
    """A form carries the slot version it was rendered with; an old one changes nothing."""
    if version is not None and version != slot.version:
        raise StaleForm("The board changed since you loaded it; nothing was changed. "
                        "Look at the slot again and retry.")


# ---------------------------------------------------------------------------- frozen slots


def frozen_slot_ids(course: Course, now: datetime) -> set[int]:
    """Slots that are history: session started, graded (any Score), or presenters recorded.

    An assignment run keeps them as they are and a publication never changes them; only staff
    correct their holder, with a reason, and then say who presented.
    """
    return set(db.session.scalars(
        select(Slot.id).join(PaperSession, Slot.session_id == PaperSession.id)
        .where(PaperSession.course_id == course.id,
               (PaperSession.starts_at <= now) | Slot.presenters_recorded_at.is_not(None)
               | Slot.id.in_(select(Score.slot_id).where(Score.slot_id.is_not(None))))))


def is_slot_frozen(slot: Slot, now: datetime) -> bool:
    if slot.session.starts_at <= now or slot.presenters_recorded_at is not None:
        return True
    return db.session.scalar(select(Score.id).where(Score.slot_id == slot.id).limit(1)) is not None


def _refuse_if_frozen(slot: Slot, now: datetime) -> None:
    """Groups never change a held or graded slot themselves; staff correct it with a reason."""
    if is_slot_frozen(slot, now):
        raise SignupClosed(f"{_slot_label(slot)} has already been held or graded; only the "
                           "instructor can change it, with a reason. Nothing was changed.")


# ---------------------------------------------------------------------------- first come


def claim_slot(slot: Slot, group: Group, actor: User, now: datetime) -> Slot:
    """A member claims an open slot for the group, first come first served."""
    if slot.session.course_id != group.course_id:
        raise WrongCourse("That slot belongs to another course.")
    course = group_course(group)
    rules = signup_rules(course)
    if rules.mode != FIRST_COME:
        raise WrongMode("This course assigns slots from preferences; there is nothing to claim.")
    if not rules.is_open(now):
        raise SignupClosed(_closed_message(rules, now))
    _require_member(group, actor)
    if slot.session.starts_at <= now:
        raise SignupClosed("That session has already taken place; pick a later one.")
    _lock_group(group)
    if slot.group_id is not None and slot.group_id != group.id:
        raise SlotTaken("That slot was just taken by another group; the board shows who holds "
                        "it now. You can join its waitlist.")
    if slot.group_id == group.id:
        raise SlotTaken("Your group already holds that slot.")
    check_group_may_hold(group, slot, rules=rules)
    if not _set_holder_if(slot, expected=None, new=group.id, source="claim", now=now):
        raise SlotTaken("That slot was just taken by another group; the board shows who holds "
                        "it now. You can join its waitlist.")
    _refresh(slot)
    # Checked again after the update, in the same transaction: a concurrent claim by the same
    # group that slipped past the first check is caught here and rolled back by the caller.
    check_group_may_hold(group, slot, rules=rules)
    db.session.execute(delete(SlotWaitlist).where(SlotWaitlist.slot_id == slot.id,
                                                  SlotWaitlist.group_id == group.id))
    audit(course.id, actor, "claim", slot, old=_holder(None), new=_holder(group.id))
    notify.slots_changed(course, {slot.id: None}, cause="claimed a slot on the sign-up board",
                         by=actor)
    db.session.flush()
    return slot


def _closed_message(rules: SignupRules, now: datetime) -> str:
    if rules.opens_at is None:
        return "Sign-up is not open: no opening time has been set yet."
    if now < rules.opens_at:
        return "Sign-up is not open yet; see the opening time on the board."
    return "Sign-up is closed; ask the instructor to change a slot."


@dataclass
class Notice:
    """Mail to queue in the action's transaction: templates/mail/<template>.txt and .html."""

    to: list[str]
    subject: str
    template: str
    context: dict[str, Any]
    course_id: int


@dataclass
class ReleaseResult:
    slot: Slot
    promoted: Optional[Group] = None
    notices: list[Notice] = field(default_factory=list)


def release_slot(slot: Slot, group: Group, actor: User, now: datetime) -> ReleaseResult:
    """The group gives the slot up (until the drop deadline); the waitlist's first fit gets it."""
    if slot.session.course_id != group.course_id:
        raise WrongCourse("That slot belongs to another course.")
    course = group_course(group)
    rules = signup_rules(course)
    if rules.mode != FIRST_COME:
        raise WrongMode("Slots of this course come from the assignment; move to an open slot or "
                        "ask the instructor.")
    _require_member(group, actor)
    if slot.group_id != group.id:
        raise NotYourSlot("Your group does not hold that slot.")
    if not rules.may_drop(now):
        raise DropDeadlinePassed("The drop deadline has passed; ask the instructor to change "
                                 "your slot.")
    _refuse_if_frozen(slot, now)
    if not _set_holder_if(slot, expected=group.id, new=None, source=None, now=now):
        raise StaleForm("That slot changed meanwhile; nothing was changed.")
    _refresh(slot)
    audit(course.id, actor, "release", slot, old=_holder(group.id), new=_holder(None))
    _void_proposals_of([slot.id], now)
    result = ReleaseResult(slot=slot)
    promoted = promote_waitlist(slot, rules, now)
    if promoted is not None:
        result.promoted = promoted
        result.notices.append(_promotion_notice(slot, promoted))
    notify.slots_changed(course, {slot.id: group.id}, cause="released a slot on the sign-up board",
                         by=actor, told_otherwise=[promoted.id] if promoted else [])
    db.session.flush()
    return result


def promote_waitlist(slot: Slot, rules: SignupRules, now: datetime) -> Optional[Group]:
    """Give a freed slot to the first waiting group that still fits the rules."""
    entries = db.session.scalars(
        select(SlotWaitlist).where(SlotWaitlist.slot_id == slot.id)
        .order_by(SlotWaitlist.created_at, SlotWaitlist.id).options(joinedload(SlotWaitlist.group))
    ).all()
    for entry in entries:
        group = entry.group
        try:
            _lock_group(group)
            check_group_may_hold(group, slot, rules=rules)
        except SignupError:
            continue
        if not _set_holder_if(slot, expected=None, new=group.id, source="waitlist", now=now):
            return None
        _refresh(slot)
        db.session.delete(entry)
        audit(group.course_id, None, "waitlist_promoted", slot, old=_holder(None),
              new=_holder(group.id), reason="first waiting group that fits the rules")
        return group
    return None


def _promotion_notice(slot: Slot, group: Group) -> Notice:
    from review.mail import public_url

    emails = list(db.session.scalars(select(User.email).join(Membership)
                                     .where(Membership.group_id == group.id)))
    course = group_course(group)
    return Notice(to=emails, subject=f"Your group got a slot: {_slot_label(slot)}",
                  template="slot_promotion", course_id=course.id,
                  context={"group": group.name, "slot": _slot_label(slot),
                           "link": public_url("signup.board", course_code=course.code)})


def send_notices(notices: list[Notice]) -> int:
    """Queue the mails in the caller's transaction (they go out after its commit); a deployment
    without mail only shows the notice on the board."""
    from review.mail import mail_configured, queue_mail

    if not mail_configured():
        return 0
    queued = 0
    for notice in notices:
        for address in notice.to:
            queue_mail(address, notice.subject, notice.template, notice.context,
                       course_id=notice.course_id)
            queued += 1
    return queued


def join_waitlist(slot: Slot, group: Group, actor: User, now: datetime) -> SlotWaitlist:
    if slot.session.course_id != group.course_id:
        raise WrongCourse("That slot belongs to another course.")
    rules = signup_rules(group_course(group))
    if rules.mode != FIRST_COME:
        raise WrongMode("This course assigns slots from preferences; there is no waitlist.")
    if not rules.is_open(now):
        raise SignupClosed(_closed_message(rules, now))
    _require_member(group, actor)
    if slot.session.starts_at <= now:
        raise SignupClosed("That session has already taken place.")
    if slot.group_id is None:
        raise SignupError("That slot is open; claim it instead of waiting.")
    if slot.group_id == group.id:
        raise SignupError("Your group already holds that slot.")
    if db.session.scalar(select(SlotWaitlist.id).where(SlotWaitlist.slot_id == slot.id,
                                                       SlotWaitlist.group_id == group.id)):
        raise SignupError("Your group is already on that slot's waitlist.")
    check_group_may_hold(group, slot, rules=rules)
    entry = SlotWaitlist(slot_id=slot.id, group_id=group.id, created_at=now)
    db.session.add(entry)
    try:
        db.session.flush()
    except IntegrityError:
        raise SignupError("Your group is already on that slot's waitlist.") from None
    audit(group.course_id, actor, "waitlist_join", slot, new=_holder(group.id))
    return entry


def leave_waitlist(slot: Slot, group: Group, actor: User) -> None:
    _require_member(group, actor)
    removed = db.session.execute(delete(SlotWaitlist).where(
        SlotWaitlist.slot_id == slot.id, SlotWaitlist.group_id == group.id)).rowcount
    if not removed:
        raise SignupError("Your group is not on that slot's waitlist.")
    audit(group.course_id, actor, "waitlist_leave", slot, old=_holder(group.id))


# ---------------------------------------------------------------------------- after publication


def published_run(course: Course) -> Optional[AssignmentRun]:
    return db.session.scalar(select(AssignmentRun).where(
        AssignmentRun.course_id == course.id, AssignmentRun.published_at.is_not(None))
        .order_by(AssignmentRun.published_at.desc()).limit(1))


def may_move_after_publication(course: Course, rules: SignupRules, now: datetime) -> bool:
    return rules.mode == PREFERENCES and rules.may_drop(now) and published_run(course) is not None


def move_to_open_slot(from_slot: Slot, to_slot: Slot, group: Group, actor: User,
                      now: datetime) -> Slot:
    """After the assignment is published, a group may move one of its slots to an open one."""
    for slot in (from_slot, to_slot):
        if slot.session.course_id != group.course_id:
            raise WrongCourse("That slot belongs to another course.")
    course = group_course(group)
    rules = signup_rules(course)
    if rules.mode != PREFERENCES or published_run(course) is None:
        raise WrongMode("Moving to an open slot is possible once the assignment is published.")
    if not rules.may_drop(now):
        raise DropDeadlinePassed("The drop deadline has passed; ask the instructor to change "
                                 "your slot.")
    _require_member(group, actor)
    _lock_group(group)
    if from_slot.group_id != group.id:
        raise NotYourSlot("Your group does not hold the slot you want to move from.")
    if to_slot.group_id is not None:
        raise SlotTaken("That slot was just taken by another group; pick another open slot.")
    if to_slot.session.starts_at <= now:
        raise SignupClosed("That session has already taken place.")
    _refuse_if_frozen(from_slot, now)
    _refuse_if_frozen(to_slot, now)
    check_group_may_hold(group, to_slot, ignoring_slot=from_slot, rules=rules)
    if not _set_holder_if(from_slot, expected=group.id, new=None, source=None, now=now):
        raise StaleForm("Your slot changed meanwhile; nothing was changed.")
    if not _set_holder_if(to_slot, expected=None, new=group.id, source="move", now=now):
        raise SlotTaken("That slot was just taken by another group; nothing was changed.")
    _refresh(from_slot)
    _refresh(to_slot)
    check_group_may_hold(group, to_slot, rules=rules)
    _void_proposals_of([from_slot.id, to_slot.id], now)
    audit(course.id, actor, "move", to_slot, old={"slot_id": from_slot.id, **_holder(group.id)},
          new={"slot_id": to_slot.id, **_holder(group.id)})
    notify.slots_changed(course, {from_slot.id: group.id, to_slot.id: None},
                         cause="moved to an open slot on the sign-up board", by=actor)
    db.session.flush()
    return to_slot


# ---------------------------------------------------------------------------- staff


def _require_staff(course_id: int, actor: User) -> None:
    if not _is_staff(course_id, actor):
        raise SignupError("Only the course staff can do that.")


def _correct_presenters(slot: Slot, presenters: Optional[list[int]], actor: User,
                        reason: str, now: datetime) -> None:
    """A held or graded slot changed holder: its presenters change with it, explicitly.

    ``presenters`` is the staff's chosen list of user ids; None means the new holder's current
    members (nobody when the slot was opened)."""
    if presenters is None:
        presenters = [] if slot.group_id is None else list(db.session.scalars(
            select(Membership.user_id).where(Membership.group_id == slot.group_id)))
    else:
        enrolled = set(db.session.scalars(select(Enrollment.user_id).where(
            Enrollment.course_id == slot.session.course_id, Enrollment.user_id.in_(presenters))))
        unknown = sorted(set(presenters) - enrolled)
        if unknown:
            raise SignupError("Presenters must be enrolled in this course; unknown user id(s): "
                              + ", ".join(map(str, unknown)) + ". Nothing was changed.")
    set_presenters(slot, presenters, actor=actor, reason=reason, now=now)


def presenter_ids(course: Course, emails: str) -> Optional[list[int]]:
    """Staff's list of presenters (emails separated by commas, semicolons or spaces) as user
    ids of people enrolled in the course; None when the list is empty."""
    wanted = [email.strip().casefold() for email in emails.replace(";", ",").replace(" ", ",")
              .split(",") if email.strip()]
    if not wanted:
        return None
    found = dict(db.session.execute(
        select(func.lower(User.email), User.id).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, func.lower(User.email).in_(wanted))).tuples().all())
    unknown = [email for email in wanted if email not in found]
    if unknown:
        raise SignupError("Presenters must be people enrolled in this course; not found: "
                          + ", ".join(unknown) + ". Nothing was changed.")
    return [found[email] for email in wanted]


def assign_slot_by_staff(slot: Slot, group: Optional[Group], actor: User, reason: str,
                         now: datetime, *, presenters: Optional[list[int]] = None) -> Slot:
    """Staff set or clear a slot's holder by hand (quota and gap are theirs to override; the
    database still refuses two roles of one paper for one group). Audited with the reason.

    A frozen slot (held or graded, see ``frozen_slot_ids``) is a correction of the record: its
    presenters are set too, to ``presenters`` or to the new holder's current members."""
    course_id = slot.session.course_id
    _require_staff(course_id, actor)
    if group is not None and group.course_id != course_id:
        raise WrongCourse("That group belongs to another course.")
    frozen = is_slot_frozen(slot, now)
    if not reason.strip():
        raise SignupError("Give a reason for the change; it goes into the audit log."
                          + (" This slot was already held or graded, so changing its holder "
                             "corrects the record of who presented." if frozen else ""))
    old = slot.group_id
    new = group.id if group is not None else None
    if old == new:
        raise SignupError("The slot already has that holder; nothing changed.")
    if group is not None:
        clash = db.session.scalar(select(Slot).where(Slot.session_id == slot.session_id,
                                                     Slot.group_id == group.id))
        if clash is not None:
            raise SamePaper(f"Group {group.name} already presents this paper "
                            f"({clash.role.name}); move that slot first or swap the two.")
    if not _set_holder_if(slot, expected=old, new=new, source="manual" if new else None, now=now):
        raise StaleForm("The slot changed meanwhile; nothing was changed.")
    _refresh(slot)
    if new is not None:
        db.session.execute(delete(SlotWaitlist).where(SlotWaitlist.slot_id == slot.id,
                                                      SlotWaitlist.group_id == new))
    audit(course_id, actor, "staff_assign", slot, old=_holder(old),
          new={**_holder(new), "frozen": frozen}, reason=reason.strip())
    notify.slots_changed(slot.session.course, {slot.id: old}, cause=STAFF_CHANGE)
    if frozen:
        _correct_presenters(slot, presenters, actor, reason.strip(), now)
    _void_proposals_of([slot.id], now)
    db.session.flush()
    return slot


def _exchange(a: Slot, b: Slot, group_a: Optional[int], group_b: Optional[int],
              source: str, now: datetime) -> None:
    """Swap holders atomically. Clear ``a`` first so (session_id, group_id) stays unique at
    every step, then fill ``b`` and ``a``; each step is conditional on the holder seen."""
    ok = _set_holder_if(a, expected=group_a, new=None, source=None, now=now)
    ok = ok and _set_holder_if(b, expected=group_b, new=group_a,
                               source=source if group_a else None, now=now)
    ok = ok and _set_holder_if(a, expected=None, new=group_b,
                               source=source if group_b else None, now=now)
    if not ok:
        raise StaleForm("One of the slots changed meanwhile; nothing was changed.")
    _refresh(a)
    _refresh(b)


def swap_slots_by_staff(a: Slot, b: Slot, actor: User, reason: str, now: datetime) -> None:
    course_id = a.session.course_id
    _require_staff(course_id, actor)
    if b.session.course_id != course_id:
        raise WrongCourse("Both slots must belong to this course.")
    if a.id == b.id:
        raise SignupError("Pick two different slots to swap.")
    if not reason.strip():
        raise SignupError("Give a reason for the change; it goes into the audit log.")
    group_a, group_b = a.group_id, b.group_id
    frozen = [slot for slot in (a, b) if is_slot_frozen(slot, now)]
    _exchange(a, b, group_a, group_b, "manual", now)
    audit(course_id, actor, "staff_swap", a,
          old={"slot_a": a.id, "slot_b": b.id, "a": _holder(group_a), "b": _holder(group_b)},
          new={"slot_a": a.id, "slot_b": b.id, "a": _holder(group_b), "b": _holder(group_a)},
          reason=reason.strip())
    notify.slots_changed(a.session.course, {a.id: group_a, b.id: group_b},
                         cause=STAFF_CHANGE)
    for slot in frozen:
        _correct_presenters(slot, None, actor, reason.strip(), now)
    _void_proposals_of([a.id, b.id], now)
    db.session.flush()


# ---------------------------------------------------------------------------- swaps by agreement


def propose_swap(from_slot: Slot, to_slot: Slot, group: Group, actor: User,
                 now: datetime) -> SwapProposal:
    for slot in (from_slot, to_slot):
        if slot.session.course_id != group.course_id:
            raise WrongCourse("That slot belongs to another course.")
    _require_member(group, actor)
    if from_slot.group_id != group.id:
        raise NotYourSlot("Your group does not hold the slot you offer.")
    if to_slot.group_id is None or to_slot.group_id == group.id:
        raise SignupError("Pick a slot another group holds; an open slot can simply be taken.")
    if min(from_slot.session.starts_at, to_slot.session.starts_at) <= now:
        raise SignupClosed("One of the two sessions has already taken place.")
    _refuse_if_frozen(from_slot, now)
    _refuse_if_frozen(to_slot, now)
    target = db.session.get(Group, to_slot.group_id)
    assert target is not None
    rules = signup_rules(group_course(group))
    check_group_may_hold(group, to_slot, ignoring_slot=from_slot, rules=rules)
    check_group_may_hold(target, from_slot, ignoring_slot=to_slot, rules=rules)
    if db.session.scalar(select(SwapProposal.id).where(
            SwapProposal.from_slot_id == from_slot.id, SwapProposal.to_slot_id == to_slot.id,
            SwapProposal.status == "pending")):
        raise SignupError("You already proposed that swap; wait for the other group.")
    proposal = SwapProposal(course_id=group.course_id, from_slot_id=from_slot.id,
                            to_slot_id=to_slot.id, proposer_group_id=group.id,
                            target_group_id=target.id, status="pending", created_at=now)
    db.session.add(proposal)
    db.session.flush()
    audit(group.course_id, actor, "swap_proposed", from_slot, entity="swap_proposal",
          entity_id=proposal.id, new={"from_slot": from_slot.id, "to_slot": to_slot.id,
                                      "proposer": group.name, "target": target.name})
    notify.swap_proposed(group_course(group), proposal)
    return proposal


def _pending(proposal: SwapProposal) -> None:
    if proposal.status != "pending":
        raise StaleForm(f"That proposal is already {proposal.status}; nothing was changed.")


def accept_swap(proposal: SwapProposal, actor: User, now: datetime) -> None:
    """The target group accepts: both slots change in one transaction, or neither."""
    _pending(proposal)
    target = db.session.get(Group, proposal.target_group_id)
    proposer = db.session.get(Group, proposal.proposer_group_id)
    assert target is not None and proposer is not None
    _require_member(target, actor)
    a, b = proposal.from_slot, proposal.to_slot
    if a.group_id != proposer.id or b.group_id != target.id:
        proposal.status = "void"
        proposal.decided_at = now
        db.session.flush()
        raise StaleForm("The slots changed hands since the proposal; it no longer applies.")
    _refuse_if_frozen(a, now)
    _refuse_if_frozen(b, now)
    rules = signup_rules(group_course(target))
    check_group_may_hold(proposer, b, ignoring_slot=a, rules=rules)
    check_group_may_hold(target, a, ignoring_slot=b, rules=rules)
    _lock_group(proposer)
    _lock_group(target)
    _exchange(a, b, proposer.id, target.id, "swap", now)
    proposal.status = "accepted"
    proposal.decided_at = now
    audit(proposal.course_id, actor, "swap_accepted", a, entity="swap_proposal",
          entity_id=proposal.id,
          old={"from_slot": a.id, "from": proposer.name, "to_slot": b.id, "to": target.name},
          new={"from_slot": a.id, "from": target.name, "to_slot": b.id, "to": proposer.name})
    _void_proposals_of([a.id, b.id], now, keep=proposal.id)
    db.session.flush()
    course = group_course(target)
    # The proposers learn of it from the answer to their proposal, which names both slots.
    notify.slots_changed(course, {a.id: proposer.id, b.id: target.id},
                         cause=f"accepted the swap proposed by group {proposer.name}", by=actor,
                         told_otherwise=[proposer.id])
    notify.swap_decided(course, proposal)


def decide_swap(proposal: SwapProposal, actor: User, now: datetime, *, decision: str) -> None:
    """Decline (target group) or withdraw (proposing group) a pending proposal."""
    _pending(proposal)
    group_id = proposal.target_group_id if decision == "declined" else proposal.proposer_group_id
    group = db.session.get(Group, group_id)
    assert group is not None
    _require_member(group, actor)
    proposal.status = decision
    proposal.decided_at = now
    audit(proposal.course_id, actor, f"swap_{decision}", proposal.from_slot,
          entity="swap_proposal", entity_id=proposal.id)
    db.session.flush()
    notify.swap_decided(group_course(group), proposal)


def _void_proposals_of(slot_ids: list[int], now: datetime, keep: Optional[int] = None) -> None:
    db.session.execute(
        update(SwapProposal)
        .where(SwapProposal.status == "pending", SwapProposal.id != (keep or 0),
               (SwapProposal.from_slot_id.in_(slot_ids)) | (SwapProposal.to_slot_id.in_(slot_ids)))
        .values(status="void", decided_at=now).execution_options(synchronize_session=False))


# ---------------------------------------------------------------------------- settings


SETTING_FIELDS = ("mode", "opens_at", "closes_at", "drop_deadline", "quota", "min_gap_weeks")


def update_signup_settings(course: Course, values: dict[str, Any], actor: User) -> SignupDef:
    """Validate with SignupDef and store it in Course.definition (times: naive local)."""
    _require_staff(course.id, actor)
    current = signup_definition(course)
    merged = {**current.model_dump(mode="json"), **{k: values[k] for k in SETTING_FIELDS
                                                     if k in values}}
    try:
        new = SignupDef.model_validate(merged)
    except ValidationError as exc:
        raise SettingsInvalid("The settings were not saved:\n"
                              + "\n".join(describe_validation_error(exc))) from None
    problems = []
    if new.opens_at and new.closes_at and new.closes_at <= new.opens_at:
        problems.append("closes_at: must be after opens_at")
    if new.opens_at and new.drop_deadline and new.drop_deadline < new.opens_at:
        problems.append("drop_deadline: must not be before opens_at")
    if problems:
        raise SettingsInvalid("The settings were not saved:\n" + "\n".join(problems))
    old = current.model_dump(mode="json")
    stored = new.model_dump(mode="json")
    if old == stored:
        return new
    # A new dict, so SQLAlchemy sees the JSON column change.
    course.definition = {**(course.definition or {}), "signup": stored}
    audit(course.id, actor, "settings", None, category="signup", entity="course",
          entity_id=course.id, old=old, new=stored)
    db.session.flush()
    return new


# ---------------------------------------------------------------------------- the board


@dataclass
class Board:
    sessions: list[PaperSession]
    waitlists: dict[int, list[SlotWaitlist]]
    proposals: list[SwapProposal]


def sessions_with_slots(course: Course) -> list[PaperSession]:
    """The course's sessions in order, each with its paper, week and slots in role order."""
    return sessions_with_slots_of([course.id])


def sessions_with_slots_of(course_ids: list[int]) -> list[PaperSession]:
    """``sessions_with_slots`` for several courses at once (the same fixed number of queries)."""
    sessions = list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id.in_(course_ids))
        .order_by(PaperSession.starts_at)
        .options(joinedload(PaperSession.paper), joinedload(PaperSession.week),
                 selectinload(PaperSession.slots).joinedload(Slot.role),
                 selectinload(PaperSession.slots).joinedload(Slot.group))))
    for session in sessions:
        session.slots.sort(key=lambda slot: slot.role.position)
    return sessions


def load_board(course: Course) -> Board:
    """Sessions, papers, slots, holders, waitlists and pending swaps in a fixed query count."""
    sessions = sessions_with_slots(course)
    waitlists: dict[int, list[SlotWaitlist]] = {}
    for entry in db.session.scalars(
            select(SlotWaitlist).join(Slot).join(PaperSession)
            .where(PaperSession.course_id == course.id)
            .order_by(SlotWaitlist.created_at, SlotWaitlist.id)
            .options(joinedload(SlotWaitlist.group))):
        waitlists.setdefault(entry.slot_id, []).append(entry)
    proposals = list(db.session.scalars(
        select(SwapProposal).where(SwapProposal.course_id == course.id,
                                   SwapProposal.status == "pending")
        .order_by(SwapProposal.created_at)))
    return Board(sessions=sessions, waitlists=waitlists, proposals=proposals)


def promotions_for(group: Group, since: datetime) -> list[AuditEntry]:
    """The board's notice: slots the group got from a waitlist recently."""
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.course_id == group.course_id,
                                 AuditEntry.category == "slot",
                                 AuditEntry.action == "waitlist_promoted", AuditEntry.at >= since)
        .order_by(AuditEntry.at.desc()))
    return [entry for entry in entries if (entry.new or {}).get("group_id") == group.id]


def slot_in_course(course: Course, slot_id: int) -> Optional[Slot]:
    return db.session.scalar(
        select(Slot).join(PaperSession).where(Slot.id == slot_id,
                                              PaperSession.course_id == course.id)
        .options(joinedload(Slot.session).joinedload(PaperSession.week),
                 joinedload(Slot.session).joinedload(PaperSession.paper), joinedload(Slot.role)))
