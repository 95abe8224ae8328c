"""Real concurrent claims: threads, each with its own app context and database session.

Runs against a file SQLite database (the schema from ``db.create_all()``) and, when DATABASE_URL
is PostgreSQL, against a throwaway PostgreSQL database too. Twenty groups race for one slot,
lined up by a barrier, a few rounds: exactly one wins each round, the others are told the slot
was just taken. A second race has one group claim many slots at once with a quota of one.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Iterator

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from models import Group, Slot, User, db
from review.signup.services import QuotaReached, SignupError, SlotTaken, claim_slot
from tests.conftest import ON_POSTGRES, make_app
from tests.factories import make_course, make_group, make_member, set_signup

THREADS = 20
ROUNDS = 3
NOW = datetime(2030, 9, 1, 12, tzinfo=timezone.utc)


@contextmanager
def database(kind: str, tmp_path) -> Iterator[str]:
    if kind == "sqlite-file":
        yield f"sqlite:///{tmp_path / 'race.sqlite'}"
        return
    if not ON_POSTGRES:
        pytest.skip("DATABASE_URL is not PostgreSQL; the PostgreSQL race runs in that suite run")
    from tests.postgres import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


def build(url: str, groups: int, members_per_group: int = 1):
    app = make_app(SQLALCHEMY_DATABASE_URI=url,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 5, "max_overflow": 5})
    with app.app_context():
        db.create_all()
        course = make_course("race", first_monday=date(2030, 9, 2))
        set_signup(course, mode="first_come", opens_at=datetime(2030, 1, 1),
                   closes_at=datetime(2031, 1, 1), quota=1)
        pairs = []
        for _ in range(groups):
            members = [make_member(course) for _ in range(members_per_group)]
            group = make_group(course, members)
            pairs.append((group.id, [m.id for m in members]))
        slot_ids = [s.id for session in course.sessions for s in session.slots]
        db.session.commit()
        db.session.remove()
    return app, pairs, slot_ids


def race(app, attempts: list[tuple[int, int, int]]) -> list[str]:
    """Run (slot_id, group_id, user_id) claims at once; return each outcome."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = [""] * len(attempts)

    def worker(index: int, slot_id: int, group_id: int, user_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                slot = db.session.get(Slot, slot_id)
                group = db.session.get(Group, group_id)
                user = db.session.get(User, user_id)
                claim_slot(slot, group, user, NOW)
                db.session.commit()
                outcomes[index] = "won"
            except SlotTaken:
                db.session.rollback()
                outcomes[index] = "taken"
            except QuotaReached:
                db.session.rollback()
                outcomes[index] = "quota"
            except SignupError as exc:
                db.session.rollback()
                outcomes[index] = f"refused: {exc}"
            except OperationalError as exc:
                db.session.rollback()
                outcomes[index] = f"database error: {exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, *attempt))
               for i, attempt in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("kind", ["sqlite-file", "postgresql"])
def test_twenty_groups_one_slot_exactly_one_winner(kind, tmp_path) -> None:
    with database(kind, tmp_path) as url:
        app, pairs, slot_ids = build(url, THREADS)
        target = slot_ids[0]
        try:
            for _ in range(ROUNDS):
                outcomes = race(app, [(target, group_id, users[0]) for group_id, users in pairs])
                assert outcomes.count("won") == 1, outcomes
                assert outcomes.count("taken") == THREADS - 1, outcomes
                winner = pairs[outcomes.index("won")][0]
                with app.app_context():
                    assert db.session.get(Slot, target).group_id == winner
                    db.session.execute(update(Slot).where(Slot.id == target)
                                       .values(group_id=None, version=Slot.version + 1))
                    db.session.commit()
                    db.session.remove()
        finally:
            with app.app_context():
                db.engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite-file", "postgresql"])
def test_one_group_claiming_many_slots_at_once_stays_within_its_quota(kind, tmp_path) -> None:
    with database(kind, tmp_path) as url:
        app, pairs, slot_ids = build(url, groups=1, members_per_group=3)
        group_id, users = pairs[0]
        # Ten claims on ten different sessions' slots by the group's three members.
        by_session: dict[int, int] = {}
        with app.app_context():
            for slot in db.session.scalars(select(Slot).order_by(Slot.id)):
                by_session.setdefault(slot.session_id, slot.id)
            db.session.remove()
        targets = list(by_session.values())
        attempts = [(targets[i % len(targets)], group_id, users[i % len(users)])
                    for i in range(10)]
        try:
            outcomes = race(app, attempts)
            assert outcomes.count("won") == 1, outcomes
            assert all(o in ("won", "taken", "quota") for o in outcomes), outcomes
            with app.app_context():
                held = db.session.scalars(select(Slot.id).where(Slot.group_id == group_id)).all()
                assert len(held) == 1
                db.session.remove()
        finally:
            with app.app_context():
                db.engine.dispose()
