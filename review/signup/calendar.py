"""iCalendar feeds: the course's paper sessions, one group's presentations, or one person's
calendar across all their courses.

Calendar apps cannot sign in, so the feed URL carries a secret token (Course.calendar_token,
Group.calendar_token or User.calendar_token). Event times are UTC; a session's event lasts the
roles' time boxes plus the class discussion, and its LOCATION is the session's room when the
course file gives one. The personal feed adds the user's own review deadlines (those still owed)
with two display alarms, and names the sessions where their group presents; it carries nothing
about other students beyond what the course feed already shows the class.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Optional

from models import Course, CourseRole, Enrollment, Group, PaperSession, User, db, new_token
from review.mail import public_url
from review.reviews.policy import format_local
from review.signup.services import sessions_with_slots, sessions_with_slots_of

if TYPE_CHECKING:
    from icalendar import Calendar, Event

# icalendar is imported by the functions that build a feed: every process imported it at
# start-up (30 ms) for the few requests that are calendar feeds.

#: Reminders before each review deadline in the personal feed.
REVIEW_ALARMS = (timedelta(hours=24), timedelta(hours=2))


def session_minutes(course: Course, session: PaperSession) -> int:
    return sum(slot.role.minutes for slot in session.slots) + course.discussion_minutes


def _calendar(name: str) -> Calendar:
    from icalendar import Calendar

    calendar = Calendar()
    calendar.add("prodid", "-//Paper sessions//review//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    return calendar


def _event(course: Course, session: PaperSession, summary: str, stamp: datetime,
           uid_suffix: str = "") -> Event:
    from icalendar import Event

    event = Event()
    event.add("uid", f"session-{session.id}{uid_suffix}@{course.code}")
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
        calendar.add_component(_event(course, session, summary, now, f"-g{group.id}"))
    return calendar.to_ical()


def personal_feed(user: User, memberships: Sequence[tuple[Course, Enrollment]],
                  now: datetime) -> bytes:
    """Every session of the user's courses, their group's presentations named as such, and
    (where they are a student) the deadlines of the reviews they still owe, with alarms."""
    from review.courses.due import student_facts

    calendar = _calendar("My paper sessions and review deadlines")
    courses = {course.id: (course, enrollment) for course, enrollment in memberships}
    sessions = sessions_with_slots_of(list(courses))
    studying = {course.id for course, enrollment in memberships
                if enrollment.role == CourseRole.student}
    facts = student_facts(user, [courses[course_id][0] for course_id in studying],
                          [session for session in sessions if session.course_id in studying])
    for session in sessions:
        course, _ = courses[session.course_id]
        student = session.course_id in studying
        mine = [slot.role.name for slot in session.slots
                if student and slot.group_id in facts.group_ids]
        title = f"{session.paper.title} ({course.code})"
        summary = (f"Your group presents ({', '.join(mine)}): {title}" if mine
                   else f"Paper session: {title}")
        calendar.add_component(_event(course, session, summary, now, "-me"))
        if student and facts.owes_review(course, session):
            calendar.add_component(_deadline_event(course, session, now))
    return calendar.to_ical()


def _deadline_event(course: Course, session: PaperSession, stamp: datetime) -> Event:
    from icalendar import Alarm, Event

    week = session.week.number
    event = Event()
    event.add("uid", f"review-{session.id}-me@{course.code}")
    event.add("dtstamp", stamp)
    # No DTEND: an instant (RFC 5545 3.6.1), shown at the deadline.
    event.add("dtstart", session.review_deadline)
    event.add("summary", f"Review due: week {week}, {session.paper.title} ({course.code})")
    link = public_url("reviews.edit", course_code=course.code, session_id=session.id)
    event.add("description", f"Your review of {session.paper.title} is due "
                             f"{format_local(session.review_deadline, course.timezone)}.\n{link}")
    event.add("url", link)
    for before in REVIEW_ALARMS:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -before)
        hours = int(before.total_seconds() // 3600)
        alarm.add("description", f"Week {week} review due in {hours} hours ({course.code})")
        event.add_component(alarm)
    return event


def rotate_personal_token(user: User) -> None:
    """A new secret address for the user's personal feed; the old one answers 404 from now."""
    user.calendar_token = new_token()
    db.session.flush()
