"""Database ids in URLs and forms: a number no id can have is refused before any query.

Ids are 32-bit signed integers in the schema. A larger number would reach the database
driver and fail there (SQLite: "Python int too large"; PostgreSQL: out of range), which a
visitor would see as a server error instead of "not found" or a form message.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter
from wtforms.validators import NumberRange

MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: 0..MAX_ID; anything longer does not match (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def id_range(minimum: int = 0) -> NumberRange:
    """A form validator for a field that names a database id (0 where 0 means 'none')."""
    return NumberRange(min=minimum, max=MAX_ID, message="Choose one of the listed items.")
