"""Benchmark: compute_gradebook + write_workbook for a synthetic 1,000-student course.

Run from the repository root:

    .venv/bin/python bench/bench_gradebook_export.py [--students 1000] [--sessions 10] [--repeat 5]

The course has the COMP541 weights, a review from every student for every session (with missing,
draft, late, excused and ungraded ones mixed in), each student presenting twice, participation in
every session, four external components and a late-day ledger. The target is compute + write well
under 1.5 s, leaving the rest of a 2 s page budget for the DB queries that load the input.
Timings are the median of ``--repeat`` runs after one warm-up, as wall and CPU time.
"""

from __future__ import annotations

import argparse
import io
import json
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

from openpyxl import Workbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review.gradebook.compute import (  # noqa: E402  (path set up above for a plain script)
    Component,
    CourseInfo,
    ExternalGrade,
    GradebookInput,
    LateDayEntry,
    LetterBoundary,
    ParticipationRecord,
    PresentationRecord,
    ReviewRecord,
    Session,
    Student,
    compute_gradebook,
)
from review.gradebook.compute import Gradebook  # noqa: E402
from review.gradebook.exports import write_workbook  # noqa: E402
from review.spreadsheets import neutralise_frame  # noqa: E402

ROLES = {
    "overview": ("clarity", "coverage", "depth", "timing"),
    "strengths": ("insight", "evidence", "clarity", "timing"),
    "weaknesses": ("insight", "fairness", "clarity", "timing"),
}
REVIEW_STATES = (
    ["on_time"] * 70 + ["late"] * 10 + ["missing"] * 8 + ["draft"] * 4 + ["excused"] * 5 + ["exempt"] * 3
)
BOUNDARIES = [("A", 90), ("A-", 85), ("B+", 80), ("B", 75), ("C", 60), ("F", 0)]
FIRST = ["Ayşe", "Mehmet", "Zeynep", "Emre", "Elif", "Can", "Selin", "İrem", "Oğuz", "Şule", "Çağrı", "Gökçe"]
LAST = ["Aslan", "Çetin", "Güneş", "Kurt", "Kaya", "Yıldız", "Öztürk", "Erdoğan", "Kılıç", "Koç", "Şahin"]


def synthetic_input(students: int, sessions: int, seed: int = 541) -> GradebookInput:
    rng = random.Random(seed)
    course = CourseInfo(
        "COMP541",
        "Deep Learning",
        (
            Component("quiz", "Self-assessment quiz", 2, "external", max_points=10),
            Component("assignments", "Programming assignments", 20, "external"),
            Component("midterm", "Midterm exam", 21, "external"),
            Component("project", "Course project", 32, "external"),
            Component("presentations", "Paper presentations", 10, "presentations"),
            Component("reviews", "Paper reviews", 5, "reviews", drop_lowest=1),
            Component("participation", "Class participation", 10, "participation"),
        ),
        tuple(LetterBoundary(letter, minimum) for letter, minimum in BOUNDARIES),
    )
    roster = [
        Student(u, f"{80000 + u}", rng.choice(FIRST), rng.choice(LAST), f"student{u}@example.edu")
        for u in range(1, students + 1)
    ]
    weeks = [
        Session(1000 + i, 5 + i, f"Paper {i + 1}", dt.date(2023, 10, 2) + dt.timedelta(weeks=i))
        for i in range(sessions)
    ]
    reviews = []
    for s in roster:
        for w in weeks:
            state = rng.choice(REVIEW_STATES)
            graded = rng.random() > 0.05
            score = rng.uniform(40, 100) if graded and state in ("on_time", "late") else None
            penalty = 20.0 if state == "late" else 0.0
            reviews.append(ReviewRecord(s.user_id, w.id, state, score, penalty))  # type: ignore[arg-type]
    presentations = []
    for slot, s in enumerate(roster * 2):
        role = rng.choice(list(ROLES))
        scores = {name: float(rng.randint(1, 5)) for name in ROLES[role]}
        total = sum(scores.values())
        graded = rng.random() > 0.1
        presentations.append(
            PresentationRecord(
                s.user_id, slot, f"Group {slot // 3}", rng.choice(weeks).week, "A paper", role, scores,
                total, 20.0, rng.uniform(60, 100), total / 20 * 100 if graded else None,
            )
        )
    participation = [
        ParticipationRecord(s.user_id, w.id, rng.choice([0.0, 50.0, 100.0])) for s in roster for w in weeks
    ]
    external = [
        ExternalGrade(s.user_id, c.key, rng.uniform(0, c.max_points))
        for s in roster
        for c in course.components
        if c.kind == "external" and rng.random() > 0.02
    ]
    late_days = [
        LateDayEntry(s.user_id, rng.randint(1, 3), "assignment") for s in roster if rng.random() < 0.3
    ]
    return GradebookInput(course, roster, weeks, reviews, presentations, participation, external, late_days)


