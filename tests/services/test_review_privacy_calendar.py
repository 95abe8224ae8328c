"""Class reviews follow the calendar: a student reads classmates' reviews only after submitting
their own, after their late window has closed, or when they do not owe one; the first read is
recorded for staff; anonymous numbering never follows names; staff do not read drafts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import CourseRole, ReviewAccess, db
from review.reviews import services
from review.reviews.policy import LatePolicy, late_window_closes
from review.reviews.services import ReviewContent
from tests.factories import make_course, make_group, make_member

DEADLINE = datetime(2026, 10, 4, 20, 59, tzinfo=timezone.utc)
DAY = timedelta(days=1)
CONTENT = ReviewContent.build(summary="s", strengths="s", weaknesses="w", remedies="r",
                              questions=["q?"])


@pytest.mark.parametrize(("policy", "used", "closes"), [
    (LatePolicy("reject"), 0, DEADLINE),
    # 10% a day: a submission 10 days late is worth nothing, so the window is 9 days.
    (LatePolicy("penalty", penalty_per_day_pct=10), 0, DEADLINE + 9 * DAY),
    (LatePolicy("penalty", penalty_per_day_pct=100), 0, DEADLINE),
    (LatePolicy("penalty", penalty_per_day_pct=0), 0, None),
    (LatePolicy("grace_days", grace_days_pool=3), 0, DEADLINE + 3 * DAY),
    (LatePolicy("grace_days", grace_days_pool=3), 2, DEADLINE + 1 * DAY),
    (LatePolicy("grace_days", grace_days_pool=3), 3, DEADLINE),
    # Grace days, then 50% a day: 2 covered days, one more at 50%, the fourth is worth 0.
    (LatePolicy("grace_days", penalty_per_day_pct=50, grace_days_pool=2), 0, DEADLINE + 3 * DAY),
])
def test_late_window_closes_when_a_late_review_is_no_longer_accepted_or_worth_anything(
        policy, used, closes) -> None:
    assert late_window_closes(policy, DEADLINE, used) == closes


@pytest.fixture
def grace_course(app):
    """The reported setup: grace days, no per-day penalty, reviews released an hour late."""
    course = make_course("cal-grace", timezone="America/Chicago", reviews={
        "late_policy": {"mode": "grace_days", "grace_days": 5, "penalty_per_day_pct": 0}},
        roles=[{"key": "lead", "name": "Lead", "minutes": 20}],
        rubrics={"presentations": {"lead": "presentation-overview"}})
    session = course.sessions[0]
    writer, idle, instructor = (make_member(course), make_member(course),
                                make_member(course, CourseRole.instructor))
    services.submit_review(session, writer, CONTENT, session.review_deadline - timedelta(hours=2))
    services.release_reviews(session, instructor, session.review_deadline + timedelta(hours=1))
    db.session.commit()
    return {"course": course, "session": session, "writer": writer, "idle": idle,
            "instructor": instructor}


def test_a_student_without_a_review_cannot_read_the_class_while_late_work_is_accepted(
        grace_course) -> None:
    session, idle = grace_course["session"], grace_course["idle"]
    now = session.review_deadline + timedelta(hours=2)
    access = services.class_reviews_access(session, idle, now)
    assert not access.allowed
    assert "submitted your own review" in access.message
    assert "late reviews close" in access.message
    writer_review = services.review_of(session, grace_course["writer"])
    assert not services.can_read_review(writer_review, idle, now)
    # The writer may; staff may.
    assert services.class_reviews_access(session, grace_course["writer"], now).allowed
    assert services.class_reviews_access(session, grace_course["instructor"], now).allowed
    # Once they submit (late), they may read.
    services.submit_review(session, idle, CONTENT, now, confirm_late=True)
    assert services.class_reviews_access(session, idle, now).allowed


def test_the_class_opens_once_the_students_late_window_has_closed(grace_course) -> None:
    session, idle = grace_course["session"], grace_course["idle"]
    closes = session.review_deadline + 5 * DAY
    assert not services.class_reviews_access(session, idle, closes).allowed
    assert services.class_reviews_access(session, idle, closes + timedelta(seconds=1)).allowed


def test_excused_and_exempt_students_may_read(grace_course) -> None:
    course, session, idle = grace_course["course"], grace_course["session"], grace_course["idle"]
    now = session.review_deadline + timedelta(hours=2)
    services.excuse_student(session, idle, "ill", grace_course["instructor"])
    assert services.class_reviews_access(session, idle, now).allowed
    presenter = make_member(course)
    course.definition = {**course.definition,
                         "reviews": {**course.definition["reviews"], "presenters_exempt": True}}
    group = make_group(course, [presenter])
    session.slots[0].group_id = group.id
    db.session.flush()
    assert services.class_reviews_access(session, presenter, now).allowed


def test_an_unlimited_late_window_keeps_the_class_closed_until_the_student_submits(app) -> None:
    course = make_course("cal-open", reviews={"late_policy": {"mode": "penalty",
                                                             "penalty_per_day_pct": 0}})
    session = course.sessions[0]
    idle, instructor = make_member(course), make_member(course, CourseRole.instructor)
    services.release_reviews(session, instructor, session.review_deadline + timedelta(hours=1))
    access = services.class_reviews_access(session, idle, session.review_deadline + 300 * DAY)
    assert not access.allowed
    assert "submitted your own review" in access.message


def test_nothing_is_readable_before_the_release(grace_course) -> None:
    session, writer = grace_course["session"], grace_course["writer"]
    services.withdraw_release(session, grace_course["instructor"])
    access = services.class_reviews_access(session, writer, session.review_deadline + DAY)
    assert not access.allowed and "not released" in access.message


def test_the_first_read_is_recorded_once(grace_course) -> None:
    session, writer = grace_course["session"], grace_course["writer"]
    first = session.review_deadline + timedelta(hours=3)
    services.record_class_read(session, writer, first)
    services.record_class_read(session, writer, first + DAY)
    rows = db.session.scalars(select(ReviewAccess)).all()
    assert [(r.user_id, r.session_id, r.first_read_at) for r in rows] == [
        (writer.id, session.id, first)]


def test_anonymous_numbering_is_stable_and_ignores_names(app) -> None:
    course = make_course("cal-anon")
    session = course.sessions[0]
    authors = [make_member(course, first_name="Ann", last_name=name)
               for name in ("Adams", "Baker", "Clark", "Davis", "Evans", "Fox", "Gray", "Hill")]
    for author in authors:
        services.submit_review(session, author, CONTENT, session.review_deadline - DAY)
    db.session.flush()
    reviews = services.submitted_reviews(session)
    order = [r.id for r in services.anonymous_order(reviews, session, "secret-a")]
    by_name = [r.id for r in reviews]  # submitted_reviews is by author name
    assert sorted(order) == sorted(by_name)
    assert order != by_name
    # Renaming every author (reversing the alphabet) changes nothing.
    for author, name in zip(authors, reversed([a.last_name for a in authors])):
        author.last_name = "Z" + name
    db.session.flush()
    again = [r.id for r in services.anonymous_order(services.submitted_reviews(session), session,
                                                    "secret-a")]
    assert again == order
    # Another session (or key) shuffles differently; the order is not one global ranking.
    assert [r.id for r in services.anonymous_order(reviews, session, "secret-b")] != order


def test_staff_do_not_read_drafts(app) -> None:
    course = make_course("cal-draft")
    session = course.sessions[0]
    student, ta = make_member(course), make_member(course, CourseRole.ta)
    draft = services.save_draft(session, student, CONTENT, session.review_deadline - DAY)
    assert not services.can_read_review(draft, ta, session.review_deadline + DAY)
    assert services.can_read_review(draft, student, session.review_deadline + DAY)
    services.submit_review(session, student, CONTENT, session.review_deadline - DAY)
    assert services.can_read_review(draft, ta, session.review_deadline + DAY)
