"""The ``flask --app app ...`` commands of the foundation, and the registry of every group.

Each command commits once on success, rolls back and exits non-zero with a clear message on bad
input, and prints what it did.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Callable, Optional

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from models import Course, CourseRole, db, utcnow
from review.accounts.services import find_user_by_email
from review.admin.services import ADMIN_MAIL_REASON, make_admin
from review.assignment.commands import cli as assign_cli
from review.core.backup import backup_command, restore_command
from review.core.commands import run_action
from review.core.errors import DomainError
from review.courses.definition import load_course_file
from review.courses.activity import seed_activity
from review.courses.demo import demo_today, remembered_demo_password, seed_demo
from review.courses.links import (NO_BASE_URL, issue_links, link_base_url, mail_links,
                                  write_links_csv)
from review.courses.roster import import_roster, parse_roster, read_table, students_without_password
from review.courses.services import apply_course_definition, find_course
from review.courses.staff import add_staff, remove_staff, staff_mail_reason, staff_of
from review.gradebook.commands import gradebook_cli, grades_cli
from review.grading.commands import cli as rubrics_cli
from review.groups.commands import cli as groups_cli
from review.mail import mail_configured
from review.reviews.commands import cli as reviews_cli

course_cli = AppGroup("course", help="Create and update courses from their YAML files.")
roster_cli = AppGroup("roster", help="Import the student roster and hand out sign-in links.")
demo_cli = AppGroup("demo", help="The demo course (COMP541 Deep Learning, Fall 2023).")
staff_cli = AppGroup("staff", help="A course's instructors and TAs.")
admin_cli = AppGroup("admin", help="Site administrators (they create courses on the site).")

BASE_URL_OPTION = click.option(
    "--base-url", help="The site's public address for links, e.g. https://review.example.edu "
                       "(default: FLASK_PUBLIC_BASE_URL).")


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
@BASE_URL_OPTION
def roster_import(course_code: str, file: str, links_out: Optional[str],
                  base_url: Optional[str]) -> None:
    """Import students from a CSV or XLSX FILE (student_id, first_name, last_name, email;
    optional program, section, username)."""
    wanted = bool(links_out) or mail_configured()
    base = require_base_url(base_url) if wanted else None

    def action() -> Any:
        course = find_course(course_code)
        rows = parse_roster(read_table(Path(file).read_bytes(), file))
        result = import_roster(course, rows)
        return course, result, issue_links(result.created, base) if wanted else []

    course, result, links = run_action(action)
    click.echo(result.summary())
    for line in result.updated:
        click.echo(f"  updated {line}")
    hand_over_links(course, links, links_out)


@roster_cli.command("links")
@click.argument("course_code")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="CSV file to write (email, name, link, expires).")
@BASE_URL_OPTION
def roster_links(course_code: str, out: str, base_url: Optional[str]) -> None:
    """New one-time set-password links for every student who has not set a password yet."""
    write_fresh_links(course_code, out, base_url, "students",
                      lambda course: [user for _, user in students_without_password(course)])


def write_fresh_links(course_code: str, out: str, base_url: Optional[str], who: str,
                      people: Callable[[Any], list[Any]]) -> None:
    """New set-password links for ``people(course)``, written to ``out`` (CSV); issuing them
    ends those people's earlier unused links."""
    base = require_base_url(base_url)

    def action() -> list[dict[str, str]]:
        return issue_links(people(find_course(course_code)), base)

    links = run_action(action)
    save_links_csv(Path(out), links)
    click.echo(f"Wrote {len(links)} set-password link(s) to {out}; earlier unused links "
               f"of those {who} no longer work.")


def require_base_url(explicit: Optional[str]) -> str:
    """The links' public address, or stop before anything is written."""
    base = link_base_url(explicit)
    if base is None:
        raise click.ClickException(NO_BASE_URL)
    return base


