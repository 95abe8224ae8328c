"""Courses: create or update a course from its definition, enrol people, read the schedule.

``apply_course_definition`` is idempotent: applying the same file twice changes nothing; weeks,
papers, sessions and roles are matched by week number, title and role key. It never deletes a
session or role that has work attached (reviews, slots held, scores) unless ``allow_delete``.
It stores the course's own rubrics (``rubrics_dir``) and refuses a course any of whose roles or
uses has no rubric, naming the role and the rubric id it looked for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Optional

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload, selectinload

from models import (Course, CourseRole, Enrollment, Paper, PaperSession, PresentationRole, Review,
                    Slot, User, Week, db)
from models import PeerRating, Score
from models import Rubric as RubricRow
from review.core.errors import DomainError
from review.core.timeutil import local_to_utc
from review.courses.definition import CourseDefinition, LatePolicyDef
from review.courses.staff import sync_file_staff
from review.grading.services import check_course_rubrics, ensure_rubric_row
from review.reviews.policy import default_deadline
from review.reviews.reassess import reassess_late_reviews
from review.reviews.services import late_policy_of


class CourseUpdateRefused(DomainError):
    pass


@dataclass
class CourseChanges:
    created: bool = False
    changed: list[str] = field(default_factory=list)

    def summary(self, code: str) -> str:
        if self.created:
            return f"Created course {code}" + "".join(f"; {line}" for line in self.changed) + "."
        if not self.changed:
            return f"Course {code} is already up to date; nothing changed."
        return f"Updated course {code}: " + "; ".join(self.changed) + "."


def review_window(definition: CourseDefinition, session_day: date,
                  session_time: Optional[time] = None) -> tuple[datetime, datetime]:
    """When reviews of a session open and close, as aware UTC (the rule is in local time)."""
    rules = definition.reviews
    deadline = default_deadline(session_day, definition.timezone,
                                days_before=rules.deadline_days_before, at=rules.deadline_time)
    opens = local_to_utc(session_day - timedelta(days=rules.opens_days_before),
                         session_time or definition.session_time, definition.timezone)
    return min(opens, deadline), deadline


def _set(obj: object, attribute: str, value: object, changes: CourseChanges, label: str) -> None:
    if getattr(obj, attribute) != value:
        setattr(obj, attribute, value)
        changes.changed.append(label)


def apply_course_definition(
    definition: CourseDefinition, *, allow_delete: bool = False
) -> tuple[Course, CourseChanges]:
    changes = CourseChanges()
    course = db.session.scalar(
        select(Course)
        .where(Course.code == definition.code)
        .options(selectinload(Course.weeks), selectinload(Course.sessions),
                 selectinload(Course.roles))
    )
    if course is None:
        course = Course(code=definition.code)
        db.session.add(course)
        changes.created = True
    stored = definition.model_dump(mode="json")
    # Read through the schema so that a field added since the last import (at its default) is
    # not mistaken for a change of rule.
    earlier_late_policy = LatePolicyDef.model_validate(
        (course.definition or {}).get("reviews", {}).get("late_policy", {}))
    for attribute, value in (
        ("title", definition.title), ("term", definition.term),
        ("timezone", definition.timezone), ("discussion_minutes", definition.discussion_minutes),
        ("group_min_size", definition.groups.min_size),
        ("group_max_size", definition.groups.max_size),
    ):
        _set(course, attribute, value, changes, f"course {attribute}")
    # The stored definition follows every other change, so it is not reported on its own.
    if course.definition != stored:
        course.definition = stored
    db.session.flush()

    _apply_roles(course, definition, changes, allow_delete)
    _apply_local_rubrics(course, definition, changes)
    problems = check_course_rubrics(course)
    if problems:
        raise CourseUpdateRefused(" ".join(problems) + " Nothing was changed.")
    weeks = _apply_weeks(course, definition, changes)
    earlier_deadlines = {session.id: session.review_deadline for session in course.sessions}
    _apply_sessions(course, definition, weeks, changes, allow_delete)
    db.session.flush()
    moved = any(earlier_deadlines.get(session.id, session.review_deadline)
                != session.review_deadline for session in course.sessions)
    if not changes.created and (moved or earlier_late_policy != definition.reviews.late_policy):
        reassessed = reassess_late_reviews(
            course, late_policy_of(definition.reviews),
            reason="course import: the review deadlines or the late policy changed")
        if reassessed.changed_review_ids:
            changes.changed.append("submitted reviews re-evaluated under the new deadline rule: "
                                   + reassessed.summary())
    if changes.created:
        changes.changed = []
    changes.changed += sync_file_staff(course, definition)
    return course, changes


def _apply_roles(course: Course, definition: CourseDefinition, changes: CourseChanges,
                 allow_delete: bool) -> None:
    existing = {role.key: role for role in course.roles}
    wanted = {role.key for role in definition.roles}
    for role in list(course.roles):
        if role.key not in wanted:
            held = db.session.scalar(
                select(func.count()).select_from(Slot)
                .where(Slot.role_id == role.id, Slot.group_id.is_not(None))
            )
            if held and not allow_delete:
                raise CourseUpdateRefused(
                    f"Role '{role.key}' is no longer in the file but {held} slot(s) of it are held "
                    "by groups; pass --allow-delete to remove it anyway."
                )
            course.roles.remove(role)
            changes.changed.append(f"removed role {role.key}")
    db.session.flush()
    # Positions are unique per course: park them out of the way before renumbering.
    for offset, role in enumerate(course.roles):
        role.position = 1000 + offset
    db.session.flush()
    for position, role_def in enumerate(definition.roles, start=1):
        role = existing.get(role_def.key)
        if role is None:
            course.roles.append(PresentationRole(key=role_def.key, name=role_def.name,
                                                 minutes=role_def.minutes, position=position))
            changes.changed.append(f"added role {role_def.key}")
            continue
        role.position = position
        _set(role, "name", role_def.name, changes, f"role {role_def.key} name")
        _set(role, "minutes", role_def.minutes, changes, f"role {role_def.key} minutes")
    db.session.flush()


def _apply_local_rubrics(course: Course, definition: CourseDefinition,
                         changes: CourseChanges) -> None:
    """Store the rubrics of the course's rubrics_dir (a changed file is a new version) and drop
    those no longer there, so that the course's own rubrics are exactly the folder's."""
    if definition.rubrics_dir is not None and definition.local_rubrics is None:
        raise CourseUpdateRefused(
            f"rubrics_dir ({definition.rubrics_dir}) is read relative to the course file: "
            "import the course from its file (flask course import FILE).")
    wanted = definition.local_rubrics or {}
    stored = list(db.session.scalars(select(RubricRow).where(RubricRow.scope == course.code)))
    for key in sorted({row.key for row in stored} - set(wanted)):
        versions = [row for row in stored if row.key == key]
        ids = [row.id for row in versions]
        used = (db.session.scalar(select(func.count()).select_from(Score)
                                  .where(Score.rubric_id.in_(ids)))
                + db.session.scalar(select(func.count()).select_from(PeerRating)
                                    .where(PeerRating.rubric_id.in_(ids))))
        if used:
            raise CourseUpdateRefused(
                f"The course's rubric '{key}' is no longer in its rubrics_dir, but {used} "
                f"score(s) were given with it; put {key}.yaml back in rubrics_dir (an edited "
                "file becomes a new version).")
        for row in versions:
            db.session.delete(row)
        changes.changed.append(f"removed course rubric {key}")
    stored_ids = {row.id for row in stored}
    for rubric_id, rubric in sorted(wanted.items()):
        row = ensure_rubric_row(rubric, course.code)
        if row.id not in stored_ids:
            changes.changed.append(f"course rubric {rubric_id} version {row.version}")
    db.session.flush()


def _apply_weeks(course: Course, definition: CourseDefinition,
                 changes: CourseChanges) -> dict[int, Week]:
    weeks = {week.number: week for week in course.weeks}
    for week_def in definition.weeks:
        week = weeks.get(week_def.number)
        if week is None:
            week = Week(number=week_def.number, starts_on=week_def.date, topic=week_def.topic,
                        is_break=week_def.is_break)
            course.weeks.append(week)
            weeks[week_def.number] = week
            changes.changed.append(f"added week {week_def.number}")
            continue
        label = f"week {week_def.number}"
        _set(week, "starts_on", week_def.date, changes, f"{label} date")
        _set(week, "topic", week_def.topic, changes, f"{label} topic")
        _set(week, "is_break", week_def.is_break, changes, f"{label} break")
    wanted = {w.number for w in definition.weeks}
    for number, week in list(weeks.items()):
        if number not in wanted and week.session is None:
            course.weeks.remove(week)
            del weeks[number]
            changes.changed.append(f"removed week {number}")
    db.session.flush()
    return weeks


def _apply_sessions(course: Course, definition: CourseDefinition, weeks: dict[int, Week],
                    changes: CourseChanges, allow_delete: bool) -> None:
    papers = {paper.title: paper for paper in db.session.scalars(
        select(Paper).where(Paper.course_id == course.id))}
    by_week = {session.week.number: session for session in course.sessions}
    for session_def in definition.paper_sessions:
        paper = papers.get(session_def.title)
        if paper is None:
            paper = Paper(course_id=course.id, title=session_def.title)
            db.session.add(paper)
            papers[paper.title] = paper
        for attribute in ("authors", "venue", "year", "url"):
            _set(paper, attribute, getattr(session_def, attribute), changes,
                 f"paper '{session_def.title}' {attribute}")
        day = definition.session_date(session_def)
        start_time = definition.session_start_time(session_def)
        starts_at = local_to_utc(day, start_time, definition.timezone)
        opens, deadline = review_window(definition, day, start_time)
        session = by_week.get(session_def.week)
        if session is None:
            session = PaperSession(week=weeks[session_def.week], paper=paper, starts_at=starts_at,
                                   review_opens_at=opens, review_deadline=deadline,
                                   room=session_def.room)
            course.sessions.append(session)
            by_week[session_def.week] = session
            changes.changed.append(f"added the week {session_def.week} session")
            continue
        label = f"week {session_def.week} session"
        _set(session, "paper", paper, changes, f"{label} paper")
        _set(session, "starts_at", starts_at, changes, f"{label} start")
        _set(session, "review_opens_at", opens, changes, f"{label} review opening")
        _set(session, "review_deadline", deadline, changes, f"{label} review deadline")
        _set(session, "room", session_def.room, changes, f"{label} room")
    wanted = {s.week for s in definition.paper_sessions}
    for number, session in list(by_week.items()):
        if number in wanted:
            continue
        reviews = db.session.scalar(
            select(func.count()).select_from(Review).where(Review.session_id == session.id))
        held = db.session.scalar(
            select(func.count()).select_from(Slot)
            .where(Slot.session_id == session.id, Slot.group_id.is_not(None)))
        if (reviews or held) and not allow_delete:
            raise CourseUpdateRefused(
                f"The week {number} session is no longer in the file but has {reviews} review(s) "
                f"and {held} held slot(s); pass --allow-delete to remove it and that work."
            )
        course.sessions.remove(session)
        changes.changed.append(f"removed the week {number} session")
    db.session.flush()
    _ensure_slots(course)


def _ensure_slots(course: Course) -> None:
    """Every session has one slot per role (slots are what groups sign up for)."""
    existing = set(db.session.execute(
        select(Slot.session_id, Slot.role_id).join(PaperSession)
        .where(PaperSession.course_id == course.id)).tuples())
    for session in course.sessions:
        for role in course.roles:
            if (session.id, role.id) not in existing:
                db.session.add(Slot(session_id=session.id, role_id=role.id))
    db.session.flush()


def enroll(course: Course, user: User, role: CourseRole, *,
           student_number: Optional[str] = None, program: Optional[str] = None) -> Enrollment:
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.course_id == course.id, Enrollment.user_id == user.id))
    if enrollment is None:
        enrollment = Enrollment(course=course, user=user, role=role)
        db.session.add(enrollment)
    enrollment.role = role
    if student_number is not None:
        enrollment.student_number = student_number
    if program is not None:
        enrollment.program = program
    db.session.flush()
    return enrollment


def courses_of(user: User) -> list[tuple[Course, Enrollment]]:
    rows = db.session.execute(
        select(Course, Enrollment).join(Enrollment)
        .where(Enrollment.user_id == user.id).order_by(Course.created_at.desc())
    ).tuples()
    return list(rows)


@functools.cache
def _schedule_statement():  # type: ignore[no-untyped-def]
    # Built once (its cache key too): on the course home, building it cost as much as running it.
    return (select(Week).where(Week.course_id == bindparam("course_id")).order_by(Week.number)
            .options(joinedload(Week.session).joinedload(PaperSession.paper),
                     joinedload(Week.session).joinedload(PaperSession.slots)
                     .joinedload(Slot.group)))


def course_schedule(course: Course) -> list[Week]:
    """The weeks with their sessions, papers, slots and holders, in one statement (a row per
    slot: as many as the sessions times the roles, whatever the class size)."""
    return list(db.session.scalars(_schedule_statement(), {"course_id": course.id}).unique())


def find_course(code: str) -> Course:
    course = db.session.scalar(select(Course).where(Course.code == code))
    if course is None:
        raise DomainError(f"No course with the code '{code}'.")
    return course
