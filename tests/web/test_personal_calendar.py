"""The personal calendar feed: one secret URL per user across all their courses, carrying their
own review deadlines (with alarms), their group's presentations and every session with its room.

Built on a course in America/Chicago whose week-3 review deadline falls after the end of
daylight-saving time, and one in Australia/Sydney where the user is a TA.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from icalendar import Calendar

from models import CourseRole, db
from review.courses.services import enroll
from tests.factories import hold_slot, make_course, make_review
from tests.web.test_whats_due import ROOM, chicago_course, week_session

UTC = timezone.utc
BASE = "https://review.example.edu"


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"PUBLIC_BASE_URL": BASE}


@pytest.fixture
def world(app) -> dict[str, Any]:
    people = chicago_course()
    course = people["course"]
    hold_slot(course, people["group"], 3, "strengths")
    hold_slot(course, people["other_group"], 1, "overview")
    sydney = make_course("syd-course", timezone="Australia/Sydney",
                         first_monday=date(2026, 9, 28), weeks=6, session_weeks=(2, 4),
                         paper_sessions=[{"week": 2, "title": "Sydney paper 2", "room": "Quad 1"},
                                         {"week": 4, "title": "Sydney paper 4"}])
    me = people["students"][0]
    enroll(sydney, me, CourseRole.ta)
    people["sydney"] = sydney
    people["me"] = me
    db.session.commit()
    return people


def _feed(client: Any, token: str) -> Calendar:
    response = client.get(f"/calendar/me/{token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    return Calendar.from_ical(response.data)


def _events(calendar: Calendar) -> list[Any]:
    return [component for component in calendar.walk("VEVENT")]


def _by_summary(calendar: Calendar, text: str) -> list[Any]:
    return [event for event in _events(calendar) if text in str(event.get("summary"))]


def test_review_deadlines_are_events_in_utc_with_two_display_alarms(client, world) -> None:
    calendar = _feed(client, world["me"].calendar_token)
    deadlines = {str(event["summary"]): event for event in _by_summary(calendar, "Review due")}
    assert set(deadlines) == {"Review due: week 1, Paper 1 (chi-course)",
                              "Review due: week 3, Paper 3 (chi-course)"}
    week1 = deadlines["Review due: week 1, Paper 1 (chi-course)"]
    week3 = deadlines["Review due: week 3, Paper 3 (chi-course)"]
    # 23:59 local each time: CDT (UTC-5) before the change, CST (UTC-6) after it.
    assert week1["dtstart"].dt == datetime(2026, 10, 19, 4, 59, tzinfo=UTC)
    assert week3["dtstart"].dt == datetime(2026, 11, 2, 5, 59, tzinfo=UTC)
    assert b"DTSTART:20261102T055900Z" in week3.to_ical()
    alarms = week3.walk("VALARM")
    assert sorted(alarm["trigger"].dt for alarm in alarms) == [timedelta(hours=-24),
                                                              timedelta(hours=-2)]
    assert {str(alarm["action"]) for alarm in alarms} == {"DISPLAY"}
    assert all(alarm.get("description") for alarm in alarms)
    assert "/c/chi-course/reviews/" in str(week3["url"])
    assert str(week3["url"]).startswith(BASE)


def test_sessions_carry_their_room_and_the_groups_presentation(client, world) -> None:
    calendar = _feed(client, world["me"].calendar_token)
    mine = _by_summary(calendar, "Your group presents")
    assert len(mine) == 1
    assert "(Strengths)" in str(mine[0]["summary"]) and "Paper 3" in str(mine[0]["summary"])
    assert str(mine[0]["location"]) == ROOM
    # 08:30 CST on Mon 2 Nov.
    assert mine[0]["dtstart"].dt == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)
    week1 = _by_summary(calendar, "Paper session: Paper 1")
    assert len(week1) == 1 and str(week1[0]["location"]) == ROOM
    # The course where the user is a TA: its sessions, no review deadlines.
    sydney = _by_summary(calendar, "Sydney paper")
    assert len(sydney) == 2
    rooms = {str(event["summary"]): event.get("location") for event in sydney}
    assert str(rooms["Paper session: Sydney paper 2 (syd-course)"]) == "Quad 1"
    assert rooms["Paper session: Sydney paper 4 (syd-course)"] is None
    assert not [e for e in _by_summary(calendar, "Review due") if "syd" in str(e["summary"])]


def test_a_submitted_review_leaves_the_feed_and_other_students_are_not_in_it(client,
                                                                            world) -> None:
    me, other = world["me"], world["students"][3]
    make_review(week_session(world["course"], 3), me, released=False)
    db.session.commit()
    mine = _feed(client, me.calendar_token)
    assert [str(e["summary"]) for e in _by_summary(mine, "Review due")] == [
        "Review due: week 1, Paper 1 (chi-course)"]
    theirs = _feed(client, other.calendar_token)
    assert len(_by_summary(theirs, "Review due")) == 2
    body = client.get(f"/calendar/me/{me.calendar_token}.ics").get_data(as_text=True)
    for student in world["students"]:
        assert student.email not in body and student.last_name not in body
    # The other group's presentation is a plain session in my feed, not "my group presents".
    assert not _by_summary(mine, "Team Blue presents")
    assert len(_by_summary(theirs, "Your group presents")) == 1


def test_a_rotated_token_stops_working(client, login, world) -> None:
    me = world["me"]
    old = me.calendar_token
    login(me)
    response = client.post("/calendar/me/rotate", data={"next": "/c/chi-course/"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/c/chi-course/")
    db.session.refresh(me)
    assert me.calendar_token != old
    assert client.get(f"/calendar/me/{old}.ics").status_code == 404
    assert client.get(f"/calendar/me/{me.calendar_token}.ics").status_code == 200
    assert client.get("/calendar/me/not-a-token.ics").status_code == 404


def test_rotating_refuses_an_outside_redirect_and_needs_a_signed_in_user(client, login,
                                                                        world) -> None:
    response = client.post("/calendar/me/rotate")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(world["me"])
    response = client.post("/calendar/me/rotate", data={"next": "https://evil.example/"})
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]


def test_the_course_home_links_the_personal_feed_on_the_public_site(client, login,
                                                                   world) -> None:
    login(world["me"])
    html = client.get("/c/chi-course/").get_data(as_text=True)
    assert "Subscribe to your calendar" in html
    assert f'{BASE}/calendar/me/{world["me"].calendar_token}.ics' in html
    assert 'action="/calendar/me/rotate"' in html


def test_the_course_and_group_feeds_carry_the_room(client, world) -> None:
    course = world["course"]
    response = client.get(f"/calendar/course/{course.calendar_token}.ics")
    events = _events(Calendar.from_ical(response.data))
    assert events and all(str(event["location"]) == ROOM for event in events)
    response = client.get(f"/calendar/group/{world['group'].calendar_token}.ics")
    events = _events(Calendar.from_ical(response.data))
    assert len(events) == 1 and str(events[0]["location"]) == ROOM
