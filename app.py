"""The application factory. Nothing happens at import time; migrations and seeding are commands.

    flask --app app db upgrade      # the schema, from migrations/
    flask --app app demo seed       # the demo course, its accounts and roster
    flask --app app run             # serve
"""

from __future__ import annotations

import gc
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

from flask import (Flask, Response, current_app, has_app_context, has_request_context, jsonify,
                   render_template, request)
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.middleware.proxy_fix import ProxyFix

from models import User, db
from review.core.ids import IdConverter
from review import jobs
from review.core.input import register_input_rules
from review.core.routing import LazyBuilderRule
from review.extensions import (csrf, init_migrations, limit_only_decorated_routes, limiter,
                               login_manager)

PROJECT_ROOT = Path(__file__).resolve().parent

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Sent on every response unless the view set its own.
SECURITY_HEADERS = (("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
                    ("X-Frame-Options", "DENY"))


def _default_config(app: Flask) -> dict[str, Any]:
    instance = Path(app.instance_path)
    return {
        "SECRET_KEY": None,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'review.sqlite'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # None means "decide from debug": Secure everywhere but a local debug server.
        "SESSION_COOKIE_SECURE": None,
        "REMEMBER_COOKIE_SECURE": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Failed sign-ins only, per account and address: the owner, elsewhere, is never locked out.
        "LOGIN_RATE_LIMIT": "10 per minute;50 per hour",
        # Failed sign-ins from one address, whatever the account: a class behind one NAT fits.
        "LOGIN_ADDRESS_RATE_LIMIT": "300 per minute;1000 per hour",
        # A limiter store that is down (Redis) falls back to per-worker memory, with a warning.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # A term and a bit: "keep me signed in" should not expire in the middle of one.
        "REMEMBER_COOKIE_DURATION": timedelta(days=120),
        "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
        "SET_PASSWORD_TOKEN_HOURS": 72,
        "RESET_PASSWORD_TOKEN_HOURS": 2,
        "MAIL_SERVER": None,
        "MAIL_PORT": 25,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_USE_TLS": False,
        "MAIL_FROM": "no-reply@localhost",
        # Every absolute link (mail, CLI, calendar) is built from it, never from the Host header.
        "PUBLIC_BASE_URL": None,
        # None: in production, the host of PUBLIC_BASE_URL only; other Host headers get 400.
        "TRUSTED_HOSTS": None,
        "SQLITE_BUSY_TIMEOUT_MS": 5000,
        "RUBRICS_DIR": str(PROJECT_ROOT / "rubrics"),
        # How many reverse proxies in front of the app set X-Forwarded-* (0: trust none).
        "TRUSTED_PROXIES": 0,
    }


def create_app(test_config: Optional[Mapping[str, Any]] = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="templates",
                static_folder="static")
    app.config.from_mapping(_default_config(app))
    # DATABASE_URL and FLASK_* environment variables override the defaults; tests override both.
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)
    # A database server can restart under the pool: its connections are tested when taken, so
    # the first request after an outage reconnects instead of failing. An SQLite file has no
    # server, and the test would be one more statement on every request.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_pre_ping": not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not app.debug
    if app.config["REMEMBER_COOKIE_SECURE"] is None:
        app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret_key(app)
    _harden_production(app)

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    limit_only_decorated_routes(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"

    _register_user_loader()
    _register_security_headers(app)
    _register_error_pages(app)
    _register_template_helpers(app)
    register_input_rules(app)
    jobs.init_app(app)
    # Ids beyond the schema's integer range are "not found", not a driver error; the converter
    # must be in place before the blueprints add their routes.
    app.url_map.converters["int"] = IdConverter
    # Each route's link builders are made at its first url_for, not here (review.core.routing).
    app.url_rule_class = LazyBuilderRule
    _register_blueprints(app)
    _register_commands(app)
    _load_rubrics(app)
    if not app.testing:
        # What start-up built lives as long as the process: frozen, the cyclic collector stops
        # re-scanning it on every full collection (measured -23% to -41% on the heavy pages).
        gc.collect()
        gc.freeze()
    return app


def warm_worker(app: Flask) -> None:
    """Make a served worker ready for its first requests: run by gunicorn in each worker after
    it boots, before it takes a request (gunicorn.conf.py, post_worker_init).

    ``create_app()`` leaves the job queue closed so that CLI commands and tests start fast; but
    a worker opens it at its first submit, and opening it imports Huey with the Redis and
    PostgreSQL clients (0.17 s). In a deadline rush that first submit held every request queued
    behind it for about half a second (bench/NOTES.md); paid here, no student waits for it.
    A queue that cannot be opened yet (its file's folder not writable, say) must not keep the
    worker from serving pages: it is logged, and the first use tries again and says why. The
    Markdown renderer and the routes' link builders, also left out of start-up, are made here
    for the same reason.
    """
    from review.core.routing import make_link_builders
    from review.reviews import rendering

    rendering.warm_up()
    make_link_builders(app.url_map)
    with app.app_context():
        try:
            jobs.jobs()
        except Exception:  # noqa: BLE001 - any failure is retried, and reported, at first use
            app.logger.exception("The job queue could not be opened at worker start-up")
    if not app.testing:
        # What was built here lives as long as the worker, as create_app()'s objects do.
        gc.collect()
        gc.freeze()


def _harden_production(app: Flask) -> None:
    """Host checks and cookie prefixes that only make sense on the real, HTTPS site."""
    production = not (app.testing or app.debug)
    base = app.config["PUBLIC_BASE_URL"]
    if base and not urlsplit(base).hostname:
        raise RuntimeError(f"PUBLIC_BASE_URL must be an absolute URL such as "
                           f"https://review.example.edu, not {base!r}.")
    if production and base and app.config["TRUSTED_HOSTS"] is None:
        app.config["TRUSTED_HOSTS"] = [urlsplit(base).hostname]
    if production and app.config["MAIL_SERVER"] and not base:
        raise RuntimeError("Set FLASK_PUBLIC_BASE_URL (e.g. https://review.example.edu): mailed "
                           "links must not be built from the Host header a client sends.")
    # __Host- cookies are only sent over HTTPS, for this exact host and every path: a sibling
    # subdomain cannot plant or overwrite them.
    if (production and app.config["SESSION_COOKIE_SECURE"] and not app.config.get("SESSION_COOKIE_DOMAIN")
            and app.config["SESSION_COOKIE_NAME"] == "session"):
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"
        app.config.setdefault("REMEMBER_COOKIE_NAME", "__Host-remember_token")


def _instance_secret_key(app: Flask) -> str:
    """A per-installation key kept in instance/, so sessions survive restarts without config."""
    path = Path(app.instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets readers run beside the writer and the busy timeout makes writers wait instead of
    # failing: measured 3x the write throughput on this stack. Foreign keys are off by default.
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # The listener is process-wide: a connection opened under another Flask app in the same
    # process (the benchmark's floor in its tests) has no such setting and gets the default.
    busy_ms = int(current_app.config.get("SQLITE_BUSY_TIMEOUT_MS", 5000)) if has_app_context() \
        else 5000
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _register_user_loader() -> None:
    from review.permissions import load_user_and_course, session_to_load_with_user

    @login_manager.user_loader
    def load_user(user_and_token: str) -> Optional[User]:
        # The cookie carries "<id>:<session token>"; sign-out and password change rotate the
        # token, so a cookie captured before either is refused afterwards.
        user_id, _, token = user_and_token.partition(":")
        if not user_id.isdigit() or not token:
            return None
        # On a course route the course and the enrollment come with the user, in one statement,
        # and on a route marked for it, the session the URL names too.
        if has_request_context():
            user = load_user_and_course(int(user_id), (request.view_args or {}).get("course_code"),
                                        session_to_load_with_user())
        else:
            user = load_user_and_course(int(user_id), None)
        if user is None or not secrets.compare_digest(user.session_token, token):
            return None
        return user


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over what the view set, where a setdefault per header scanned them each time
        # (about 2% of a review submit's CPU, on every request).
        present = {name.lower(): value for name, value in headers.items()}
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        if request.is_secure and "strict-transport-security" not in present:
            headers.add("Strict-Transport-Security", "max-age=31536000")
        # Grades, reviews and rosters must not linger in a shared computer's cache; only static
        # files (which carry no personal data) may be cached.
        if request.endpoint != "static" and "no-store" not in present.get("cache-control", ""):
            headers["Cache-Control"] = "no-store"
        return response


def _register_error_pages(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    def render_error(status: int, title: str, message: str) -> tuple[str, int]:
        try:
            return render_template("errors/error.html", status=status, title=title,
                                   message=message), status
        except Exception:  # noqa: BLE001 - the layout needs the database or a URL adapter
            app.logger.exception("The error page layout failed; answering with the plain page")
            return render_plain(status, title, message), status

    def render_plain(status: int, title: str, message: str) -> str:
        """The error page without the layout: no database, no current_user, no url_for.

        Straight from the Jinja environment: render_template would run Flask-Login's context
        processor, which loads current_user from the database.
        """
        return app.jinja_env.get_template("errors/plain.html").render(
            status=status, title=title, message=message,
            stylesheet=f"{request.script_root}/static/style.css")

    # The server is down or unreachable, the connection broke, or SQLite stayed locked past the
    # busy timeout: not a bug, and nothing was saved. Pool pre-ping reconnects once it is back.
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(error: DBAPIError) -> Response:
        app.logger.error("Database unavailable: %s", error.orig)
        try:
            db.session.rollback()
        except DBAPIError:
            pass  # the connection is gone; the session is discarded at teardown anyway
        message = ("The database is not answering, so your work was not saved. Your text is "
                   "still in your browser: go back, keep the page open and try again in a "
                   "minute.")
        if request.is_json:
            response = jsonify(ok=False, error=message)
        else:
            response = Response(render_plain(503, "Not saved: the site is busy", message),
                                mimetype="text/html")
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(400)
    def bad_request(error: Exception) -> tuple[str, int] | Response:
        description = getattr(error, "description", "") or "The request was not understood."
        if request.is_json:
            return jsonify(ok=False, error=description), 400
        return render_error(400, "Bad request", description)

    @app.errorhandler(403)
    def forbidden(error: Exception) -> tuple[str, int]:
        return render_error(403, "Not allowed", "Your role in this course does not allow that.")

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        return render_error(404, "Not found", "There is no such page, or it is not yours to see.")

    @app.errorhandler(413)
    def too_large(error: Exception) -> tuple[str, int]:
        from flask import request

        def size(count: int) -> str:
            return f"{count / 1048576:.1f} MB" if count >= 1048576 else f"{count // 1024} KB"

        found = f"The upload is {size(request.content_length or 0)}; uploads"
        return render_error(413, "Too large", f"{found} take at most "
                            f"{size(app.config['MAX_CONTENT_LENGTH'])}. Nothing was saved; "
                            "choose a smaller file (a roster of 5,000 students is under 1 MB).")

    @app.errorhandler(429)
    def too_many(error: Exception) -> tuple[str, int]:
        return render_error(429, "Too many attempts",
                            "Too many attempts in a short time. Wait a minute and try again.")

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return render_error(400, "The form expired",
                            "The form was stale or incomplete. Go back, reload the page and "
                            "submit again; nothing was changed.")

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        try:
            db.session.rollback()
        except DBAPIError:
            pass  # the database itself failed; the page below does not need it
        return render_error(500, "Something went wrong",
                            "The error was logged and nothing was half-saved. Try again.")


def _register_template_helpers(app: Flask) -> None:
    from review.core.templating import register_template_helpers

    register_template_helpers(app)


def _register_blueprints(app: Flask) -> None:
    from review.accounts.views import bp as accounts_bp
    from review.admin.views import bp as admin_bp
    from review.assignment.views import bp as assignment_bp
    from review.courses.staff_views import bp as staff_bp
    from review.courses.views import bp as courses_bp
    from review.gradebook.views import bp as gradebook_bp
    from review.grading.views import bp as grading_bp
    from review.groups.views import bp as groups_bp
    from review.live.views import bp as live_bp
    from review.reviews.views import bp as reviews_bp
    from review.signup.views import bp as signup_bp

    for blueprint in (accounts_bp, courses_bp, groups_bp, signup_bp, assignment_bp, reviews_bp,
                      grading_bp, gradebook_bp, staff_bp, admin_bp, live_bp):
        app.register_blueprint(blueprint)
    from review.notifications.views import bp as notifications_bp
    from review.outbox.views import bp as outbox_bp

    app.register_blueprint(outbox_bp)
    app.register_blueprint(notifications_bp)


def _register_migration_commands(app: Flask) -> None:
    """``flask db ...``: Flask-Migrate's commands, bound to the app when one of them is used."""
    import click
    from flask.cli import ScriptInfo

    class MigrationCommands(click.Group):
        def _commands(self, ctx: click.Context) -> click.Group:
            init_migrations(ctx.ensure_object(ScriptInfo).load_app())
            from flask_migrate.cli import db as migration_commands

            return migration_commands

        def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
            # The group's own options (--directory, -x) and the callback that stores them.
            commands = self._commands(ctx)
            self.params, self.callback = commands.params, commands.callback
            return super().parse_args(ctx, args)

        def list_commands(self, ctx: click.Context) -> list[str]:
            return self._commands(ctx).list_commands(ctx)

        def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
            return self._commands(ctx).get_command(ctx, name)

    app.cli.add_command(MigrationCommands("db", help="Perform database migrations."))


def _register_commands(app: Flask) -> None:
    from review.cli import register_commands

    _register_migration_commands(app)
    register_commands(app)


def _load_rubrics(app: Flask) -> None:
    """Load rubrics/ once; a bad rubric file stops start-up with every problem named."""
    from review.rubrics import RubricError, load_rubric_dir

    try:
        app.extensions["rubrics"] = load_rubric_dir(app.config["RUBRICS_DIR"])
    except RubricError as exc:
        raise RuntimeError(f"The rubrics in {app.config['RUBRICS_DIR']} are not valid:\n{exc}") from None
