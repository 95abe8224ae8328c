"""One student's gradebook (their grade page, staff's breakdown) is read in its own few
statements; it must give exactly what the class's load gives for that student."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import select

from models import (
    CourseRole,
    GradeItem,
    LateDayEntry,
    MemberAdjustment,
    ParticipationRecord,
    PeerRating,
    Review,
    ReviewExcuse,
    SlotPresenter,
    db,
)
from review.gradebook.compute import compute_gradebook
from review.gradebook.loader import load_input
from tests.factories import (
    DEFAULT_COMPONENTS,
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_review,
    make_rubric_row,
    make_staff_score,
)

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)  # after every review deadline of the course


def _peer(slot, rater, pct: float) -> None:
    row = make_rubric_row("peer")
    db.session.add(PeerRating(slot_id=slot.id, rater_id=rater.id, rubric_id=row.id,
                              total=pct / 100 * row.max_score, max_total=row.max_score))


def _record(session, user, kind: str, points: float = 1.0, review=None, index=None) -> None:
    db.session.add(ParticipationRecord(session_id=session.id, user_id=user.id, kind=kind,
                                       points=points, review_id=review and review.id,
                                       question_index=index))


def _world(combine: str, exempt: bool):
    """Every kind of row the components read, for several students; returns the course and
    the users to compare (students with and without rows, and a TA who is no student)."""
    components = [*DEFAULT_COMPONENTS]
    course = make_course(
        grading={"components": components, "combine_graders": combine, "peer_weight": 0.3,
                 "letters": [{"letter": "A", "min": 90}, {"letter": "F", "min": 0}]},
        reviews={"presenters_exempt": exempt})
    teacher = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    alice, bob, carol, dave = (make_member(course, CourseRole.student) for _ in range(4))
    s3, s4, s5, s6 = course.sessions
    # Reviews: two graders who disagree; late and not released; excused despite a review;
    # a draft only; Bob's graded by the TA alone and released with its session.
    r3 = make_review(s3, alice)
    make_staff_score(course, teacher, 80, rubric_key="review", review_id=r3.id)
    make_staff_score(course, ta, 50, rubric_key="review", review_id=r3.id)
    r4 = make_review(s4, alice, days_late=2, penalty_pct=20, released=False)
    make_staff_score(course, ta, 90, rubric_key="review", review_id=r4.id)
    make_review(s5, alice)
    db.session.add(ReviewExcuse(session_id=s5.id, user_id=alice.id, reason="ill"))
    make_review(s6, alice, submitted=False)
    rb = make_review(s3, bob, days_late=1, penalty_pct=10, released=False)
    make_staff_score(course, ta, 70, rubric_key="review", review_id=rb.id)
    # Presentations: Alice and Bob hold week 3's overview (presenters not recorded: the
    # members), graded by two graders, rated by peers, Alice adjusted; week 4's strengths is
    # held by Carol's group but recorded as presented by Alice and Carol.
    ours = make_group(course, [alice, bob])
    first = hold_slot(course, ours, 3)
    make_staff_score(course, teacher, 85, rubric_key="presentation-overview", slot_id=first.id)
    make_staff_score(course, ta, 60, rubric_key="presentation-overview", slot_id=first.id)
    _peer(first, carol, 60)
    _peer(first, dave, 95)
    db.session.add(MemberAdjustment(slot_id=first.id, user_id=alice.id, delta_pct=5,
                                    reason="led the talk"))
    second = hold_slot(course, make_group(course, [carol]), 4, "strengths")
    second.presenters_recorded_at = NOW - timedelta(days=400)
    db.session.add_all([SlotPresenter(slot_id=second.id, user_id=alice.id),
                        SlotPresenter(slot_id=second.id, user_id=carol.id)])
    make_staff_score(course, teacher, 75, rubric_key="presentation-strengths", slot_id=second.id)
    second.feedback_released_at = NOW
    # Participation: a staff score; records only (questions and manual points); records and
    # a score (the score wins).
    make_staff_score(course, teacher, 60, rubric_key="participation", session_id=s3.id,
                     student_id=alice.id)
    _record(s4, alice, "question", review=r4, index=0)
    _record(s4, alice, "question", review=r4, index=1)
    _record(s4, alice, "manual", 1.5)
    _record(s5, alice, "manual", 2)
    make_staff_score(course, ta, 40, rubric_key="participation", session_id=s5.id,
                     student_id=alice.id)
    _record(s3, bob, "manual", 3)
    s3.feedback_released_at = NOW
    # External grades (one of a component no longer in the course file) and late days
    # written out of time order.
    db.session.add_all([
        GradeItem(course_id=course.id, user_id=alice.id, component="midterm", score=70),
        GradeItem(course_id=course.id, user_id=alice.id, component="removed", score=50),
        GradeItem(course_id=course.id, user_id=bob.id, component="midterm", score=40),
        LateDayEntry(course_id=course.id, user_id=alice.id, days=2, reason="second",
                     created_at=NOW - timedelta(days=1)),
        LateDayEntry(course_id=course.id, user_id=alice.id, days=-1, reason="first",
                     created_at=NOW - timedelta(days=2))])
    db.session.flush()
    return course, [alice, bob, carol, dave, ta]


def _mine(records, user_id: int, key):
    return sorted((r for r in records if r.user_id == user_id), key=key)


@pytest.mark.parametrize("combine, exempt", [("mean", False), ("instructor_override", True)])
@pytest.mark.parametrize("released_only", [False, True])
def test_one_student_gets_exactly_their_part_of_the_class_load(
        app: Flask, combine: str, exempt: bool, released_only: bool) -> None:
    course, users = _world(combine, exempt)
    everyone = load_input(course, NOW, released_only=released_only)
    for user in users:
        one = load_input(course, NOW, released_only=released_only, user_id=user.id)
        assert one.course == everyone.course
        assert list(one.students) == [s for s in everyone.students if s.user_id == user.id]
        assert list(one.sessions) == list(everyone.sessions)
        assert _mine(one.reviews, user.id, lambda r: r.session_id) == \
            _mine(everyone.reviews, user.id, lambda r: r.session_id)
        assert _mine(one.presentations, user.id, lambda r: r.slot_id) == \
            _mine(everyone.presentations, user.id, lambda r: r.slot_id)
        assert _mine(one.participation, user.id, lambda r: r.session_id) == \
            _mine(everyone.participation, user.id, lambda r: r.session_id)
        assert _mine(one.external_grades, user.id, lambda r: r.component_key) == \
            _mine(everyone.external_grades, user.id, lambda r: r.component_key)
        assert list(one.late_days) == [e for e in everyone.late_days if e.user_id == user.id]
        if one.students:
            assert compute_gradebook(one).row(user.id) == \
                compute_gradebook(everyone).row(user.id)
    # The world has what it should, so the comparison above means something.
    alice = users[0]
    one = load_input(course, NOW, released_only=released_only, user_id=alice.id)
    states = [r.state for r in one.reviews]
    # Alice presents in weeks 3 and 4: exempt there when the course says so.
    assert states == (["exempt", "exempt"] if exempt else ["on_time", "late"]) + ["excused",
                                                                                  "draft"]
    assert len(one.presentations) == 2 and len(one.participation) == 3
    assert [e.note for e in one.late_days] == ["first", "second"]
    assert [g.component_key for g in one.external_grades] == ["midterm"]
    if not released_only:
        assert all(p.final_pct is not None for p in one.presentations)
        assert all(p.pct is not None for p in one.participation)
    bobs = load_input(course, NOW, released_only=released_only, user_id=users[1].id).reviews
    assert bobs[0].score_pct == (None if exempt else pytest.approx(70))


def test_participation_is_listed_in_session_order(app: Flask) -> None:
    course, (alice, *_rest) = _world("mean", False)
    one = load_input(course, NOW, user_id=alice.id)
    order = [s.id for s in course.sessions]
    ids = [p.session_id for p in one.participation]
    assert ids == sorted(ids, key=order.index)


def test_a_review_of_another_course_or_student_never_leaks(app: Flask) -> None:
    course, (alice, bob, *_rest) = _world("mean", False)
    other = make_course("other-course")
    stranger = make_member(other, CourseRole.student)
    teacher = make_member(other, CourseRole.instructor)
    review = make_review(other.sessions[0], alice)
    make_staff_score(other, teacher, 10, rubric_key="review", review_id=review.id)
    db.session.add(GradeItem(course_id=other.id, user_id=alice.id, component="midterm", score=1))
    db.session.flush()
    one = load_input(course, NOW, user_id=alice.id)
    assert {r.session_id for r in one.reviews} == {s.id for s in course.sessions}
    assert [g.score for g in one.external_grades] == [70]
    assert load_input(course, NOW, user_id=stranger.id).students == []
    bobs = db.session.scalar(select(Review).where(Review.user_id == bob.id))
    assert bobs is not None and all(r.user_id == alice.id for r in one.reviews)


@pytest.mark.parametrize("combine, exempt", [("mean", False), ("instructor_override", True)])
def test_class_reviews_follow_review_statuses_and_review_scores(
        app: Flask, combine: str, exempt: bool) -> None:
    """The class's load reads reviews with their scores itself; it must agree with the two
    functions every other page uses."""
    from review.grading.results import review_scores
    from review.reviews.status import review_statuses

    course, _users = _world(combine, exempt)
    statuses = review_statuses(course, NOW)
    pcts = review_scores(course)
    released = {r.id for r in db.session.scalars(select(Review))
                if r.feedback_released_at is not None or r.session.feedback_released_at}
    for released_only in (False, True):
        records = load_input(course, NOW, released_only=released_only).reviews
        assert len(records) == len(statuses)
        for record in records:
            status = statuses[(record.user_id, record.session_id)]
            assert record.state == status.state.value
            expected = None
            if record.state in ("on_time", "late"):
                expected = pcts.get(status.review_id)
                if released_only and status.review_id not in released:
                    expected = None
            assert record.score_pct == expected
            assert record.penalty_pct == (status.late_penalty_pct if record.state == "late"
                                          else 0.0)