def save_links_csv(path: Path, links: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        write_links_csv(handle, links)


def hand_over_links(course: Optional[Course], links: list[dict[str, str]],
                    links_out: Optional[str], *,
                    why: Optional[str] = None, print_otherwise: bool = False) -> None:
    """Write the links to --links-out, mail them, or (for one person) print them."""
    if links_out:
        save_links_csv(Path(links_out), links)
        click.echo(f"Wrote {len(links)} set-password link(s) to {links_out}.")
    if links and mail_configured():
        report = mail_links(course, links, why=why)
        # The accounts are saved; the outbox rows commit on their own, then the mails are sent.
        db.session.commit()
        click.echo(report.summary())
        if report.failed and not links_out:
            for link in report.failed_links:
                click.echo(f"  link for {link['email']}: {link['link']}")
    elif links and print_otherwise and not links_out:
        for link in links:
            click.echo(f"Set-password link for {link['email']} (expires {link['expires_utc']} "
                       f"UTC, works once): {link['link']}")


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
    day: date = as_of.date() if as_of else demo_today(utcnow())

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


@staff_cli.command("add")
@click.argument("course_code")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["instructor", "ta"]))
@click.option("--first-name", default="", help="Needed when EMAIL has no account yet.")
@click.option("--last-name", default="", help="Needed when EMAIL has no account yet.")
@click.option("--links-out", type=click.Path(dir_okay=False),
              help="Write the set-password link to this CSV instead of mailing or printing it.")
@BASE_URL_OPTION
def staff_add(course_code: str, email: str, role: str, first_name: str, last_name: str,
              links_out: Optional[str], base_url: Optional[str]) -> None:
    """Make EMAIL instructor or TA of the course (a new account gets a set-password link)."""
    existing = find_user_by_email(email)
    needs_link = existing is None or not existing.password_hash
    base = require_base_url(base_url) if needs_link else None

    def action() -> Any:
        course = find_course(course_code)
        added = add_staff(course, email, CourseRole(role), first_name=first_name,
                          last_name=last_name)
        links = issue_links([added.user], base) if not added.user.password_hash else []
        return course, added, links

    course, added, links = run_action(action)
    click.echo(added.summary(course))
    hand_over_links(course, links, links_out, print_otherwise=True,
                    why=staff_mail_reason(course, added.enrollment.role))


@staff_cli.command("remove")
@click.argument("course_code")
@click.argument("email")
def staff_remove(course_code: str, email: str) -> None:
    """End EMAIL's staff role in the course (their grading stays attributed to them)."""

    def action() -> str:
        course = find_course(course_code)
        user = find_user_by_email(email)
        if user is None:
            raise DomainError(f"No account with the email '{email}'.")
        role = remove_staff(course, user)
        return f"{user.email} is no longer {role.value} of {course.code}."

    click.echo(run_action(action))


@staff_cli.command("list")
@click.argument("course_code")
def staff_list(course_code: str) -> None:
    """One line per staff member: email, role, whether a password is set."""
    course = run_action(lambda: find_course(course_code))
    people = staff_of(course)
    if not people:
        click.echo(f"{course.code} has no staff yet; add one with `flask staff add`.")
    for enrollment, user in people:
        source = "  (course file)" if enrollment.from_course_file else ""
        password = "password set" if user.password_hash else "no password yet"
        click.echo(f"{user.email}\t{enrollment.role.value}\t{password}{source}")


@staff_cli.command("links")
@click.argument("course_code")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="CSV file to write (email, name, link, expires).")
@BASE_URL_OPTION
def staff_links(course_code: str, out: str, base_url: Optional[str]) -> None:
    """New set-password links for every staff member who has not set a password yet."""
    write_fresh_links(course_code, out, base_url, "people",
                      lambda course: [user for _, user in staff_of(course)
                                      if not user.password_hash])


@admin_cli.command("create")
@click.argument("email")
@click.option("--first-name", default="", help="Needed when EMAIL has no account yet.")
@click.option("--last-name", default="", help="Needed when EMAIL has no account yet.")
@click.option("--links-out", type=click.Path(dir_okay=False),
              help="Write the set-password link to this CSV instead of mailing or printing it.")
@BASE_URL_OPTION
def admin_create(email: str, first_name: str, last_name: str, links_out: Optional[str],
                 base_url: Optional[str]) -> None:
    """Make EMAIL a site administrator (a new account gets a set-password link)."""
    existing = find_user_by_email(email)
    base = require_base_url(base_url) if existing is None or not existing.password_hash else None

    def action() -> Any:
        user, created = make_admin(email, first_name, last_name)
        links = issue_links([user], base) if not user.password_hash else []
        return user, created, links

    user, created, links = run_action(action)
    click.echo(f"{user.full_name} <{user.email}> is a site administrator"
               + (" (new account, no password yet)." if created else "."))
    hand_over_links(None, links, links_out, print_otherwise=True,
                    why=ADMIN_MAIL_REASON)


def register_commands(app: Flask) -> None:

    for group in (course_cli, roster_cli, demo_cli, groups_cli, assign_cli, reviews_cli,
                  rubrics_cli, grades_cli, gradebook_cli, staff_cli, admin_cli):
        app.cli.add_command(group)
    for command in (backup_command, restore_command):
        app.cli.add_command(command)
