"""Privacy and release follow the calendar (pages): class reviews refused with a reason, the
first read shown to staff, anonymous numbers that do not follow names, drafts, participation
released with its session, release warnings, changes after release, and the review queue."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from models import AuditEntry, CourseRole, db, utcnow
from review.grading import services as grading
from review.gradebook.loader import load_gradebook
from review.reviews import services
from review.reviews.services import ReviewContent
from tests.factories import (
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_review,
    make_staff_score,
    make_submitted_review,
)

CONTENT = ReviewContent.build(summary="s", strengths="s", weaknesses="w", remedies="r",
                              questions=["q?"])


def _at(monkeypatch, moment) -> None:
    monkeypatch.setattr("review.reviews.views._now", lambda: moment)


@pytest.fixture
def grace(app) -> dict[str, Any]:
    course = make_course("cal-web", timezone="Asia/Tokyo", reviews={
        "late_policy": {"mode": "grace_days", "grace_days": 5, "penalty_per_day_pct": 0}})
    session = course.sessions[0]
    people = {"course": course, "session": session,
              "instructor": make_member(course, CourseRole.instructor),
              "ta": make_member(course, CourseRole.ta)}
    people["writers"] = [make_member(course, last_name=name) for name in ("Aalto", "Berg")]
    people["idle"] = make_member(course, last_name="Idle")
    for writer in people["writers"]:
        services.submit_review(session, writer, CONTENT, session.review_deadline - timedelta(hours=2))
    services.release_reviews(session, people["instructor"],
                             session.review_deadline + timedelta(hours=1))
    db.session.commit()
    return people


def test_class_reviews_are_refused_with_a_reason_to_a_student_who_owes_a_late_review(
        client, login, grace, monkeypatch) -> None:
    session = grace["session"]
    _at(monkeypatch, session.review_deadline + timedelta(hours=2))
    login(grace["idle"])
    response = client.get(f"/c/cal-web/reviews/{session.id}/all")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "submitted your own review" in page
    one = services.review_of(session, grace["writers"][0])
    single = client.get(f"/c/cal-web/reviews/r/{one.id}")
    assert single.status_code == 403 and "submitted your own review" in single.get_data(as_text=True)
    index = client.get("/c/cal-web/reviews").get_data(as_text=True)
    assert f"/reviews/{session.id}/all" not in index


def test_staff_see_when_a_student_first_read_the_class_and_whether_before_submitting(
        client, login, grace, monkeypatch) -> None:
    session, idle = grace["session"], grace["idle"]
    services.excuse_student(session, idle, "Hospital", grace["instructor"])
    db.session.commit()
    read_at = session.review_deadline + timedelta(hours=2)
    _at(monkeypatch, read_at)
    login(idle)
    assert client.get(f"/c/cal-web/reviews/{session.id}/all").status_code == 200
    _at(monkeypatch, read_at + timedelta(hours=5))
    assert client.get(f"/c/cal-web/reviews/{session.id}/all").status_code == 200
    # The excuse turns out to be wrong; they submit two days late.
    services.remove_excuse(session, idle, grace["instructor"])
    services.submit_review(session, idle, CONTENT, read_at + timedelta(days=2), confirm_late=True)
    db.session.commit()
    login(grace["ta"])
    page = client.get("/c/cal-web/reviews/matrix").get_data(as_text=True)
    row = re.search(rf"<tr>(?:(?!</tr>).)*{idle.last_name}.*?</tr>", page, re.S).group(0)
    assert "read classmates' reviews" in row
    assert "read before submitting" in row
    assert "Mon 21 Sep 2026, 01:59" in row  # the first read, in the course timezone
    writer_row = re.search(rf"<tr>(?:(?!</tr>).)*{grace['writers'][0].last_name}.*?</tr>",
                           page, re.S).group(0)
    assert "read classmates' reviews" not in writer_row


def test_anonymous_numbers_do_not_follow_author_names(client, login, app, monkeypatch) -> None:
    course = make_course("cal-anon-web")
    session = course.sessions[0]
    instructor = make_member(course, CourseRole.instructor)
    names = ["Abe", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"]
    authors = [make_member(course, last_name=name) for name in names]
    for author, name in zip(authors, names):
        content = ReviewContent.build(summary=f"marker-{name}-end", strengths="s", weaknesses="w",
                                      remedies="r", questions=["q?"])
        services.submit_review(session, author, content, session.review_deadline - timedelta(days=1))
    services.release_reviews(session, instructor, session.review_deadline + timedelta(hours=1))
    db.session.commit()
    _at(monkeypatch, session.review_deadline + timedelta(days=1))
    login(authors[0])

    def order() -> list[str]:
        page = client.get(f"/c/cal-anon-web/reviews/{session.id}/all").get_data(as_text=True)
        assert "Review 1" in page
        return re.findall(r"marker-(\w+?)-end", page)

    first = order()
    assert sorted(first) == sorted(names)
    assert first != names  # not alphabetical
    assert order() == first  # stable
    for author in authors:
        author.last_name = "Renamed" + author.last_name[::-1]
    db.session.commit()
    assert order() == first


def test_the_review_form_says_drafts_are_private_and_staff_cannot_open_one(
        client, login, app, monkeypatch) -> None:
    course = make_course("cal-drafts")
    session = course.sessions[0]
    student, ta = make_member(course), make_member(course, CourseRole.ta)
    draft = services.save_draft(session, student, CONTENT, session.review_deadline - timedelta(days=1))
    db.session.commit()
    _at(monkeypatch, session.review_deadline - timedelta(days=1))
    login(student)
    page = client.get(f"/c/cal-drafts/reviews/{session.id}/write").get_data(as_text=True)
    assert "Drafts are private" in page
    login(ta)
    assert client.get(f"/c/cal-drafts/reviews/r/{draft.id}").status_code == 404
    matrix = client.get("/c/cal-drafts/reviews/matrix").get_data(as_text=True)
    assert f"/reviews/r/{draft.id}" not in matrix


# --------------------------------------------------------------------------- participation

PAST = date(2020, 9, 7)


def test_participation_is_shown_and_counted_only_once_its_session_is_released(
        client, login, app) -> None:
    course = make_course("cal-part", first_monday=PAST)
    teacher = make_member(course, CourseRole.instructor)
    student = make_member(course)
    session = course.sessions[0]
    make_staff_score(course, teacher, 80, rubric_key="participation", session_id=session.id,
                     student_id=student.id)
    db.session.commit()
    login(student)
    page = client.get("/c/cal-part/grades").get_data(as_text=True)
    table = page[page.index('id="participation"'):]
    assert "pending release" in table[:table.index("</table>")]
    assert "80.0" not in page
    gradebook = load_gradebook(course, utcnow(), released_only=True, user_id=student.id)
    assert gradebook.row(student.id)["participation"] is None  # nothing counted
    grading.release_session(course, teacher, session, utcnow(), confirmed=True)
    db.session.commit()
    page = client.get("/c/cal-part/grades").get_data(as_text=True)
    table = page[page.index('id="participation"'):]
    assert "80.0" in table[:table.index("</table>")]
    assert "pending release" not in table[:table.index("</table>")]
    gradebook = load_gradebook(course, utcnow(), released_only=True, user_id=student.id)
    assert gradebook.row(student.id)["participation"] == pytest.approx(80.0)


# --------------------------------------------------------------------------- release warnings


def _full(app: Flask, rubric_id: str, **changes: float) -> dict[str, str]:
    rubric = app.extensions["rubrics"][rubric_id]
    data = {f"score-{c.id}": f"{c.points:g}" for c in rubric.criteria}
    data.update({f"score-{k}": f"{v:g}" for k, v in changes.items()})
    return data


@pytest.fixture
def graded(app) -> dict[str, Any]:
    course = make_course("cal-rel", first_monday=PAST, session_weeks=(3, 4, 9), weeks=10)
    instructor = make_member(course, CourseRole.instructor)
    a, b = make_member(course, last_name="Ames"), make_member(course, last_name="Bell")
    slot = hold_slot(course, make_group(course, [a]), 9, "overview")
    future = course.sessions[-1]
    # Week 9 is still ahead: its session and deadline are in the future.
    future.starts_at = utcnow() + timedelta(days=10)
    future.review_opens_at = utcnow() - timedelta(days=1)
    future.review_deadline = utcnow() + timedelta(days=9)
    review = make_review(future, b, released=False)
    db.session.commit()
    return {"course": course, "instructor": instructor, "a": a, "b": b, "slot": slot,
            "future": future, "review": review}


def test_releasing_an_unheld_ungraded_week_asks_first_and_names_what_is_missing(
        client, login, graded) -> None:
    future = graded["future"]
    login(graded["instructor"])
    url = f"/c/cal-rel/grading/sessions/{future.id}/release"
    response = client.post(url, data={"action": "release"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "week 9 has not been held" in page
    assert "1 review and 1 presentation are ungraded" in page
    assert graded["b"].full_name in page and "Overview" in page
    db.session.expire_all()
    assert db.session.get(type(future), future.id).feedback_released_at is None
    response = client.post(url, data={"action": "release", "confirm": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(future), future.id).feedback_released_at is not None


def test_releasing_a_held_fully_graded_week_needs_no_confirmation(client, login, graded) -> None:
    course = graded["course"]
    held = course.sessions[0]
    login(graded["instructor"])
    response = client.post(f"/c/cal-rel/grading/sessions/{held.id}/release",
                           data={"action": "release"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(held), held.id).feedback_released_at is not None


def test_a_grade_changed_after_release_is_marked_for_the_student_and_audited(
        app, client, login) -> None:
    course = make_course("cal-regrade", first_monday=PAST)
    ta = make_member(course, CourseRole.ta)
    student = make_member(course)
    review = make_submitted_review(course, student, 3)
    item = grading.review_item(course, review.id)
    rubric = app.extensions["rubrics"]["review"]
    full = {c.id: c.points for c in rubric.criteria}
    score = grading.save_score(course, ta, item, values=full)
    grading.release_item(course, ta, item, utcnow())
    db.session.commit()
    login(student)
    page = client.get(f"/c/cal-regrade/feedback/reviews/{review.id}").get_data(as_text=True)
    assert "Updated after release" not in page
    lowered = dict(full, summary=0)
    grading.save_score(course, ta, item, values=lowered, loaded_version=score.version,
                       reason="Summary copied the abstract")
    db.session.commit()
    assert score.updated_after_release_at is not None
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "score.update_after_release")).one()
    assert (entry.old["total"], entry.new["total"]) == (10, 8)
    page = client.get(f"/c/cal-regrade/feedback/reviews/{review.id}").get_data(as_text=True)
    assert "Updated after release" in page
    feedback = client.get("/c/cal-regrade/feedback").get_data(as_text=True)
    assert "updated after release" in feedback.lower()


def test_a_change_before_release_is_not_marked(app) -> None:
    course = make_course("cal-regrade2", first_monday=PAST)
    ta = make_member(course, CourseRole.ta)
    review = make_submitted_review(course, make_member(course), 3)
    item = grading.review_item(course, review.id)
    full = {c.id: c.points for c in app.extensions["rubrics"]["review"].criteria}
    score = grading.save_score(course, ta, item, values=full)
    grading.save_score(course, ta, item, values=dict(full, summary=1),
                       loaded_version=score.version)
    assert score.updated_after_release_at is None


# --------------------------------------------------------------------------- review queue


@pytest.fixture
def queue(app) -> dict[str, Any]:
    course = make_course("cal-q", first_monday=PAST, session_weeks=(3, 4, 9), weeks=10)
    ta, other_ta = make_member(course, CourseRole.ta), make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(3)]
    week3 = [make_submitted_review(course, s, 3) for s in students]
    week4 = make_submitted_review(course, students[0], 4)
    future = course.sessions[-1]
    future.review_opens_at = utcnow() - timedelta(days=1)
    future.review_deadline = utcnow() + timedelta(days=2)
    future.starts_at = utcnow() + timedelta(days=3)
    not_due = make_submitted_review(course, students[1], 9)
    db.session.commit()
    return {"course": course, "ta": ta, "other_ta": other_ta, "week3": week3, "week4": week4,
            "not_due": not_due}


def test_reviews_before_their_deadline_are_not_queued_and_counts_match_the_overview(
        app, client, login, queue) -> None:
    course = queue["course"]
    grading.save_score(course, queue["other_ta"], grading.review_item(course, queue["week3"][0].id),
                       values={c.id: c.points for c in app.extensions["rubrics"]["review"].criteria})
    db.session.commit()
    login(queue["ta"])
    overview = client.get("/c/cal-q/grading").get_data(as_text=True)
    assert "1 of 4 submitted reviews graded" in overview
    location = client.get("/c/cal-q/grading/reviews").headers["Location"]
    assert location.endswith(f"/grading/reviews/{queue['week3'][1].id}")
    page = client.get(location).get_data(as_text=True)
    assert "1 of 4 graded" in page


def _follow_queue(client, location: str) -> str:
    """Where "save and next" lands: through the queue's redirect when it goes there first."""
    if location.endswith("/grading/reviews"):
        return client.get(location).headers["Location"]
    return location


def test_save_and_next_goes_to_the_next_ungraded_review(app, client, login, queue) -> None:
    course = queue["course"]
    week3 = queue["week3"]
    full = _full(app, "review")
    # Another grader already did the review after the one being graded.
    grading.save_score(course, queue["other_ta"], grading.review_item(course, week3[2].id),
                       values={c.id: c.points for c in app.extensions["rubrics"]["review"].criteria})
    db.session.commit()
    login(queue["ta"])
    response = client.post(f"/c/cal-q/grading/reviews/{week3[1].id}",
                           data={**full, "version": "0", "save_next": "1"})
    location = _follow_queue(client, response.headers["Location"])
    # Not week3[0] (before this one in the queue) nor week3[2] (already graded): week 4's.
    assert location.endswith(f"/grading/reviews/{queue['week4'].id}")
    response = client.post(f"/c/cal-q/grading/reviews/{queue['week4'].id}",
                           data={**full, "version": "0", "save_next": "1"})
    location = _follow_queue(client, response.headers["Location"])
    # Wraps around to the one left before it.
    assert location.endswith(f"/grading/reviews/{week3[0].id}")
