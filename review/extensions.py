"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from models import UTCDateTime


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Migrations spell the UTC column type as plain DateTime, so they never import models.py."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


login_manager = LoginManager()
csrf = CSRFProtect()
migrate = Migrate(render_as_batch=True, compare_type=True, render_item=_render_item)
# Only routes that opt in are limited; storage comes from RATELIMIT_STORAGE_URI (memory by default).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
