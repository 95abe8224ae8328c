"""``flask --app app grades ...`` and ``flask --app app gradebook ...``

    flask --app app grades import COURSE FILE [--dry-run]
        External grades from a CSV/XLSX with ``student_id`` and one column per external component
        (keys as in the course file). Every problem is listed by row and column and nothing is
        saved; an empty cell leaves that grade unchanged; columns not in the file are untouched.
    flask --app app gradebook export COURSE --out FILE [--format xlsx|csv|blackboard|canvas]
        The gradebook, computed exactly as the gradebook page shows it.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from models import utcnow
from review.core.commands import run_action
from review.courses.roster import read_table
from review.courses.services import find_course
from review.gradebook.loader import load_gradebook
from review.gradebook.services import apply_import, plan_import

grades_cli = AppGroup("grades", help="Grades of external components (quiz, assignments, ...).")
gradebook_cli = AppGroup("gradebook", help="The course gradebook and its exports.")

EXPORT_FORMATS = ("xlsx", "csv", "blackboard", "canvas")


@grades_cli.command("import")
@click.argument("course_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Only show what would change; save nothing.")
def grades_import(course_code: str, file: str, dry_run: bool) -> None:
    """Import external grades from FILE (CSV or XLSX) into COURSE."""

    def action() -> str:
        course = find_course(course_code)
        plan = plan_import(course, read_table(Path(file).read_bytes(), file))
        if dry_run:
            return "Dry run, nothing saved. " + plan.summary()
        written = apply_import(course, plan, None, source=f"cli: {Path(file).name}")
        return f"Imported {written} grade(s). " + plan.summary()

    click.echo(run_action(action))


def export_bytes(gradebook: object, fmt: str, course_title: str) -> bytes:
    """The file of one export format (shared by the CLI and the download route)."""
    from review.gradebook.exports import (
        write_blackboard_csv,
        write_canvas_csv,
        write_summary_csv,
        write_workbook,
    )

    if fmt == "xlsx":
        return write_workbook(gradebook)  # type: ignore[arg-type]
    if fmt == "csv":
        return write_summary_csv(gradebook).encode("utf-8")  # type: ignore[arg-type]
    if fmt == "blackboard":
        return write_blackboard_csv(gradebook, "Course total").encode("utf-8")  # type: ignore[arg-type]
    if fmt == "canvas":
        return write_canvas_csv(gradebook, "Course total").encode("utf-8")  # type: ignore[arg-type]
    raise ValueError(f"unknown export format {fmt!r}")


@gradebook_cli.command("export")
@click.argument("course_code")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default=None,
              help="xlsx (default for .xlsx), csv (summary), blackboard or canvas upload file.")
def gradebook_export(course_code: str, out: str, fmt: str | None) -> None:
    """Write the gradebook of COURSE to a file."""

    chosen = fmt or ("xlsx" if out.lower().endswith(".xlsx") else "csv")

    def action() -> tuple[bytes, int]:
        course = find_course(course_code)
        gradebook = load_gradebook(course, utcnow())
        return export_bytes(gradebook, chosen, course.title), len(gradebook.summary)

    data, students = run_action(action)
    Path(out).write_bytes(data)
    click.echo(f"Wrote the gradebook of {students} student(s) to {out} ({chosen}).")
