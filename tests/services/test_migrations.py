"""The schema comes from the migrations: they build the models' schema and undo it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from app import create_app
from models import db
from review.extensions import init_migrations
from tests.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def test_upgrade_matches_the_models_and_downgrade_removes_everything(empty_database: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x",
                      "TESTING": True})
    init_migrations(app)
    with app.app_context():
        upgrade()
        engine = create_engine(empty_database)
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert set(db.metadata.tables) <= tables
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == [], "models.py and migrations/ disagree; regenerate the migration"
        downgrade(revision="base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        db.engine.dispose()


def test_the_upgrade_records_who_presented_every_slot_already_held(empty_database: str) -> None:
    """A database from before presenters were recorded: the upgrade records the members of each
    group that held a slot of a session already started, and leaves future slots to the app."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x",
                      "TESTING": True})
    init_migrations(app)
    with app.app_context():
        upgrade(revision="0001")
        engine = create_engine(empty_database)
        past, future = "2020-01-06 09:00:00", "2999-01-06 09:00:00"
        with engine.begin() as connection:
            def insert(table: str, **values: object) -> None:
                columns = ", ".join(f'"{name}"' for name in values)
                marks = ", ".join(f":{name}" for name in values)
                connection.execute(text(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'),
                                   values)

            insert("course", id=1, code="old-course", title="Old", term="T", timezone="UTC",
                   discussion_minutes=10, group_min_size=1, group_max_size=4,
                   groups_locked=False, calendar_token="t", definition="{}",
                   created_at=past)
            for user_id in (1, 2, 3):
                insert("user", id=user_id, email=f"u{user_id}@example.edu", first_name="U",
                       last_name=str(user_id), session_token=f"s{user_id}", is_admin=False,
                       created_at=past)
            insert("presentation_role", id=1, course_id=1, key="talk", name="Talk", minutes=20,
                   position=1)
            insert("student_group", id=1, course_id=1, name="Held", join_code="j1",
                   calendar_token="g1", created_at=past)
            for membership_id, user_id in ((1, 1), (2, 2)):
                insert("membership", id=membership_id, course_id=1, group_id=1, user_id=user_id,
                       joined_at=past)
            for number, starts in ((1, past), (2, future)):
                insert("week", id=number, course_id=1, number=number, starts_on=starts[:10],
                       topic="", is_break=False)
                insert("paper", id=number, course_id=1, title=f"P{number}", authors="", venue="",
                       url="")
                insert("paper_session", id=number, course_id=1, week_id=number, paper_id=number,
                       starts_at=starts, review_opens_at=starts, review_deadline=starts)
                insert("slot", id=number, session_id=number, role_id=1, group_id=1, version=1)
        upgrade()
        with engine.connect() as connection:
            presenters = connection.execute(text(
                "SELECT slot_id, user_id FROM slot_presenter ORDER BY slot_id, user_id")).all()
            recorded = connection.execute(text(
                "SELECT id FROM slot WHERE presenters_recorded_at IS NOT NULL")).scalars().all()
        assert [tuple(row) for row in presenters] == [(1, 1), (1, 2)]
        assert recorded == [1]
        downgrade(revision="base")
        engine.dispose()
        db.engine.dispose()


def test_the_upgrade_gives_every_existing_user_a_calendar_token_of_their_own(
        empty_database: str) -> None:
    """Personal calendar feeds (0003): users who existed before get a distinct secret token."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x",
                      "TESTING": True})
    init_migrations(app)
    with app.app_context():
        upgrade(revision="0002")
        engine = create_engine(empty_database)
        with engine.begin() as connection:
            for number in range(3):
                connection.execute(text(
                    'INSERT INTO "user" (email, first_name, last_name, password_hash, '
                    'session_token, is_admin, created_at) VALUES (:email, \'A\', \'B\', \'\', '
                    ':token, :no, :created)'),
                    {"email": f"user{number}@example.org", "token": f"t{number}", "no": False,
                     "created": "2026-01-01 00:00:00"})
        upgrade()
        with engine.connect() as connection:
            tokens = connection.execute(text('SELECT calendar_token FROM "user"')).scalars().all()
        assert len(tokens) == 3 and len(set(tokens)) == 3 and all(len(t) >= 32 for t in tokens)
        engine.dispose()
        db.engine.dispose()
