"""Grading rules: rubric versions, staff scores, adjustments, participation, release, regrades.

Rubrics in the database, and which rubric a course uses for what:

A loaded rubric file (``app.extensions["rubrics"]``) is copied into the ``rubric`` table the
first time something is scored with it. Rows are keyed by (key, content_hash): an unchanged file
maps to the same row; an edited file (new content, new hash) gets a new row with the next version
number for that key. Scores keep the ``rubric_id`` they were given under, so old scores are
read against their own version and are never rescaled.
"""

from __future__ import annotations

from typing import Literal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

import models
from models import Course, db
from review.core.errors import DomainError
from review.courses.definition import CourseDefinition
from review.rubrics import Rubric

RubricUse = Literal["presentation", "review", "participation", "peer"]


class RubricMissing(DomainError):
    """The course names a rubric that is not loaded."""


def course_definition(course: Course) -> CourseDefinition:
    return CourseDefinition.model_validate(course.definition)


def loaded_rubrics() -> dict[str, Rubric]:
    return current_app.extensions.get("rubrics", {})


def rubric_id_for(course: Course, use: RubricUse, role_key: str | None = None) -> str:
    """The rubric id (file name) the course picked for this use."""
    choice = course_definition(course).rubrics
    if use == "presentation":
        if role_key is None:
            raise ValueError("a presentation rubric needs the role key")
        return course_definition(course).presentation_rubric(role_key)
    return {"review": choice.review, "participation": choice.participation,
            "peer": choice.peer}[use]


def course_rubric(course: Course, use: RubricUse, role_key: str | None = None) -> Rubric:
    """The loaded rubric the course uses; RubricMissing names the course setting that is wrong."""
    rubric_id = rubric_id_for(course, use, role_key)
    rubric = loaded_rubrics().get(rubric_id)
    setting = f"rubrics.presentations.{role_key}" if use == "presentation" else f"rubrics.{use}"
    if rubric is None:
        known = ", ".join(sorted(loaded_rubrics())) or "none"
        raise RubricMissing(
            f"The course {course.code} uses rubric {rubric_id!r} ({setting}), but no rubric "
            f"file has that id (loaded: {known})."
        )
    expected = "presentation" if use == "presentation" else use
    if rubric.applies_to != expected:
        raise RubricMissing(
            f"The course {course.code} uses rubric {rubric_id!r} for {use} ({setting}), but that "
            f"rubric applies to {rubric.applies_to}."
        )
    return rubric


def check_course_rubrics(course: Course) -> list[str]:
    """Every problem with the course's rubric choices (empty when all are loaded and fit)."""
    problems = []
    for use in ("review", "participation", "peer"):
        try:
            course_rubric(course, use)  # type: ignore[arg-type]
        except RubricMissing as exc:
            problems.append(str(exc))
    for role in course.roles:
        try:
            course_rubric(course, "presentation", role.key)
        except RubricMissing as exc:
            problems.append(str(exc))
    return problems


def ensure_rubric_row(rubric: Rubric) -> models.Rubric:
    """The database row of this rubric content, inserted (next version for its key) if new."""
    content_hash = rubric.content_hash
    row = db.session.scalar(
        select(models.Rubric).where(models.Rubric.key == rubric.id,
                                    models.Rubric.content_hash == content_hash))
    if row is not None:
        return row
    latest = db.session.scalar(
        select(func.max(models.Rubric.version)).where(models.Rubric.key == rubric.id)) or 0
    row = models.Rubric(key=rubric.id, version=latest + 1, content_hash=content_hash,
                        title=rubric.title, applies_to=rubric.applies_to,
                        max_score=rubric.max_score, definition=rubric.to_storage())
    try:
        # A savepoint, so that losing the race with another first use keeps the outer work.
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        row = db.session.scalar(
            select(models.Rubric).where(models.Rubric.key == rubric.id,
                                        models.Rubric.content_hash == content_hash))
        if row is None:
            raise DomainError(f"Could not store rubric {rubric.id!r}; try again.") from None
    return row


_STORED: dict[tuple[int, str], Rubric] = {}


def stored_rubric(row: models.Rubric) -> Rubric:
    """The rubric a stored row describes (its own version, not the file's current one)."""
    cache_key = (row.id, row.content_hash)
    if cache_key not in _STORED:
        _STORED[cache_key] = Rubric.from_storage(row.definition)
    return _STORED[cache_key]
