"""Who presented a slot: the term's record of presentation credit.

A group's membership changes over a term (students leave, join, move; groups merge or
dissolve), but the credit for a talk belongs to the students who gave it. So each slot records
its presenters -- a snapshot of the holder group's members -- the first time it matters:

* when its session is held (its start time passes): ``record_due_presenters`` snapshots every
  held slot of a course whose session has started; it is called before any membership change
  and before grades are read, so no change can slip in between the session and the snapshot;
* when its first score is saved (``record_slot_presenters``), for sessions graded early.

Until then a slot's presenters are its holder group's current members (a student who joins a
group mid-term presents with it from then on). ``presenters_by_slot`` answers "who presented"
for every slot of a course in two queries; every grade, export and page asks it, never the
group's memberships. Staff correct the record explicitly with ``set_presenters`` (audited);
giving a held slot to another holder does so (``review.signup.services``). Migration 0002
records the slots already held in a database that predates the record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select

from models import (AuditEntry, Course, Membership, PaperSession, Slot, SlotPresenter, User,
                    db, utcnow)


def _snapshot(slots: Iterable[Slot], now: datetime) -> int:
    slots = [slot for slot in slots if slot.presenters_recorded_at is None]
    if not slots:
        return 0
    members: dict[int, list[int]] = defaultdict(list)
    group_ids = {slot.group_id for slot in slots if slot.group_id is not None}
    if group_ids:
        for group_id, user_id in db.session.execute(
                select(Membership.group_id, Membership.user_id)
                .where(Membership.group_id.in_(group_ids))).tuples():
            members[group_id].append(user_id)
    for slot in slots:
        for user_id in sorted(members.get(slot.group_id or 0, [])):
            db.session.add(SlotPresenter(slot_id=slot.id, user_id=user_id, recorded_at=now))
        slot.presenters_recorded_at = now
    db.session.flush()
    return len(slots)


def record_due_presenters(course: Course, now: Optional[datetime] = None) -> int:
    """Snapshot the presenters of every held slot whose session has started; returns how many."""
    now = now or utcnow()
    slots = db.session.scalars(
        select(Slot).join(PaperSession, Slot.session_id == PaperSession.id)
        .where(PaperSession.course_id == course.id, PaperSession.starts_at <= now,
               Slot.group_id.is_not(None), Slot.presenters_recorded_at.is_(None))
        # Two membership changes at once: the second waits, then finds the slots recorded.
        .with_for_update(of=Slot))
    return _snapshot(list(slots), now)


def record_slot_presenters(slot: Slot, now: Optional[datetime] = None) -> None:
    """Snapshot one slot's presenters now (its first score is being saved)."""
    if slot.group_id is not None:
        _snapshot([slot], now or utcnow())


def _presenter_rows(where: Any) -> list[tuple[int, int, int]]:
    """(slot id, session id, user id) of the presenters of the slots ``where`` selects, in
    two queries: the records taken, then the current members of unrecorded slots' holders."""
    rows = list(db.session.execute(
        select(SlotPresenter.slot_id, Slot.session_id, SlotPresenter.user_id)
        .join(Slot, SlotPresenter.slot_id == Slot.id)
        .join(PaperSession, Slot.session_id == PaperSession.id)
        .where(where).order_by(SlotPresenter.user_id)).tuples())
    rows += db.session.execute(
        select(Slot.id, Slot.session_id, Membership.user_id)
        .join(PaperSession, Slot.session_id == PaperSession.id)
        .join(Membership, Membership.group_id == Slot.group_id)
        .where(where, Slot.presenters_recorded_at.is_(None))
        .order_by(Membership.user_id)).tuples()
    return rows


def presenters_by_slot(course: Course) -> dict[int, list[int]]:
    """slot id -> user ids of its presenters: the record when taken, else the holder's members."""
    result: dict[int, list[int]] = defaultdict(list)
    for slot_id, _session_id, user_id in _presenter_rows(PaperSession.course_id == course.id):
        result[slot_id].append(user_id)
    return dict(result)


def presenters_of_slots(slot_ids: Iterable[int]) -> dict[int, list[int]]:
    """slot id -> user ids of its presenters, for the given slots (two queries)."""
    slot_ids = list(slot_ids)
    result: dict[int, list[int]] = {slot_id: [] for slot_id in slot_ids}
    if slot_ids:
        for slot_id, _session_id, user_id in _presenter_rows(Slot.id.in_(slot_ids)):
            result[slot_id].append(user_id)
    return result


def presenters_by_session(session_ids: Iterable[int]) -> dict[int, set[int]]:
    """session id -> user ids of the presenters of any of its slots (every id is a key)."""
    session_ids = list(session_ids)
    result: dict[int, set[int]] = {session_id: set() for session_id in session_ids}
    if session_ids:
        for _slot_id, session_id, user_id in _presenter_rows(Slot.session_id.in_(session_ids)):
            result[session_id].add(user_id)
    return result


def slots_presented_by(user_id: int, session_ids: Iterable[int]) -> dict[int, int]:
    """slot id -> session id of the slots among these sessions' that ``user_id`` presents (see
    ``presenters_by_slot``), in two queries whatever the number of courses or sessions."""
    session_ids = list(session_ids)
    if not session_ids:
        return {}
    return {slot_id: session_id for slot_id, session_id, presenter
            in _presenter_rows(Slot.session_id.in_(session_ids)) if presenter == user_id}


def slot_presenters(slot: Slot) -> list[int]:
    """User ids of one slot's presenters (see ``presenters_by_slot``)."""
    if slot.presenters_recorded_at is not None:
        return list(db.session.scalars(
            select(SlotPresenter.user_id).where(SlotPresenter.slot_id == slot.id)
            .order_by(SlotPresenter.user_id)))
    if slot.group_id is None:
        return []
    return list(db.session.scalars(
        select(Membership.user_id).where(Membership.group_id == slot.group_id)
        .order_by(Membership.user_id)))


def set_presenters(slot: Slot, user_ids: Iterable[int], *, actor: Optional[User], reason: str,
                   now: Optional[datetime] = None) -> None:
    """Staff correct who presented a slot; the old and new lists go to the audit log."""
    now = now or utcnow()
    old = slot_presenters(slot)
    new = sorted(set(user_ids))
    for presenter in list(slot.presenters):
        slot.presenters.remove(presenter)
    db.session.flush()
    for user_id in new:
        db.session.add(SlotPresenter(slot_id=slot.id, user_id=user_id, recorded_at=now))
    slot.presenters_recorded_at = now
    db.session.add(AuditEntry(
        course_id=slot.session.course_id, actor_id=actor.id if actor else None, category="slot",
        action="set_presenters", entity="slot", entity_id=slot.id,
        old={"presenters": old}, new={"presenters": new}, reason=reason))
    db.session.flush()
