"""Mail to the students an action affects, queued in that action's transaction.

One function per kind, each called once by the service that does the action (after its change
is flushed), each rendering templates/mail/<kind>.txt and .html with a link from ``public_url``:

- ``session_feedback_released`` / ``item_feedback_released``: one mail per student per release,
  naming what became visible (an item already visible, or with no score yet, is not named; a
  student with nothing newly visible gets nothing);
- ``regrade_answered``: the requester, with the outcome, the reply and what the request covered;
- ``slots_changed``: every member of each group whose slots changed (one mail summing up its
  gains and losses, with the group's slots now); a group whose slots are the same gets nothing,
  and neither does the student whose own action on the board it was (the mail names them);
- ``swap_proposed`` / ``swap_decided``: the other group of a proposal.

These always go (a student cannot opt out of being told that something of theirs changed). A
deployment without a mail server queues nothing: the pages say the same. Times are shown in the
course timezone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, Optional

from sqlalchemy import select

from models import (Course, Group, Membership, Paper, PaperSession, PresentationRole, RegradeRequest,
                    Review, ReviewStatus, Score, ScoreTarget, Slot, SwapProposal, User, Week, db)
from review.mail import mail_configured, public_url, queue_mail
from review.reviews.policy import format_local
from review.signup.presenters import presenters_of_slots


def _when_mail_is_configured(notify: Callable[..., int]) -> Callable[..., int]:
    @wraps(notify)
    def guarded(*args: Any, **kwargs: Any) -> int:
        return notify(*args, **kwargs) if mail_configured() else 0

    return guarded


def _send(course: Course, recipients: Iterable[tuple[User, dict[str, Any]]], subject: str,
          template: str) -> int:
    queued = 0
    for user, context in recipients:
        queue_mail(user.email, f"{course.title}: {subject}", template,
                   {"name": user.first_name or user.full_name, "course": course.title,
                    **context}, course_id=course.id)
        queued += 1
    return queued


def _users(user_ids: Iterable[int]) -> list[User]:
    ids = set(user_ids)
    if not ids:
        return []
    return list(db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))


def _members(group_ids: Iterable[int]) -> dict[int, list[User]]:
    """group id -> its members, for every group at once (one query)."""
    ids = set(group_ids)
    members: dict[int, list[User]] = defaultdict(list)
    if ids:
        for group_id, user in db.session.execute(
                select(Membership.group_id, User).join(User, Membership.user_id == User.id)
                .where(Membership.group_id.in_(ids)).order_by(User.id)).tuples():
            members[group_id].append(user)
    return members


def _group_names(group_ids: Iterable[int]) -> dict[int, str]:
    ids = set(group_ids)
    return dict(db.session.execute(select(Group.id, Group.name).where(
        Group.id.in_(ids))).tuples().all()) if ids else {}


# ---------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class _SlotFacts:
    id: int
    group_id: Optional[int]
    starts_at: datetime
    text: str


def _slot_facts(course: Course, where: Any) -> list[_SlotFacts]:
    """The slots ``where`` selects, as the database has them now, described for a mail: role,
    week, paper and local start time (one query)."""
    rows = db.session.execute(
        select(Slot.id, Slot.group_id, PresentationRole.name, Week.number, Paper.title,
               PaperSession.starts_at)
        .join(PresentationRole, Slot.role_id == PresentationRole.id)
        .join(PaperSession, Slot.session_id == PaperSession.id)
        .join(Week, PaperSession.week_id == Week.id)
        .join(Paper, PaperSession.paper_id == Paper.id)
        .where(PaperSession.course_id == course.id, where)
        .order_by(PaperSession.starts_at, PresentationRole.position)).tuples()
    return [_SlotFacts(slot_id, group_id, starts_at,
                       f"{role} in week {week} (\u201c{paper}\u201d), "
                       f"{format_local(starts_at, course.timezone)}")
            for slot_id, group_id, role, week, paper, starts_at in rows]


@_when_mail_is_configured
def slots_changed(course: Course, before: Mapping[int, Optional[int]], *, cause: str,
                  by: Optional[User] = None, told_otherwise: Iterable[int] = ()) -> int:
    """The slots in ``before`` (slot id -> its holder before the action) may have changed holder.
    Each member of a group that gained or lost a slot gets one mail; a group that lost and
    regained the same slot gets none. ``cause`` completes "Your group's slots changed: ...".

    ``by`` is the student who did it on the board: the mail names them ("<name> <cause>") and
    they get none (the page just showed them). Groups in ``told_otherwise`` get their own mail
    about the same change (a waitlist promotion, the answer to their swap proposal)."""
    gained: dict[int, set[int]] = defaultdict(set)
    lost: dict[int, set[int]] = defaultdict(set)
    current = dict(db.session.execute(select(Slot.id, Slot.group_id).where(
        Slot.id.in_(list(before)))).tuples().all())
    for slot_id, holder in current.items():
        previous = before.get(slot_id)
        if previous == holder:
            continue
        if previous is not None:
            lost[previous].add(slot_id)
        if holder is not None:
            gained[holder].add(slot_id)
    changes = {group_id: (gained[group_id] - lost[group_id], lost[group_id] - gained[group_id])
               for group_id in set(gained) | set(lost)}
    skipped = set(told_otherwise)
    changes = {group_id: change for group_id, change in changes.items()
               if any(change) and group_id not in skipped}
    if not changes:
        return 0
    facts = _slot_facts(course, Slot.group_id.in_(list(changes)) | Slot.id.in_(list(current)))
    text = {fact.id: fact.text for fact in facts}
    names = _group_names(changes)
    members = _members(changes)

    def recipients() -> Iterable[tuple[User, dict[str, Any]]]:
        for group_id, (added, removed) in sorted(changes.items()):
            context = {
                "group": names[group_id],
                "cause": f"{by.full_name} {cause}" if by is not None else cause,
                "added": [text[f.id] for f in facts if f.id in added],
                "removed": [text[f.id] for f in facts if f.id in removed],
                "now": [f.text for f in facts if f.group_id == group_id],
                "link": public_url("signup.board", course_code=course.code)}
            for user in members.get(group_id, []):
                if by is None or user.id != by.id:
                    yield user, context

    return _send(course, recipients(), "your group's presentation slots changed",
                 "slots_changed")


def _swap_context(course: Course, proposal: SwapProposal) -> dict[str, Any]:
    text = {fact.id: fact.text for fact in _slot_facts(
        course, Slot.id.in_([proposal.from_slot_id, proposal.to_slot_id]))}
    names = _group_names([proposal.proposer_group_id, proposal.target_group_id])
    return {"proposer": names[proposal.proposer_group_id],
            "target": names[proposal.target_group_id],
            "offered": text[proposal.from_slot_id], "wanted": text[proposal.to_slot_id],
            "status": proposal.status,
            "link": public_url("signup.board", course_code=course.code) + "#swaps"}


@_when_mail_is_configured
def swap_proposed(course: Course, proposal: SwapProposal) -> int:
    """The members of the group asked to swap: what they would give and get, and where to
    accept or decline."""
    context = _swap_context(course, proposal)
    members = _members([proposal.target_group_id])[proposal.target_group_id]
    return _send(course, ((user, context) for user in members),
                 f"group {context['proposer']} proposes to swap slots", "swap_proposed")


@_when_mail_is_configured
def swap_decided(course: Course, proposal: SwapProposal) -> int:
    """The other group of a decided proposal: the proposers when it was accepted or declined,
    the group that was asked when the proposers withdrew it."""
    context = _swap_context(course, proposal)
    group_id = (proposal.target_group_id if proposal.status == "withdrawn"
                else proposal.proposer_group_id)
    return _send(course, ((user, context) for user in _members([group_id])[group_id]),
                 f"swap proposal {proposal.status}", "swap_decided")


# ---------------------------------------------------------------------------- feedback


def _scored(column: Any) -> Any:
    return select(Score.id).where(column).exists()


@_when_mail_is_configured
def session_feedback_released(course: Course, session: PaperSession) -> int:
    """A whole session's feedback became visible (its release, not a re-release): one mail per
    student who has scored feedback in it that was not already released on its own."""
    items: dict[int, list[str]] = defaultdict(list)
    slots = dict(db.session.execute(
        select(Slot.id, PresentationRole.name)
        .join(PresentationRole, Slot.role_id == PresentationRole.id)
        .where(Slot.session_id == session.id, Slot.feedback_released_at.is_(None),
               _scored(Score.slot_id == Slot.id))).tuples().all())
    for slot_id, presenters in presenters_of_slots(slots).items():
        for user_id in presenters:
            items[user_id].append(f"your group's presentation ({slots[slot_id]})")
    for user_id in db.session.scalars(select(Review.user_id).where(
            Review.session_id == session.id, Review.status == ReviewStatus.submitted,
            Review.feedback_released_at.is_(None), _scored(Score.review_id == Review.id))):
        items[user_id].append("your review")
    for user_id in db.session.scalars(select(Score.student_id).distinct().where(
            Score.session_id == session.id, Score.target == ScoreTarget.participation)):
        items[user_id].append("your participation")
    context = {"week": session.week.number, "paper": session.paper.title,
               "link": public_url("grading.feedback", course_code=course.code)}
    return _send(course, ((user, {**context, "items": items[user.id]})
                          for user in _users(items)),
                 f"feedback of week {session.week.number} released", "feedback_released")


@_when_mail_is_configured
def item_feedback_released(course: Course, *, slot: Optional[Slot] = None,
                           review: Optional[Review] = None) -> int:
    """One presentation's or review's feedback became visible: its presenters or its author,
    unless the whole session was already released or the item has no score yet."""
    session = slot.session if slot is not None else review.session  # type: ignore[union-attr]
    if session.feedback_released_at is not None:
        return 0
    if slot is not None:
        if not db.session.scalar(select(_scored(Score.slot_id == slot.id))):
            return 0
        user_ids = presenters_of_slots([slot.id])[slot.id]
        item = f"your group's presentation ({slot.role.name})"
        link = public_url("grading.feedback_presentation", course_code=course.code,
                          slot_id=slot.id)
    else:
        assert review is not None
        if not db.session.scalar(select(_scored(Score.review_id == review.id))):
            return 0
        user_ids, item = [review.user_id], "your review"
        link = public_url("grading.feedback_review", course_code=course.code,
                          review_id=review.id)
    context = {"week": session.week.number, "paper": session.paper.title, "items": [item],
               "link": link}
    return _send(course, ((user, context) for user in _users(user_ids)),
                 f"feedback of week {session.week.number} released", "feedback_released")


# ---------------------------------------------------------------------------- regrades


@_when_mail_is_configured
def regrade_answered(course: Course, request: RegradeRequest) -> int:
    """The student who asked: the outcome, the reply, and what the request was about. A
    presentation's grade is its group's, so a request about one covers the grade every
    presenter shares; each member's own request is answered on its own."""
    if request.slot_id is not None:
        slot = db.session.get(Slot, request.slot_id)
        assert slot is not None
        session = slot.session
        item = f"your group's presentation ({slot.role.name})"
        others = [user.full_name for user in _users(presenters_of_slots([slot.id])[slot.id])
                  if user.id != request.user_id]
        link = public_url("grading.feedback_presentation", course_code=course.code,
                          slot_id=slot.id)
    else:
        review = db.session.get(Review, request.review_id)
        assert review is not None
        session, item, others = review.session, "your review", []
        link = public_url("grading.feedback_review", course_code=course.code,
                          review_id=review.id)
    context = {"week": session.week.number, "paper": session.paper.title, "item": item,
               "outcome": request.status, "reply": request.reply, "shared_with": others,
               "link": link}
    return _send(course, ((user, context) for user in _users([request.user_id])),
                 "your regrade request was answered", "regrade_answered")
