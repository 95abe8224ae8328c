"""Fixtures: an app on a fresh database per test, a client, a CLI runner, and a login helper.

The database is in-memory SQLite unless DATABASE_URL names another (CI runs the suite again on
PostgreSQL). On SQLite the schema is created per test; on PostgreSQL it comes from the migrations
once per run and every table is emptied between tests.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest
from flask import Flask, g
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from app import create_app
from models import User, db
from tests.smtp import Inbox, free_port

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite://")
ON_POSTGRES = DATABASE_URL.startswith("postgresql")


def base_config(**overrides: Any) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
        "SESSION_COOKIE_SECURE": False,
        # Jobs (mail) run as soon as they are enqueued; tests of the queue itself choose another.
        "JOBS_BACKEND": "immediate",
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def _postgres_schema() -> Iterator[None]:
    """On PostgreSQL: build the schema once from the migrations, as a deployment would."""
    if not ON_POSTGRES:
        yield
        return
    from flask_migrate import upgrade

    from review.extensions import init_migrations

    app = create_app(base_config())
    init_migrations(app)
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    yield


def _empty_all_tables() -> None:
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class FreshGlobalsClient(FlaskClient):
    """Each request starts with an empty ``g``, as in production.

    The ``app`` fixture keeps one app context pushed so tests can use ``db.session``; Flask then
    reuses that context for requests, and ``g`` (where Flask-Login caches the current user and
    the course decorators keep the course) would leak from one request into the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


def make_app(**overrides: Any) -> Flask:
    app = create_app(base_config(**overrides))
    app.test_client_class = FreshGlobalsClient
    return app


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Overrides for the ``app`` fixture; a test module may redefine it."""
    return {}


@pytest.fixture
def app(_postgres_schema: None, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = make_app(**app_config)
    with app.app_context():
        if ON_POSTGRES:
            _empty_all_tables()
        else:
            db.create_all()
        yield app
        db.session.remove()
        if not ON_POSTGRES:
            db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def login(client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Sign a user in on the test client without the cost of a password hash."""

    def sign_in(user: User) -> FlaskClient:
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return client

    return sign_in


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server: (its inbox, its port)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()
