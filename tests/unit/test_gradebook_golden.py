"""The plain-Python gradebook gives what the pandas one gave, on 240 generated inputs.

``fixtures/gradebook_golden.json.gz`` holds seeded random inputs (rosters of 0-12 students,
0-6 sessions with repeated weeks, every review state, ties for drop-lowest, pending scores,
late penalties, presentations with uneven criteria, pending participation, missing and
partial external grades, late-day corrections, and inconsistent records) together with every
table the pandas implementation computed for each, or the error it raised. They were recorded by
``tests/unit/fixtures/make_gradebook_golden.py`` in commit 21ac7e2 (issue 14), the last with the
pandas computation (``git show 21ac7e2:tests/unit/fixtures/make_gradebook_golden.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.gradebook.compute import (
    Component,
    CourseInfo,
    ExternalGrade,
    Gradebook,
    GradebookInput,
    GradebookInputError,
    LateDayEntry,
    LetterBoundary,
    ParticipationRecord,
    PresentationRecord,
    ReviewRecord,
    Session,
    Student,
    compute_gradebook,
    graded_so_far,
)

GOLDEN = Path(__file__).parent / "fixtures" / "gradebook_golden.json.gz"
CASES: list[dict[str, Any]] = json.loads(gzip.decompress(GOLDEN.read_bytes()))


def build_input(case: dict[str, Any]) -> GradebookInput:
    course = case["course"]
    info = CourseInfo(course["code"], course["title"],
                      tuple(Component(**c) for c in course["components"]),
                      tuple(LetterBoundary(**b) for b in course["boundaries"]))
    return GradebookInput(
        course=info,
        students=[Student(**s) for s in case["students"]],
        sessions=[Session(s["id"], s["week"], s["title"], dt.date.fromisoformat(s["date"]))
                  for s in case["sessions"]],
        reviews=[ReviewRecord(**r) for r in case["reviews"]],
        presentations=[PresentationRecord(**p) for p in case["presentations"]],
        participation=[ParticipationRecord(**p) for p in case["participation"]],
        external_grades=[ExternalGrade(**g) for g in case["external_grades"]],
        late_days=[LateDayEntry(**e) for e in case["late_days"]])


def plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}
            for row in rows]


def tables(gradebook: Gradebook) -> dict[str, Any]:
    """The gradebook in the golden file's layout (the same tables, status as rows)."""
    return {
        "summary": plain(gradebook.summary),
        "students": plain(gradebook.students),
        "status": [{"user_id": s["user_id"], **gradebook.status[s["user_id"]]}
                   for s in gradebook.students],
        "sessions": plain(gradebook.sessions),
        "reviews": plain(gradebook.reviews),
        "presentations": plain(gradebook.presentations),
        "participation": plain(gradebook.participation),
        "late_days": plain(gradebook.late_days),
        "imported": plain(gradebook.imported),
        "criteria": gradebook.criteria,
        "so_far": [dataclasses.asdict(graded_so_far(gradebook, s["user_id"]))
                   for s in gradebook.summary],
    }


