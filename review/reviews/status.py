"""Where every student stands on every weekly review: the one source for grading and gradebook.

Public API:
    review_statuses(course, now) -> dict[(user_id, session_id), ReviewStatus]
        One entry for EVERY enrolled student x EVERY paper session of the course, computed with
        a fixed number of queries (five), whatever the class size; ``user_ids=`` for some.
    review_states(course, now) -> dict[(user_id, session_id), ReviewState]
        The same rule for every student, the state alone (cheaper: for filters and counts).
    owes_review(status) -> bool
        False for excused, exempt and not-yet-due weeks: those never count against a student.
    state_of(review, past_deadline, *, excused, exempt) -> ReviewState
        The rule itself, for one cell (the gradebook reads its reviews with their scores).

States, decided in this order (the first that applies wins):
    excused   staff excused the student from that session (a ReviewExcuse row)
    exempt    the course says presenters are exempt and the student's group holds a slot of it
    on_time   submitted, not late                  (days_late == 0)
    late      submitted after the deadline, accepted (days_late > 0, penalty in late_penalty_pct)
    not_due   the deadline is still ahead and nothing is submitted (a draft may exist:
              ``review_id`` is then set)
    draft     the deadline passed with only a draft
    missing   the deadline passed with no review at all

Excused and exempt win over a submitted review on purpose: a week the student did not owe must
never lower (or raise) their review average; ``review_id`` still points at what they wrote.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Collection, Iterable, NamedTuple, TypeVar

from sqlalchemy import select

from models import (
    Course,
    CourseRole,
    Enrollment,
    PaperSession,
    Review,
    ReviewExcuse,
    db,
)
from models import ReviewStatus as ReviewRowStatus
from review.courses.definition import stored_definition
from review.signup.presenters import presenters_by_session


class ReviewState(str, enum.Enum):
    not_due = "not_due"
    missing = "missing"
    draft = "draft"
    on_time = "on_time"
    late = "late"
    excused = "excused"
    exempt = "exempt"


STATE_LABELS = {
    ReviewState.not_due: "not due yet",
    ReviewState.missing: "missing",
    ReviewState.draft: "draft only",
    ReviewState.on_time: "on time",
    ReviewState.late: "late",
    ReviewState.excused: "excused",
    ReviewState.exempt: "exempt (presenting)",
}


@dataclass(frozen=True)
class ReviewStatus:
    """One student's standing on one session's review."""

    state: ReviewState
    review_id: int | None
    days_late: int
    late_penalty_pct: float
    submitted_at: datetime | None

    @property
    def label(self) -> str:
        if self.state == ReviewState.not_due and self.review_id is not None:
            return "draft (not due yet)"
        return STATE_LABELS[self.state]


def owes_review(status: ReviewStatus) -> bool:
    """Whether this week counts for the student (a missing or draft-only week counts as zero)."""
    return status.state not in (ReviewState.excused, ReviewState.exempt, ReviewState.not_due)


def presenters_exempt(course: Course) -> bool:
    return stored_definition(course).reviews.presenters_exempt


def presenting_user_ids(session_ids: list[int]) -> dict[int, set[int]]:
    """session id -> ids of the students who present in that session: its slots' recorded
    presenters, else their holders' current members (two queries)."""
    return presenters_by_session(session_ids)


def review_statuses(course: Course, now: datetime, *, user_id: int | None = None,
                    user_ids: Collection[int] | None = None
                    ) -> dict[tuple[int, int], ReviewStatus]:
    """Every enrolled student (or the one ``user_id``, or those of ``user_ids``) x every paper
    session -> their ReviewStatus (fixed query count).

    Reviews are read as plain columns (never their content JSON), and the statuses that carry
    nothing per student (missing, not due, excused or exempt without a review) are shared
    instances: ReviewStatus is frozen, so sharing is safe, and a 1,000 x 10 course builds
    only the statuses of the reviews it has.
    """
    scope = _scope(course, [user_id] if user_id is not None else user_ids)
    rows = scope.reviews(Review.id, Review.late_penalty_pct, Review.submitted_at)
    reviews = {(student, session_id): _ReviewRow(review_id, status, days_late, penalty,
                                                 submitted_at)
               for student, session_id, status, days_late, review_id, penalty, submitted_at
               in rows}
    return scope.grid(now, reviews, _status_of, _MISSING, _NOT_DUE)


def review_states(course: Course, now: datetime) -> dict[tuple[int, int], ReviewState]:
    """Every enrolled student x every paper session -> only the state of their review (fixed
    query count): the rule of ``review_statuses`` without building a ReviewStatus or decoding
    a time per review, for pages that filter, sort and count every student but show few."""
    scope = _scope(course, None)
    reviews = {(student, session_id): _ReviewKind(status, days_late)
               for student, session_id, status, days_late in scope.reviews()}
    return scope.grid(now, reviews, state_of, ReviewState.missing, ReviewState.not_due)


_Cell = TypeVar("_Cell")


