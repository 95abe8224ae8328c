"""Backup and restore of the whole database: ``flask --app app backup OUT`` / ``restore IN``.

SQLite uses the online backup API, which copies a consistent snapshot while the site keeps
writing (copying the live file can lose committed rows or copy a torn page). PostgreSQL uses
``pg_dump -Fc`` and ``pg_restore``. A restore goes into an empty database only, unless forced:
restoring over live data by mistake would lose everything written since the backup.

Public API:
    BackupError: a message for the operator (bad file, non-empty target, missing pg tools).
    backup_database(engine, out) -> str: what was written.
    restore_database(engine, source, force=False) -> str: what was restored.
    backup_command, restore_command: the CLI commands (registered in review/cli.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
# Runs pg_dump/pg_restore with an argument list, never through a shell.
import subprocess  # nosec B404
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from flask.cli import with_appcontext
from sqlalchemy import Engine, func, inspect, select, table
from sqlalchemy.engine import make_url

from models import db
from review.core.errors import DomainError


class BackupError(DomainError):
    pass


def _is_sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def _rows_in(engine: Engine) -> int:
    """How many rows the application's tables hold (Alembic's bookkeeping does not count)."""
    names = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.connect() as connection:
        return sum(connection.scalar(select(func.count()).select_from(table(name))) or 0
                   for name in names)


@contextmanager
def _sqlite_connection(engine: Engine) -> Iterator[sqlite3.Connection]:
    """The engine's own sqlite3 connection (an in-memory database exists only through it)."""
    pooled = engine.raw_connection()
    try:
        yield pooled.driver_connection  # type: ignore[misc]
    finally:
        pooled.close()


def _pg_command(engine: Engine, program: str) -> tuple[list[str], dict[str, str]]:
    tool = shutil.which(program)
    if tool is None:
        raise BackupError(f"{program} is not installed; install the PostgreSQL client tools.")
    url = make_url(engine.url)
    # The password goes in the environment, not the command line that `ps` shows to everyone.
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    dsn = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return [tool, f"--dbname={dsn}"], env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # An argument list from shutil.which and the configured URL; no shell is involved.
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # nosec B603
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip() or result.returncode}")


def backup_database(engine: Engine, out: Path) -> str:
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name (nothing was written).")
    out.parent.mkdir(parents=True, exist_ok=True)
    if _is_sqlite(engine):
        target = sqlite3.connect(out)
        try:
            with _sqlite_connection(engine) as source:
                # One step: the whole database is copied under one read transaction, so the
                # copy is the database as of one moment, with every row committed before it.
                source.backup(target)
        finally:
            target.close()
        return f"Backed up the SQLite database to {out} ({out.stat().st_size} bytes)."
    command, env = _pg_command(engine, "pg_dump")
    _run([*command, "--format=custom", f"--file={out}"], env, "pg_dump")
    return f"Backed up the PostgreSQL database to {out} ({out.stat().st_size} bytes)."


def _check_sqlite_file(source: Path) -> None:
    try:
        connection = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite backup ({exc}); nothing was restored.") from None
    if verdict != "ok":
        raise BackupError(f"{source} is damaged (integrity check: {verdict}); nothing was restored.")


def restore_database(engine: Engine, source: Path, force: bool = False) -> str:
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} does not exist; nothing was restored.")
    if _is_sqlite(engine):
        _check_sqlite_file(source)
    rows = _rows_in(engine)
    if rows and not force:
        raise BackupError(f"The database is not empty ({rows} rows); nothing was restored. "
                          "Restore into a new, empty database, or pass --force to replace "
                          "everything in this one with the backup.")
    engine.dispose()
    if _is_sqlite(engine):
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            with _sqlite_connection(engine) as target:
                backup.backup(target)  # replaces the whole target database, schema and rows
        finally:
            backup.close()
    else:
        command, env = _pg_command(engine, "pg_restore")
        _run([*command, "--clean", "--if-exists", "--no-owner", "--single-transaction",
              str(source)], env, "pg_restore")
    engine.dispose()
    return f"Restored {source} ({_rows_in(engine)} rows)."


@click.command("backup")
@click.argument("out", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(out: str) -> None:
    """Write a consistent backup of the database to OUT (safe while the site runs)."""
    try:
        click.echo(backup_database(db.engine, Path(out)))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("restore")
@click.argument("source", metavar="IN", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Replace a database that already holds data (everything in it is lost).")
@with_appcontext
def restore_command(source: str, force: bool) -> None:
    """Restore the backup IN into the (empty) database; stop the site first."""
    try:
        click.echo(restore_database(db.engine, Path(source), force=force))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