def assert_same(actual: Any, expected: Any, where: str) -> None:
    """Equal, floats to 1e-9 (the sums are added in another order), key order included."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), where
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{where}[{index}]")
    elif isinstance(expected, float) and not isinstance(actual, str):
        assert actual is not None and math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9), \
            (where, actual, expected)
    else:
        assert actual == expected and type(actual) is type(expected), (where, actual, expected)


@pytest.mark.parametrize("index", range(len(CASES)))
def test_plain_python_gradebook_matches_the_recorded_pandas_results(index: int) -> None:
    case = CASES[index]
    expected = case["expected"]
    if "error" in expected:
        with pytest.raises(GradebookInputError) as raised:
            compute_gradebook(build_input(case))
        assert str(raised.value) == expected["error"]
    else:
        assert_same(tables(compute_gradebook(build_input(case))), expected, f"case {index}")


def test_the_golden_cases_cover_every_rule() -> None:
    # A golden file without these would not prove the rewrite on them.
    results = [c["expected"] for c in CASES if "error" not in c["expected"]]
    statuses = {r["status"] for e in results for r in e["reviews"]}
    states = {r["state"] for e in results for r in e["reviews"]}
    assert statuses == {"counted", "dropped", "excluded", "pending"}
    assert states == {"missing", "draft", "on_time", "late", "excused", "exempt"}
    assert any(s["late_days_used"] < 0 for e in results for s in e["status"])
    assert any(r["pct"] is None for e in results for r in e["participation"])
    assert any(r["status"] == "pending" for e in results for r in e["presentations"])
    assert len({c["expected"]["error"].split(":")[0] for c in CASES
                if "error" in c["expected"]}) >= 8


# --- Properties of the plain computation ----------------------------------------------------


SESSIONS = [Session(10 + i, 1 + i // 2, f"P{i}", dt.date(2024, 3, 4) + dt.timedelta(weeks=i))
            for i in range(4)]
COURSE = CourseInfo("C", "T", (
    Component("reviews", "Reviews", 30, "reviews", drop_lowest=1),
    Component("presentations", "Presentations", 20, "presentations"),
    Component("participation", "Participation", 10, "participation"),
    Component("exam", "Exam", 40, "external", max_points=20)),
    (LetterBoundary("A", 80), LetterBoundary("B", 50), LetterBoundary("F", 0)))
percent = st.one_of(st.none(), st.sampled_from([0.0, 50.0, 80.0, 100.0]),
                    st.floats(0, 120, allow_nan=False))


@st.composite
def class_inputs(draw: Any) -> GradebookInput:
    user_ids = draw(st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True))
    students = [Student(u, f"S{u}", "F", "L", f"u{u}@x.edu") for u in user_ids]
    reviews, participation, presentations, external = [], [], [], []
    for u in user_ids:
        for s in SESSIONS:
            if draw(st.booleans()):
                reviews.append(ReviewRecord(u, s.id, draw(st.sampled_from(
                    ["missing", "draft", "on_time", "late", "excused", "exempt"])),
                    draw(percent), draw(st.sampled_from([0.0, 10.0, 50.0]))))
            if draw(st.booleans()):
                participation.append(ParticipationRecord(u, s.id, draw(percent)))
        for slot in range(draw(st.integers(0, 2))):
            presentations.append(PresentationRecord(u, slot, "G", slot + 1, "P", "r", {"c": 1.0},
                                                    None, 100.0, None, draw(percent)))
        score = draw(st.one_of(st.none(), st.floats(0, 20, allow_nan=False)))
        if score is not None:
            external.append(ExternalGrade(u, "exam", score))
    return GradebookInput(COURSE, students, SESSIONS, reviews, presentations, participation,
                          external)


@settings(max_examples=60, deadline=None)
@given(class_inputs())
def test_one_students_gradebook_is_their_part_of_the_class_gradebook(data: GradebookInput) -> None:
    whole = compute_gradebook(data)
    for student in data.students:
        uid = student.user_id
        alone = compute_gradebook(dataclasses.replace(
            data, students=[student],
            reviews=[r for r in data.reviews if r.user_id == uid],
            presentations=[p for p in data.presentations if p.user_id == uid],
            participation=[p for p in data.participation if p.user_id == uid],
            external_grades=[g for g in data.external_grades if g.user_id == uid]))
        assert alone.student(uid) == whole.student(uid)


@settings(max_examples=60, deadline=None)
@given(class_inputs())
def test_total_is_the_weighted_sum_of_the_components_with_blanks_as_zero(
        data: GradebookInput) -> None:
    for row in compute_gradebook(data).summary:
        expected = sum(c.weight * (row[c.key] or 0.0) for c in COURSE.components) / 100
        assert row["total"] == pytest.approx(expected)


# --- The staff table's order ----------------------------------------------------------------


@pytest.mark.parametrize("index", [i for i, c in enumerate(CASES)
                                   if len(c["expected"].get("summary", ())) > 2])
def test_staff_table_sorts_as_pandas_sort_values_did(index: int) -> None:
    # The page used DataFrame.sort_values(na_position="last", kind="stable"): blanks last in
    # both directions, ties by last name in the same direction, then roster order.
    import pandas as pd

    from review.gradebook.loader import CachedGradebook
    from review.gradebook.views import sorted_filtered

    gradebook = compute_gradebook(build_input(CASES[index]))
    frame = pd.DataFrame(gradebook.summary)
    for sort in ["student_id", "last_name", "first_name", *gradebook.course.component_keys,
                 "total", "letter"]:
        for direction in ("asc", "desc"):
            keys = [sort] if sort in ("last_name", "first_name") else [sort, "last_name"]
            expected = frame.sort_values(keys, ascending=direction == "asc", na_position="last",
                                         kind="stable")["user_id"].tolist()
            rows, _ = sorted_filtered(CachedGradebook(gradebook), {"sort": sort, "dir": direction})
            assert [r["user_id"] for r in rows] == expected, (sort, direction)
