"""``flask --app app reviews ...``: export the review matrix and every submitted review."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from models import utcnow
from review.core.commands import run_action
from review.courses.services import find_course
from review.reviews.exports import export_xlsx, matrix_csv, review_matrix

cli = AppGroup("reviews", help="Weekly paper reviews: export and inspect.")


@cli.command("export")
@click.argument("course_code")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="File to write: .xlsx (matrix + reviews sheets) or .csv (the matrix).")
def export(course_code: str, out: str) -> None:
    """Write the students x sessions review matrix (and, for .xlsx, every submitted review)."""

    suffix = Path(out).suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise click.ClickException(f"--out must end in .xlsx or .csv (got {out!r}).")

    def action() -> bytes:
        course = find_course(course_code)
        now = utcnow()
        if suffix == ".xlsx":
            return export_xlsx(course, now)
        return matrix_csv(review_matrix(course, now)).encode("utf-8")

    data = run_action(action)
    Path(out).write_bytes(data)
    click.echo(f"Wrote the review matrix of {course_code} to {out}.")
