"""Time to a proven optimum for the presentation-role assignment solver.

Run: ``.venv/bin/python bench/bench_assignment.py [--repeats N] [--seed S]``

Scenarios:
* ``large``: 60 groups, 20 sessions x 3 roles, every group ranks all 20 sessions (seeded
  shuffle). Target: under 2 s on the 2-core CI machine.
* ``comp541``: the COMP541 shape (10 sessions x 3 roles, 11 groups so loads are 2 or 3, each
  ranking 5 sessions, a few unavailable weeks, a 2-week minimum gap), where role balance and
  the gap actually bind.
* ``midterm``: ``large`` re-run half-way through the term: the first 10 sessions' slots are
  frozen (held by the groups the first run gave them), with a 3-week gap for the rest.
* ``comp541-fair`` / ``comp541-minworst``: ``comp541`` with a fairness rule (each solves the
  plain optimum too, to report the rule's cost; min-worst adds a binary search of
  feasibility solves).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

# Benchmarks run as scripts from the repository root, outside pytest's pythonpath setting.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dataclasses import replace

from review.assignment.solver import AssignmentProblem, FixedSlot, GroupPreferences, solve_assignment

ROLES = ("overview", "strengths", "weaknesses")
TARGET_SECONDS = 2.0


def large_problem(seed: int) -> AssignmentProblem:
    rng = random.Random(seed)
    weeks = tuple(range(5, 25))
    groups = tuple(
        GroupPreferences(f"group-{index:02d}", tuple(rng.sample(weeks, len(weeks)))) for index in range(60)
    )
    return AssignmentProblem(weeks=weeks, roles=ROLES, groups=groups)


def comp541_problem(seed: int) -> AssignmentProblem:
    rng = random.Random(seed)
    weeks = (5, 6, 8, 9, 10, 11, 12, 13, 14, 15)
    groups = []
    for index in range(11):
        ranking = tuple(rng.sample(weeks, 5))
        unranked = [week for week in weeks if week not in ranking]
        groups.append(GroupPreferences(f"group-{index:02d}", ranking, frozenset(rng.sample(unranked, 1))))
    return AssignmentProblem(weeks=weeks, roles=ROLES, groups=tuple(groups), min_gap_weeks=2)


def midterm_problem(seed: int) -> AssignmentProblem:
    first = large_problem(seed)
    held = solve_assignment(first).assignments
    frozen = tuple(FixedSlot(a.group, a.week, a.role, frozen=True) for a in held if a.week < 15)
    return replace(first, fixed=frozen, min_gap_weeks=3)


def comp541_fair_problem(seed: int) -> AssignmentProblem:
    return replace(comp541_problem(seed), fairness="at-least-one-ranked")


def comp541_minworst_problem(seed: int) -> AssignmentProblem:
    return replace(comp541_problem(seed), fairness="min-worst")


def time_solve(problem: AssignmentProblem, repeats: int) -> tuple[list[float], str, int | None]:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = solve_assignment(problem)
        timings.append(time.perf_counter() - started)
    return timings, result.status, result.objective


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=541)
    arguments = parser.parse_args()

    within_target = True
    for name, build in (("large", large_problem), ("comp541", comp541_problem),
                        ("midterm", midterm_problem), ("comp541-fair", comp541_fair_problem),
                        ("comp541-minworst", comp541_minworst_problem)):
        problem = build(arguments.seed)
        timings, status, objective = time_solve(problem, arguments.repeats)
        print(
            f"{name:16s} {len(problem.groups)} groups, {len(problem.weeks)} sessions x {len(problem.roles)} roles: "
            f"status={status} objective={objective} "
            f"median {statistics.median(timings):.3f} s, max {max(timings):.3f} s over {arguments.repeats} runs"
        )
        if name == "large" and max(timings) >= TARGET_SECONDS:
            within_target = False
    if not within_target:
        print(f"FAIL: the large scenario took {TARGET_SECONDS:g} s or more")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
