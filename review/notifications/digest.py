"""The weekly staff digest: to each instructor and TA of a course, what waits for them.

It goes once a week at the weekday and hour of the course file's ``notifications:
{staff_digest: {weekday: mon, hour: 8}}`` (the default), in the course's local time: across a
daylight-saving change the UTC instant moves, the local hour does not. ``staff_digest: false``
switches it off. The hourly job sends it at its first run at or after that local hour; a worker
that was down for more than ``CATCH_UP`` after it skips that week rather than send a stale one.
Never twice for a course and week (``StaffDigest`` has one row per course and week, unique), and
no mail in a week with nothing to report (the row is still written: the digest is weekly, not
"as soon as something appears").

What it lists, each with a link: ungraded presentations (held sessions) and reviews (past their
deadline), counted per session; open regrade requests; sessions held whose feedback is not
released. A fixed number of queries per course, whatever its size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models import (Course, CourseRole, Enrollment, Paper, PaperSession, RegradeRequest, Review,
                    ReviewStatus, Score, Slot, StaffDigest, User, Week, db)
from review.core.timeutil import local_to_utc
from review.courses.definition import WEEKDAYS, StaffDigestDef, stored_definition
from review.mail import mail_configured, public_url, queue_mail
from review.reviews.policy import format_local

CATCH_UP = timedelta(hours=24)


def digest_week(setting: StaffDigestDef, tz: str, now: datetime) -> Optional[date]:
    """The week (its local Monday) whose digest is due at ``now``, or None: due from the
    configured local weekday and hour for ``CATCH_UP``."""
    if not setting.enabled:
        return None
    today = now.astimezone(ZoneInfo(tz)).date()
    monday = today - timedelta(days=today.weekday())
    for week in (monday, monday - timedelta(days=7)):
        day = week + timedelta(days=WEEKDAYS.index(setting.weekday))
        due = local_to_utc(day, time(setting.hour), tz)
        if due <= now:
            return week if now - due < CATCH_UP else None
    return None


def send_staff_digests(now: datetime) -> int:
    """Queue every digest due at ``now`` (in the caller's transaction) and return how many
    mails."""
    if not mail_configured():
        return 0
    queued = 0
    for course in db.session.scalars(select(Course).order_by(Course.id)):
        week = digest_week(stored_definition(course).notifications.staff_digest,
                           course.timezone, now)
        if week is not None and _claim(course, week, now):
            queued += _send_digest(course, week, now)
    return queued


def _claim(course: Course, week: date, now: datetime) -> bool:
    """Record this week's digest; false when it was already sent (by this or another worker)."""
    if db.session.scalar(select(StaffDigest.id).where(
            StaffDigest.course_id == course.id, StaffDigest.week_start == week)) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(StaffDigest(course_id=course.id, week_start=week, sent_at=now))
    except IntegrityError:
        return False
    return True


def digest_facts(course: Course, now: datetime) -> dict[str, Any]:
    """What the digest reports, as JSON for the mail: ungraded items per session, open
    regrades and held sessions not released."""
    sessions = {session_id: (week, paper, starts_at, released) for
                session_id, week, paper, starts_at, released in db.session.execute(
                    select(PaperSession.id, Week.number, Paper.title, PaperSession.starts_at,
                           PaperSession.feedback_released_at)
                    .join(Week, PaperSession.week_id == Week.id)
                    .join(Paper, PaperSession.paper_id == Paper.id)
                    .where(PaperSession.course_id == course.id)
                    .order_by(PaperSession.starts_at)).tuples()}
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"presentations": 0, "reviews": 0})
    for session_id, count in db.session.execute(
            select(Slot.session_id, func.count(Slot.id))
            .join(PaperSession, Slot.session_id == PaperSession.id)
            .where(PaperSession.course_id == course.id, PaperSession.starts_at <= now,
                   Slot.group_id.is_not(None),
                   ~select(Score.id).where(Score.slot_id == Slot.id).exists())
            .group_by(Slot.session_id)).tuples():
        counts[session_id]["presentations"] = count
    for session_id, count in db.session.execute(
            select(Review.session_id, func.count(Review.id))
            .join(PaperSession, Review.session_id == PaperSession.id)
            .where(PaperSession.course_id == course.id, PaperSession.review_deadline < now,
                   Review.status == ReviewStatus.submitted,
                   ~select(Score.id).where(Score.review_id == Review.id).exists())
            .group_by(Review.session_id)).tuples():
        counts[session_id]["reviews"] = count
    ungraded = [{"week": week, "paper": paper, **counts[session_id]}
                for session_id, (week, paper, _starts, _released) in sessions.items()
                if session_id in counts]
    regrades, oldest = db.session.execute(
        select(func.count(RegradeRequest.id), func.min(RegradeRequest.created_at))
        .where(RegradeRequest.course_id == course.id, RegradeRequest.status == "open")).one()
    unreleased = [{"week": week, "paper": paper,
                   "held": format_local(starts_at, course.timezone)}
                  for week, paper, starts_at, released in sessions.values()
                  if starts_at <= now and released is None]
    code = course.code
    return {"ungraded": ungraded, "regrades": int(regrades or 0),
            "oldest_regrade": format_local(oldest, course.timezone) if oldest else None,
            "unreleased": unreleased,
            "grading_link": public_url("grading.index", course_code=code),
            "reviews_link": public_url("grading.review_queue", course_code=code),
            "regrades_link": public_url("grading.regrades", course_code=code)}


def _send_digest(course: Course, week: date, now: datetime) -> int:
    facts = digest_facts(course, now)
    if not (facts["ungraded"] or facts["regrades"] or facts["unreleased"]):
        return 0
    staff = list(db.session.scalars(
        select(User).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id,
               Enrollment.role.in_([CourseRole.instructor, CourseRole.ta]))
        .order_by(User.id)))
    for user in staff:
        queue_mail(user.email, f"{course.title}: staff digest for the week of {week.isoformat()}",
                   "staff_digest", {"name": user.first_name or user.full_name,
                                    "course": course.title, **facts}, course_id=course.id)
    return len(staff)


def digest_job() -> None:
    """The periodic job (hourly): queue the digests due now; they go out after the commit."""
    from models import utcnow

    send_staff_digests(utcnow())
    db.session.commit()
