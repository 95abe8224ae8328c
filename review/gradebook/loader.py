"""Gradebook loader: the database, read once, as a :class:`GradebookInput` of plain data.

This is the only place the gradebook reads the database. Every page, every export and the CLI
call :func:`load_gradebook` (or :func:`load_input` then ``compute_gradebook``), so the numbers on
screen and in the files come from one computation (STYLE.md point 7).

The number of queries is fixed: it does not grow with the number of students, sessions, reviews
or scores (each kind of row is read with one statement, relations are eager-loaded).

Where the numbers come from:
    * review states (missing / draft / on_time / late / excused / exempt, the late penalty):
      ``review.reviews.status.review_statuses``; a session is owed once its review deadline has
      passed, so sessions still ``not_due`` are left out of the computation.
    * review scores, presentation results and participation: ``review.grading.results``
      (graders combined, peer-weighted and adjusted there).
    * external components: GradeItem rows (points out of the component's ``max_points``).
    * the late-day ledger: LateDayEntry rows.

Students see only released work (``released_only=True``): a presentation whose result is not
released, and a review whose grading feedback is not released (``Review.feedback_released_at``
or the session's ``feedback_released_at``), are handed to the computation as *pending*, so they
are neither shown nor counted, and the page says "pending release". Participation of a session
whose feedback is not released is pending too (listed, not counted).

Public API:
    course_info(course) -> CourseInfo
    load_input(course, now, *, released_only=False, user_id=None) -> GradebookInput
    load_gradebook(course, now, *, released_only=False, user_id=None) -> Gradebook
    staff_gradebook(course, now) -> CachedGradebook: the whole class's, computed once per
        grades revision (``review.gradebook.revision``) and set of due sessions
    per_grades_revision(course, now, name, make) -> make(), kept per revision the same way
    GradebookUnavailable: the course's grading scheme cannot be computed (a DomainError).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional, TypeVar

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import Course, CourseRole, Enrollment, GradeItem, PaperSession, Review, User, db
from models import LateDayEntry as LateDayRow
from review.core.errors import DomainError
from review.courses.definition import stored_definition
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
from review.gradebook import revision  # noqa: F401  (its listeners move Course.grades_revision)
from review.grading.results import participation_scores, presentation_results, review_scores
from review.reviews.status import review_statuses

T = TypeVar("T")

#: Used when a course file names no letters: one blank letter, so totals still show.
NO_LETTERS = (LetterBoundary("–", 0.0),)


class GradebookUnavailable(DomainError):
    """The course's grading scheme or records cannot be computed; the message says why."""


def course_info(course: Course) -> CourseInfo:
    """The course's grading scheme from its stored definition."""
    definition = stored_definition(course)
    grading = definition.grading
    try:
        components = tuple(
            Component(key=c.key, label=c.label, weight=c.weight, kind=c.kind,
                      max_points=c.max_points, drop_lowest=c.drop_lowest)
            for c in grading.components
        )
        letters = tuple(LetterBoundary(b.letter, b.min) for b in grading.letters) or NO_LETTERS
        return CourseInfo(code=course.code, title=course.title, components=components,
                          boundaries=letters)
    except GradebookInputError as exc:
        raise GradebookUnavailable(
            f"The grading section of the course file is not usable: {exc}") from None


#: Grades revisions a process keeps results of (newest per course and revision; oldest dropped
#: first).
CACHED_REVISIONS = 8


@dataclass
class CachedGradebook:
    """A computed gradebook and what pages derived from it (the chart), for one revision."""

    gradebook: Gradebook
    derived: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, make: Any) -> Any:
        """``make(gradebook)``, computed once for this revision."""
        if name not in self.derived:
            self.derived[name] = make(self.gradebook)
        return self.derived[name]


def per_grades_revision(course: Course, now: datetime, name: str, make: Callable[[], T]) -> T:
    """``make()``, computed once per grades revision of ``course`` and kept in the process.

    Keyed by the course's grades revision, which every grade-changing write moves on
    (``review.gradebook.revision``), and by the sessions whose review deadline has passed (the
    only way the clock alone changes a result). ``make`` must read only what moves the
    revision. Callers must not modify what it returns: later requests get the same objects.
    """
    due = tuple(sorted(s.id for s in course.sessions if now > s.review_deadline))
    key = (course.id, course.grades_revision, due)
    cache: OrderedDict[Any, dict[str, Any]] = current_app.extensions.setdefault(
        "grades_revision_cache", OrderedDict())
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = {}
        while len(cache) > CACHED_REVISIONS:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    if name not in entry:
        entry[name] = make()
    return entry[name]


def staff_gradebook(course: Course, now: datetime) -> CachedGradebook:
    """The whole class's gradebook for staff pages and downloads, computed once per change."""
    return per_grades_revision(course, now, "gradebook",
                               lambda: CachedGradebook(load_gradebook(course, now)))


