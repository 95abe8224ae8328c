"""``flask --app app groups ...``: import groups from a file, list them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models import Enrollment, db
from review.core.commands import run_action
from review.courses.roster import read_table
from review.courses.services import find_course
from review.groups.services import course_groups, import_groups, parse_group_table

cli = AppGroup("groups", help="Student groups: import and inspect.")


@cli.command("import")
@click.argument("course_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--allow-small", is_flag=True,
              help="Import groups below the course's minimum size, with a warning for each.")
def import_command(course_code: str, file: str, allow_small: bool) -> None:
    """Import groups from a CSV or XLSX FILE (columns group, student_id; one row per member).

    Creates missing groups and adds members; a student already in another group is refused,
    and so is a group that would end above the course's maximum size or below its minimum
    (unless --allow-small).
    """

    def action() -> Any:
        course = find_course(course_code)
        rows = parse_group_table(read_table(Path(file).read_bytes(), file))
        return import_groups(course, rows, None, allow_small=allow_small)

    result = run_action(action)
    click.echo(result.summary())
    for warning in result.warnings:
        click.echo(f"warning: {warning}")


@cli.command("list")
@click.argument("course_code")
def list_command(course_code: str) -> None:
    """Print every group with its members' student ids."""

    def action() -> list[str]:
        course = find_course(course_code)
        numbers = {user_id: number for user_id, number in db.session.execute(
            select(Enrollment.user_id, Enrollment.student_number)
            .where(Enrollment.course_id == course.id))}
        return [f"{group.name}: " + ", ".join(f"{numbers.get(m.user_id)} {m.user.full_name}"
                                              for m in group.memberships)
                for group in course_groups(course)]

    for line in run_action(action):
        click.echo(line)
