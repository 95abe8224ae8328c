"""Rubric schema and loader: the default rubrics, bad files, every-problem reporting, hashing."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from review.rubrics import (
    Rubric,
    RubricError,
    check_rubric_dir,
    load_rubric,
    load_rubric_dir,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "rubrics"
BAD = Path(__file__).resolve().parent / "fixtures" / "rubrics_bad"


def rubric_data(rubric_id: str = "sample") -> dict[str, Any]:
    return {
        "id": rubric_id,
        "version": 1,
        "title": "Sample",
        "applies_to": "presentation",
        "role": "overview",
        "description": "A sample rubric.",
        "criteria": [
            {
                "id": "method",
                "title": "Method",
                "description": "Explains the method.",
                "points": 5,
                "levels": [
                    {"score": 5, "label": "Excellent", "descriptor": "Clear and complete."},
                    {"score": 2, "label": "Partial", "descriptor": "Key parts missing."},
                    {"score": 0, "label": "Missing", "descriptor": "Not explained."},
                ],
            },
            {
                "id": "time",
                "title": "Time",
                "description": "Keeps to time.",
                "points": 2,
                "levels": [
                    {"score": 0, "label": "Far off", "descriptor": "Stopped by the instructor."},
                    {"score": 2, "label": "On time", "descriptor": "Within the slot."},
                ],
            },
        ],
    }


def write(directory: Path, data: object, name: str = "sample") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- the defaults -----------------------------------------------------------------------------


def test_every_default_rubric_passes_validation() -> None:
    assert check_rubric_dir(DEFAULTS) == []
    assert set(load_rubric_dir(DEFAULTS)) == {
        "presentation-overview",
        "presentation-strengths",
        "presentation-weaknesses",
        "review",
        "participation",
        "peer",
    }


@pytest.mark.parametrize(
    ("rubric_id", "role", "minutes"),
    [
        ("presentation-overview", "overview", 14),
        ("presentation-strengths", "strengths", 8),
        ("presentation-weaknesses", "weaknesses", 8),
    ],
)
def test_presentation_defaults_have_their_role_time_box_and_questions(
    rubric_id: str, role: str, minutes: int
) -> None:
    rubric = load_rubric(DEFAULTS / f"{rubric_id}.yaml")
    assert (rubric.applies_to, rubric.role) == ("presentation", role)
    # The time box is the course's, filled in where the rubric is shown.
    assert rubric.criterion("time").title == "Time box ({minutes} minutes)"
    assert f"({minutes} minutes)" in rubric.rendered(minutes=minutes).criterion("time").title
    assert "questions" in rubric.criterion_ids


def test_review_default_follows_the_five_sections_in_order() -> None:
    rubric = load_rubric(DEFAULTS / "review.yaml")
    assert rubric.criterion_ids == (
        "summary",
        "strengths",
        "weaknesses",
        "ideas",
        "discussion-questions",
    )


def test_participation_questions_levels_are_the_question_counts() -> None:
    # The documented mapping: one point per question raised, capped at the criterion's points.
    criterion = load_rubric(DEFAULTS / "participation.yaml").criterion("questions-raised")
    assert criterion.level_scores == tuple(float(n) for n in range(int(criterion.points), -1, -1))


def test_peer_default_is_three_short_criteria() -> None:
    rubric = load_rubric(DEFAULTS / "peer.yaml")
    assert rubric.criterion_ids == ("clarity", "insight", "time")
    assert all(len(level.descriptor) <= 60 for c in rubric.criteria for level in c.levels)


# --- bad files, one problem each --------------------------------------------------------------

BAD_FILES = {
    "wrong-id.yaml": "id: must equal the file name 'wrong-id' (got 'some-other-id')",
    "missing-levels.yaml": "criteria[1] (id 'method').levels: is required",
    "level-above-points.yaml": (
        "criteria[1] (id 'method').levels[1].score: must be between 0 and 5 (got 7)"
    ),
    "duplicate-criterion-id.yaml": (
        "criteria[1] (id 'clarity').id: duplicate criterion id 'clarity' "
        "(already used by criteria[0])"
    ),
    "extra-field.yaml": (
        "criteria[0] (id 'clarity').weight: unknown field "
        "(allowed: id, title, description, points, levels)"
    ),
    "yaml-syntax-error.yaml": "line 14, column 1: YAML syntax error:",
    "version-not-int.yaml": "version: must be a valid integer (got 1.5)",
    "no-top-level.yaml": (
        "criteria[0] (id 'clarity').levels: needs a top level with score equal to points (2)"
    ),
    "duplicate-key.yaml": "line 6, column 1: YAML syntax error: duplicate key 'title'",
    "empty.yaml": "the file is empty",
    "not-a-mapping.yaml": "must be a mapping of rubric fields (got list)",
}


def test_every_bad_fixture_is_listed_with_its_expected_problem() -> None:
    assert sorted(path.name for path in BAD.glob("*.yaml")) == sorted(BAD_FILES)


@pytest.mark.parametrize(("name", "expected"), sorted(BAD_FILES.items()))
def test_bad_file_reports_exactly_its_one_problem_naming_the_file(name: str, expected: str) -> None:
    path = BAD / name
    with pytest.raises(RubricError) as excinfo:
        load_rubric(path)
    (problem,) = excinfo.value.problems
    assert problem.startswith(f"{path}: ")
    assert expected in problem


def test_directory_load_lists_every_problem_of_every_file_in_one_error() -> None:
    with pytest.raises(RubricError) as excinfo:
        load_rubric_dir(BAD)
    problems = excinfo.value.problems
    assert len(problems) == len(BAD_FILES)
    for name, expected in BAD_FILES.items():
        assert any(p.startswith(f"{BAD / name}: ") and expected in p for p in problems), name
    assert str(excinfo.value).startswith(f"{len(BAD_FILES)} rubric problems:")
    assert check_rubric_dir(BAD) == problems


def test_all_problems_in_one_file_are_reported_together(tmp_path: Path) -> None:
    data = rubric_data("other")
    data["version"] = "2"
    data["applies_to"] = "exam"
    data["criteria"][0]["levels"][1]["score"] = 9
    data["criteria"][0]["levels"].append({"score": 0, "label": "Again", "descriptor": "Dup."})
    data["criteria"][1]["colour"] = "blue"
    data["criteria"].append(copy.deepcopy(data["criteria"][0]))
    data["criteria"][2]["title"] = "   "
    path = write(tmp_path, data, name="sample")

    problems = check_rubric_dir(tmp_path)

    def has(fragment: str) -> bool:
        return any(p.startswith(f"{path}: ") and fragment in p for p in problems)

    assert has("id: must equal the file name 'sample' (got 'other')")
    assert has("version: must be a valid integer (got '2')")
    assert has("applies_to: must be 'presentation', 'review', 'participation' or 'peer'")
    assert has("criteria[0] (id 'method').levels[1].score: must be between 0 and 5 (got 9)")
    assert has("criteria[0] (id 'method').levels[3].score: duplicate score 0")
    assert has("criteria[1] (id 'time').colour: unknown field")
    assert has("criteria[2] (id 'method').id: duplicate criterion id 'method'")
    assert has("criteria[2] (id 'method').title: must not be empty")
    # Criterion 2 is a copy of criterion 0, so its level problems are reported too.
    assert has("criteria[2] (id 'method').levels[1].score: must be between 0 and 5 (got 9)")
    assert has("criteria[2] (id 'method').levels[3].score: duplicate score 0")
    assert len(problems) == 10


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version=0), "version: must be greater than or equal to 1 (got 0)"),
        (lambda d: d.update(version=True), "version: must be a valid integer (got True)"),
        (lambda d: d.update(id="Sample"), "id: must be a slug"),
        (lambda d: d["criteria"][0].update(points=0), "points: must be greater than 0 (got 0)"),
        (lambda d: d["criteria"][0]["levels"][0].update(score="5"), "score: must be a valid number"),
        (lambda d: d["criteria"][0]["levels"][1].update(score=-1), "greater than or equal to 0"),
        (lambda d: d["criteria"][0].update(levels=d["criteria"][0]["levels"][:1]), "needs at least 2"),
        (lambda d: d.update(criteria=[]), "criteria: needs at least 1 item(s) (got 0)"),
        (
            lambda d: d["criteria"][1]["levels"][1].update(label="Far off"),
            "levels[1].label: duplicate label 'Far off' (already used by levels[0])",
        ),
        (lambda d: d.pop("title"), "title: is required"),
        (lambda d: d.update(owner="me"), "owner: unknown field (allowed: id, version, title,"),
    ],
)
def test_schema_rejects_each_kind_of_bad_value(tmp_path: Path, change: Any, expected: str) -> None:
    data = rubric_data()
    change(data)
    # Named after the id it declares, so that only the changed field is wrong.
    problems = check_rubric_dir(write(tmp_path, data, name=data.get("id", "sample")).parent)
    assert len(problems) == 1 and expected in problems[0], problems


def test_directory_problems_are_reported(tmp_path: Path) -> None:
    assert check_rubric_dir(tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a directory"]
    assert check_rubric_dir(tmp_path) == [f"{tmp_path}: no .yaml rubric files"]
    (tmp_path / "sample.yml").write_text(yaml.safe_dump(rubric_data()), encoding="utf-8")
    assert check_rubric_dir(tmp_path) == [f"{tmp_path / 'sample.yml'}: rubric files must end in .yaml"]


def test_model_itself_refuses_a_level_above_points() -> None:
    data = rubric_data()
    data["criteria"][1]["levels"][0]["score"] = 3
    with pytest.raises(ValidationError, match=r"criteria\[1\]\.levels\[0\]\.score: must be between 0 and 2"):
        Rubric.model_validate(data)


# --- the loaded rubric ------------------------------------------------------------------------


def test_loaded_rubric_has_max_score_lookup_and_levels_best_first(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, rubric_data()))
    assert rubric.max_score == 7
    assert rubric.criterion_ids == ("method", "time")
    assert rubric.criterion("time").level_scores == (2.0, 0.0)
    with pytest.raises(KeyError):
        rubric.criterion("nope")


def test_changing_a_descriptor_changes_the_hash(tmp_path: Path) -> None:
    before = load_rubric(write(tmp_path, rubric_data())).content_hash
    data = rubric_data()
    data["criteria"][0]["levels"][1]["descriptor"] = "Key parts missing or wrong."
    after = load_rubric(write(tmp_path, data)).content_hash
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    assert before != after


def test_reordering_keys_levels_and_number_formats_keeps_the_hash(tmp_path: Path) -> None:
    original = load_rubric(write(tmp_path, rubric_data())).content_hash
    data = rubric_data()
    shuffled = {key: data[key] for key in reversed(list(data))}
    for criterion in shuffled["criteria"]:
        criterion["levels"] = [dict(reversed(list(lv.items()))) for lv in reversed(criterion["levels"])]
        criterion["points"] = float(criterion["points"])
    shuffled["description"] = "  A sample rubric.\n"
    assert load_rubric(write(tmp_path, shuffled)).content_hash == original


def test_storage_round_trip_keeps_content_and_hash(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, rubric_data()))
    stored = rubric.to_storage()
    assert stored["criteria"][0]["levels"][0] == {
        "score": 5.0,
        "label": "Excellent",
        "descriptor": "Clear and complete.",
    }
    restored = Rubric.from_storage(stored)
    assert restored == rubric
    assert restored.content_hash == rubric.content_hash


def test_from_storage_rejects_tampered_data_naming_the_stored_rubric(tmp_path: Path) -> None:
    stored = load_rubric(write(tmp_path, rubric_data())).to_storage()
    stored["criteria"][0]["points"] = 4
    with pytest.raises(RubricError) as excinfo:
        Rubric.from_storage(stored)
    assert excinfo.value.problems == [
        "stored rubric 'sample' version 1: criteria[0] (id 'method').levels[0].score: "
        "must be between 0 and 4 (got 5)",
        "stored rubric 'sample' version 1: criteria[0] (id 'method').levels: "
        "needs a top level with score equal to points (4); scores are 0, 2, 5",
    ]
