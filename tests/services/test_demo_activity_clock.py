"""The demo's lively term is a term as it would look at the clock it is seeded at.

`demo seed --with-activity` seeds activity "up to now". A review cannot be saved before its
window opens, nor anything happen after now; a presentation is graded and rated only once it was
held. The clock here is fixed at each edge of one session's window and of its class meeting, so
the seeding is tried at the moments a real run could land on (CI failed one morning when now fell
within a day of a window's opening: a draft was dated before it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import (PaperSession, PeerRating, Review, ReviewVersion, Score, Slot, db)
from review.courses.activity import seed_activity
from review.courses.demo import seed_demo
from review.signup.calendar import session_minutes

AS_OF = date(2026, 11, 26)
MINUTE = timedelta(minutes=1)


def _moment(sessions: list[PaperSession], name: str) -> datetime:
    """A named moment of the term; "mid" is the session whose window holds the as-of day."""
    mid = next(s for s in sessions if s.review_opens_at.date() <= AS_OF <= s.starts_at.date())
    return {
        "before the first window opens": sessions[0].review_opens_at - timedelta(days=1),
        "a minute after a window opens": mid.review_opens_at + MINUTE,
        "a minute before its deadline": mid.review_deadline - MINUTE,
        "a minute after its deadline": mid.review_deadline + MINUTE,
        "a minute into its class meeting": mid.starts_at + MINUTE,
        "the day after its class meeting": mid.starts_at + timedelta(days=1),
        "a month after the last class": sessions[-1].starts_at + timedelta(days=30),
    }[name]


@pytest.mark.parametrize("name", [
    "before the first window opens", "a minute after a window opens",
    "a minute before its deadline", "a minute after its deadline",
    "a minute into its class meeting", "the day after its class meeting",
    "a month after the last class",
])
def test_demo_activity_never_dates_work_outside_its_window_or_after_now(app, name) -> None:
    course = seed_demo(as_of=AS_OF, keep_dates=False, password="demo-password").course
    sessions = list(db.session.scalars(select(PaperSession).where(
        PaperSession.course_id == course.id).order_by(PaperSession.starts_at)))
    now = _moment(sessions, name)

    seed_activity(course, now=now)

    for review, session in db.session.execute(select(Review, PaperSession).join(PaperSession)):
        assert session.review_opens_at <= review.saved_at <= now, (session.id, review.saved_at)
        if review.submitted_at is not None:
            assert session.review_opens_at <= review.submitted_at <= now
    for submitted_at in db.session.scalars(select(ReviewVersion.submitted_at)):
        assert submitted_at <= now
    for session in sessions:
        for released in (session.reviews_released_at, session.feedback_released_at):
            assert released is None or session.review_deadline < released <= now
    # Held: the meeting is over (its presentations' and discussion's minutes, the course's own).
    held_sessions = {s.id for s in sessions
                     if s.starts_at + timedelta(minutes=session_minutes(course, s)) <= now}
    graded_slots = set(db.session.scalars(
        select(Slot.session_id).join(Score, Score.slot_id == Slot.id)))
    assert graded_slots <= held_sessions
    rated_sessions = set(db.session.scalars(select(Slot.session_id).join(PeerRating)))
    assert rated_sessions <= held_sessions
    for updated_at in db.session.scalars(select(Score.updated_at)):
        assert updated_at <= now


def test_demo_activity_at_the_as_of_day_holds_a_term_of_work(app) -> None:
    course = seed_demo(as_of=AS_OF, keep_dates=False, password="demo-password").course
    summary = seed_activity(course, now=datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc))
    assert summary.groups == 10 and summary.slots == 30
    assert summary.reviews > 60 and summary.scores > 50 and summary.drafts > 0