def load_gradebook(course: Course, now: datetime, *, released_only: bool = False,
                   user_id: Optional[int] = None) -> Gradebook:
    """Load and compute; ``user_id`` restricts the roster to one student (their own page)."""
    data = load_input(course, now, released_only=released_only, user_id=user_id)
    try:
        return compute_gradebook(data)
    except GradebookInputError as exc:
        raise GradebookUnavailable(f"The gradebook cannot be computed: {exc}") from None


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
    # A session's review is owed once its deadline has passed (the rule of review_statuses).
    due_ids = {s.id for s in sessions_rows if now > s.review_deadline}
    sessions = [Session(id=s.id, week=s.week.number, title=s.paper.title,
                        date=s.starts_at.date()) for s in sessions_rows if s.id in due_ids]

    review_pct = {int(k): float(v) for k, v in review_scores(course, user_id=user_id).items()
                  if v is not None}
    released_reviews = _released_review_ids(course, user_id) if released_only else None
    reviews: list[ReviewRecord] = []
    for (uid, sid), status in review_statuses(course, now, user_id=user_id).items():
        state = str(getattr(status.state, "value", status.state))
        if uid not in wanted or sid not in due_ids or state == "not_due":
            continue
        score: Optional[float] = None
        if state in ("on_time", "late") and status.review_id is not None:
            score = review_pct.get(status.review_id)
            if released_reviews is not None and status.review_id not in released_reviews:
                score = None  # pending release: neither shown nor counted
        reviews.append(ReviewRecord(
            user_id=uid, session_id=sid, state=state,  # type: ignore[arg-type]
            score_pct=score,
            penalty_pct=float(status.late_penalty_pct or 0.0) if state == "late" else 0.0))

    presentations = [p for p in _presentations(course, released_only, user_id)
                     if p.user_id in wanted]
    # Participation is released with its session's feedback, like the session's reviews.
    released_sessions = ({s.id for s in sessions_rows if s.feedback_released_at is not None}
                         if released_only else due_ids)
    participation = [ParticipationRecord(user_id=uid, session_id=sid,
                                         pct=float(pct) if sid in released_sessions else None)
                     for (sid, uid), pct in participation_scores(course, user_id=user_id).items()
                     if uid in wanted and sid in due_ids and pct is not None]

    external_keys = {c.key for c in info.components if c.kind == "external"}
    grade_query = select(GradeItem.user_id, GradeItem.component, GradeItem.score).where(
        GradeItem.course_id == course.id)
    late_query = select(LateDayRow.user_id, LateDayRow.days, LateDayRow.reason).where(
        LateDayRow.course_id == course.id).order_by(LateDayRow.created_at, LateDayRow.id)
    if user_id is not None:
        grade_query = grade_query.where(GradeItem.user_id == user_id)
        late_query = late_query.where(LateDayRow.user_id == user_id)
    external = [ExternalGrade(uid, key, score)
                for uid, key, score in db.session.execute(grade_query)
                # Grades of a component since removed from the course file are kept, not shown.
                if uid in wanted and key in external_keys]
    late_days = [LateDayEntry(uid, days, reason)
                 for uid, days, reason in db.session.execute(late_query) if uid in wanted]

    return GradebookInput(course=info, students=students, sessions=sessions, reviews=reviews,
                          presentations=presentations, participation=participation,
                          external_grades=external, late_days=late_days)


def _students(course: Course, user_id: Optional[int]) -> list[Student]:
    query = (select(Enrollment.user_id, Enrollment.student_number, User.first_name,
                    User.last_name, User.email, Enrollment.username, Enrollment.section)
             .join(User, User.id == Enrollment.user_id)
             .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)
             .order_by(User.last_name, User.first_name, Enrollment.student_number))
    if user_id is not None:
        query = query.where(Enrollment.user_id == user_id)
    return [Student(user_id=uid, student_id=number or "", first_name=first, last_name=last,
                    email=email, username=username, section=section)
            for uid, number, first, last, email, username, section in db.session.execute(query)]


def _released_review_ids(course: Course, user_id: Optional[int]) -> set[int]:
    """Reviews whose grading feedback students may see (own release or the session's)."""
    query = (select(Review.id, Review.feedback_released_at, PaperSession.feedback_released_at)
             .join(PaperSession, PaperSession.id == Review.session_id)
             .where(PaperSession.course_id == course.id))
    if user_id is not None:
        query = query.where(Review.user_id == user_id)
    rows = db.session.execute(query)
    return {rid for rid, own, session in rows if own is not None or session is not None}


def _presentations(course: Course, released_only: bool,
                   user_id: Optional[int]) -> list[PresentationRecord]:
    records = []
    for r in presentation_results(course, user_id=user_id):
        final = r.final_pct
        if released_only and not r.released:
            final = None  # pending release: neither shown nor counted
        records.append(PresentationRecord(
            user_id=r.user_id, slot_id=r.slot_id, group=r.group_name or "", week=r.week,
            paper=r.paper or "", role=r.role_name or r.role_key or "",
            criterion_scores=dict(r.criteria or {}) if final is not None else {},
            total=final, max_points=100.0, peer_pct=r.peer_pct if final is not None else None,
            final_pct=final))
    return records
