"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from pathlib import Path
from typing import Any

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
# Only routes that opt in (``limiter.limit``) are limited; storage comes from
# RATELIMIT_STORAGE_URI (memory by default). ``limit_only_decorated_routes`` keeps every other
# request out of the limiter.
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# Limits that apply to every route, which the limiter checks in its before_request hook.
_LIMITS_ON_EVERY_ROUTE = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")


def limit_only_decorated_routes(app: Any) -> None:
    """Take the limiter's before_request hook out when no limit applies to every route.

    A ``limiter.limit`` decorator checks its limits itself when its view runs; the hook only
    evaluates default, application and meta limits, and we set none. It still ran on every
    request, finding nothing: about 4% of a review autosave's Python calls. A deployment that
    configures limits for every route keeps the hook."""
    hooks = app.before_request_funcs.get(None, [])
    # A disabled limiter registers no hook.
    if limiter._check_request_limit in hooks and not any(
            app.config.get(name) for name in _LIMITS_ON_EVERY_ROUTE):
        hooks.remove(limiter._check_request_limit)


def init_migrations(app: Any) -> Any:
    """Flask-Migrate bound to ``app`` (once), for ``flask db`` and code that runs migrations.

    Not in ``create_app``: importing Alembic (with Mako and Pygments) was 0.16 s of every
    process's start-up, though only the migration commands use it."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(render_as_batch=True, compare_type=True, render_item=_render_item).init_app(
            app, db, directory=str(MIGRATIONS_DIR))
    return app.extensions["migrate"]
