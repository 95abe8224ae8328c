"""The consequences a confirmation page lists, for a course built here with its own roles, time
zone and grading rule: grades combined by that rule, presenters from the record."""

from __future__ import annotations

from datetime import date, timedelta

from models import CourseRole, Membership, db
from review.courses.definition import CourseDefinition
from review.courses.services import apply_course_definition
from review.groups import impact
from review.signup.presenters import record_slot_presenters
from tests.factories import (DEFAULT_COMPONENTS, course_definition_data, hold_slot, make_group,
                             make_member, make_staff_score)


def _course():
    data = course_definition_data(
        "impact-course", first_monday=date(2027, 1, 11), session_weeks=(2, 4),
        timezone="America/New_York", roles=[{"key": "talk", "name": "Talk", "minutes": 25}],
        rubrics={"presentations": {"talk": "presentation-overview"}})
    data["grading"]["combine_graders"] = "instructor_override"
    data["grading"]["components"] = [dict(c) for c in DEFAULT_COMPONENTS]
    course, _ = apply_course_definition(CourseDefinition.model_validate(data))
    return course


def test_the_grade_follows_the_courses_rule_and_the_credit_the_recorded_presenters(app) -> None:
    course = _course()
    ana, bo, cy = (make_member(course, first_name=n) for n in ("Ana", "Bo", "Cy"))
    ta = make_member(course, CourseRole.ta)
    instructor = make_member(course, CourseRole.instructor)
    group = make_group(course, [ana, bo], name="Talkers")
    slot = hold_slot(course, group, 2, "talk")
    hold_slot(course, group, 4, "talk")
    make_staff_score(course, ta, 60, rubric_key="presentation-overview", slot_id=slot.id)
    make_staff_score(course, instructor, 90, rubric_key="presentation-overview", slot_id=slot.id)
    started = slot.session.starts_at
    record_slot_presenters(slot, started)
    # Cy joined after the talk: not a presenter of week 2, but of the future week 4.
    db.session.add(Membership(course_id=course.id, group_id=group.id, user_id=cy.id))
    db.session.flush()

    result = impact.dissolve_impact(course, group, started + timedelta(days=1))
    assert result.kept == [f"Talkers presented week 2 (Talk), graded 90.0: the grade stays with "
                           f"its two presenters: {ana.full_name}, {bo.full_name}."]
    assert "Its future slots open for other groups: week 4 (Talk)." in result.changes

    moved = impact.move_impact(course, cy, group, None, started + timedelta(days=1))
    assert moved.kept == []   # Cy did not present week 2
    assert f"{cy.full_name} no longer presents week 4 (Talk) with Talkers." in moved.changes
