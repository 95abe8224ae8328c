"""Review reminders: 24 and 2 hours before a session's review deadline, to each student who owes
the review and has not submitted it (a draft is not a submission).

Never after the deadline, never before the review opens, never twice (``ReviewReminder`` has one
row per session, student and kind, unique), not to a student who opted out in that course
(``ReminderOptOut``) nor in a course whose file says ``notifications: {review_reminders: false}``.
When the worker was down past the 24-hour mark and the 2-hour one has come, only the 2-hour
reminder goes: one mail, the one that is true now. "Hours before" is elapsed time, so a DST change
in the course's timezone between reminder and deadline moves the reminder's local clock time,
never its distance to the deadline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from models import (Course, PaperSession, ReminderOptOut, ReviewReminder, User, db)
from review.courses.definition import CourseDefinition
from review.mail import public_url, queue_mail
from review.reviews.status import ReviewState, review_statuses

REMINDER_HOURS = (24, 2)


def reminders_enabled(course: Course) -> bool:
    return CourseDefinition.model_validate(course.definition).notifications.review_reminders


def send_review_reminders(now: datetime) -> int:
    """Queue every reminder due at ``now`` (in the caller's transaction: flushes, never commits)
    and return how many."""
    earliest = max(REMINDER_HOURS)
    sessions = list(db.session.scalars(
        select(PaperSession).where(PaperSession.review_deadline > now,
                                   PaperSession.review_deadline <= now + timedelta(hours=earliest),
                                   PaperSession.review_opens_at <= now)))
    by_course: dict[int, list[PaperSession]] = defaultdict(list)
    for session in sessions:
        by_course[session.course_id].append(session)
    queued = 0
    for course_id, course_sessions in by_course.items():
        course = db.session.get(Course, course_id)
        if reminders_enabled(course):
            queued += _remind_course(course, course_sessions, now)
    return queued


def _remind_course(course: Course, sessions: list[PaperSession], now: datetime) -> int:
    statuses = review_statuses(course, now)
    opted_out = set(db.session.scalars(select(ReminderOptOut.user_id).where(
        ReminderOptOut.course_id == course.id)))
    session_ids = [session.id for session in sessions]
    sent = set(db.session.execute(select(
        ReviewReminder.session_id, ReviewReminder.user_id, ReviewReminder.hours_before).where(
        ReviewReminder.session_id.in_(session_ids))).tuples())
    queued = 0
    for session in sessions:
        hours = min(h for h in REMINDER_HOURS if session.review_deadline - timedelta(hours=h) <= now)
        owing = [user_id for (user_id, session_id), status in statuses.items()
                 if session_id == session.id and status.state == ReviewState.not_due
                 and user_id not in opted_out
                 # A later (closer) reminder already went: an earlier kind is never sent after.
                 and not any((session.id, user_id, h) in sent for h in REMINDER_HOURS if h <= hours)]
        for user in db.session.scalars(select(User).where(User.id.in_(owing))):
            db.session.add(ReviewReminder(session_id=session.id, user_id=user.id,
                                          hours_before=hours, sent_at=now))
            queue_mail(user.email, f"{course.title}: your review is due in {hours} hours",
                       "review_reminder", _context(course, session, user, hours),
                       course_id=course.id)
            queued += 1
    return queued


def _context(course: Course, session: PaperSession, user: User, hours: int) -> dict[str, object]:
    from review.reviews.policy import format_local

    return {"name": user.first_name or user.full_name, "course": course.title,
            "week": session.week.number, "paper": session.paper.title, "hours": hours,
            "deadline": format_local(session.review_deadline, course.timezone),
            "link": public_url("reviews.edit", course_code=course.code, session_id=session.id),
            "settings": public_url("reviews.index", course_code=course.code)}


def set_opt_out(course: Course, user: User, *, opted_out: bool) -> None:
    row = db.session.scalar(select(ReminderOptOut).where(
        ReminderOptOut.course_id == course.id, ReminderOptOut.user_id == user.id))
    if opted_out and row is None:
        db.session.add(ReminderOptOut(course_id=course.id, user_id=user.id))
    elif not opted_out and row is not None:
        db.session.delete(row)
    db.session.flush()


def is_opted_out(course: Course, user: User) -> bool:
    return db.session.scalar(select(ReminderOptOut.id).where(
        ReminderOptOut.course_id == course.id, ReminderOptOut.user_id == user.id)) is not None


def reminder_job() -> None:
    """The periodic job (every few minutes): queue the reminders due now; they go out after the
    commit."""
    from models import utcnow

    send_review_reminders(utcnow())
    db.session.commit()
