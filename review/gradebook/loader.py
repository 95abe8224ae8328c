"""Gradebook loader: the database, read once, as a :class:`GradebookInput` of plain data.

This is the only place the gradebook reads the database. Every page, every export and the CLI
call :func:`load_gradebook` (or :func:`load_input` then ``compute_gradebook``), so the numbers on
screen and in the files come from one computation (STYLE.md point 7).

The number of queries is fixed: it does not grow with the number of students, sessions, reviews
or scores (each kind of row is read with one statement, as plain columns). One student's load
(``user_id``: their grade page, staff's breakdown) has its own four statements (see "One
student's page" below); a test holds it to the class's load for that student.

Where the numbers come from:
    * review states (missing / draft / on_time / late / excused / exempt, the late penalty):
      the rule of ``review.reviews.status`` (``state_of``, applied to the reviews read here with
      their scores); a session is owed once its review deadline has passed, so sessions still
      ``not_due`` are left out of the computation.
    * review scores, presentation results and participation: the rules of
      ``review.grading.results`` (graders combined, peer-weighted and adjusted there).
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

import functools
import gc
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from flask import current_app
from sqlalchemy import (JSON, Float, Integer, String, and_, bindparam, cast, false, literal_column, null, or_,
                        select, type_coerce, union_all)
from sqlalchemy.orm import aliased, outerjoin

from models import (
    Course,
    CourseRole,
    Enrollment,
    GradeItem,
    MemberAdjustment,
    Membership,
    Paper,
    PaperSession,
    PeerRating,
    Review,
    ReviewExcuse,
    Rubric,
    Score,
    ScoreTarget,
    Slot,
    SlotPresenter,
    User,
    UTCDateTime,
    Week,
    db,
)
from models import LateDayEntry as LateDayRow
from models import ParticipationRecord as ParticipationRow
from models import ReviewStatus as ReviewRowStatus
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
from review.grading.results import (
    PeerRow,
    PresentationResult,
    RubricRef,
    ScoreRow,
    combined_pcts,
    derived_participation,
    member_result,
    participation_scores,
    presentation_results,
    presented_slots,
    slot_result,
    staff_roles,
    tally_participation,
)
from review.grading.services import course_definition
from review.reviews.status import presenters_exempt, state_of, status_of_one
from review.signup.presenters import presenters_by_session

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
    with _collector_paused(user_id is None):
        data = load_input(course, now, released_only=released_only, user_id=user_id)
        try:
            return compute_gradebook(data)
        except GradebookInputError as exc:
            raise GradebookUnavailable(f"The gradebook cannot be computed: {exc}") from None


@contextmanager
def _collector_paused(pause: bool) -> Iterator[None]:
    """Python's cyclic garbage collector paused for the class's load (``pause``).

    Why: the load allocates ~100,000 objects (rows, records, result rows) that all survive it,
    and the process already tracks ~300,000 (the ORM, pandas, scipy), so the allocations set off
    one or two full collections, each a walk over every tracked object: 0.1-0.2 s of a
    1,000-student load, more than the load itself. Nothing the load makes is a cycle to free.
    The collector is process-wide state, so it is only ever switched back on by whoever
    switched it off (``finally``), and left alone if it was off already (another thread's
    load, or the process's choice); a thread loading meanwhile just collects a little later.
    Whatever the later collections cost is not avoided, only those the load would have
    triggered mid-way.
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def load_input(course: Course, now: datetime, *, released_only: bool = False,
               user_id: Optional[int] = None) -> GradebookInput:
    """Everything the computation needs, in a fixed number of queries."""
    info = course_info(course)
    if user_id is not None:
        return _one_student_input(course, info, now, released_only, user_id)
    students = _students(course, None)
    wanted = {s.user_id for s in students}

    sessions_rows = _sessions(course)
    # A session's review is owed once its deadline has passed (the rule of review_statuses).
    due_ids = {s.id for s in sessions_rows if now > s.review_deadline}
    sessions = [Session(id=s.id, week=s.week, title=s.title, date=s.starts_at.date())
                for s in sessions_rows if s.id in due_ids]
    released_sessions = {s.id for s in sessions_rows if s.feedback_released_at is not None}
    reviews = _class_reviews(course, [s.user_id for s in students], sessions, released_only,
                             released_sessions)

    presentations = [p for p in _presentations(course, released_only, None)
                     if p.user_id in wanted]
    # Participation is released with its session's feedback, like the session's reviews.
    shown = released_sessions if released_only else due_ids
    participation = [ParticipationRecord(user_id=uid, session_id=sid,
                                         pct=float(pct) if sid in shown else None)
                     for (sid, uid), pct in participation_scores(course).items()
                     if uid in wanted and sid in due_ids and pct is not None]

    external_keys = {c.key for c in info.components if c.kind == "external"}
    grade_query = select(GradeItem.user_id, GradeItem.component, GradeItem.score).where(
        GradeItem.course_id == course.id)
    late_query = select(LateDayRow.user_id, LateDayRow.days, LateDayRow.reason).where(
        LateDayRow.course_id == course.id).order_by(LateDayRow.created_at, LateDayRow.id)
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


class _SessionInfo(NamedTuple):
    id: int
    week: int
    title: str
    starts_at: datetime
    review_deadline: datetime
    feedback_released_at: Optional[datetime]


def _sessions(course: Course) -> list[_SessionInfo]:
    """The course's sessions in order, as the columns the gradebook reads."""
    return [_SessionInfo(*row) for row in db.session.execute(
        select(PaperSession.id, Week.number, Paper.title, PaperSession.starts_at,
               PaperSession.review_deadline, PaperSession.feedback_released_at)
        .join(Week, PaperSession.week_id == Week.id)
        .join(Paper, PaperSession.paper_id == Paper.id)
        .where(PaperSession.course_id == course.id)
        .order_by(PaperSession.starts_at)).tuples()]


class _ReviewCell(NamedTuple):
    """A review as ``state_of`` reads it, with what the gradebook needs beside."""

    status: str
    days_late: int
    id: int
    late_penalty_pct: float
    released: bool  # its own grading feedback is released


def _class_reviews(course: Course, student_ids: list[int], sessions: list[Session],
                   released_only: bool, released_sessions: set[int]) -> list[ReviewRecord]:
    """Every student x owed session as a ReviewRecord: ``review_statuses``' rule (``state_of``,
    excuses, exempt presenters) applied to the reviews read with their staff scores in one
    statement, as plain columns (no status enum, no times decoded, no ReviewStatus built)."""
    session_ids = [s.id for s in sessions]
    if not session_ids or not student_ids:
        return []
    excused = set(db.session.execute(
        select(ReviewExcuse.user_id, ReviewExcuse.session_id)
        .where(ReviewExcuse.session_id.in_(session_ids))).tuples())
    exempt_by_session = (presenters_by_session(session_ids)
                         if presenters_exempt(course) else {})
    cells: dict[tuple[int, int], _ReviewCell] = {}
    graded: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for (uid, sid, status, days_late, review_id, penalty, released, grader, total,
         max_total) in db.session.execute(
            select(Review.user_id, Review.session_id, type_coerce(Review.status, String),
                   Review.days_late, Review.id, Review.late_penalty_pct,
                   Review.feedback_released_at.is_not(None), Score.grader_id, Score.total,
                   Score.max_total)
            # No ``Score.course_id`` test: these are the course's reviews, and with one SQLite
            # may look a review's scores up through the course's (a scan per review).
            .outerjoin(Score, and_(Score.review_id == Review.id,
                                   Score.target == ScoreTarget.review))
            .where(Review.session_id.in_(session_ids))).tuples():
        if (uid, sid) not in cells:
            cells[(uid, sid)] = _ReviewCell(status, days_late, review_id, penalty, released)
        if grader is not None:
            graded[review_id].append((grader, total, max_total))
    grading = course_definition(course).grading
    review_pct = combined_pcts(graded, staff_roles(course), method=grading.combine_graders,
                               threshold=grading.disagreement_pct)
    records = []
    no_one: set[int] = set()
    for session_id in session_ids:
        exempt = exempt_by_session.get(session_id, no_one)
        for uid in student_ids:
            cell = cells.get((uid, session_id))
            state = state_of(cell, True, excused=(uid, session_id) in excused,
                             exempt=uid in exempt).value
            score: Optional[float] = None
            penalty = 0.0
            if cell is not None and state in ("on_time", "late"):
                score = review_pct.get(cell.id)
                if released_only and not (cell.released or session_id in released_sessions):
                    score = None  # pending release: neither shown nor counted
                if state == "late":
                    penalty = float(cell.late_penalty_pct or 0.0)
            records.append(ReviewRecord(user_id=uid, session_id=session_id,
                                        state=state,  # type: ignore[arg-type]
                                        score_pct=score, penalty_pct=penalty))
    return records


def _presentations(course: Course, released_only: bool,
                   user_id: Optional[int]) -> list[PresentationRecord]:
    return [_presentation_record(r, released_only)
            for r in presentation_results(course, user_id=user_id)]


def _presentation_record(r: PresentationResult, released_only: bool) -> PresentationRecord:
    final = r.final_pct
    if released_only and not r.released:
        final = None  # pending release: neither shown nor counted
    return PresentationRecord(
        user_id=r.user_id, slot_id=r.slot_id, group=r.group_name or "", week=r.week,
        paper=r.paper or "", role=r.role_name or r.role_key or "",
        criterion_scores=dict(r.criteria or {}) if final is not None else {},
        total=final, max_points=100.0, peer_pct=r.peer_pct if final is not None else None,
        final_pct=final)

# --- One student's page: the same rules, in four statements --------------------------------
#
# A student's grade page (and staff's breakdown of one student) reads a few dozen rows; what it
# costs is the number of statements, each a fixed ~0.3 ms of SQLAlchemy and driver work. So the
# student's rows are read in four statements whatever the class size or the number of sessions:
# the roster row, the sessions with that student's review, excuse and (when presenters are
# exempt) whether they present, the slots they presented (``presented_slots``), and every number
# hanging off those (``_student_numbers``). The rules are the shared ones: ``status_of_one``
# (review states), ``combined_pcts`` and ``slot_result``/``member_result`` (graders, peers,
# adjustments), ``tally_participation`` and ``derived_participation``.


class _SessionRow(NamedTuple):
    """A session with the student's review columns (``status_of_one`` reads them as a Review)."""

    session_id: int
    week: int
    title: str
    starts_at: datetime
    review_deadline: datetime
    feedback_released_at: Optional[datetime]
    id: Optional[int]  # the review's
    status: Optional[ReviewRowStatus]
    days_late: Optional[int]
    late_penalty_pct: Optional[float]
    submitted_at: Optional[datetime]
    review_released_at: Optional[datetime]
    excused: bool
    presenting: bool


def _one_student_input(course: Course, info: CourseInfo, now: datetime, released_only: bool,
                       user_id: int) -> GradebookInput:
    students = _students(course, user_id)
    rows = _student_sessions(course, user_id)
    due = [row for row in rows if now > row.review_deadline]
    sessions = [Session(id=row.session_id, week=row.week, title=row.title,
                        date=row.starts_at.date()) for row in due]
    if not students:  # not a student of the course: an empty gradebook, as for the class
        return GradebookInput(course=info, students=students, sessions=sessions)
    slots = presented_slots(course, user_id)
    numbers = _student_numbers(course, user_id, [row.id for row in rows if row.id is not None],
                               [row.session_id for row in rows], [slot.id for slot in slots])
    definition = course_definition(course)
    grading = definition.grading
    roles = {row.who: CourseRole(row.role) for row in numbers if row.role}

    def combined(kind: str) -> dict[int, float]:
        grouped: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
        for row in numbers:
            if row.kind == kind:
                grouped[row.item].append((row.who, row.value, row.max_value))
        return combined_pcts(grouped, roles, method=grading.combine_graders,
                             threshold=grading.disagreement_pct)

    review_pct = combined("review")
    reviews = []
    for row in due:
        status = status_of_one(row if row.id is not None else None, row, now,
                               excused=row.excused, exempt=row.presenting)
        state = str(status.state.value)
        score: Optional[float] = None
        if state in ("on_time", "late"):
            score = review_pct.get(row.id)  # type: ignore[arg-type]
            if released_only and row.review_released_at is None and row.feedback_released_at is None:
                score = None  # pending release: neither shown nor counted
        reviews.append(ReviewRecord(
            user_id=user_id, session_id=row.session_id, state=state,  # type: ignore[arg-type]
            score_pct=score,
            penalty_pct=float(status.late_penalty_pct or 0.0) if state == "late" else 0.0))

    scores: dict[int, list[ScoreRow]] = defaultdict(list)
    peers: dict[int, list[PeerRow]] = defaultdict(list)
    adjustments: dict[int, float] = {}
    for row in numbers:
        if row.kind == "presentation":
            scores[row.item].append(ScoreRow(row.who, row.value, row.max_value, row.values,
                                             RubricRef(row.text, row.number)))
        elif row.kind == "peer":
            peers[row.item].append(PeerRow(row.who, row.value, row.max_value))
        elif row.kind == "adjustment":
            adjustments[row.item] = row.value
    presentations = [_presentation_record(member_result(
        slot_result(slot, scores.get(slot.id, []), peers.get(slot.id, []), roles, definition),
        user_id, adjustments.get(slot.id)), released_only) for slot in slots]

    # A staff score wins; without one, the records give the count criterion (see results.py).
    participation_pct = derived_participation(course, tally_participation(
        (row.item, row.kind, row.value) for row in numbers if row.kind in ("question", "manual")))
    participation_pct.update(combined("participation"))
    # Participation is released with its session's feedback, like the session's reviews.
    participation = [ParticipationRecord(
        user_id=user_id, session_id=row.session_id,
        pct=(None if released_only and row.feedback_released_at is None
             else float(participation_pct[row.session_id])))
        for row in due if row.session_id in participation_pct]

    external_keys = {c.key for c in info.components if c.kind == "external"}
    # Grades of a component since removed from the course file are kept, not shown.
    external = [ExternalGrade(user_id, row.text, row.value) for row in numbers
                if row.kind == "grade" and row.text in external_keys]
    late_days = [LateDayEntry(user_id, int(row.value), row.text) for row in sorted(
        (row for row in numbers if row.kind == "late"), key=lambda row: (row.at, row.item))]
    return GradebookInput(course=info, students=students, sessions=sessions, reviews=reviews,
                          presentations=presentations, participation=participation,
                          external_grades=external, late_days=late_days)


def _student_sessions(course: Course, user_id: int) -> list[_SessionRow]:
    """The course's sessions in order, each with the student's review, excuse and whether they
    present in it (``presenters_by_session``'s rule; read only when presenters are exempt)."""
    statement = _student_sessions_statement(presenters_exempt(course))
    return [_SessionRow(*row) for row in db.session.execute(
        statement, {"course_id": course.id, "user_id": user_id}).tuples()]


# The two statements below are built once per process, with bound parameters: building them and
# computing their cache keys (which SQLAlchemy memoizes on the statement object) cost several
# times what running them does.
@functools.cache
def _student_sessions_statement(exempt: bool) -> Any:
    user_id = bindparam("user_id")
    presenting: Any = false()
    if exempt:
        presenting = or_(
            select(SlotPresenter.id).join(Slot, SlotPresenter.slot_id == Slot.id)
            .where(Slot.session_id == PaperSession.id, SlotPresenter.user_id == user_id)
            .exists(),
            select(Membership.id).join(Slot, Membership.group_id == Slot.group_id)
            .where(Slot.session_id == PaperSession.id, Slot.presenters_recorded_at.is_(None),
                   Membership.user_id == user_id).exists())
    return (select(PaperSession.id, Week.number, Paper.title, PaperSession.starts_at,
                   PaperSession.review_deadline, PaperSession.feedback_released_at, Review.id,
                   Review.status, Review.days_late, Review.late_penalty_pct,
                   Review.submitted_at, Review.feedback_released_at,
                   ReviewExcuse.id.is_not(None), presenting)
            .join(Week, PaperSession.week_id == Week.id)
            .join(Paper, PaperSession.paper_id == Paper.id)
            .outerjoin(Review, and_(Review.session_id == PaperSession.id,
                                    Review.user_id == user_id))
            .outerjoin(ReviewExcuse, and_(ReviewExcuse.session_id == PaperSession.id,
                                          ReviewExcuse.user_id == user_id))
            .where(PaperSession.course_id == bindparam("course_id"))
            .order_by(PaperSession.starts_at))


class _Number(NamedTuple):
    """One row of :func:`_student_numbers`; which columns mean what depends on ``kind``."""

    kind: str
    item: Optional[int]
    who: Optional[int]
    value: float
    max_value: Optional[float]
    values: Optional[dict[str, Any]]
    text: Optional[str]
    number: Optional[int]
    at: Optional[datetime]
    role: Optional[str]


_NUMBER_TYPES = (("kind", String()), ("item", Integer()), ("who", Integer()),
                 ("value", Float()), ("max_value", Float()), ("values", JSON()),
                 ("text", String()), ("number", Integer()), ("at", UTCDateTime()),
                 ("role", String()))


def _numbers_part(kind: Any, **columns: Any) -> Any:
    """A SELECT of :class:`_Number`'s columns (``kind`` a constant or a column, absent columns
    NULL), every column typed alike so the UNION's rows decode the same whichever part comes
    first."""
    given = {"kind": literal_column(f"'{kind}'") if isinstance(kind, str) else kind, **columns}
    # PostgreSQL types a UNION's column pairwise from the left: a bare NULL would be text.
    return select(*(type_coerce(given[name], type_).label(name) if name in given
                    else cast(null(), type_).label(name) for name, type_ in _NUMBER_TYPES))


def _student_numbers(course: Course, user_id: int, review_ids: list[int],
                     session_ids: list[int], slot_ids: list[int]) -> list[_Number]:
    """Every number one student's components read, in one UNION ALL, tagged by ``kind``:

    review / participation / presentation: a staff score (item: the review, session or slot;
    who: the grader, role: their staff role if any; values and text/number: the criteria and
    the rubric's key/version, presentations only); peer: a peer rating of their slot (who: the
    rater); adjustment: their adjustment of a slot (value: points); question / manual: a
    participation record (item: the session, value: points); grade: an external grade (text:
    the component, value: the score); late: a late-day entry (item: its id, value: days,
    text: the reason, at: when).
    """
    statement = _student_numbers_statement(bool(review_ids), bool(slot_ids))
    return [_Number(*row) for row in db.session.execute(statement, {
        "course_id": course.id, "user_id": user_id, "review_ids": review_ids,
        "session_ids": session_ids, "slot_ids": slot_ids}).tuples()]


@functools.cache
def _student_numbers_statement(with_reviews: bool, with_slots: bool) -> Any:
    course_id, user_id = bindparam("course_id"), bindparam("user_id")
    session_ids = bindparam("session_ids", expanding=True)
    slot_ids = bindparam("slot_ids", expanding=True)
    staff = aliased(Enrollment)
    graders = outerjoin(Score, staff, and_(
        staff.course_id == course_id, staff.user_id == Score.grader_id,
        staff.role.in_([CourseRole.instructor, CourseRole.ta])))

    def scores(kind: str, item: Any, target: ScoreTarget, *where: Any, **extra: Any) -> Any:
        # No ``Score.course_id`` test: the items are this course's (found through its sessions),
        # and with one SQLite would scan the course's scores rather than use the item's index.
        source = graders.join(Rubric, Score.rubric_id == Rubric.id) if extra else graders
        return (_numbers_part(kind, item=item, who=Score.grader_id, value=Score.total,
                              max_value=Score.max_total, role=staff.role, **extra)
                .select_from(source).where(Score.target == target, *where))

    parts = [
        scores("participation", Score.session_id, ScoreTarget.participation,
               Score.student_id == user_id, Score.session_id.in_(session_ids)),
        _numbers_part(ParticipationRow.kind, item=ParticipationRow.session_id,
                      value=ParticipationRow.points)
        .where(ParticipationRow.user_id == user_id, ParticipationRow.session_id.in_(session_ids)),
        _numbers_part("grade", value=GradeItem.score, text=GradeItem.component)
        .where(GradeItem.course_id == course_id, GradeItem.user_id == user_id),
        _numbers_part("late", item=LateDayRow.id, value=LateDayRow.days, text=LateDayRow.reason,
                      at=LateDayRow.created_at)
        .where(LateDayRow.course_id == course_id, LateDayRow.user_id == user_id),
    ]
    if with_reviews:
        parts.append(scores("review", Score.review_id, ScoreTarget.review,
                            Score.review_id.in_(bindparam("review_ids", expanding=True))))
    if with_slots:
        parts += [
            scores("presentation", Score.slot_id, ScoreTarget.presentation,
                   Score.slot_id.in_(slot_ids), values=Score.values, text=Rubric.key,
                   number=Rubric.version),
            _numbers_part("peer", item=PeerRating.slot_id, who=PeerRating.rater_id,
                          value=PeerRating.total, max_value=PeerRating.max_total)
            .where(PeerRating.slot_id.in_(slot_ids)),
            _numbers_part("adjustment", item=MemberAdjustment.slot_id,
                          value=MemberAdjustment.delta_pct)
            .where(MemberAdjustment.slot_id.in_(slot_ids), MemberAdjustment.user_id == user_id),
        ]
    return union_all(*parts)
