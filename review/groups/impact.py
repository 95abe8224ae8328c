"""What a destructive action will change, in sentences for its confirmation page.

Leaving or dissolving a group, merging two, moving a student, taking a slot from its holder and
withdrawing released feedback each show an ``Impact`` first and act only on a second, confirmed
request. Every impact is computed here from the same facts about slots (``SlotFact``): who
presented a slot (``presenters_by_slot``, the record the grades follow), its staff grade, and
whether its session has started. A fixed number of queries, whatever the class size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import func, or_, select

from models import (Course, Group, Membership, PaperSession, PresentationRole, Review,
                    ReviewStatus, Score, ScoreTarget, Slot, User, Week, db)
from review.grading.results import combined_pct, staff_roles
from review.grading.services import course_definition
from review.signup.presenters import presenters_by_slot

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten")


@dataclass
class Impact:
    """The question, what will change, what stays as it is, and the label of the confirm button."""

    title: str
    button: str
    changes: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SlotFact:
    """One held slot as a confirmation page needs it."""

    slot_id: int
    session_id: int
    group_id: Optional[int]
    week: int
    role: str
    started: bool
    grade: Optional[float]
    presenter_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"week {self.week} ({self.role})"

    @property
    def presented(self) -> bool:
        """Its session has started or it is graded: the credit belongs to its presenters now."""
        return self.started or self.grade is not None

    @property
    def graded(self) -> str:
        return f"graded {self.grade:.1f}" if self.grade is not None else "not graded yet"


def _count(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)


def _first_up(text: str) -> str:
    """A sentence starting with a label ("week 6 (Strengths)") starts with a capital."""
    return text[:1].upper() + text[1:]


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items)


class _Facts:
    """The slots of some groups (or some slots) with grades and presenters, plus user names."""

    def __init__(self, course: Course, now: datetime, *, group_ids: Iterable[int] = (),
                 slot_ids: Iterable[int] = (), user_ids: Iterable[int] = ()) -> None:
        group_ids, slot_ids = list(group_ids), list(slot_ids)
        where = []
        if group_ids:
            where.append(Slot.group_id.in_(group_ids))
        if slot_ids:
            where.append(Slot.id.in_(slot_ids))
        rows = db.session.execute(
            select(Slot.id, Slot.session_id, Slot.group_id, Week.number, PresentationRole.name,
                   PaperSession.starts_at)
            .join(PaperSession, Slot.session_id == PaperSession.id)
            .join(Week, PaperSession.week_id == Week.id)
            .join(PresentationRole, Slot.role_id == PresentationRole.id)
            .where(PaperSession.course_id == course.id, or_(*where))
            .order_by(PaperSession.starts_at, PresentationRole.position)).all() if where else []
        grades = self._grades(course, [row.id for row in rows])
        presenters = presenters_by_slot(course) if rows else {}
        self.slots = [SlotFact(slot_id=row.id, session_id=row.session_id, group_id=row.group_id,
                               week=row.number, role=row.name, started=row.starts_at <= now,
                               grade=grades.get(row.id),
                               presenter_ids=tuple(presenters.get(row.id, [])))
                      for row in rows]
        wanted = set(user_ids) | {uid for fact in self.slots for uid in fact.presenter_ids}
        self.names = {user.id: user.full_name for user in db.session.scalars(
            select(User).where(User.id.in_(wanted)))} if wanted else {}

    @staticmethod
    def _grades(course: Course, slot_ids: list[int]) -> dict[int, float]:
        if not slot_ids:
            return {}
        scores: dict[int, list[tuple[int, float, float]]] = {}
        for slot_id, grader_id, total, max_total in db.session.execute(
                select(Score.slot_id, Score.grader_id, Score.total, Score.max_total)
                .where(Score.course_id == course.id, Score.target == ScoreTarget.presentation,
                       Score.slot_id.in_(slot_ids))).tuples():
            scores.setdefault(slot_id, []).append((grader_id, total, max_total))
        if not scores:
            return {}
        grading = course_definition(course).grading
        roles = staff_roles(course)
        return {slot_id: combined_pct(rows, roles, method=grading.combine_graders,
                                      threshold=grading.disagreement_pct)
                for slot_id, rows in scores.items()}

    def of_group(self, group: Group) -> list[SlotFact]:
        return [fact for fact in self.slots if fact.group_id == group.id]

    def who(self, user_ids: Iterable[int]) -> str:
        return _listing(self.names.get(uid, f"user {uid}") for uid in user_ids)

    def presented_line(self, fact: SlotFact, group_name: str) -> str:
        n = len(fact.presenter_ids)
        what = "grade" if fact.grade is not None else "credit"
        return (f"{group_name} presented {fact.label}, {fact.graded}: the {what} stays with its "
                f"{_count(n)} presenter{'' if n == 1 else 's'}: {self.who(fact.presenter_ids)}.")


def _members(group: Group) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(
        Membership.group_id == group.id).order_by(Membership.user_id)))


def _future(facts: list[SlotFact]) -> list[SlotFact]:
    return [fact for fact in facts if not fact.presented]


# ---------------------------------------------------------------------------- groups


def dissolve_impact(course: Course, group: Group, now: datetime) -> Impact:
    members = _members(group)
    facts = _Facts(course, now, group_ids=[group.id], user_ids=members)
    slots = facts.of_group(group)
    impact = Impact(title=f"Dissolve {group.name}?", button=f"Dissolve {group.name}")
    impact.changes.append(f"{facts.who(members)} will have no group." if members
                          else f"{group.name} has no members.")
    future = _future(slots)
    impact.changes.append(
        "Its future slots open for other groups: "
        f"{_listing(fact.label for fact in future)}." if future else "It holds no future slots.")
    impact.changes.append(f"{group.name} and its join code are deleted.")
    impact.kept = [facts.presented_line(fact, group.name) for fact in slots if fact.presented]
    return impact


def leave_impact(course: Course, group: Group, student: User, now: datetime) -> Impact:
    members = _members(group)
    others = [uid for uid in members if uid != student.id]
    facts = _Facts(course, now, group_ids=[group.id], user_ids=members)
    slots = facts.of_group(group)
    future = _future(slots)
    impact = Impact(title=f"Leave {group.name}?", button=f"Leave {group.name}")
    if not others:
        impact.changes.append(f"You are its last member: {group.name} is dissolved"
                              + (f" and its future slots open for other groups: "
                                 f"{_listing(f.label for f in future)}." if future else "."))
    elif future:
        impact.changes.append(f"You no longer present {_listing(f.label for f in future)}; "
                              f"{facts.who(others)} present without you.")
    else:
        impact.changes.append(f"{facts.who(others)} stay in {group.name}.")
    impact.changes.append("You can then join or create another group until groups lock.")
    impact.kept = [f"You presented {fact.label} with {group.name}, {fact.graded}: that "
                   f"{'grade' if fact.grade is not None else 'credit'} stays with you."
                   for fact in slots if fact.presented and student.id in fact.presenter_ids]
    return impact


def merge_impact(course: Course, keep: Group, absorb: Group, now: datetime) -> Impact:
    """As ``services.merge_groups`` will do it: each future slot of ``absorb`` moves to ``keep``
    unless ``keep`` already presents that paper, then it opens."""
    moving, staying = _members(absorb), _members(keep)
    facts = _Facts(course, now, group_ids=[keep.id, absorb.id], user_ids=moving)
    impact = Impact(title=f"Merge {absorb.name} into {keep.name}?",
                    button=f"Merge {absorb.name} into {keep.name}")
    impact.changes.append(
        f"{absorb.name}'s members ({facts.who(moving) or 'none'}) join {keep.name}, which then "
        f"has {len(moving) + len(staying)} members.")
    kept_sessions = {fact.session_id for fact in facts.of_group(keep)}
    for fact in _future(facts.of_group(absorb)):
        if fact.session_id in kept_sessions:
            impact.changes.append(f"{_first_up(fact.label)} opens for other groups: "
                                  f"{keep.name} already presents that paper.")
        else:
            kept_sessions.add(fact.session_id)
            impact.changes.append(f"{_first_up(fact.label)} moves to {keep.name}.")
    impact.changes.append(f"{absorb.name} and its join code are deleted.")
    impact.kept = [facts.presented_line(fact, absorb.name)
                   for fact in facts.of_group(absorb) if fact.presented]
    return impact


def move_impact(course: Course, student: User, current: Optional[Group],
                target: Optional[Group], now: datetime) -> Impact:
    groups = [group for group in (current, target) if group is not None]
    facts = _Facts(course, now, group_ids=[group.id for group in groups], user_ids=[student.id])
    name = student.full_name
    if target is None:
        impact = Impact(title=f"Take {name} out of {current.name if current else 'their group'}?",
                        button=f"Take {name} out")
    else:
        impact = Impact(title=f"Move {name} to {target.name}?", button=f"Move {name}")
    if current is not None:
        future = _future(facts.of_group(current))
        if future:
            impact.changes.append(f"{name} no longer presents {_listing(f.label for f in future)} "
                                  f"with {current.name}.")
        remaining = len(_members(current)) - 1
        if remaining < course.group_min_size:
            impact.changes.append(f"{current.name} is left with {remaining} member(s), below the "
                                  f"minimum of {course.group_min_size}.")
        impact.kept = [f"{name} presented {fact.label} with {current.name}, {fact.graded}: that "
                       f"{'grade' if fact.grade is not None else 'credit'} stays with {name}."
                       for fact in facts.of_group(current)
                       if fact.presented and student.id in fact.presenter_ids]
    if target is not None:
        future = _future(facts.of_group(target))
        impact.changes.append(
            f"{name} presents {target.name}'s future slots: {_listing(f.label for f in future)}."
            if future else f"{target.name} holds no future slots yet.")
    return impact


# ---------------------------------------------------------------------------- slots


def slot_holder_impact(course: Course, slot: Slot, old: Group, new: Optional[Group],
                       now: datetime) -> Impact:
    """Staff take a slot from ``old`` and give it to ``new`` (or open it)."""
    members = _members(new) if new is not None else []
    facts = _Facts(course, now, slot_ids=[slot.id], user_ids=members)
    fact = facts.slots[0]
    if new is None:
        impact = Impact(title=f"Open {fact.label}?", button=f"Open {fact.label}")
    else:
        impact = Impact(title=f"Give {fact.label} to {new.name}?",
                        button=f"Give it to {new.name}")
    if fact.presented:
        impact.changes.append(f"{old.name} is no longer the holder of {fact.label}.")
        impact.kept.append(facts.presented_line(fact, old.name))
    else:
        impact.changes.append(f"{old.name} no longer presents {fact.label}.")
    impact.changes.append(
        f"{new.name} ({facts.who(members) or 'no members'}) holds it instead." if new
        else "The slot opens for groups to sign up.")
    return impact


# ---------------------------------------------------------------------------- feedback


def withdraw_presentation_impact(course: Course, slot: Slot, now: datetime) -> Impact:
    facts = _Facts(course, now, slot_ids=[slot.id])
    fact = facts.slots[0]
    impact = Impact(title=f"Withdraw the feedback of {fact.label}?", button="Withdraw")
    impact.changes.append(
        f"{facts.who(fact.presenter_ids) or 'Its presenters'} no longer see the feedback of "
        f"{fact.label} ({fact.graded}) until you release it again.")
    return impact


def withdraw_review_impact(review: Review) -> Impact:
    week = db.session.scalar(select(Week.number).join(PaperSession, PaperSession.week_id == Week.id)
                             .where(PaperSession.id == review.session_id))
    student = db.session.get(User, review.user_id)
    impact = Impact(title=f"Withdraw the feedback on {student.full_name}'s week {week} review?",
                    button="Withdraw")
    impact.changes.append(f"{student.full_name} no longer sees the feedback on their week {week} "
                          "review until you release it again.")
    return impact


def withdraw_session_impact(session: PaperSession) -> Impact:
    slots = db.session.scalar(select(func.count()).select_from(Slot).where(
        Slot.session_id == session.id, Slot.group_id.is_not(None),
        Slot.feedback_released_at.is_(None))) or 0
    reviews = db.session.scalar(select(func.count()).select_from(Review).where(
        Review.session_id == session.id, Review.status == ReviewStatus.submitted,
        Review.feedback_released_at.is_(None))) or 0
    week = db.session.scalar(select(Week.number).where(Week.id == session.week_id))
    impact = Impact(title=f"Withdraw the feedback of week {week}?", button="Withdraw")
    impact.changes.append(
        f"Students no longer see the feedback of {slots} presentation(s) and {reviews} "
        f"review(s) of week {week} until you release it again.")
    impact.kept.append("Feedback released one by one stays visible.")
    return impact
