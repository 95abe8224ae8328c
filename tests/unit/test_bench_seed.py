"""The benchmark's term (bench/seed_term.py) seeds at any moment of the week: it is anchored on
the week's Monday, and the test of the grade pages' imports seeds it too. With its review window
opening 14 days before the open session, at the session time, it could not be seeded on a Monday
before that time (StopIteration: no open session), and that test failed on such mornings.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.seed_term import seed_term
from models import PaperSession, db

MONDAY = datetime(2026, 12, 7, tzinfo=timezone.utc)
# Around the session time (08:30) on the Monday the term is anchored on, midweek, and the
# seconds either side of the week's change.
MOMENTS = [MONDAY + timedelta(seconds=30), MONDAY + timedelta(hours=8, minutes=29, seconds=59),
           MONDAY + timedelta(hours=8, minutes=30), MONDAY + timedelta(days=2, hours=12),
           MONDAY - timedelta(seconds=1), MONDAY + timedelta(days=7) - timedelta(seconds=1)]


@pytest.mark.parametrize("now", MOMENTS, ids=lambda moment: moment.strftime("%a-%d-%H:%M:%S"))
def test_the_bench_term_seeds_with_its_past_sessions_and_one_open_window_at_any_moment(
        app, now) -> None:
    term = seed_term(students=30, sessions=3, now=now)
    sessions = {s.id: s for s in db.session.query(PaperSession)}
    open_session = sessions[term["open_session"]]
    assert open_session.review_opens_at <= now < open_session.review_deadline
    past = [s for s in sessions.values() if s.review_deadline < now]
    assert len(past) == 3 and term["past_session"] == max(past, key=lambda s: s.starts_at).id
