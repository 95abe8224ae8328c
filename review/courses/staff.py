"""Course staffing: who teaches a course, from its file, the ``flask staff`` commands and the
Staff page.

A person has one role per course (one Enrollment). Staff listed under ``staff:`` in the course
file are marked ``from_course_file``; a re-import removes only those that left the file, never
staff added by hand. Removing a staff role deletes the enrollment only: scores keep pointing at
their grader's account, so grading history stays attributed. A course never loses its last
instructor through any of these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select

from models import AuditEntry, Course, CourseRole, Enrollment, User, db
from review.core.errors import DomainError
from review.courses.definition import CourseDefinition

STAFF_ROLES = (CourseRole.instructor, CourseRole.ta)


class StaffRefused(DomainError):
    pass


@dataclass
class StaffAdded:
    """What ``add_staff`` did; ``created`` means a new account that has no password yet."""

    user: User
    enrollment: Enrollment
    created: bool
    changed: bool

    def summary(self, course: Course) -> str:
        who = f"{self.user.full_name} <{self.user.email}>"
        role = self.enrollment.role.value
        if not self.changed:
            return f"{who} is already {role} of {course.code}; nothing changed."
        account = " (new account, no password yet)" if self.created else ""
        return f"{who} is now {role} of {course.code}{account}."


def staff_mail_reason(course: Course, role: CourseRole) -> str:
    """The line of a set-password mail that says why the account exists."""
    title = "an instructor" if role == CourseRole.instructor else "a TA"
    return f"You are now {title} of {course.title} ({course.term})."


def clean_email(email: str) -> str:
    # Imported here, not at start-up (as in roster.py).
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise StaffRefused(f"'{email}' is not a valid email address ({exc}).") from None


def staff_of(course: Course) -> list[tuple[Enrollment, User]]:
    """The course's instructors then TAs, by name, each with their account."""
    return list(db.session.execute(
        select(Enrollment, User).join(User)
        .where(Enrollment.course_id == course.id, Enrollment.role.in_(STAFF_ROLES))
        .order_by(Enrollment.role, User.last_name, User.first_name)).tuples())


def instructor_count(course: Course) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.instructor)) or 0


def _enrollment(course: Course, user: User) -> Optional[Enrollment]:
    return db.session.scalar(select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))


def _audit(course: Course, actor: Optional[User], action: str, user: User,
           old: Optional[str], new: Optional[str]) -> None:
    db.session.add(AuditEntry(course_id=course.id, actor_id=actor.id if actor else None,
                              category="staff", action=action, entity="user", entity_id=user.id,
                              old={"role": old} if old else None,
                              new={"role": new} if new else None))


def find_or_create_account(email: str, first_name: str, last_name: str) -> tuple[User, bool]:
    """The account with this email, or a new one without a password; names never overwrite."""
    email = clean_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is not None:
        return user, False
    first_name, last_name = first_name.strip(), last_name.strip()
    if not first_name or not last_name:
        raise StaffRefused(f"{email} has no account yet: give a first and a last name to "
                           "create one.")
    user = User(email=email, first_name=first_name[:100], last_name=last_name[:100])
    db.session.add(user)
    db.session.flush()
    return user, True


def add_staff(course: Course, email: str, role: CourseRole, *, first_name: str = "",
              last_name: str = "", actor: Optional[User] = None) -> StaffAdded:
    """Make someone instructor or TA of the course (by hand: a re-import never removes them)."""
    if role not in STAFF_ROLES:
        raise StaffRefused(f"A staff role is instructor or ta, not {role.value}.")
    user, created = find_or_create_account(email, first_name, last_name)
    enrollment = _enrollment(course, user)
    if enrollment is None:
        enrollment = Enrollment(course=course, user=user, role=role)
        db.session.add(enrollment)
        db.session.flush()
        _audit(course, actor, "staff.add", user, None, role.value)
        return StaffAdded(user, enrollment, created, changed=True)
    if enrollment.role == CourseRole.student:
        raise StaffRefused(f"{user.email} is a student of {course.code} (student id "
                           f"{enrollment.student_number}); a person has one role per course.")
    if enrollment.role == role:
        return StaffAdded(user, enrollment, created, changed=False)
    _refuse_losing_last_instructor(course, enrollment)
    old = enrollment.role
    enrollment.role = role
    db.session.flush()
    _audit(course, actor, "staff.role", user, old.value, role.value)
    return StaffAdded(user, enrollment, created, changed=True)


def remove_staff(course: Course, user: User, *, actor: Optional[User] = None) -> CourseRole:
    """End someone's staff role in the course; their scores stay attributed to them."""
    enrollment = _enrollment(course, user)
    if enrollment is None or enrollment.role not in STAFF_ROLES:
        raise StaffRefused(f"{user.email} is not on the staff of {course.code}.")
    _refuse_losing_last_instructor(course, enrollment)
    role = enrollment.role
    db.session.delete(enrollment)
    db.session.flush()
    _audit(course, actor, "staff.remove", user, role.value, None)
    return role


def _refuse_losing_last_instructor(course: Course, enrollment: Enrollment) -> None:
    if enrollment.role == CourseRole.instructor and instructor_count(course) <= 1:
        raise StaffRefused(
            f"{enrollment.user.email} is the last instructor of {course.code}; add another "
            "instructor first, so someone can still manage the course.")


def sync_file_staff(course: Course, definition: CourseDefinition) -> list[str]:
    """Make the course's file-managed staff match ``staff:``; one line per change.

    Listed people are enrolled (accounts created without a password when new) and marked as
    managed by the file; managed people no longer listed lose their staff role. Idempotent.
    """
    lines: list[str] = []
    instructors_before = instructor_count(course)
    listed: set[int] = set()
    for index, person in enumerate(definition.staff):
        role = CourseRole(person.role)
        user, created = find_or_create_account(person.email, person.first_name, person.last_name)
        listed.add(user.id)
        enrollment = _enrollment(course, user)
        if enrollment is None:
            db.session.add(Enrollment(course=course, user=user, role=role, from_course_file=True))
            _audit(course, None, "staff.add", user, None, role.value)
            lines.append(f"added {role.value} {user.email}"
                         + (" (new account, no password yet)" if created else ""))
            continue
        if enrollment.role == CourseRole.student:
            raise StaffRefused(f"staff[{index}]: {user.email} is a student of {course.code} "
                               f"(student id {enrollment.student_number}); a person has one "
                               "role per course.")
        enrollment.from_course_file = True
        if enrollment.role != role:
            _audit(course, None, "staff.role", user, enrollment.role.value, role.value)
            lines.append(f"changed {user.email} from {enrollment.role.value} to {role.value}")
            enrollment.role = role
    db.session.flush()
    for enrollment, user in staff_of(course):
        if enrollment.from_course_file and user.id not in listed:
            lines.append(f"removed {enrollment.role.value} {user.email} (no longer in the file; "
                         "their grading stays)")
            _audit(course, None, "staff.remove", user, enrollment.role.value, None)
            db.session.delete(enrollment)
    db.session.flush()
    if instructors_before and not instructor_count(course):
        raise StaffRefused(
            f"The file would leave {course.code} without an instructor; list at least one "
            "person with role: instructor under staff:, or add one with `flask staff add`.")
    return lines


def members_without_password(course: Course, user_ids: list[int]) -> list[User]:
    """Those of ``user_ids`` who belong to the course and have not set a password yet."""
    return list(db.session.scalars(
        select(User).join(Enrollment)
        .where(Enrollment.course_id == course.id, User.id.in_(user_ids),
               User.password_hash.is_(None))
        .order_by(User.last_name, User.first_name)))
