"""``flask --app app assign ...``: import preferences, run (and publish) the assignment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import click
from flask.cli import AppGroup

from models import AssignmentRun, utcnow
from review.assignment.services import (AssignmentError, RunOptions, import_preferences,
                                        publish_run, run_assignment, run_in_course)
from review.assignment.solver import FAIRNESS_RULES
from review.core.commands import run_action
from review.courses.services import find_course

cli = AppGroup("assign", help="Preferences and the optimal role assignment.")


@cli.command("import-preferences")
@click.argument("course_code")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_preferences_command(course_code: str, file: str) -> None:
    """Import group preferences from a CSV or XLSX FILE.

    Columns: group, ranking, unavailable. ranking: week numbers of paper sessions separated by
    ';', most preferred first (not necessarily all); unavailable: week numbers (may be empty).
    A file with any bad row is rejected whole, every problem named by row.
    """

    def action() -> Any:
        course = find_course(course_code)
        return import_preferences(course, Path(file).read_bytes(), file, None)

    click.echo(run_action(action).summary())


def _summary(run: AssignmentRun) -> str:
    document = run.result
    lines = [f"Run #{run.id}: {document['message']}"]
    lines += [f"Warning: {warning}" for warning in document.get("warnings", [])]
    if run.status != "optimal":
        offers = document.get("relaxations") or []
        if offers:
            lines.append("Nearest relaxations: " + "; ".join(o["label"] for o in offers)
                         + " (see --quota, --min-gap, --release-fixed, --fairness).")
        return "\n".join(lines)
    options = document.get("options", {})
    if options.get("frozen") or options.get("closed"):
        lines.append(f"Kept as they are (held or graded): {options.get('frozen', 0)} slot(s); "
                     f"left empty (session over): {options.get('closed', 0)}.")
    for group in document["groups"]:
        slots = ", ".join(
            f"week {s['week']} {s['role']} ({'rank ' + str(s['rank']) if s['rank'] else 'unranked'})"
            for s in group["slots"]) or "no slot"
        lines.append(f"  {group['group']}: {slots}")
    lines.append("Ranks: " + ", ".join(
        f"{'unranked' if h['rank'] == 'unranked' else '#' + str(h['rank'])}: {h['count']}"
        for h in document["histogram"]))
    worst = document.get("worst_off")
    if worst:
        lines.append(f"Worst-off group: {worst['group']} (cost {worst['cost']})")
    changes = document.get("changes", [])
    lines.append(f"Publishing changes {len(changes)} slot holder(s)"
                 + (":" if changes else "."))
    lines += [f"  week {c['week']} {c['role']}: {c['from'] or 'open'} -> {c['to'] or 'open'}"
              for c in changes]
    return "\n".join(lines)


@cli.command("run")
@click.argument("course_code")
@click.option("--publish", is_flag=True, help="Publish the result at once when one is found.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: status, objective, assignments [{group, week, role, "
                   "rank}], explanation (when infeasible), changes [{week, role, from, to}], "
                   "warnings, fairness (with --fairness: objective, plain_objective, "
                   "without_ranked, plain_without_ranked, worst_cost, plain_worst_cost, "
                   "summary), run_id, published.")
@click.option("--quota", type=click.IntRange(min=1), default=None,
              help="Most slots per group for this run (default: the course's quota).")
@click.option("--min-gap", "min_gap", type=click.IntRange(min=0), default=None,
              help="Minimum weeks between a group's slots for this run (default: the course's).")
@click.option("--release-fixed", is_flag=True,
              help="Do not keep the slots staff placed by hand (held or graded slots are "
                   "always kept).")
@click.option("--fairness", type=click.Choice(FAIRNESS_RULES), default=None,
              help="at-least-one-ranked: every group that ranked sessions holds one of them; "
                   "min-worst: make the worst choice any slot gets as good as possible first, "
                   "then the total. The summary reports the cost against the plain optimum.")
def run_command(course_code: str, publish: bool, as_json: bool, quota: Optional[int],
                min_gap: Optional[int], release_fixed: bool, fairness: Optional[str]) -> None:
    """Run the optimal assignment for COURSE_CODE and store it as a preview.

    When no assignment meets the rules, the run is stored as infeasible, the explanation (which
    rule, by how much, the nearest relaxation) is printed, and the exit code is still 0: check
    "status" in the --json output. Bad input (unknown course, no groups) exits 1.
    """

    options = RunOptions(quota=quota, min_gap_weeks=min_gap, keep_fixed=not release_fixed,
                         fairness=fairness)

    def action() -> tuple[AssignmentRun, bool]:
        course = find_course(course_code)
        now = utcnow()
        run = run_assignment(course, None, now, options)
        published = False
        if publish and run.status == "optimal":
            publish_run(run, None, now)
            published = True
        return run, published

    run, published = run_action(action)
    if as_json:
        document = {key: run.result[key] for key in ("status", "objective", "assignments")}
        if run.status == "infeasible":
            document["explanation"] = run.result["explanation"]
        document["changes"] = run.result["changes"]
        document["warnings"] = run.result["warnings"]
        if "fairness" in run.result:
            document["fairness"] = run.result["fairness"]
        document["run_id"] = run.id
        document["published"] = published
        click.echo(json.dumps(document))
        return
    click.echo(_summary(run))
    if published:
        click.echo(f"Published run #{run.id}: every slot of the course is set.")
    elif publish:
        click.echo("Nothing was published.")


@cli.command("publish")
@click.argument("course_code")
@click.argument("run_id", type=int)
def publish_command(course_code: str, run_id: int) -> None:
    """Publish stored run RUN_ID of COURSE_CODE (refused when older or outdated)."""

    def action() -> int:
        course = find_course(course_code)
        run = run_in_course(course, run_id)
        if run is None:
            raise AssignmentError(f"Course {course_code} has no run #{run_id}.")
        return publish_run(run, None, utcnow())

    changed = run_action(action)
    click.echo(f"Published run #{run_id}: {changed} slot(s) changed holder.")
