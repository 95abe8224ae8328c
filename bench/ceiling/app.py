"""The ceiling: a bare Flask + Flask-SQLAlchemy app on the same machine and database.

Two routes, the floor of what any page or write of the application could cost:

    GET  /table   a 200-row joined table (items x owners) rendered by a Jinja template
    POST /insert  one row of five text fields inserted and committed

    python bench/ceiling/app.py --init DATABASE_URL    # create the tables and the 200 rows
    gunicorn -c bench/gunicorn.conf.py 'bench.ceiling.app:create_app()'   # DATABASE_URL set

SQLite connections get the application's pragmas (bench/ceiling shares nothing else with it),
so both sides pay the same for durability.
"""

from __future__ import annotations

import os
import sys

from flask import Flask, render_template_string, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Owner(db.Model):
    __tablename__ = "ceiling_owner"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))


class Item(db.Model):
    __tablename__ = "ceiling_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("ceiling_owner.id"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    score: Mapped[float]


class Note(db.Model):
    __tablename__ = "ceiling_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    a: Mapped[str] = mapped_column(Text)
    b: Mapped[str] = mapped_column(Text)
    c: Mapped[str] = mapped_column(Text)
    d: Mapped[str] = mapped_column(Text)
    e: Mapped[str] = mapped_column(Text)


TABLE = """<!doctype html><html><head><title>Items</title></head><body><h1>Items</h1>
<table><thead><tr><th>#</th><th>Title</th><th>Owner</th><th>Email</th><th>Status</th><th>Score</th></tr></thead>
<tbody>{% for item, owner in rows %}<tr><td>{{ item.id }}</td><td>{{ item.title }}</td><td>{{ owner.name }}</td>
<td>{{ owner.email }}</td><td>{{ item.status }}</td><td>{{ '%.1f' % item.score }}</td></tr>{% endfor %}</tbody>
</table></body></html>"""


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    # The application's pragmas (app.py: _tune_sqlite); synchronous stays FULL there too.
    for pragma in ("foreign_keys=ON", "busy_timeout=5000", "journal_mode=WAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    # As the application has it (app.py): connections tested when taken, but for SQLite.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_pre_ping": not os.environ["DATABASE_URL"].startswith("sqlite")}
    db.init_app(app)

    @app.get("/table")
    def table() -> str:
        rows = db.session.execute(select(Item, Owner).join(Owner, Owner.id == Item.owner_id)
                                  .order_by(Item.id).limit(200)).tuples().all()
        return render_template_string(TABLE, rows=rows)

    @app.post("/insert")
    def insert() -> tuple[str, int]:
        form = request.form
        db.session.add(Note(**{k: form.get(k, "") for k in "abcde"}))
        db.session.commit()
        return "ok", 201

    return app


def init(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    app = create_app()
    with app.app_context():
        db.create_all()
        owners = [Owner(name=f"Owner {i}", email=f"owner{i}@example.org") for i in range(40)]
        db.session.add_all(owners)
        db.session.flush()
        db.session.add_all(Item(owner_id=owners[i % 40].id, title=f"Item number {i}",
                                status=("open", "done", "late")[i % 3], score=i * 0.37)
                           for i in range(200))
        db.session.commit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--init":
        init(sys.argv[2])
    else:
        sys.exit(__doc__)
