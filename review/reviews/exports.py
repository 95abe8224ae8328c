"""The staff review matrix (students x sessions), and its CSV and XLSX files.

One load (``review_matrix``, a fixed number of queries) feeds the HTML page, the download and the
``flask reviews export`` command. User text is neutralised before it reaches a spreadsheet.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from models import (
    Course,
    CourseRole,
    Enrollment,
    PaperSession,
    Review,
    ReviewAccess,
    ReviewStatus as RowStatus,
    User,
    db,
)
# Its listeners move Course.grades_revision on, which keys the class states kept below.
from review.gradebook import revision  # noqa: F401
from review.reviews.policy import format_local
from review.reviews.services import TEXT_SECTIONS, ReviewContent, sessions_of
from review.reviews.status import ReviewState, ReviewStatus, review_states, review_statuses
from review.spreadsheets import neutralise_frame

if TYPE_CHECKING:
    import pandas as pd

SORTS = ("name", "number", "missing", "late")
#: Students per page of the matrix (the downloads have them all): 50 x 10 cells keep the page
#: within 4x of a bare 200-row page, where all 300 x 10 took 12x.
MATRIX_PAGE_SIZE = 50


class Person(NamedTuple):
    """The user columns the matrix shows, read as plain values (no ORM object per student)."""

    id: int
    first_name: str
    last_name: str
    email: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Enrolled(NamedTuple):
    """The enrollment columns the matrix shows."""

    student_number: Optional[str]
    section: Optional[str]


@dataclass(frozen=True)
class MatrixRow:
    user: Person
    enrollment: Enrolled
    cells: list[ReviewStatus]
    # When the student first opened classmates' reviews of each session (None: never), filled
    # for the rows of a page only.
    first_reads: list[Optional[datetime]]

    @property
    def columns(self) -> list[tuple[ReviewStatus, Optional[datetime]]]:
        return list(zip(self.cells, self.first_reads))


def read_before_submitting(cell: ReviewStatus, first_read: Optional[datetime]) -> bool:
    """They read the class's reviews, then submitted their own (late) after that."""
    return (first_read is not None and cell.submitted_at is not None
            and cell.submitted_at > first_read)


@dataclass(frozen=True)
class Matrix:
    sessions: list[PaperSession]
    rows: list[MatrixRow]
    # session id -> state -> count, over every matching row (all pages)
    counts: dict[int, dict[ReviewState, int]]
    # The page shown (1-based) and how many there are; rows_matched counts every page's rows.
    page: int = 1
    pages: int = 1
    rows_matched: int = 0


