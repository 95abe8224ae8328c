"""Backup and restore drill: a backup taken while writers commit restores whole.

Every row committed before the backup started is in the restored copy, the copy passes
SQLite's integrity check, and a restore never overwrites a database holding data unless forced.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import User, db
from tests.conftest import ON_POSTGRES, make_app


def _file_app(path: Path) -> Flask:
    return make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")


@pytest.fixture
def live_db(tmp_path) -> Iterator[Flask]:
    app = _file_app(tmp_path / "live.sqlite")
    with app.app_context():
        db.create_all()
        yield app
        db.engine.dispose()


class Writers:
    """Threads inserting users, each recording the emails whose commit has returned."""

    def __init__(self, app: Flask, count: int = 3):
        self.app, self.stop, self.committed = app, threading.Event(), []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(count)]

    def _write(self, number: int) -> None:
        with self.app.app_context():
            index = 0
            while not self.stop.is_set():
                email = f"w{number}-{index}@example.edu"
                with Session(db.engine) as session:
                    session.add(User(email=email, first_name="W", last_name=str(index)))
                    session.commit()
                with self.lock:
                    self.committed.append(email)
                index += 1

    def __enter__(self) -> "Writers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.committed)


def test_a_backup_during_concurrent_writes_restores_every_committed_row(live_db, tmp_path) -> None:
    runner = live_db.test_cli_runner()
    out = tmp_path / "backup.sqlite"
    with Writers(live_db) as writers:
        while len(writers.snapshot()) < 200:
            time.sleep(0.01)
        before = writers.snapshot()
        result = runner.invoke(args=["backup", str(out)])
        assert result.exit_code == 0, result.output
        while len(writers.snapshot()) < len(before) + 50:
            time.sleep(0.01)  # the writers keep going after the backup
    check = sqlite3.connect(out)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()

    fresh = _file_app(tmp_path / "restored.sqlite")
    with fresh.app_context():
        result = fresh.test_cli_runner().invoke(args=["restore", str(out)])
        assert result.exit_code == 0, result.output
        restored = set(db.session.scalars(select(User.email)))
        assert set(before) <= restored
        db.session.remove()
        db.engine.dispose()
    check = sqlite3.connect(tmp_path / "restored.sqlite")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_restore_refuses_a_database_with_data_unless_forced(live_db, tmp_path) -> None:
    runner = live_db.test_cli_runner()
    db.session.add(User(email="kept@example.edu", first_name="K", last_name="Kept"))
    db.session.commit()
    out = tmp_path / "backup.sqlite"
    assert runner.invoke(args=["backup", str(out)]).exit_code == 0
    db.session.add(User(email="later@example.edu", first_name="L", last_name="Later"))
    db.session.commit()
    refused = runner.invoke(args=["restore", str(out)])
    assert refused.exit_code != 0 and "not empty" in refused.output
    assert "Traceback" not in refused.output
    assert db.session.scalar(select(User).filter_by(email="later@example.edu")) is not None
    db.session.remove()
    forced = runner.invoke(args=["restore", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert set(db.session.scalars(select(User.email))) == {"kept@example.edu"}


def test_backup_never_overwrites_and_restore_refuses_a_file_that_is_not_a_backup(live_db,
                                                                               tmp_path) -> None:
    runner = live_db.test_cli_runner()
    existing = tmp_path / "existing.sqlite"
    existing.write_bytes(b"precious")
    assert "already exists" in runner.invoke(args=["backup", str(existing)]).output
    assert existing.read_bytes() == b"precious"
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    result = runner.invoke(args=["restore", str(junk)])
    assert result.exit_code != 0 and "not a SQLite backup" in result.output


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL variant: runs when DATABASE_URL is PostgreSQL")
def test_postgresql_backup_and_restore_round_trip(app, runner, tmp_path) -> None:
    db.session.add(User(email="pg@example.edu", first_name="P", last_name="G"))
    db.session.commit()
    out = tmp_path / "backup.dump"
    result = runner.invoke(args=["backup", str(out)])
    assert result.exit_code == 0, result.output
    db.session.add(User(email="after@example.edu", first_name="A", last_name="F"))
    db.session.commit()
    db.session.remove()
    result = runner.invoke(args=["restore", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert set(db.session.scalars(select(User.email))) == {"pg@example.edu"}
