"""Gradebook loader: the database, read once, as a :class:`GradebookInput` of plain data.

This is the only place the gradebook reads the database. Every page, every export and the CLI
call :func:`load_gradebook` (or :func:`load_input` then ``compute_gradebook``), so the numbers on
screen and in the files come from one computation (STYLE.md point 7).

The number of queries is fixed: it does not grow with the number of students, sessions, reviews
or scores (each kind of row is read with one statement, relations are eager-loaded).

Where the numbers come from:
    * review states (missing / draft / on_time / late / excused / exempt, the late penalty):
      ``review.reviews.status.review_statuses`` when that module is installed, otherwise the same
      rule read straight from Review and ReviewExcuse rows (:func:`_fallback_review_statuses`);
      sessions whose state is ``not_due`` (deadline not passed) are not owed yet.
    * review scores, presentation results and participation: ``review.grading.results`` when
      installed, otherwise the mean of the graders' Score rows (percent of the rubric maximum).
    * external components: GradeItem rows (points out of the component's ``max_points``).
    * the late-day ledger: LateDayEntry rows.

Students see only released work (``released_only=True``): a presentation whose result is not
released, and a review whose grading feedback is not released (``Review.feedback_released_at``
or the session's ``feedback_released_at``), are handed to the computation as *pending*, so they
are neither shown nor counted, and the page says "pending release".

Public API:
    course_info(course) -> CourseInfo
    load_input(course, now, *, released_only=False, user_id=None) -> GradebookInput
    load_gradebook(course, now, *, released_only=False, user_id=None) -> Gradebook
    GradebookUnavailable: the course's grading scheme cannot be computed (a DomainError).
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any, Callable, Optional

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import (
    Course,
    CourseRole,
    Enrollment,
    GradeItem,
    Group,
    LateDayEntry as LateDayRow,
    Membership,
    PaperSession,
    Review,
    ReviewExcuse,
    ReviewStatus as ReviewRowStatus,
    Score,
    ScoreTarget,
    Slot,
    User,
    db,
)
from review.core.errors import DomainError
from review.courses.definition import CourseDefinition
from review.gradebook.compute import (
    Component,
    CourseInfo,
    ExternalGrade,
    Gradebook,
    GradebookInput,
    GradebookInputError,
    LateDayEntry,
    LetterBoundary,
    ParticipationRecord,
    PresentationRecord,
    ReviewRecord,
    Session,
    Student,
    compute_gradebook,
)

#: Used when a course file names no letters: one blank letter, so totals still show.
NO_LETTERS = (LetterBoundary("–", 0.0),)
_COUNTED_STATES = {"missing", "draft", "on_time", "late", "excused", "exempt"}


class GradebookUnavailable(DomainError):
    """The course's grading scheme or records cannot be computed; the message says why."""


def course_info(course: Course) -> CourseInfo:
    """The course's grading scheme from its stored definition."""
    definition = CourseDefinition.model_validate(course.definition)
    grading = definition.grading
    try:
        components = tuple(
            Component(key=c.key, label=c.label, weight=c.weight, kind=c.kind,
                      max_points=c.max_points, drop_lowest=c.drop_lowest)
            for c in grading.components
        )
        letters = tuple(LetterBoundary(l.letter, l.min) for l in grading.letters) or NO_LETTERS
        return CourseInfo(code=course.code, title=course.title, components=components,
                          boundaries=letters)
    except GradebookInputError as exc:
        raise GradebookUnavailable(f"The grading section of the course file is not usable: {exc}") from None


def load_gradebook(course: Course, now: datetime, *, released_only: bool = False,
                   user_id: Optional[int] = None) -> Gradebook:
    """Load and compute; ``user_id`` restricts the roster to one student (their own page)."""
    data = load_input(course, now, released_only=released_only, user_id=user_id)
    try:
        return compute_gradebook(data)
    except GradebookInputError as exc:
        raise GradebookUnavailable(f"The gradebook cannot be computed: {exc}") from None


