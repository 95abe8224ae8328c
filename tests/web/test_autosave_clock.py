"""The autosave across a review window, with a controlled clock: its common case is written by
one UPDATE that checks the session itself (issue 14), so every other moment must still be
refused or taken by the full path with the same answer as before.

Two courses written here, neither the demo: Santiago (its DST starts on 2026-09-06, inside the
window) accepting late work with a penalty, and Los Angeles (DST ends 2026-11-01) refusing it,
with its own deadline time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import CourseRole, Review, ReviewStatus, db
from tests.factories import enroll, make_course, make_member


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    now: list[datetime] = []
    monkeypatch.setattr("review.reviews.views._now", lambda: now[0])
    return now


@pytest.fixture
def courses(app) -> dict[str, Any]:
    late = make_course("santiago-seminar", timezone="America/Santiago",
                       first_monday=date(2026, 8, 24), session_weeks=(3, 4),
                       reviews={"deadline_time": time(18, 0),
                                "late_policy": {"mode": "penalty", "penalty_per_day_pct": 20,
                                                "max_days_late": 2}})
    strict = make_course("la-reading", timezone="America/Los_Angeles",
                         first_monday=date(2026, 10, 19), session_weeks=(3, 4),
                         reviews={"deadline_time": time(21, 30)})
    people = {"late_student": make_member(late), "strict_student": make_member(strict)}
    db.session.commit()
    return {"late": late, "strict": strict, **people}


def _url(course, session) -> str:
    return f"/c/{course.code}/reviews/{session.id}/autosave"


def _signed_in(login, courses: dict[str, Any], key: str) -> tuple[Any, Any]:
    """The course ``key`` and its first session, its student signed in."""
    login(courses[f"{key}_student"])
    return courses[key], courses[key].sessions[0]


def _text() -> Review | None:
    db.session.expire_all()
    return db.session.scalar(select(Review))


def test_an_autosave_is_refused_before_the_window_then_saved_up_to_and_at_the_deadline(
        client, login, clock, courses) -> None:
    course, session = _signed_in(login, courses, "strict")
    clock[:] = [session.review_opens_at - timedelta(seconds=1)]
    early = client.post(_url(course, session), json={"summary": "too early"})
    assert early.status_code == 422 and "open on" in early.json["error"] and _text() is None

    clock[:] = [session.review_opens_at]
    first = client.post(_url(course, session), json={"summary": "at the opening"})
    assert first.status_code == 200 and _text().content["summary"] == "at the opening"
    version = first.json["version"]
    for moment, words in ((session.review_deadline - timedelta(hours=1), "an hour before"),
                          (session.review_deadline, "at the deadline")):
        clock[:] = [moment]
        saved = client.post(_url(course, session), json={"summary": words, "version": version})
        assert saved.status_code == 200 and saved.json["version"] == version + 1
        version = saved.json["version"]
        assert _text().content["summary"] == words
        # The time shown is the course's own (Pacific), not UTC.
        local = moment.astimezone(ZoneInfo("America/Los_Angeles"))
        assert local.strftime("%H:%M") in saved.json["saved_text"]

    # A second tab still at an older version is told, and nothing is written.
    stale = client.post(_url(course, session), json={"summary": "old tab", "version": version - 1})
    assert stale.status_code == 409 and _text().content["summary"] == "at the deadline"

    # After the deadline, under a course that refuses late work: refused, the draft kept.
    clock[:] = [session.review_deadline + timedelta(seconds=1)]
    closed = client.post(_url(course, session), json={"summary": "too late", "version": version})
    assert closed.status_code == 422 and "late reviews are not accepted" in closed.json["error"]
    assert _text().content["summary"] == "at the deadline"


def test_a_late_draft_is_saved_while_late_work_is_accepted_and_refused_after_the_limit(
        client, login, clock, courses) -> None:
    course, session = _signed_in(login, courses, "late")
    clock[:] = [session.review_deadline - timedelta(days=1)]
    first = client.post(_url(course, session), json={"summary": "on time"})
    assert first.status_code == 200
    clock[:] = [session.review_deadline + timedelta(days=1)]
    late = client.post(_url(course, session), json={"summary": "a day late",
                                                     "version": first.json["version"]})
    assert late.status_code == 200 and _text().content["summary"] == "a day late"
    assert _text().status == ReviewStatus.draft
    clock[:] = [session.review_deadline + timedelta(days=3, seconds=1)]
    beyond = client.post(_url(course, session), json={"summary": "three days late",
                                                      "version": late.json["version"]})
    assert beyond.status_code == 422 and _text().content["summary"] == "a day late"


def test_an_autosave_names_only_its_own_course_session(client, login, clock, courses) -> None:
    # A student of both courses with a draft in the other one: that session's id, open now, is
    # not found from this course's URL, and the draft there is not touched.
    mine, other = courses["strict"], courses["late"]
    student = courses["strict_student"]
    enroll(other, student, CourseRole.student, student_number="77001")
    db.session.commit()
    login(student)
    other_session = other.sessions[0]
    clock[:] = [other_session.review_deadline - timedelta(hours=1)]
    assert client.post(_url(other, other_session), json={"summary": "mine"}).status_code == 200
    response = client.post(f"/c/{mine.code}/reviews/{other_session.id}/autosave",
                           json={"summary": "through the wrong course"})
    assert response.status_code == 404 and _text().content["summary"] == "mine"


def test_an_oversized_autosave_is_refused_naming_the_limit_and_the_draft_kept(
        client, login, clock, courses) -> None:
    course, session = _signed_in(login, courses, "strict")
    clock[:] = [session.review_deadline - timedelta(hours=2)]
    first = client.post(_url(course, session), json={"summary": "short"})
    too_long = client.post(_url(course, session), json={"summary": "x" * 5001,
                                                        "version": first.json["version"]})
    assert too_long.status_code == 422 and "5001 characters" in too_long.json["error"]
    assert _text().content["summary"] == "short"


def test_edits_after_submitting_are_kept_up_to_the_deadline_and_refused_after_it(
        client, login, clock, courses) -> None:
    # The Santiago course accepts late drafts, but a submitted review is changed only by a
    # resubmit before the deadline: its working copy is refused after it, late policy or not.
    course, session = _signed_in(login, courses, "late")
    form = {"summary": "Submitted summary.", "strengths": "Clear.", "weaknesses": "Few tasks.",
            "remedies": "More tasks.", "questions-0": "Why?", "submit": "Submit review"}
    clock[:] = [session.review_deadline - timedelta(days=2)]
    assert client.post(f"/c/{course.code}/reviews/{session.id}/write",
                       data=form).status_code == 302
    version = _text().version
    edit = {key: value for key, value in form.items() if key not in ("questions-0", "submit")}
    for moment, words in ((session.review_deadline - timedelta(hours=1), "an hour before"),
                          (session.review_deadline, "at the deadline")):
        clock[:] = [moment]
        saved = client.post(_url(course, session), json={**edit, "summary": words,
                                                         "questions": ["Why?"],
                                                         "version": version})
        assert saved.status_code == 200 and saved.json["version"] == version + 1
        version = saved.json["version"]
        assert _text().revision["summary"] == words
        assert _text().content["summary"] == "Submitted summary."
    clock[:] = [session.review_deadline + timedelta(seconds=1)]
    closed = client.post(_url(course, session), json={**edit, "summary": "after it",
                                                      "questions": ["Why?"], "version": version})
    assert closed.status_code == 422 and "can no longer be changed" in closed.json["error"]
    assert _text().revision["summary"] == "at the deadline"
    assert _text().status == ReviewStatus.submitted
