"""iCalendar feeds: the course's paper sessions, or one group's presentations.

Calendar apps cannot sign in, so the feed URL carries a secret token (Course.calendar_token or
Group.calendar_token). Event times are UTC; an event lasts the roles' time boxes plus the
class discussion, and its LOCATION is the session's room when the course file gives one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from icalendar import Calendar, Event

from models import Course, Group, PaperSession
from review.signup.services import sessions_with_slots


def session_minutes(course: Course, session: PaperSession) -> int:
    return sum(slot.role.minutes for slot in session.slots) + course.discussion_minutes


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Paper sessions//review//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    return calendar


def _event(course: Course, session: PaperSession, summary: str, stamp: datetime,
           group: Optional[Group] = None) -> Event:
    event = Event()
    suffix = f"-g{group.id}" if group is not None else ""
    event.add("uid", f"session-{session.id}{suffix}@{course.code}")
    event.add("dtstamp", stamp)
    event.add("dtstart", session.starts_at)
    event.add("dtend", session.starts_at + timedelta(minutes=session_minutes(course, session)))
    event.add("summary", summary)
    if session.room:
        event.add("location", session.room)
    lines = [f"{session.paper.title}", session.paper.authors]
    if session.paper.venue:
        lines.append(f"{session.paper.venue} {session.paper.year or ''}".strip())
    lines.append("")
    for slot in session.slots:
        holder = slot.group.display_name if slot.group is not None else "open"
        lines.append(f"{slot.role.name} ({slot.role.minutes} min): {holder}")
    lines.append(f"Discussion ({course.discussion_minutes} min)")
    event.add("description", "\n".join(lines))
    if session.paper.url:
        event.add("url", session.paper.url)
    return event


def course_feed(course: Course, now: datetime) -> bytes:
    calendar = _calendar(f"{course.title} paper sessions")
    for session in sessions_with_slots(course):
        calendar.add_component(_event(course, session, f"Paper session: {session.paper.title}",
                                      now))
    return calendar.to_ical()


def group_feed(course: Course, group: Group, now: datetime) -> bytes:
    calendar = _calendar(f"{course.title}: {group.name} presents")
    for session in sessions_with_slots(course):
        mine = [slot.role.name for slot in session.slots if slot.group_id == group.id]
        if not mine:
            continue
        summary = f"{group.name} presents ({', '.join(mine)}): {session.paper.title}"
        calendar.add_component(_event(course, session, summary, now, group))
    return calendar.to_ical()