def bare_write_only(gradebook: Gradebook) -> bytes:
    """The workbook's sheets and cell values (formulas included) with nothing else: no styles,
    widths, filters or conditional formats, streamed by a write-only workbook."""
    from review.gradebook import exports

    book = Workbook(write_only=True)
    tables = exports._frames(gradebook)  # the tables as the sheet builders read them
    summary = exports._summary_sheet_frame(tables)
    boundaries = exports._boundaries_frame(tables)
    formulas, _ = exports._summary_formulas(tables, len(boundaries))
    frames = [(exports.SUMMARY_SHEET, summary, formulas),
              (exports.WEIGHTS_SHEET, exports._weights_frame(tables), {}),
              (exports.BOUNDARIES_SHEET, boundaries, {}),
              (exports.REVIEWS_SHEET, exports._reviews_sheet_frame(tables)[0], {}),
              (exports.PRESENTATIONS_SHEET, exports._presentations_sheet_frame(tables), {}),
              (exports.PARTICIPATION_SHEET, exports._participation_sheet_frame(tables), {}),
              (exports.LATE_DAYS_SHEET, exports._late_days_sheet_frame(tables), {}),
              (exports.IMPORTED_SHEET, exports._imported_sheet_frame(tables), {})]
    for name, frame, sheet_formulas in frames:
        safe = neutralise_frame(frame)
        sheet = book.create_sheet(name)
        sheet.append([str(label) for label in safe.columns])
        values = safe.astype(object).where(safe.notna(), None).itertuples(index=False, name=None)
        for number, row in enumerate(values, start=2):
            cells = list(row)
            for position, (formula, _formatted) in sheet_formulas.items():
                cells[position] = formula(number)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line of the figures (for run_bench.py)")
    args = parser.parse_args()

    data = synthetic_input(args.students, args.sessions)
    wall: list[float] = []
    cpu: list[float] = []
    compute_wall: list[float] = []
    size = 0
    for run in range(args.repeat + 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        gradebook = compute_gradebook(data)
        computed = time.perf_counter()
        size = len(write_workbook(gradebook))
        if run:  # the first run warms imports and caches
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            compute_wall.append(computed - started)
    # The same cells written the barest way openpyxl can (write-only, values only): the floor
    # the workbook's own write is held to (target: at most 1.1x of it, CPU time).
    gradebook = compute_gradebook(data)
    ours, bare = [], []
    for run in range(args.repeat + 1):
        started = time.process_time()
        write_workbook(gradebook)
        middle = time.process_time()
        bare_write_only(gradebook)
        if run:
            ours.append(middle - started)
            bare.append(time.process_time() - middle)
    # CPU time is reported too: on a shared machine the wall clock also measures the neighbours.
    print(
        f"write {statistics.median(ours):.3f} s CPU against a bare write-only write of the same "
        f"cells {statistics.median(bare):.3f} s: {statistics.median(ours) / statistics.median(bare):.2f}x "
        f"(target <= 1.1x)"
    )
    print(
        f"{args.students} students x {args.sessions} sessions, median of {args.repeat}: "
        f"compute {statistics.median(compute_wall):.3f} s, "
        f"compute+write {statistics.median(wall):.3f} s wall "
        f"({statistics.median(cpu):.3f} s CPU), best {min(wall):.3f} s, xlsx {size / 1024:.0f} KiB"
    )
    if args.json:
        print(json.dumps({"write_cpu_s": round(statistics.median(ours), 3),
                          "bare_write_only_cpu_s": round(statistics.median(bare), 3),
                          "write_ratio": round(statistics.median(ours) / statistics.median(bare), 3),
                          "compute_s": round(statistics.median(compute_wall), 3),
                          "xlsx_kib": round(size / 1024)}))


if __name__ == "__main__":
    main()
