"""The course's grades revision: a counter every write that can change a grade moves on.

The staff gradebook and its chart are computed once per revision and kept in the process
(``review.gradebook.loader``). Rather than trusting every service that writes a review, a score,
a membership or the course file to remember a bump, one ``before_flush`` listener looks at what
the flush writes: any new, changed or deleted row of a kind the gradebook reads moves its
course's ``Course.grades_revision`` on by one, as a SQL expression (``grades_revision + 1``), so
two workers bumping at once both count. A row whose course cannot be told bumps every course:
a wasted recomputation, never a stale grade. So does an ``insert()``/``update()``/``delete()``
statement on such a table (its rows are not known to the listener). A Core statement run on
the connection is seen by neither listener: the one writer that uses it for speed (the review
submit) bumps by hand with ``bump_grades_revision``, and a test holds it to that.

What does not bump: a draft's autosave (only its text and save time change; a draft counts the
same whatever its text), a user's sign-in (only names and email are shown), and writes to tables
the gradebook never reads (audit, tokens, waitlists, preferences).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Optional

from sqlalchemy import Update, bindparam, event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession

from models import (
    Course,
    Enrollment,
    GradeItem,
    Group,
    LateDayEntry,
    MemberAdjustment,
    Membership,
    Paper,
    PaperSession,
    ParticipationRecord,
    PeerRating,
    PresentationRole,
    Review,
    ReviewExcuse,
    Score,
    Slot,
    SlotPresenter,
    User,
    Week,
)

#: Rows the gradebook reads, directly or through the grading results.
GRADE_INPUTS = (Course, Enrollment, GradeItem, Group, LateDayEntry, MemberAdjustment, Membership,
                Paper, PaperSession, ParticipationRecord, PeerRating, PresentationRole, Review,
                ReviewExcuse, Score, Slot, SlotPresenter, Week)

#: Review columns that change only while a student types; the gradebook reads none of them.
_REVIEW_TEXT_ONLY = frozenset({"content", "revision", "saved_at", "version", "rendered"})
#: User columns the gradebook shows.
_USER_SHOWN = ("first_name", "last_name", "email")
_EVERY_COURSE = -1


def _changed(obj: Any, columns: Any) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def _course_of(session: OrmSession, obj: Any) -> Optional[int]:
    if isinstance(obj, Course):
        return obj.id
    course_id = getattr(obj, "course_id", None)
    if course_id is not None:
        return course_id
    slot_id = getattr(obj, "slot_id", None)
    if isinstance(obj, (SlotPresenter, MemberAdjustment, PeerRating)) and slot_id is not None:
        slot = session.get(Slot, slot_id)
        obj = slot if slot is not None else obj
    session_id = getattr(obj, "session_id", None)
    if session_id is not None:
        paper_session = session.get(PaperSession, session_id)
        return paper_session.course_id if paper_session is not None else None
    return None


def _touched_courses(session: OrmSession) -> set[int]:
    courses: set[int] = set()
    for obj in session.dirty:
        if isinstance(obj, User) and _changed(obj, _USER_SHOWN):
            courses.update(session.scalars(select(Enrollment.course_id)
                                           .where(Enrollment.user_id == obj.id)))
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, GRADE_INPUTS) or (isinstance(obj, Course) and obj in session.new):
            continue
        if obj in session.dirty:
            if not session.is_modified(obj):
                continue
            if isinstance(obj, Review) and not _changed(obj, _graded_columns(Review)):
                continue
            if isinstance(obj, Course) and not _changed(obj, _graded_columns(Course)):
                continue
        course_id = _course_of(session, obj)
        courses.add(course_id if course_id is not None else _EVERY_COURSE)
    return courses


@cache
def _graded_columns(model: type) -> tuple[str, ...]:
    """The columns of ``model`` whose change moves the grades revision."""
    ignored = _REVIEW_TEXT_ONLY if model is Review else {"grades_revision"}
    return tuple(a.key for a in inspect(model).column_attrs if a.key not in ignored)


@cache
def _bump_statement(every_course: bool) -> Update:
    # Built once (with an expanding parameter for the courses): building a statement costs more
    # than running it, and every submit and score runs this one.
    table = Course.__table__
    statement = update(table).values(grades_revision=table.c.grades_revision + 1)
    if not every_course:
        statement = statement.where(table.c.id.in_(bindparam("courses", expanding=True)))
    return statement


def bump_grades_revision(session: OrmSession, courses: set[int]) -> None:
    """Move these courses' grades revision on: the listeners below, and a write made with a
    Core statement on the connection, which neither listener sees (the review submit's)."""
    every_course = _EVERY_COURSE in courses
    # A Core update (no ORM bookkeeping); the loaded Course objects' counters are expired so
    # the next read sees the new value.
    session.connection().execute(_bump_statement(every_course),
                                 {} if every_course else {"courses": sorted(courses)})
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Course) and (_EVERY_COURSE in courses or obj.id in courses):
            session.expire(obj, ["grades_revision"])


@event.listens_for(OrmSession, "before_flush")
def _bump_for_flushed_rows(session: OrmSession, flush_context: Any, instances: Any) -> None:
    courses = _touched_courses(session)
    if courses:
        bump_grades_revision(session, courses)


@event.listens_for(OrmSession, "do_orm_execute")
def _bump_for_bulk_statements(state: ORMExecuteState) -> None:
    # insert()/update()/delete() statements (a slot claim, a group merge) write no flushed
    # objects; their rows are not known here, so every course moves on.
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, GRADE_INPUTS):
        bump_grades_revision(state.session, {_EVERY_COURSE})
