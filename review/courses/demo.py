"""The demo course: COMP541 Deep Learning, Fall 2023, shifted so that today falls in week 8."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from models import Course, CourseRole, User, db
from review.accounts.services import hash_password
from review.core.timeutil import today_in
from review.courses.definition import CourseDefinition, load_course_file
from review.courses.roster import import_roster, parse_roster, read_table
from review.courses.services import apply_course_definition, enroll

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEMO_COURSE_FILE = PROJECT_ROOT / "courses" / "comp541-fall2023.yaml"
DEMO_ROSTER_FILE = PROJECT_ROOT / "demo" / "roster.csv"
DEMO_CODE = "comp541-fall2023"
# "Today" lands in this week of the shifted term: some sessions past, some ahead.
DEMO_CURRENT_WEEK = 8
# Placeholder names: the demo names no real person.
STAFF = (
    ("instructor@example.edu", "Demo", "Instructor", CourseRole.instructor),
    ("ta@example.edu", "Demo", "Assistant", CourseRole.ta),
)


@dataclass
class DemoSeedResult:
    created: bool
    course: Course
    password: str
    logins: list[str] = field(default_factory=list)
    shifted_weeks: int = 0


def shift_weeks_for(definition: CourseDefinition, as_of: date) -> int:
    """Whole weeks to move the term by so that ``as_of`` falls in the demo's current week."""
    anchor = definition.week_date(DEMO_CURRENT_WEEK)
    return (as_of - anchor).days // 7


def shifted(definition: CourseDefinition, weeks: int) -> CourseDefinition:
    """The same course moved by whole weeks, weekdays kept."""
    delta = timedelta(weeks=weeks)
    data = definition.model_copy(deep=True)
    for week in data.weeks:
        week.date += delta
    for session in data.paper_sessions:
        if session.date is not None:
            session.date += delta
    for attribute in ("opens_at", "closes_at", "drop_deadline"):
        moment = getattr(data.signup, attribute)
        if moment is not None:
            setattr(data.signup, attribute, moment + delta)
    return data


def remembered_demo_password(instance: Path) -> str:
    """A random demo password made once and kept in instance/, so every later run can say it."""
    path = instance / "demo-password"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(9)
    path.write_text(password)
    path.chmod(0o600)
    return password


def _logins(student_email: str) -> list[str]:
    return [f"{email} ({role.value})" for email, _, _, role in STAFF] + [
        f"every student of demo/roster.csv, e.g. {student_email} (student)"]


def demo_today(now: datetime) -> date:
    """Today's date where the demo course is held (its file names the timezone)."""
    return today_in(load_course_file(DEMO_COURSE_FILE).timezone, now)


def seed_demo(*, as_of: date, keep_dates: bool, password: str) -> DemoSeedResult:
    """Create the demo course, staff and roster; a no-op returning created=False when present."""
    existing = db.session.scalar(select(Course).where(Course.code == DEMO_CODE))
    rows = parse_roster(read_table(DEMO_ROSTER_FILE.read_bytes(), DEMO_ROSTER_FILE.name))
    if existing is not None:
        return DemoSeedResult(created=False, course=existing, password=password,
                              logins=_logins(rows[0].email))
    definition = load_course_file(DEMO_COURSE_FILE)
    weeks = 0 if keep_dates else shift_weeks_for(definition, as_of)
    course, _ = apply_course_definition(shifted(definition, weeks))
    password_hash = hash_password(password)
    for email, first, last, role in STAFF:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, first_name=first, last_name=last)
            db.session.add(user)
        user.password_hash = password_hash
        enroll(course, user, role)
    result = import_roster(course, rows)
    for user in result.created + result.enrolled:
        user.password_hash = password_hash
    db.session.flush()
    return DemoSeedResult(created=True, course=course, password=password,
                          logins=_logins(rows[0].email), shifted_weeks=weeks)
