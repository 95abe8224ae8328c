"""The signed-in floor: the least any review submit can cost on this stack, written bare.

The insert ceiling (bench/ceiling/app.py) is one anonymous row; a review submit cannot be that.
The stack is fixed (Flask, Flask-Login, Flask-WTF, SQLAlchemy) and so is what a submit must
keep: only a signed-in student may write, the cookie is refused after sign-out (a per-user
session token checked on every request), a forged form is refused (CSRF), the fields are
validated by a WTForms form, the student's own review is read under a lock, changed, and a
version is recorded (the term's record of what was submitted when). This app does exactly that
and nothing else, with none of the application's code:

    GET  /floor/sign-in/<n>   sign in user n (the driver's preparation); answers the CSRF token
    POST /floor/submit        the bare submit: sign-in, CSRF, form, locked read, UPDATE, INSERT
                              of the version, commit, 303 to the receipt

Left out, though the application must do them: the course and the enrollment, the session and
its deadline window, the Markdown rendered at save, the grades revision, the queued jobs, the
rate limiter, the security headers. So the floor's ratio to the insert ceiling bounds what a
submit can reach while it signs in, checks CSRF and validates its form the way this stack does
(Flask-Login's user loader, CSRFProtect, WTForms, the ORM session): bench/NOTES.md.

    python bench/ceiling/floor.py --init DATABASE_URL   # create the tables, 300 users
    gunicorn -c bench/gunicorn.conf.py 'bench.ceiling.floor:create_app()'   # DATABASE_URL set
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import datetime, timezone
from typing import Optional

from flask import Flask, abort, redirect
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect, generate_csrf
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, event, insert, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

USERS = 300


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


class FloorUser(UserMixin, db.Model):
    __tablename__ = "floor_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    session_token: Mapped[str] = mapped_column(String(64))

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


class FloorReview(db.Model):
    __tablename__ = "floor_review"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("floor_user.id"), unique=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    strengths: Mapped[str] = mapped_column(Text, default="")
    weaknesses: Mapped[str] = mapped_column(Text, default="")
    remedies: Mapped[str] = mapped_column(Text, default="")
    questions: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))


class FloorVersion(db.Model):
    __tablename__ = "floor_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("floor_review.id"))
    number: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)
    strengths: Mapped[str] = mapped_column(Text)
    weaknesses: Mapped[str] = mapped_column(Text)
    remedies: Mapped[str] = mapped_column(Text)
    questions: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


FIELDS = ("summary", "strengths", "weaknesses", "remedies", "questions")


class SubmitForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks every POST before the view, as in the application

    summary = TextAreaField(validators=[DataRequired(), Length(max=2000)])
    strengths = TextAreaField(validators=[DataRequired(), Length(max=10000)])
    weaknesses = TextAreaField(validators=[DataRequired(), Length(max=10000)])
    remedies = TextAreaField(validators=[DataRequired(), Length(max=10000)])
    questions = StringField(validators=[DataRequired(), Length(max=2000)])


def _sqlite_pragmas(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
    # The application's pragmas (app.py: _tune_sqlite), so both pay the same for durability.
    cursor = dbapi_connection.cursor()
    for pragma in ("foreign_keys=ON", "busy_timeout=5000", "journal_mode=WAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


@login_manager.user_loader
def load_user(user_and_token: str) -> Optional[FloorUser]:
    user_id, _, token = user_and_token.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(FloorUser, int(user_id))
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def create_app(url: Optional[str] = None) -> Flask:
    app = Flask(__name__)
    url = url or os.environ["DATABASE_URL"]
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": not url.startswith("sqlite")},
        SECRET_KEY=os.environ.get("FLOOR_SECRET_KEY", "bench-floor-secret"),
        WTF_CSRF_TIME_LIMIT=None)
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    locking = not url.startswith("sqlite")
    if not locking:
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)

    @app.get("/floor/sign-in/<int:number>")
    def sign_in(number: int) -> str:
        user = db.session.get(FloorUser, number)
        if user is None:
            abort(404)
        login_user(user)
        return generate_csrf()

    @app.post("/floor/submit")
    @login_required
    def submit() -> Response:
        form = SubmitForm()
        if not form.validate():
            abort(400)
        statement = select(FloorReview.id, FloorReview.version).where(
            FloorReview.user_id == current_user.id)
        review_id, version = db.session.execute(
            statement.with_for_update() if locking else statement).one()
        now = datetime.now(timezone.utc)
        texts = {name: getattr(form, name).data for name in FIELDS}
        db.session.execute(update(FloorReview).where(FloorReview.id == review_id).values(
            version=version + 1, submitted_at=now, **texts))
        db.session.execute(insert(FloorVersion).values(
            review_id=review_id, number=version + 1, submitted_at=now, **texts))
        db.session.commit()
        return redirect(f"/floor/receipt/{version + 1}", 303)

    return app


def init(url: str) -> None:
    app = create_app(url)
    with app.app_context():
        db.create_all()
        users = [FloorUser(id=n, email=f"floor{n}@example.org",
                           session_token=secrets.token_urlsafe(32)) for n in range(1, USERS + 1)]
        db.session.add_all(users)
        db.session.flush()
        db.session.add_all(FloorReview(user_id=user.id) for user in users)
        db.session.commit()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--init":
        init(sys.argv[2])
    else:
        sys.exit(__doc__)
