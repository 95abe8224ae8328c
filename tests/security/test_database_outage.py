"""A database that is down or locked answers 503 with the app's own page, then recovers.

An outage once showed a bare "Internal Server Error" without security headers, even on GET
/login: the 500 handler rendered the base layout, whose current_user loads from the database,
and failed too.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import contextmanager
from glob import glob
from pathlib import Path
from typing import Iterator

import pytest
from flask.testing import FlaskClient

from models import CourseRole, User, db
from tests.conftest import make_app
from tests.factories import make_course, make_member
from tests.smtp import free_port


def _signed_in_client(app, user_id: int):
    # A plain client: these tests push no long-lived app context, as in production.
    client = FlaskClient(app, app.response_class, use_cookies=True)
    with app.app_context():
        user = db.session.get(User, user_id)
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
    return client


def _assert_unavailable_page(response) -> None:
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "not saved" in html and "still in your browser" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Retry-After" in response.headers


# --- SQLite: "database is locked" past the busy timeout --------------------------------------


@contextmanager
def _locked(app, path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock: readers and writers wait, then give up."""
    with app.app_context():
        db.engine.dispose()  # a fresh worker: the blocker can leave WAL mode and lock readers out
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=DELETE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@pytest.fixture
def sqlite_app(tmp_path) -> Iterator:
    path = tmp_path / "review.sqlite"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", SQLITE_BUSY_TIMEOUT_MS=200)
    with app.app_context():
        db.create_all()
        course = make_course()
        student = make_member(course, CourseRole.student)
        db.session.commit()
        ids = (course.code, course.sessions[0].id, student.id)
        db.session.remove()
    yield app, path, ids
    with app.app_context():
        db.engine.dispose()


def test_a_locked_sqlite_database_answers_503_and_recovers_without_restart(sqlite_app) -> None:
    app, path, (code, session_id, student_id) = sqlite_app
    client = _signed_in_client(app, student_id)
    assert client.get("/login").status_code == 302  # signed in: sent on to the courses
    with _locked(app, path):
        _assert_unavailable_page(client.get("/login"))
        _assert_unavailable_page(client.post(f"/c/{code}/reviews/{session_id}/write",
                                             data={"summary": "my careful words", "action": "save"}))
        autosave = client.post(f"/c/{code}/reviews/{session_id}/autosave", json={"summary": "x"})
        assert autosave.status_code == 503 and autosave.get_json()["ok"] is False
    assert client.get("/login").status_code == 302


def test_the_500_page_is_the_apps_own_even_when_the_database_is_down(sqlite_app) -> None:
    app, path, (_, _, student_id) = sqlite_app
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom() -> str:
        raise RuntimeError("a bug")

    client = _signed_in_client(app, student_id)
    with _locked(app, path):
        response = client.get("/boom-for-test")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers


# --- PostgreSQL: a private cluster, stopped and started again ------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, callable, callable]]:
    """A throw-away cluster in a temp dir on its own port; never the shared server."""
    bindir = _postgres_bin()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("initdb/pg_ctl missing under CI")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="review-pg-"))
    data, port = root / "data", free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        # No pipes: the server would hold them open and the call would never return.
        subprocess.run([*as_user, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    start = lambda: run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                         str(root / "server.log"), "-w", "start")  # noqa: E731
    stop = lambda: run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")  # noqa: E731
    start()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", start, stop
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


def test_a_stopped_postgresql_answers_503_and_recovers_when_it_is_back(private_postgres) -> None:
    url, start, stop = private_postgres
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        course = make_course()
        student = make_member(course, CourseRole.student)
        db.session.commit()
        student_id = student.id
        db.session.remove()
    client = _signed_in_client(app, student_id)
    assert client.get("/login").status_code == 302
    stop()
    _assert_unavailable_page(client.get("/login"))
    start()
    deadline = time.monotonic() + 10
    while client.get("/login").status_code != 302 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get("/login").status_code == 302
    with app.app_context():
        db.engine.dispose()
