"""Test data builders: each flushes, none commits, so a test decides when its action commits."""

from __future__ import annotations

import copy
import itertools
from datetime import date, timedelta
from typing import Any, Optional

from models import Course, CourseRole, Enrollment, Group, Membership, User, db
from review.courses.definition import CourseDefinition
from review.courses.services import apply_course_definition, enroll

_sequence = itertools.count(1)

DEFAULT_COMPONENTS = [
    {"key": "midterm", "label": "Midterm", "weight": 60, "kind": "external"},
    {"key": "presentations", "label": "Presentations", "weight": 20, "kind": "presentations"},
    {"key": "reviews", "label": "Reviews", "weight": 10, "kind": "reviews"},
    {"key": "participation", "label": "Participation", "weight": 10, "kind": "participation"},
]


def course_definition_data(code: str = "test-course", *, first_monday: date = date(2026, 9, 7),
                           weeks: int = 8, session_weeks: tuple[int, ...] = (3, 4, 5, 6),
                           timezone: str = "Europe/Istanbul", **overrides: Any) -> dict[str, Any]:
    """A small course: weekly Mondays, paper sessions in the given weeks, three roles."""
    data: dict[str, Any] = {
        "code": code,
        "title": f"Course {code}",
        "term": "Fall 2026",
        "timezone": timezone,
        "session_time": "08:30",
        "weeks": [{"number": n, "date": (first_monday + timedelta(weeks=n - 1)).isoformat(),
                   "topic": f"Topic {n}"} for n in range(1, weeks + 1)],
        "paper_sessions": [{"week": n, "title": f"Paper of week {n}", "authors": "A. Author",
                            "venue": "ICLR", "year": 2024, "url": f"https://example.org/{n}"}
                           for n in session_weeks],
        "roles": [{"key": "overview", "name": "Overview", "minutes": 14},
                  {"key": "strengths", "name": "Strengths", "minutes": 8},
                  {"key": "weaknesses", "name": "Weaknesses", "minutes": 8}],
        "grading": {"components": copy.deepcopy(DEFAULT_COMPONENTS),
                    "letters": [{"letter": "A", "min": 90}, {"letter": "B", "min": 80},
                                {"letter": "C", "min": 70}, {"letter": "F", "min": 0}]},
    }
    data.update(overrides)
    return data


def make_course(code: str = "test-course", **kwargs: Any) -> Course:
    definition = CourseDefinition.model_validate(course_definition_data(code, **kwargs))
    course, _ = apply_course_definition(definition)
    return course


def make_user(email: Optional[str] = None, *, first_name: str = "Test", last_name: str = "User",
              password_hash: Optional[str] = None) -> User:
    number = next(_sequence)
    user = User(email=email or f"user{number}@example.edu", first_name=first_name,
                last_name=f"{last_name}{number}", password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    return user


def make_member(course: Course, role: CourseRole = CourseRole.student,
                **user_kwargs: Any) -> User:
    user = make_user(**user_kwargs)
    number = str(10000 + user.id) if role == CourseRole.student else None
    enroll(course, user, role, student_number=number)
    return user


def enrollment(course: Course, user: User) -> Enrollment:
    return db.session.query(Enrollment).filter_by(course_id=course.id, user_id=user.id).one()


def make_group(course: Course, members: list[User], name: Optional[str] = None) -> Group:
    number = next(_sequence)
    group = Group(course_id=course.id, name=name or f"Group {number}", join_code=f"code{number}")
    db.session.add(group)
    db.session.flush()
    for user in members:
        db.session.add(Membership(course_id=course.id, group_id=group.id, user_id=user.id))
    db.session.flush()
    return group
