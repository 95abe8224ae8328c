"""The ``flask --app app ...`` commands of the foundation, and the registry of every group.

Each command commits once on success, rolls back and exits non-zero with a clear message on bad
input, and prints what it did.
"""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path
from typing import Any, Optional

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from models import utcnow
from review.assignment.commands import cli as assign_cli
from review.core.backup import backup_command, restore_command
from review.core.commands import run_action
from review.core.timeutil import today_in
from review.courses.definition import load_course_file
from review.courses.activity import seed_activity
from review.courses.demo import remembered_demo_password, seed_demo
from review.courses.links import LINK_FIELDS, issue_links, mail_links
from review.courses.roster import import_roster, parse_roster, read_table, students_without_password
from review.courses.services import apply_course_definition, find_course
from review.gradebook.commands import gradebook_cli, grades_cli
from review.grading.commands import cli as rubrics_cli
from review.groups.commands import cli as groups_cli
from review.mail import mail_configured
from review.reviews.commands import cli as reviews_cli

course_cli = AppGroup("course", help="Create and update courses from their YAML files.")
roster_cli = AppGroup("roster", help="Import the student roster and hand out sign-in links.")
demo_cli = AppGroup("demo", help="The demo course (COMP541 Deep Learning, Fall 2023).")


@course_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--allow-delete", is_flag=True,
              help="Also remove sessions or roles that are gone from the file even when work "
                   "(reviews, held slots) is attached to them.")
def course_import(file: str, allow_delete: bool) -> None:
    """Create the course defined in FILE.yaml, or update it in place (idempotent)."""
    def action() -> str:
        definition = load_course_file(file)
        _, changes = apply_course_definition(definition, allow_delete=allow_delete)
        return changes.summary(definition.code)

    click.echo(run_action(action))


@roster_cli.command("import")
@click.argument("course_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--links-out", type=click.Path(dir_okay=False),
              help="Write the new students' one-time set-password links to this CSV.")
def roster_import(course_code: str, file: str, links_out: Optional[str]) -> None:
    """Import students from a CSV or XLSX FILE (student_id, first_name, last_name, email)."""

    def action() -> Any:
        course = find_course(course_code)
        rows = parse_roster(read_table(Path(file).read_bytes(), file))
        result = import_roster(course, rows)
        wanted = bool(links_out) or mail_configured()
        return course, result, issue_links(result.created) if wanted else []

    course, result, links = run_action(action)
    click.echo(result.summary())
    for line in result.updated:
        click.echo(f"  updated {line}")
    if links_out:
        write_links_csv(Path(links_out), links)
        click.echo(f"Wrote {len(links)} set-password link(s) to {links_out}.")
    if links and mail_configured():
        click.echo(f"Mailed {mail_links(course, links)} set-password link(s).")


@roster_cli.command("links")
@click.argument("course_code")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="CSV file to write (email, name, link, expires).")
def roster_links(course_code: str, out: str) -> None:
    """New one-time set-password links for every student who has not set a password yet."""

    def action() -> list[dict[str, str]]:
        course = find_course(course_code)
        return issue_links([user for _, user in students_without_password(course)])

    links = run_action(action)
    write_links_csv(Path(out), links)
    click.echo(f"Wrote {len(links)} set-password link(s) to {out}; earlier unused links "
               "of those students no longer work.")


def write_links_csv(path: Path, links: list[dict[str, str]]) -> None:

    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=LINK_FIELDS)
        writer.writeheader()
        writer.writerows(links)


@demo_cli.command("seed")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Shift the term so that this day (YYYY-MM-DD) falls in week 8 "
                   "(default: today).")
@click.option("--keep-dates", is_flag=True, help="Keep the real Fall 2023 dates.")
@click.option("--with-activity", is_flag=True,
              help="Also add a lively term: groups, an assignment, reviews and grades.")
def demo_seed(as_of: Any, keep_dates: bool, with_activity: bool) -> None:
    """Create the demo course, its staff and its roster (a no-op when already there)."""

    from_environment = os.environ.get("DEMO_PASSWORD") or None
    password = from_environment or remembered_demo_password(Path(current_app.instance_path))
    day: date = as_of.date() if as_of else today_in("Europe/Istanbul", utcnow())

    def action() -> Any:
        result = seed_demo(as_of=day, keep_dates=keep_dates, password=password)
        activity = None
        if with_activity and result.created:
            activity = seed_activity(result.course, now=utcnow())
        return result, activity

    result, activity = run_action(action)
    if not result.created:
        click.echo(f"The demo course {result.course.code} is already there; nothing changed.")
    else:
        shift = ("kept the real dates" if keep_dates
                 else f"moved by {result.shifted_weeks} week(s) so {day} is in week 8")
        click.echo(f"Created the demo course {result.course.code} ({shift}).")
    if activity:
        click.echo(activity)
    click.echo("Demo logins:")
    for line in result.logins:
        click.echo(f"  {line}")
    if from_environment:
        click.echo("  password: the value of DEMO_PASSWORD")
    else:
        click.echo(f"  password: {password}   (kept in instance/; set DEMO_PASSWORD to choose one)")


def register_commands(app: Flask) -> None:

    for group in (course_cli, roster_cli, demo_cli, groups_cli, assign_cli, reviews_cli,
                  rubrics_cli, grades_cli, gradebook_cli):
        app.cli.add_command(group)
    for command in (backup_command, restore_command):
        app.cli.add_command(command)