def review_matrix(course: Course, now: datetime, *, state: Optional[str] = None,
                  session_id: Optional[int] = None, q: str = "", sort: str = "name",
                  section: Optional[str] = None, page: Optional[int] = None) -> Matrix:
    """Every student x every session; filters: a state (in the chosen session, or any session),
    a name/number search, a section; sorts: name, number, most missing, most late. With
    ``page``, only that page's rows (``MATRIX_PAGE_SIZE``); the counts cover every matching
    row.

    Filters, sorts and counts need only each cell's state (``review_states``); the full
    statuses (links, days late, submission times) are read for the rows shown alone."""
    sessions = sessions_of(course)
    session_ids = [s.id for s in sessions]
    if page is None:
        statuses = review_statuses(course, now)
        states = {key: status.state for key, status in statuses.items()}
        students = course_students(course)
    else:
        students, states = _class_states(course, now, sessions)
    wanted_state = ReviewState(state) if state in ReviewState._value2member_map_ else None
    looked_at = [i for i, s in enumerate(sessions) if session_id in (None, s.id)]
    needle = q.strip().lower()
    matching: list[tuple[Person, Enrolled, list[ReviewState]]] = []
    for user, enrollment in students:
        if section and enrollment.section != section:
            continue
        if needle and needle not in f"{user.full_name} {user.email} {enrollment.student_number}".lower():
            continue
        row_states = [states[(user.id, sid)] for sid in session_ids]
        if wanted_state is not None and not any(row_states[i] == wanted_state for i in looked_at):
            continue
        matching.append((user, enrollment, row_states))
    if sort == "number":
        matching.sort(key=lambda r: r[1].student_number or "")
    elif sort == "missing":
        matching.sort(key=lambda r: -sum(st in (ReviewState.missing, ReviewState.draft)
                                         for st in r[2]))
    elif sort == "late":
        matching.sort(key=lambda r: -r[2].count(ReviewState.late))
    counts = {sid: dict.fromkeys(ReviewState, 0) for sid in session_ids}
    for _user, _enrollment, row_states in matching:
        for sid, st in zip(session_ids, row_states):
            counts[sid][st] += 1
    matched, pages = len(matching), 1
    if page is not None:
        pages = max(1, -(-matched // MATRIX_PAGE_SIZE))
        page = min(max(1, page), pages)
        matching = matching[(page - 1) * MATRIX_PAGE_SIZE:page * MATRIX_PAGE_SIZE]
        statuses = review_statuses(course, now, user_ids=[user.id for user, _, _ in matching])
    shown = [user.id for user, _, _ in matching]
    first_reads = {(user_id, session_id): at for user_id, session_id, at in db.session.execute(
        select(ReviewAccess.user_id, ReviewAccess.session_id, ReviewAccess.first_read_at)
        .where(ReviewAccess.session_id.in_(session_ids), ReviewAccess.user_id.in_(shown))
    ).tuples()}
    rows = [MatrixRow(user, enrollment, [statuses[(user.id, sid)] for sid in session_ids],
                      [first_reads.get((user.id, sid)) for sid in session_ids])
            for user, enrollment, _states in matching]
    return Matrix(sessions, rows, counts, page or 1, pages, matched)


#: Class grids a process keeps (the newest per course and grades revision; oldest dropped first).
CACHED_CLASS_STATES = 8


def _class_states(course: Course, now: datetime, sessions: list[PaperSession]
                  ) -> tuple[list[tuple[Person, Enrolled]], dict[tuple[int, int], ReviewState]]:
    """The students and the state of every cell, computed once per change: reading every
    review row is most of a page that shows 50 students, and nothing in it changes between two
    staff visits unless the grades revision moves.

    Keyed as the staff gradebook is (``review.gradebook.loader.staff_gradebook``): by the
    course's grades revision, which every write a state depends on moves on (reviews' status
    and lateness, excuses, enrollments, groups, slots and presenters, the course file, the
    students' shown names), and by the sessions whose review deadline has passed (the only way
    the clock alone changes a state). Callers must not modify what it returns."""
    due = tuple(s.id for s in sessions if now > s.review_deadline)
    key = (course.id, course.grades_revision, due)
    cache: OrderedDict[Any, Any] = current_app.extensions.setdefault(
        "review_states_cache", OrderedDict())
    entry = cache.get(key)
    if entry is None:
        entry = cache[key] = (course_students(course), review_states(course, now))
        while len(cache) > CACHED_CLASS_STATES:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return entry


def course_students(course: Course) -> list[tuple[Person, Enrolled]]:
    """The course's students by name, as plain rows (the order of ``students_of``)."""
    return [(Person(uid, first, last, email), Enrolled(number, section))
            for uid, first, last, email, number, section in db.session.execute(
                select(User.id, User.first_name, User.last_name, User.email,
                       Enrollment.student_number, Enrollment.section)
                .join(Enrollment, Enrollment.user_id == User.id)
                .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)
                .order_by(User.last_name, User.first_name, User.id)).tuples()]


def session_label(session: PaperSession) -> str:
    return f"W{session.week.number}: {session.paper.title}"


def matrix_frame(matrix: Matrix) -> pd.DataFrame:
    import pandas as pd
    records = []
    for row in matrix.rows:
        record: dict[str, object] = {"student_number": row.enrollment.student_number,
                                     "last_name": row.user.last_name,
                                     "first_name": row.user.first_name,
                                     "email": row.user.email}
        for session, cell in zip(matrix.sessions, row.cells):
            text = cell.state.value
            if cell.state == ReviewState.late:
                text += f" ({cell.days_late}d, -{cell.late_penalty_pct:g}%)"
            record[session_label(session)] = text
        records.append(record)
    columns = ["student_number", "last_name", "first_name", "email",
               *[session_label(s) for s in matrix.sessions]]
    return neutralise_frame(pd.DataFrame.from_records(records, columns=columns))


def reviews_frame(course: Course) -> pd.DataFrame:
    """Every submitted review with its sections, one row each (one query)."""
    import pandas as pd
    reviews = db.session.scalars(
        select(Review).join(PaperSession, PaperSession.id == Review.session_id)
        .join(User, User.id == Review.user_id)
        .where(PaperSession.course_id == course.id, Review.status == RowStatus.submitted)
        .options(selectinload(Review.user), selectinload(Review.session)
                 .selectinload(PaperSession.week), selectinload(Review.session)
                 .selectinload(PaperSession.paper), selectinload(Review.versions))
        .order_by(PaperSession.starts_at, User.last_name, User.first_name))
    records = []
    for review in reviews:
        content = ReviewContent.from_dict(review.content)
        record: dict[str, object] = {
            "session": session_label(review.session),
            "email": review.user.email,
            "name": review.user.full_name,
            "submitted_at": format_local(review.submitted_at, course.timezone)
            if review.submitted_at else "",
            "version": len(review.versions),
            "days_late": review.days_late,
            "late_penalty_pct": review.late_penalty_pct,
            "sha256": review.content_sha256,
        }
        for key, label, _ in TEXT_SECTIONS:
            record[label] = getattr(content, key)
        for index in range(5):
            record[f"Question {index + 1}"] = (content.questions[index]
                                               if index < len(content.questions) else "")
        records.append(record)
    columns = ["session", "email", "name", "submitted_at", "version", "days_late",
               "late_penalty_pct", "sha256", *[label for _, label, _ in TEXT_SECTIONS],
               *[f"Question {i + 1}" for i in range(5)]]
    return neutralise_frame(pd.DataFrame.from_records(records, columns=columns))


def matrix_csv(matrix: Matrix) -> str:
    return "\ufeff" + matrix_frame(matrix).to_csv(index=False)


def export_xlsx(course: Course, now: datetime) -> bytes:
    """The matrix on sheet "Matrix", every submitted review's sections on sheet "Reviews"."""
    import pandas as pd
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        matrix_frame(review_matrix(course, now)).to_excel(writer, sheet_name="Matrix", index=False)
        reviews_frame(course).to_excel(writer, sheet_name="Reviews", index=False)
    return buffer.getvalue()
