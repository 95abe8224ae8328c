"""``flask --app app rubrics ...``"""

from __future__ import annotations

from typing import Optional

import click
from flask import current_app
from flask.cli import AppGroup
from review.rubrics import check_rubric_dir

cli = AppGroup("rubrics", help="Rubric files: check and load.")


@cli.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
def check(directory: Optional[str]) -> None:
    """Validate every rubric file in DIRECTORY (default: the configured rubrics/)."""

    target = directory or current_app.config["RUBRICS_DIR"]
    problems = check_rubric_dir(target)
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in the rubrics of {target}.")
    click.echo(f"All rubrics in {target} are valid.")
