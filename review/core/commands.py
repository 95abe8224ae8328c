"""What every ``flask --app app ...`` command shares: one commit per command."""

from __future__ import annotations

from typing import Callable, TypeVar

import click

from models import db
from review.core.errors import DomainError
from review.courses.definition import CourseFileError

Result = TypeVar("Result")


def run_action(action: Callable[[], Result]) -> Result:
    """Commit on success; on a domain error roll back and exit 1 with the error's message."""
    try:
        result = action()
    except (DomainError, CourseFileError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    return result
