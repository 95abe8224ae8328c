"""Throwaway PostgreSQL databases for tests that need a whole database of their own."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest

SERVER_URL = os.environ.get("POSTGRES_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def require_postgres() -> None:
    """Skip with the reason when PostgreSQL is unreachable; under CI=true that is a failure."""
    import psycopg

    try:
        psycopg.connect(_plain(SERVER_URL) + "/postgres", connect_timeout=3).close()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {SERVER_URL} is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL at {SERVER_URL} is unreachable: {exc}")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    import psycopg

    require_postgres()
    name = f"review_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_plain(SERVER_URL) + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER_URL}/{name}"
    finally:
        with psycopg.connect(_plain(SERVER_URL) + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
