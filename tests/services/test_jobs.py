"""The job queue's worker: `flask worker --burst` and the long-running consumer, on the embedded
SQLite queue and on Redis (required under CI=true), sending through a real SMTP server."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 - the test starts the app's own worker command
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from models import OutboxMessage, OutboxStatus, db
from review.jobs import jobs
from review.mail import queue_mail
from tests.conftest import DATABASE_URL, ON_POSTGRES

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PROJECT = Path(__file__).resolve().parents[2]


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")


@pytest.fixture(params=["sqlite", "redis"])
def app_config(request, smtp, tmp_path) -> dict[str, Any]:
    if request.param == "redis":
        _require_redis()
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "JOBS_BACKEND": request.param,
            "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite"), "JOBS_REDIS_URL": REDIS_URL,
            # A queue of this test's own on the shared Redis.
            "JOBS_QUEUE_NAME": f"test-{uuid.uuid4().hex}"}


@pytest.fixture
def queue(app):
    huey = jobs().huey
    yield huey
    huey.flush()


def test_worker_burst_sends_every_queued_mail_then_exits(app, queue, smtp) -> None:
    inbox, _ = smtp
    for number in range(3):
        queue_mail(f"s{number}@example.edu", f"Mail {number}", "reset_password",
                   {"hours": 2, "link": "https://review.example.edu/x"})
    db.session.commit()
    assert inbox.messages == [] and queue.pending_count() == 3
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert "Ran 3 job(s)" in result.output
    assert sorted(m["Subject"] for m in inbox.messages) == ["Mail 0", "Mail 1", "Mail 2"]
    assert queue.pending_count() == 0
    db.session.expire_all()
    assert {m.status for m in db.session.scalars(db.select(OutboxMessage))} == {OutboxStatus.sent}


@pytest.fixture
def file_database(app_config, tmp_path) -> dict[str, Any]:
    """A database a second process can open too (the in-memory one cannot be shared)."""
    uri = DATABASE_URL if ON_POSTGRES else f"sqlite:///{tmp_path / 'review.sqlite'}"
    return {**app_config, "SQLALCHEMY_DATABASE_URI": uri}


@pytest.mark.parametrize("app_config", ["sqlite", "redis"], indirect=True)
def test_the_worker_process_sends_mail_queued_by_the_site(file_database, smtp, tmp_path) -> None:
    from tests.conftest import make_app

    inbox, port = smtp
    app = make_app(**file_database)
    with app.app_context():
        db.create_all()
        queue_mail("s@example.edu", "From the worker", "reset_password",
                   {"hours": 2, "link": "https://review.example.edu/x"})
        db.session.commit()
    settings = {"SQLALCHEMY_DATABASE_URI": file_database["SQLALCHEMY_DATABASE_URI"],
                "JOBS_BACKEND": file_database["JOBS_BACKEND"],
                "JOBS_SQLITE_PATH": file_database["JOBS_SQLITE_PATH"],
                "JOBS_REDIS_URL": REDIS_URL, "JOBS_QUEUE_NAME": file_database["JOBS_QUEUE_NAME"],
                "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
                "PUBLIC_BASE_URL": "https://review.example.edu", "SECRET_KEY": "test-secret"}
    env = {**os.environ, **{f"FLASK_{key}": value for key, value in settings.items()}}
    env.pop("DATABASE_URL", None)
    worker = subprocess.Popen(  # nosec B603 - fixed arguments, no shell
        [sys.executable, "-m", "flask", "--app", "app", "worker"], cwd=PROJECT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not inbox.messages and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGINT)
        output = worker.communicate(timeout=30)[0].decode(errors="replace")
    assert [m["Subject"] for m in inbox.messages] == ["From the worker"], output
    with app.app_context():
        assert db.session.scalar(db.select(OutboxMessage.status)) == OutboxStatus.sent
        if ON_POSTGRES:
            db.session.remove()
        else:
            db.drop_all()
        jobs().huey.flush()
        db.engine.dispose()
