"""The schema comes from the migrations: they build the models' schema and undo it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect

from app import create_app
from models import db
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