@dataclass(frozen=True)
class _Scope:
    """The students and sessions a grid covers, with what overrides a review: excuses and
    exempt presenters (read once, whatever the class size)."""

    student_ids: list[int]
    sessions: list[tuple[int, datetime]]
    narrowed: bool  # to some students: their reviews only
    excused: set[tuple[int, int]]
    exempt_by_session: dict[int, set[int]]

    def reviews(self, *columns: Any) -> Iterable[tuple[Any, ...]]:
        """The reviews of the grid: user id, session id, status, days late, then ``columns``."""
        session_ids = [session_id for session_id, _deadline in self.sessions]
        if not session_ids or not self.student_ids:
            return []
        query = (select(Review.user_id, Review.session_id, Review.status, Review.days_late,
                        *columns)
                 .where(Review.session_id.in_(session_ids)))
        if self.narrowed:
            query = query.where(Review.user_id.in_(self.student_ids))
        return db.session.execute(query).tuples()

    def grid(self, now: datetime, reviews: dict[tuple[int, int], Any],
             cell: Callable[..., _Cell], missing: _Cell, not_due: _Cell
             ) -> dict[tuple[int, int], _Cell]:
        result: dict[tuple[int, int], _Cell] = {}
        excused, no_exempt = self.excused, set()
        for session_id, deadline in self.sessions:
            exempt = self.exempt_by_session.get(session_id, no_exempt)
            past_deadline = now > deadline
            for student in self.student_ids:
                key = (student, session_id)
                review = reviews.get(key)
                if review is None and key not in excused and student not in exempt:
                    result[key] = missing if past_deadline else not_due
                else:
                    result[key] = cell(review, past_deadline, excused=key in excused,
                                       exempt=student in exempt)
        return result


def _scope(course: Course, user_ids: Collection[int] | None) -> _Scope:
    students = select(Enrollment.user_id).where(Enrollment.course_id == course.id,
                                                Enrollment.role == CourseRole.student)
    if user_ids is not None:
        students = students.where(Enrollment.user_id.in_(list(user_ids)))
    student_ids = list(db.session.scalars(students))
    sessions = list(db.session.execute(
        select(PaperSession.id, PaperSession.review_deadline)
        .where(PaperSession.course_id == course.id)
    ).tuples())
    session_ids = [session_id for session_id, _deadline in sessions]
    excused: set[tuple[int, int]] = set()
    if session_ids and student_ids:
        excuse_query = (select(ReviewExcuse.user_id, ReviewExcuse.session_id)
                        .where(ReviewExcuse.session_id.in_(session_ids)))
        if user_ids is not None:
            excuse_query = excuse_query.where(ReviewExcuse.user_id.in_(student_ids))
        excused = {(student, session_id)
                   for student, session_id in db.session.execute(excuse_query)}
    exempt_by_session = (presenting_user_ids(session_ids)
                         if presenters_exempt(course) else {})
    return _Scope(student_ids, sessions, user_ids is not None, excused, exempt_by_session)


class _ReviewKind(NamedTuple):
    """The columns of a Review that decide its state (the attributes state_of reads)."""

    status: ReviewRowStatus
    days_late: int


class _ReviewRow(NamedTuple):
    """The columns of a Review that decide its status (the attributes _status_of reads)."""

    id: int
    status: ReviewRowStatus
    days_late: int
    late_penalty_pct: float
    submitted_at: datetime | None


def status_of_one(review: Review | None, session: PaperSession, now: datetime, *,
                  excused: bool, exempt: bool) -> ReviewStatus:
    """The same rule for a single student and session (used by the student's own pages)."""
    return _status_of(review, now > session.review_deadline, excused=excused, exempt=exempt)


def state_of(review: Any, past_deadline: bool, *, excused: bool, exempt: bool) -> ReviewState:
    """The rule of the module docstring: the first state that applies. ``review``: None, or
    anything with a Review's ``status`` and ``days_late`` (the gradebook passes its rows)."""
    if excused:
        return ReviewState.excused
    if exempt:
        return ReviewState.exempt
    if review is not None and review.status == ReviewRowStatus.submitted:
        return ReviewState.late if review.days_late > 0 else ReviewState.on_time
    if not past_deadline:
        return ReviewState.not_due
    return ReviewState.draft if review is not None else ReviewState.missing


def _status_of(review: Review | _ReviewRow | None, past_deadline: bool, *, excused: bool,
               exempt: bool) -> ReviewStatus:
    state = state_of(review, past_deadline, excused=excused, exempt=exempt)
    if review is None:
        return ReviewStatus(state, None, 0, 0.0, None)
    if state in (ReviewState.on_time, ReviewState.late):
        return ReviewStatus(state, review.id, review.days_late, review.late_penalty_pct,
                            review.submitted_at)
    return ReviewStatus(state, review.id, 0, 0.0, None)


_MISSING = ReviewStatus(ReviewState.missing, None, 0, 0.0, None)
_NOT_DUE = ReviewStatus(ReviewState.not_due, None, 0, 0.0, None)
