"""Site administration: administrators, and courses created from an uploaded course file.

An uploaded file gets the same validation as ``flask course import`` (one problem per field);
the course it creates gets its first instructor in the same step, so no course is ever left
without someone who can manage it.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from sqlalchemy import func, select

from models import Course, CourseRole, Enrollment, User, db
from review.core.errors import DomainError
from review.courses.definition import CourseDefinition, CourseFileError, parse_course_definition
from review.courses.services import CourseChanges, apply_course_definition
from review.courses.staff import StaffAdded, add_staff, find_or_create_account

ADMIN_MAIL_REASON = "You are an administrator of the course review site."

# Keys that name files on the server next to the course file; an upload has no such place.
SERVER_PATH_KEYS = ("rubrics_dir",)


@dataclass
class CourseOverview:
    course: Course
    students: int
    instructors: list[User]


@dataclass
class NewCourse:
    course: Course
    changes: CourseChanges
    instructor: StaffAdded


def make_admin(email: str, first_name: str = "", last_name: str = "") -> tuple[User, bool]:
    """Make the account (created without a password when new) a site administrator."""
    user, created = find_or_create_account(email, first_name, last_name)
    user.is_admin = True
    db.session.flush()
    return user, created


def all_courses() -> list[CourseOverview]:
    """Every course, newest first, with its student count and instructors (three queries)."""
    courses = list(db.session.scalars(select(Course).order_by(Course.created_at.desc(),
                                                              Course.code)))
    students = dict(db.session.execute(
        select(Enrollment.course_id, func.count()).where(Enrollment.role == CourseRole.student)
        .group_by(Enrollment.course_id)).tuples().all())
    instructors: dict[int, list[User]] = {}
    for course_id, user in db.session.execute(
            select(Enrollment.course_id, User).join(User)
            .where(Enrollment.role == CourseRole.instructor)
            .order_by(User.last_name, User.first_name)).tuples():
        instructors.setdefault(course_id, []).append(user)
    return [CourseOverview(course, students.get(course.id, 0), instructors.get(course.id, []))
            for course in courses]


def parse_uploaded_course(data: bytes, filename: str) -> CourseDefinition:
    """The definition in an uploaded YAML file, or CourseFileError naming every problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CourseFileError(filename, [f"not UTF-8 text (byte {exc.start})"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CourseFileError(filename, [f"{where}not valid YAML ({problem})"]) from None
    if isinstance(raw, dict):
        server_paths = [key for key in SERVER_PATH_KEYS if key in raw]
        if server_paths:
            raise CourseFileError(filename, [
                f"{key}: names a folder relative to the course file on the server, which an "
                "uploaded file does not have; remove it (the site's rubrics are used), or "
                "import the file on the server with `flask course import`"
                for key in server_paths])
    return parse_course_definition(raw, filename)


def create_course(definition: CourseDefinition, *, instructor_email: str,
                  first_name: str = "", last_name: str = "", actor: User) -> NewCourse:
    """A new course from its definition, with its first instructor; never updates one."""
    if db.session.scalar(select(Course.id).where(Course.code == definition.code)) is not None:
        raise DomainError(f"A course with the code '{definition.code}' already exists; update "
                          "it on the server with `flask course import`.")
    course, changes = apply_course_definition(definition)
    enrollment = db.session.scalar(select(Enrollment).join(User).where(
        Enrollment.course_id == course.id, User.email == instructor_email.strip().lower()))
    if enrollment is not None and enrollment.role == CourseRole.instructor:
        # Already listed as instructor under staff: in the file.
        added = StaffAdded(enrollment.user, enrollment, created=False, changed=False)
    else:
        added = add_staff(course, instructor_email, CourseRole.instructor,
                          first_name=first_name, last_name=last_name, actor=actor)
    return NewCourse(course, changes, added)
