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


DEPLOYMENT_ROLES = ("overview", "strengths", "weaknesses")


def make_course(code: str = "test-course", **kwargs: Any) -> Course:
    """A course applied to the database. Roles of its own that the deployment has no rubric for
    are graded with the overview rubric unless ``rubrics`` says otherwise, so tests about other
    rules need not write rubrics (tests of the missing-rubric refusal build the file themselves)."""
    data = course_definition_data(code, **kwargs)
    if "rubrics" not in kwargs:
        data["rubrics"] = {"presentations": {
            role["key"]: "presentation-overview" for role in data["roles"]
            if role["key"] not in DEPLOYMENT_ROLES}}
    definition = CourseDefinition.model_validate(data)
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


# --- Gradebook (grades, reviews and scores made straight from the models) -----------------------


def make_rubric_row(key: str) -> Any:
    """The stored row of the loaded rubric ``key`` (rubrics/<key>.yaml)."""
    from flask import current_app

    from review.grading.services import ensure_rubric_row

    return ensure_rubric_row(current_app.extensions["rubrics"][key])


def make_staff_score(course: Course, grader: User, pct: float, *, rubric_key: str,
                     **target: Any) -> Any:
    """A grader's Score worth ``pct`` percent; ``target`` is slot_id=, review_id= or
    session_id= with student_id=."""
    from models import Score, ScoreTarget

    row = make_rubric_row(rubric_key)
    kind = (ScoreTarget.presentation if "slot_id" in target else
            ScoreTarget.review if "review_id" in target else ScoreTarget.participation)
    score = Score(course_id=course.id, rubric_id=row.id, grader_id=grader.id, target=kind,
                  total=pct / 100 * row.max_score, max_total=row.max_score, **target)
    db.session.add(score)
    db.session.flush()
    return score


def make_review(session: Any, user: User, *, submitted: bool = True, days_late: int = 0,
                penalty_pct: float = 0.0, released: bool = True) -> Any:
    """A review of ``session`` by ``user`` (submitted by default, feedback released)."""
    from models import Review, ReviewStatus, utcnow

    review = Review(session_id=session.id, user_id=user.id,
                    status=ReviewStatus.submitted if submitted else ReviewStatus.draft,
                    content={"summary": ["text"]}, days_late=days_late,
                    late_penalty_pct=penalty_pct,
                    submitted_at=session.review_deadline if submitted else None,
                    feedback_released_at=utcnow() if released else None)
    db.session.add(review)
    db.session.flush()
    return review


# --- grading -----------------------------------------------------------------------------------


def hold_slot(course: Course, group: Group, week: int, role_key: str = "overview") -> Any:
    """The slot of (week, role) with ``group`` set as its holder."""
    from models import PaperSession, PresentationRole, Slot, Week

    slot = db.session.query(Slot).join(PaperSession).join(Week).join(
        PresentationRole, Slot.role_id == PresentationRole.id).filter(
        PaperSession.course_id == course.id, Week.number == week,
        PresentationRole.key == role_key).one()
    slot.group_id = group.id
    db.session.flush()
    return slot


def make_submitted_review(course: Course, user: User, week: int, **content: Any) -> Any:
    """A submitted review by ``user`` of the week's paper session."""
    from models import PaperSession, Review, ReviewStatus, Week, utcnow

    session = db.session.query(PaperSession).join(Week).filter(
        PaperSession.course_id == course.id, Week.number == week).one()
    review = Review(session_id=session.id, user_id=user.id, status=ReviewStatus.submitted,
                    content=content or {"summary": "A **short** summary.",
                                        "questions": ["Why $x^2$?"]},
                    submitted_at=utcnow(), content_sha256="0" * 64)
    db.session.add(review)
    db.session.flush()
    return review


def set_signup(course: Course, **values: Any) -> None:
    """Store sign-up settings in the course definition (datetimes: naive, course-local)."""
    definition = dict(course.definition or {})
    signup = dict(definition.get("signup") or {})
    for key, value in values.items():
        signup[key] = value.isoformat() if hasattr(value, "isoformat") else value
    definition["signup"] = signup
    course.definition = definition
    db.session.flush()


def grant_ta(course: Course, *actions: str) -> None:
    """Let the course's TAs do these instructor-level actions, as ``ta_can:`` in its file."""
    granted = set((course.definition or {}).get("ta_can", [])) | set(actions)
    course.definition = {**(course.definition or {}), "ta_can": sorted(granted)}
    db.session.flush()
