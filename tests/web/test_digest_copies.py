"""The question digest lists copies of one question once, with a count (was: one per copy)."""

from __future__ import annotations

from datetime import timedelta

from models import CourseRole, db
from review.reviews import services
from review.reviews.services import ReviewContent
from tests.factories import make_course, make_member

SENTENCE = "How does the method behave when the batch size is much smaller?"


def test_fifteen_copies_of_one_question_are_one_entry_with_one_form(
        client, login, monkeypatch) -> None:
    course = make_course("copies", timezone="America/Chicago")
    session = course.sessions[0]
    ta = make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(15)]
    for student in students:
        services.submit_review(session, student, ReviewContent.build(
            summary="s", strengths="s", weaknesses="w", remedies="r", questions=[SENTENCE]),
            session.review_deadline - timedelta(hours=1))
    db.session.commit()
    monkeypatch.setattr("review.reviews.views._now",
                        lambda: session.review_deadline + timedelta(hours=1))
    login(ta)
    page = client.get(f"/c/copies/reviews/{session.id}/digest").get_data(as_text=True)
    assert page.count(SENTENCE) == 1
    assert page.count("Mark raised") == 1
    assert "15 students asked this" in page
    assert all(student.last_name in page for student in students)
