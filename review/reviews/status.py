"""Where every student stands on every weekly review: the one source for grading and gradebook.

Public API:
    review_statuses(course, now) -> dict[(user_id, session_id), ReviewStatus]
        One entry for EVERY enrolled student x EVERY paper session of the course, computed with
        a fixed number of queries (five), whatever the class size.
    owes_review(status) -> bool
        False for excused, exempt and not-yet-due weeks: those never count against a student.

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
from typing import NamedTuple

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


def review_statuses(course: Course, now: datetime, *, user_id: int | None = None
                    ) -> dict[tuple[int, int], ReviewStatus]:
    """Every enrolled student (or the one ``user_id``) x every paper session -> their
    ReviewStatus (fixed query count).

    Reviews are read as plain columns (never their content JSON), and the statuses that carry
    nothing per student (missing, not due, excused or exempt without a review) are shared
    instances: ReviewStatus is frozen, so sharing is safe, and a 1,000 x 10 course builds
    only the statuses of the reviews it has.
    """
    students = select(Enrollment.user_id).where(Enrollment.course_id == course.id,
                                                Enrollment.role == CourseRole.student)
    if user_id is not None:
        students = students.where(Enrollment.user_id == user_id)
    student_ids = list(db.session.scalars(students))
    sessions = list(db.session.execute(
        select(PaperSession.id, PaperSession.review_deadline)
        .where(PaperSession.course_id == course.id)
    ).tuples())
    session_ids = [session_id for session_id, _deadline in sessions]
    reviews: dict[tuple[int, int], _ReviewRow] = {}
    excused: set[tuple[int, int]] = set()
    if session_ids:
        review_query = (select(Review.user_id, Review.session_id, Review.id, Review.status,
                               Review.days_late, Review.late_penalty_pct, Review.submitted_at)
                        .where(Review.session_id.in_(session_ids)))
        excuse_query = (select(ReviewExcuse.user_id, ReviewExcuse.session_id)
                        .where(ReviewExcuse.session_id.in_(session_ids)))
        if user_id is not None:
            review_query = review_query.where(Review.user_id == user_id)
            excuse_query = excuse_query.where(ReviewExcuse.user_id == user_id)
        rows = db.session.execute(review_query).tuples()
        for student, session_id, review_id, status, days_late, penalty, submitted_at in rows:
            reviews[(student, session_id)] = _ReviewRow(review_id, status, days_late, penalty,
                                                        submitted_at)
        excused = {(student, session_id)
                   for student, session_id in db.session.execute(excuse_query)}
    exempt_by_session = (presenting_user_ids(session_ids)
                         if presenters_exempt(course) else {})

    result: dict[tuple[int, int], ReviewStatus] = {}
    no_exempt: set[int] = set()
    for session_id, deadline in sessions:
        exempt = exempt_by_session.get(session_id, no_exempt)
        past_deadline = now > deadline
        for student in student_ids:
            key = (student, session_id)
            review = reviews.get(key)
            if review is None and key not in excused and student not in exempt:
                result[key] = _MISSING if past_deadline else _NOT_DUE
            else:
                result[key] = _status_of(review, past_deadline,
                                         excused=key in excused, exempt=student in exempt)
    return result


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


def _status_of(review: Review | _ReviewRow | None, past_deadline: bool, *, excused: bool,
               exempt: bool) -> ReviewStatus:
    review_id = review.id if review is not None else None
    if excused:
        return ReviewStatus(ReviewState.excused, review_id, 0, 0.0, None)
    if exempt:
        return ReviewStatus(ReviewState.exempt, review_id, 0, 0.0, None)
    if review is not None and review.status == ReviewRowStatus.submitted:
        state = ReviewState.late if review.days_late > 0 else ReviewState.on_time
        return ReviewStatus(state, review.id, review.days_late, review.late_penalty_pct,
                            review.submitted_at)
    if not past_deadline:
        return ReviewStatus(ReviewState.not_due, review_id, 0, 0.0, None)
    if review is not None:
        return ReviewStatus(ReviewState.draft, review.id, 0, 0.0, None)
    return ReviewStatus(ReviewState.missing, None, 0, 0.0, None)


_MISSING = ReviewStatus(ReviewState.missing, None, 0, 0.0, None)
_NOT_DUE = ReviewStatus(ReviewState.not_due, None, 0, 0.0, None)