def _optional(module: str, name: str) -> Optional[Callable[..., Any]]:
    """A function of a sibling capability, or None while that capability is not installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@dataclass(frozen=True)
class _Status:
    """The fields of review.reviews.status.ReviewStatus the gradebook reads."""

    state: str
    review_id: Optional[int]
    days_late: int
    late_penalty_pct: float


def load_input(course: Course, now: datetime, *, released_only: bool = False,
               user_id: Optional[int] = None) -> GradebookInput:
    """Everything the computation needs, in a fixed number of queries."""
    info = course_info(course)
    students = _students(course, user_id)
    wanted = {s.user_id for s in students}

    sessions_rows = list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id == course.id)
        .options(joinedload(PaperSession.week), joinedload(PaperSession.paper))
        .order_by(PaperSession.starts_at)))
    session_by_id = {s.id: s for s in sessions_rows}

    statuses = _review_statuses(course, now, sessions_rows)
    due_ids = {sid for (_, sid), st in statuses.items() if st.state != "not_due"}
    # A session is owed once its deadline passed, whether or not anyone has a status row for it.
    due_ids |= {s.id for s in sessions_rows if s.review_deadline <= now}
    sessions = [Session(id=s.id, week=s.week.number, title=s.paper.title,
                        date=s.starts_at.date()) for s in sessions_rows if s.id in due_ids]

    review_pct = _review_scores(course)
    released_reviews = _released_review_ids(course) if released_only else None
    reviews: list[ReviewRecord] = []
    for (uid, sid), status in statuses.items():
        if uid not in wanted or sid not in due_ids or status.state not in _COUNTED_STATES:
            continue
        score: Optional[float] = None
        if status.state in ("on_time", "late") and status.review_id is not None:
            score = review_pct.get(status.review_id)
            if released_reviews is not None and status.review_id not in released_reviews:
                score = None  # pending release
        reviews.append(ReviewRecord(user_id=uid, session_id=sid, state=status.state,  # type: ignore[arg-type]
                                    score_pct=score,
                                    penalty_pct=float(status.late_penalty_pct or 0.0)
                                    if status.state == "late" else 0.0))

    presentations = [p for p in _presentations(course, session_by_id, released_only)
                     if p.user_id in wanted]
    participation = [ParticipationRecord(user_id=uid, session_id=sid, pct=pct)
                     for (sid, uid), pct in _participation(course).items()
                     if uid in wanted and sid in due_ids]

    external_keys = {c.key for c in info.components if c.kind == "external"}
    grade_query = select(GradeItem.user_id, GradeItem.component, GradeItem.score).where(
        GradeItem.course_id == course.id)
    late_query = select(LateDayRow.user_id, LateDayRow.days, LateDayRow.reason).where(
        LateDayRow.course_id == course.id).order_by(LateDayRow.created_at, LateDayRow.id)
    if user_id is not None:
        grade_query = grade_query.where(GradeItem.user_id == user_id)
        late_query = late_query.where(LateDayRow.user_id == user_id)
    external = [ExternalGrade(uid, key, score) for uid, key, score in db.session.execute(grade_query)
                # Grades of a component since removed from the course file are kept but not shown.
                if uid in wanted and key in external_keys]
    late_days = [LateDayEntry(uid, days, reason) for uid, days, reason in db.session.execute(late_query)
                 if uid in wanted]

    return GradebookInput(course=info, students=students, sessions=sessions, reviews=reviews,
                          presentations=presentations, participation=participation,
                          external_grades=external, late_days=late_days)


def _students(course: Course, user_id: Optional[int]) -> list[Student]:
    query = (select(Enrollment.user_id, Enrollment.student_number, User.first_name,
                    User.last_name, User.email)
             .join(User, User.id == Enrollment.user_id)
             .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)
             .order_by(User.last_name, User.first_name, Enrollment.student_number))
    if user_id is not None:
        query = query.where(Enrollment.user_id == user_id)
    return [Student(user_id=uid, student_id=number or "", first_name=first, last_name=last,
                    email=email)
            for uid, number, first, last, email in db.session.execute(query)]


# --- Reviews --------------------------------------------------------------------------------


def _review_statuses(course: Course, now: datetime,
                     sessions: list[PaperSession]) -> dict[tuple[int, int], _Status]:
    shared = _optional("review.reviews.status", "review_statuses")
    if shared is not None:
        return {key: _Status(state=str(getattr(s.state, "value", s.state)), review_id=s.review_id,
                             days_late=int(s.days_late or 0),
                             late_penalty_pct=float(s.late_penalty_pct or 0.0))
                for key, s in shared(course, now).items()}
    return _fallback_review_statuses(course, now, sessions)


def _fallback_review_statuses(course: Course, now: datetime,
                              sessions: list[PaperSession]) -> dict[tuple[int, int], _Status]:
    """The review rule from the rows, for when review.reviews.status is not installed."""
    definition = CourseDefinition.model_validate(course.definition)
    student_ids = list(db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)))
    reviews = {(r.user_id, r.session_id): r for r in db.session.scalars(
        select(Review).join(PaperSession).where(PaperSession.course_id == course.id))}
    excused = set(db.session.execute(
        select(ReviewExcuse.user_id, ReviewExcuse.session_id).join(
            PaperSession, PaperSession.id == ReviewExcuse.session_id)
        .where(PaperSession.course_id == course.id)).tuples())
    presenting: set[tuple[int, int]] = set()
    if definition.reviews.presenters_exempt:
        presenting = set(db.session.execute(
            select(Membership.user_id, Slot.session_id)
            .join(Slot, Slot.group_id == Membership.group_id)
            .where(Membership.course_id == course.id)).tuples())
    out: dict[tuple[int, int], _Status] = {}
    for session in sessions:
        due = session.review_deadline <= now
        for uid in student_ids:
            review = reviews.get((uid, session.id))
            review_id = review.id if review is not None else None
            if (uid, session.id) in excused:
                state = "excused"
            elif (uid, session.id) in presenting:
                state = "exempt"
            elif review is not None and review.status == ReviewRowStatus.submitted:
                state = "late" if review.days_late > 0 else "on_time"
            elif not due:
                state = "not_due"
            elif review is not None:
                state = "draft"
            else:
                state = "missing"
            out[(uid, session.id)] = _Status(
                state=state, review_id=review_id,
                days_late=review.days_late if review is not None else 0,
                late_penalty_pct=review.late_penalty_pct if review is not None else 0.0)
    return out


def _review_scores(course: Course) -> dict[int, float]:
    shared = _optional("review.grading.results", "review_scores")
    if shared is not None:
        return {int(k): float(v) for k, v in shared(course).items() if v is not None}
    totals: dict[int, list[float]] = defaultdict(list)
    for review_id, total, max_total in db.session.execute(
            select(Score.review_id, Score.total, Score.max_total).where(
                Score.course_id == course.id, Score.target == ScoreTarget.review)):
        totals[review_id].append(total / max_total * 100.0)
    return {rid: fmean(values) for rid, values in totals.items()}


def _released_review_ids(course: Course) -> set[int]:
    rows = db.session.execute(
        select(Review.id, Review.feedback_released_at, PaperSession.feedback_released_at)
        .join(PaperSession, PaperSession.id == Review.session_id)
        .where(PaperSession.course_id == course.id))
    return {rid for rid, own, session in rows if own is not None or session is not None}


# --- Presentations and participation ----------------------------------------------------------


def _presentations(course: Course, sessions: dict[int, PaperSession],
                   released_only: bool) -> list[PresentationRecord]:
    shared = _optional("review.grading.results", "presentation_results")
    if shared is not None:
        records = []
        for r in shared(course):
            final = r.final_pct
            if released_only and not r.released:
                final = None  # pending release
            records.append(PresentationRecord(
                user_id=r.user_id, slot_id=r.slot_id, group=r.group_name or "", week=r.week,
                paper=r.paper or "", role=r.role_name or r.role_key or "",
                criterion_scores=dict(r.criteria or {}) if final is not None else {},
                total=final, max_points=100.0, peer_pct=r.peer_pct, final_pct=final))
        return records
    return _fallback_presentations(course, sessions, released_only)


def _fallback_presentations(course: Course, sessions: dict[int, PaperSession],
                            released_only: bool) -> list[PresentationRecord]:
    """Mean of the staff scores per slot, one record per member of the holding group."""
    slots = list(db.session.scalars(
        select(Slot).join(PaperSession).where(PaperSession.course_id == course.id,
                                               Slot.group_id.is_not(None))
        .options(joinedload(Slot.role), joinedload(Slot.group).selectinload(Group.memberships))))
    scores: dict[int, list[float]] = defaultdict(list)
    for slot_id, total, max_total in db.session.execute(
            select(Score.slot_id, Score.total, Score.max_total).where(
                Score.course_id == course.id, Score.target == ScoreTarget.presentation)):
        scores[slot_id].append(total / max_total * 100.0)
    records = []
    for slot in slots:
        session = sessions[slot.session_id]
        released = slot.feedback_released_at is not None or session.feedback_released_at is not None
        final = fmean(scores[slot.id]) if scores.get(slot.id) else None
        if released_only and not released:
            final = None
        assert slot.group is not None
        for membership in slot.group.memberships:
            records.append(PresentationRecord(
                user_id=membership.user_id, slot_id=slot.id, group=slot.group.name,
                week=session.week.number, paper=session.paper.title, role=slot.role.name,
                criterion_scores={}, total=final, max_points=100.0, peer_pct=None,
                final_pct=final))
    return records


def _participation(course: Course) -> dict[tuple[int, int], float]:
    shared = _optional("review.grading.results", "participation_scores")
    if shared is not None:
        return {(int(sid), int(uid)): float(pct) for (sid, uid), pct in shared(course).items()
                if pct is not None}
    values: dict[tuple[int, int], list[float]] = defaultdict(list)
    for sid, uid, total, max_total in db.session.execute(
            select(Score.session_id, Score.student_id, Score.total, Score.max_total).where(
                Score.course_id == course.id, Score.target == ScoreTarget.participation)):
        values[(sid, uid)].append(total / max_total * 100.0)
    return {key: fmean(v) for key, v in values.items()}
