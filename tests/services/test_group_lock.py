"""Groups lock by the course file's rule (first session, publication, or by hand): after that only
the staff change who is in which group."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from models import AssignmentRun, CourseRole, Group, Membership, db
from review.courses.definition import CourseDefinition
from review.groups import services
from review.groups.services import GroupsLocked
from tests.factories import course_definition_data, make_course, make_group, make_member


def first_start(course) -> datetime:
    return min(session.starts_at for session in course.sessions)


def size(group: Group) -> int:
    return db.session.scalar(select(func.count()).select_from(Membership)
                             .where(Membership.group_id == group.id))


def test_by_default_groups_lock_when_the_first_session_starts(app) -> None:
    course = make_course()   # sessions in weeks 3-6
    a, b, c = (make_member(course) for _ in range(3))
    instructor = make_member(course, CourseRole.instructor)
    before = first_start(course) - timedelta(minutes=1)
    group = services.create_group(course, a, "Owls", now=before)
    services.join_group(course, b, group.join_code, now=before)
    assert services.groups_locked(course, before) is None

    after = first_start(course)
    reason = services.groups_locked(course, after)
    assert reason == "Groups of this course are locked since week 3 began"
    message = f"{reason}; ask the course staff to move you."
    with pytest.raises(GroupsLocked, match=message):
        services.leave_group(course, b, now=after)
    with pytest.raises(GroupsLocked, match="since week 3 began"):
        services.join_group(course, c, group.join_code, now=after)
    with pytest.raises(GroupsLocked, match="since week 3 began"):
        services.create_group(course, c, "Late", now=after)
    assert size(group) == 2
    services.move_student(course, c, group, instructor)   # staff still can
    assert size(group) == 3


def test_the_lock_names_the_first_session_of_a_course_built_differently(app) -> None:
    definition = CourseDefinition.model_validate(course_definition_data(
        "other-course", first_monday=date(2027, 2, 15), session_weeks=(2, 5),
        timezone="America/Los_Angeles", groups={"min_size": 1, "max_size": 4},
        roles=[{"key": "talk", "name": "Talk", "minutes": 20}],
        rubrics={"presentations": {"talk": "presentation-overview"}}))
    from review.courses.services import apply_course_definition
    course, _ = apply_course_definition(definition)
    student = make_member(course)
    start = first_start(course)
    assert services.groups_locked(course, start - timedelta(seconds=1)) is None
    services.create_group(course, student, "Solo", now=start - timedelta(seconds=1))
    with pytest.raises(GroupsLocked, match="since week 2 began"):
        services.leave_group(course, student, now=start + timedelta(days=1))


def test_on_publish_locks_when_the_assignment_is_published(app) -> None:
    course = make_course(groups={"min_size": 1, "max_size": 3, "lock": "on_publish"})
    a = make_member(course)
    group = make_group(course, [a])
    early = first_start(course) - timedelta(days=10)
    assert services.groups_locked(course, early) is None
    db.session.add(AssignmentRun(course_id=course.id, status="optimal", result={},
                                 published_at=early - timedelta(days=1)))
    db.session.flush()
    assert "published" in services.groups_locked(course, early)
    with pytest.raises(GroupsLocked, match="presentation assignment was published"):
        services.leave_group(course, a, now=early)
    assert size(group) == 1


def test_on_publish_courses_also_lock_at_the_first_session(app) -> None:
    course = make_course(groups={"min_size": 1, "max_size": 3, "lock": "on_publish"})
    assert services.groups_locked(course, first_start(course)) == \
        "Groups of this course are locked since week 3 began"


def test_manual_courses_stay_open_until_the_staff_lock_them(app) -> None:
    course = make_course(groups={"min_size": 1, "max_size": 3, "lock": "manual"})
    a, b = make_member(course), make_member(course)
    instructor = make_member(course, CourseRole.instructor)
    late = first_start(course) + timedelta(weeks=3)
    group = services.create_group(course, a, "Late bloomers", now=late)
    services.join_group(course, b, group.join_code, now=late)
    services.set_locked(course, instructor, True)
    assert services.groups_locked(course, late) == "Groups of this course are locked by the staff"
    with pytest.raises(GroupsLocked, match="locked by the staff; ask the course staff"):
        services.leave_group(course, b, now=late)


def test_the_staff_lock_holds_in_every_mode(app) -> None:
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    services.set_locked(course, instructor, True)
    early = datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert services.groups_locked(course, early) == "Groups of this course are locked by the staff"


def test_an_unknown_lock_rule_is_refused_by_the_course_file() -> None:
    with pytest.raises(ValidationError, match="on_first_session', 'on_publish' or 'manual"):
        CourseDefinition.model_validate(course_definition_data(
            groups={"min_size": 2, "max_size": 3, "lock": "never"}))
