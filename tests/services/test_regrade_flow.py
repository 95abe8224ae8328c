"""Release rules and the regrade flow: one request per item, resolved with a reply, audited."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from models import AuditEntry, CourseRole, RegradeRequest, db, utcnow
from review.grading import services
from tests.factories import make_course, make_member, make_submitted_review


@pytest.fixture
def setup(app: Flask) -> dict:
    course = make_course("regrade-a")
    ta = make_member(course, CourseRole.ta)
    student, other = make_member(course), make_member(course)
    review = make_submitted_review(course, student, 3)
    rubric = app.extensions["rubrics"]["review"]
    services.save_score(course, ta, services.review_item(course, review.id),
                        values={c.id: c.points for c in rubric.criteria})
    db.session.commit()
    return {"course": course, "ta": ta, "student": student, "other": other, "review": review}


def test_nothing_is_visible_or_requestable_before_release(setup: dict) -> None:
    course, student, review = setup["course"], setup["student"], setup["review"]
    with pytest.raises(services.GradingRefused, match="no released feedback"):
        services.student_review(course, student, review.id)
    with pytest.raises(services.GradingRefused, match="no released feedback"):
        services.request_regrade(course, student, review=review, reason="Please look again.")
    services.release_session(course, setup["ta"], review.session, utcnow())
    db.session.commit()
    assert services.student_review(course, student, review.id) is review
    # Another student never sees it.
    with pytest.raises(services.GradingRefused):
        services.student_review(course, setup["other"], review.id)


def test_item_release_and_withdraw(setup: dict) -> None:
    course, review = setup["course"], setup["review"]
    item = services.review_item(course, review.id)
    services.release_item(course, setup["ta"], item, utcnow())
    assert services.review_released(review)
    services.release_item(course, setup["ta"], item, utcnow(), release=False)
    assert not services.review_released(review)
    with pytest.raises(services.GradingRefused):
        services.release_item(course, setup["student"], item, utcnow())


def test_one_request_per_item_then_resolution_is_audited(setup: dict) -> None:
    course, student, review, ta = setup["course"], setup["student"], setup["review"], setup["ta"]
    services.release_item(course, ta, services.review_item(course, review.id), utcnow())
    with pytest.raises(services.GradingRefused, match="at least 10"):
        services.request_regrade(course, student, review=review, reason="why")
    request = services.request_regrade(course, student, review=review,
                                       reason="My weaknesses section names a fundamental one.")
    db.session.commit()
    with pytest.raises(services.GradingRefused, match="already asked"):
        services.request_regrade(course, student, review=review, reason="Once more, please!")
    with pytest.raises(services.GradingRefused, match="reply"):
        services.resolve_regrade(course, ta, request, outcome="kept", reply=" ")
    with pytest.raises(services.GradingRefused):
        services.resolve_regrade(course, student, request, outcome="kept", reply="no")
    services.resolve_regrade(course, ta, request, outcome="kept", reply="The score stands.")
    db.session.commit()
    with pytest.raises(services.GradingRefused, match="already resolved"):
        services.resolve_regrade(course, ta, request, outcome="changed", reply="x")
    assert db.session.scalars(select(RegradeRequest)).one().status == "kept"
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["regrade.request", "regrade.resolve"]
