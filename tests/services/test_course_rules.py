"""Every rule of a syllabus can be said in the course file: per-session day, time and room,
late limits, a rubric for every role, course-local rubrics, and re-evaluated late states."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from models import db
from review.courses.definition import CourseFileError, load_course_file
from review.courses.services import apply_course_definition
from tests.factories import course_definition_data


def write(tmp_path: Path, data: dict, name: str = "course.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_session_can_move_to_another_day_time_and_room(app, tmp_path: Path) -> None:
    data = course_definition_data("moved-sessions", timezone="America/Chicago")
    # Week 3 is Monday 2026-09-21; this session is on the Wednesday, at 14:00, in room B-101.
    data["paper_sessions"][0].update({"date": "2026-09-23", "time": "14:00", "room": "B-101"})
    definition = load_course_file(write(tmp_path, data))
    course, _ = apply_course_definition(definition)
    moved, usual = sorted(course.sessions, key=lambda s: s.week.number)[:2]
    assert moved.starts_at == datetime(2026, 9, 23, 19, 0, tzinfo=timezone.utc)  # CDT = UTC-5
    assert moved.room == "B-101"
    assert usual.starts_at == datetime(2026, 9, 28, 13, 30, tzinfo=timezone.utc)  # 08:30 CDT
    assert usual.room == ""


def test_a_session_date_that_is_not_a_date_is_named(tmp_path: Path) -> None:
    data = course_definition_data()
    data["paper_sessions"][1]["date"] = "next tuesday"
    with pytest.raises(CourseFileError) as caught:
        load_course_file(write(tmp_path, data))
    assert "paper_sessions[1].date:" in str(caught.value)
    assert "'next tuesday'" in str(caught.value)


def test_the_room_is_on_the_schedule_pages_and_the_calendar_feed(app, client, login,
                                                                 tmp_path: Path) -> None:
    from icalendar import Calendar

    from models import CourseRole
    from tests.factories import make_member

    data = course_definition_data("roomed", first_monday=datetime(2030, 9, 2).date())
    data["paper_sessions"][0]["room"] = "SNA-B21"
    course, _ = apply_course_definition(load_course_file(write(tmp_path, data)))
    student = make_member(course, CourseRole.student)
    db.session.commit()
    login(student)
    for url in (f"/c/{course.code}/", f"/c/{course.code}/signup"):
        assert "room SNA-B21" in client.get(url).get_data(as_text=True), url
    feed = client.get(f"/calendar/course/{course.calendar_token}.ics")
    events = sorted(Calendar.from_ical(feed.data).walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert str(events[0]["location"]) == "SNA-B21"
    assert "location" not in events[1]
