"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from pathlib import Path
from typing import Any

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from models import UTCDateTime, db

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations spell the UTC column type as plain DateTime, so they never import models.py."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


login_manager = LoginManager()
csrf = CSRFProtect()
# Only routes that opt in are limited; storage comes from RATELIMIT_STORAGE_URI (memory by default).
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# The endpoints that carry a ``limiter.limit`` (tests/security/test_sign_in_limits.py checks the
# list against the limiter's own). Every other request skips the limiter: finding, per request,
# that a route has no limits took half the limiter's time on a review autosave.
LIMITED_ENDPOINTS = frozenset({"accounts.login", "accounts.forgot_password",
                               "accounts.set_password"})


@limiter.request_filter
def _route_without_limits() -> bool:
    return request.endpoint not in LIMITED_ENDPOINTS


def init_migrations(app: Any) -> Any:
    """Flask-Migrate bound to ``app`` (once), for ``flask db`` and code that runs migrations.

    Not in ``create_app``: importing Alembic (with Mako and Pygments) was 0.16 s of every
    process's start-up, though only the migration commands use it."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(render_as_batch=True, compare_type=True, render_item=_render_item).init_app(
            app, db, directory=str(MIGRATIONS_DIR))
    return app.extensions["migrate"]
