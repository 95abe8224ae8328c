"""The gradebook loader: database rows to summary numbers, worked out by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from flask import Flask
from sqlalchemy import event, select

from models import CourseRole, GradeItem, LateDayEntry, Review, ReviewExcuse, Slot, db
from review.gradebook.loader import GradebookUnavailable, load_gradebook
from tests.factories import (
    course_definition_data,
    enrollment,
    make_course,
    make_group,
    make_member,
    make_review,
    make_staff_score,
)

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)  # after every review deadline of the test course


def _course(drop_lowest: int = 0):
    data = course_definition_data()
    components = data["grading"]["components"]
    components[2]["drop_lowest"] = drop_lowest
    return make_course(grading={**data["grading"], "components": components})


def _scenario(drop_lowest: int = 0):
    course = _course(drop_lowest)
    teacher = make_member(course, CourseRole.instructor)
    alice = make_member(course, CourseRole.student, last_name="Alpha")
    bob = make_member(course, CourseRole.student, last_name="Beta")
    s3, s4, s5, s6 = course.sessions
    # Reviews: on time 80; late 90 with a 10% penalty (81); excused; missing.
    r3 = make_review(s3, alice)
    make_staff_score(course, teacher, 80, rubric_key="review", review_id=r3.id)
    r4 = make_review(s4, alice, days_late=1, penalty_pct=10)
    make_staff_score(course, teacher, 90, rubric_key="review", review_id=r4.id)
    db.session.add(ReviewExcuse(session_id=s5.id, user_id=alice.id, reason="ill"))
    # Presentations: Alice's group holds the overview of week 3, graded 85.
    group = make_group(course, [alice])
    slot = db.session.scalar(select(Slot).where(Slot.session_id == s3.id).order_by(Slot.role_id))
    slot.group_id = group.id
    db.session.flush()
    make_staff_score(course, teacher, 85, rubric_key="presentation-overview", slot_id=slot.id)
    # Participation in week 3: 60.
    make_staff_score(course, teacher, 60, rubric_key="participation", session_id=s3.id,
                     student_id=alice.id)
    # Imported midterm 70 of 100.
    db.session.add(GradeItem(course_id=course.id, user_id=alice.id, component="midterm", score=70))
    db.session.add(LateDayEntry(course_id=course.id, user_id=alice.id, days=1, reason="week 4"))
    db.session.flush()
    return course, alice, bob


def test_hand_computed_summary(app: Flask) -> None:
    course, alice, bob = _scenario()
    gradebook = load_gradebook(course, NOW)
    a = gradebook.row(alice.id)
    assert a["midterm"] == pytest.approx(70)
    assert a["presentations"] == pytest.approx(85)
    # (80 + 90 * 0.9 + 0 [missing]) / 3; the excused week is left out.
    assert a["reviews"] == pytest.approx((80 + 81 + 0) / 3)
    assert a["participation"] == pytest.approx(60)
    assert a["total"] == pytest.approx(0.6 * 70 + 0.2 * 85 + 0.1 * (161 / 3) + 0.1 * 60)
    assert a["letter"] == "C"  # 70.37: C starts at 70
    # Bob owes four reviews and wrote none: 0 by rule; everything else blank, total 0.
    b = gradebook.row(bob.id)
    assert b["reviews"] == 0
    assert b["midterm"] is None  # not entered
    assert b["total"] == 0


def test_drop_lowest_drops_the_missing_review(app: Flask) -> None:
    course, alice, _ = _scenario(drop_lowest=1)
    gradebook = load_gradebook(course, NOW)
    assert gradebook.row(alice.id)["reviews"] == pytest.approx((80 + 81) / 2)
    assert gradebook.status[alice.id]["reviews_dropped"] == 1
    assert gradebook.status[alice.id]["late_days_used"] == 1


def test_reviews_not_due_are_not_owed(app: Flask) -> None:
    course, alice, bob = _scenario()
    s3, s4, *_ = course.sessions
    # Between the week-4 and the week-5 deadline only two sessions are owed.
    between = s4.review_deadline.replace(microsecond=0) + (s4.review_deadline - s3.review_deadline) / 2
    gradebook = load_gradebook(course, between)
    assert gradebook.row(alice.id)["reviews"] == pytest.approx((80 + 81) / 2)
    assert gradebook.row(bob.id)["reviews"] == 0


def test_students_see_only_released_results(app: Flask) -> None:
    course, alice, _ = _scenario()
    s3, s4, *_ = course.sessions
    db.session.scalar(select(Review).where(Review.session_id == s4.id)).feedback_released_at = None
    db.session.flush()
    staff_view = load_gradebook(course, NOW, user_id=alice.id)
    student_view = load_gradebook(course, NOW, released_only=True, user_id=alice.id)
    # The presentation is not released: pending, not counted; the week-4 review score likewise.
    assert staff_view.row(alice.id)["presentations"] == pytest.approx(85)
    assert student_view.row(alice.id)["presentations"] is None
    assert student_view.status[alice.id]["presentations_pending"] == 1
    assert student_view.row(alice.id)["reviews"] == pytest.approx((80 + 0) / 2)
    assert student_view.status[alice.id]["reviews_pending"] == 1
    # Releasing the session shows both.
    s3.feedback_released_at = NOW
    s4.feedback_released_at = NOW
    db.session.flush()
    released = load_gradebook(course, NOW, released_only=True, user_id=alice.id).row(alice.id)
    assert released["presentations"] == pytest.approx(85)
    assert released["reviews"] == pytest.approx((80 + 81 + 0) / 3)


def test_a_grading_scheme_without_a_zero_letter_is_reported(app: Flask) -> None:
    data = course_definition_data()
    course = make_course(grading={**data["grading"], "letters": [{"letter": "A", "min": 50}]})
    with pytest.raises(GradebookUnavailable, match="lowest letter"):
        load_gradebook(course, NOW)


def _count_queries(action) -> int:
    count = 0

    def before(*args, **kwargs) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return count


def test_query_count_does_not_grow_with_the_class(app: Flask) -> None:
    counts = []
    for code, size in (("small-course", 5), ("large-course", 15)):
        course = make_course(code)
        teacher = make_member(course, CourseRole.instructor)
        students = [make_member(course, CourseRole.student) for _ in range(size)]
        slots = list(db.session.scalars(select(Slot).where(
            Slot.session_id.in_([s.id for s in course.sessions])).order_by(Slot.id)))
        for index, student in enumerate(students):
            for session in course.sessions:
                review = make_review(session, student)
                make_staff_score(course, teacher, 75, rubric_key="review", review_id=review.id)
                make_staff_score(course, teacher, 50, rubric_key="participation",
                                 session_id=session.id, student_id=student.id)
            db.session.add(GradeItem(course_id=course.id, user_id=student.id,
                                     component="midterm", score=50 + index))
        for number, start in enumerate(range(0, size, 2)):
            group = make_group(course, students[start:start + 2])
            slots[number].group_id = group.id
            db.session.flush()
            make_staff_score(course, teacher, 80, rubric_key="presentation-overview",
                             slot_id=slots[number].id)
        db.session.commit()
        db.session.expire_all()
        counts.append(_count_queries(lambda: load_gradebook(course, NOW)))
        gradebook = load_gradebook(course, NOW)
        assert len(gradebook.summary) == size
        assert [r["reviews"] for r in gradebook.summary] == pytest.approx([75.0] * size)
    assert counts[0] == counts[1]


def test_the_roster_section_and_username_reach_the_gradebook(app: Flask) -> None:
    course = make_course()
    named = make_member(course, CourseRole.student, email="ayse.cetin@example.edu")
    guessed = make_member(course, CourseRole.student, email="ekurt20@example.edu")
    enrollment(course, named).section, enrollment(course, named).username = "S1", "acetin"
    db.session.flush()
    students = {s["user_id"]: s for s in load_gradebook(course, NOW).students}
    assert (students[named.id]["section"], students[named.id]["username"]) == ("S1", "acetin")
    assert (students[guessed.id]["section"], students[guessed.id]["username"]) == ("", "ekurt20")
