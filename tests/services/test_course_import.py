"""Course files: validation that names the file and field, and idempotent import."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from models import PaperSession, Review, Slot, Week, db
from review.courses.definition import CourseFileError, load_course_file
from review.courses.services import CourseUpdateRefused, apply_course_definition
from tests.factories import course_definition_data, make_member

PROJECT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: dict, name: str = "course.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_demo_course_file_is_valid_and_complete() -> None:
    definition = load_course_file(PROJECT / "courses" / "comp541-fall2023.yaml")
    assert definition.code == "comp541-fall2023" and definition.timezone == "Europe/Istanbul"
    assert len(definition.weeks) == 17 and len(definition.paper_sessions) == 10
    assert [w.number for w in definition.weeks if w.is_break] == [7]
    assert [(r.key, r.minutes) for r in definition.roles] == [
        ("overview", 14), ("strengths", 8), ("weaknesses", 8)]
    assert definition.discussion_minutes == 10
    assert sum(c.weight for c in definition.grading.components) == 100


def test_errors_name_the_file_the_field_and_the_value(tmp_path: Path) -> None:
    data = course_definition_data()
    data["timezone"] = "Mars/Olympus"
    data["roles"][1]["minutes"] = 0
    data["paper_sessions"][0]["week"] = 40
    data["grading"]["components"][0]["weight"] = 55
    path = write(tmp_path, data)
    with pytest.raises(CourseFileError) as caught:
        load_course_file(path)
    text = str(caught.value)
    assert f"{path}: timezone: unknown timezone 'Mars/Olympus'" in text
    assert f"{path}: roles[1].minutes: Input should be greater than 0 (got 0)" in text
    assert "grading: component weights must add up to 100 (they add up to 95)" in text


def test_a_session_in_a_missing_week_is_named(tmp_path: Path) -> None:
    data = course_definition_data()
    data["paper_sessions"][0]["week"] = 40
    with pytest.raises(CourseFileError) as caught:
        load_course_file(write(tmp_path, data))
    assert "paper_sessions[0].week: week 40 is not in weeks" in str(caught.value)


def test_unknown_fields_and_bad_yaml_are_reported(tmp_path: Path) -> None:
    data = course_definition_data()
    data["colour"] = "blue"
    with pytest.raises(CourseFileError) as caught:
        load_course_file(write(tmp_path, data))
    assert "colour: Extra inputs are not permitted" in str(caught.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("code: x\nweeks: [1, 2\n")
    with pytest.raises(CourseFileError) as caught:
        load_course_file(broken)
    assert "line 3" in str(caught.value) and "not valid YAML" in str(caught.value)


def test_importing_the_same_definition_twice_changes_nothing(app, tmp_path: Path) -> None:
    definition = load_course_file(write(tmp_path, course_definition_data()))
    course, first = apply_course_definition(definition)
    db.session.commit()
    _, second = apply_course_definition(definition)
    assert first.created and second.changed == []
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 4 * 3


def test_session_times_and_review_deadlines_follow_the_course_timezone(app, tmp_path) -> None:
    definition = load_course_file(write(tmp_path, course_definition_data()))
    course, _ = apply_course_definition(definition)
    session = course.sessions[0]  # week 3: Monday 2026-09-21, 08:30 in Istanbul (UTC+3)
    assert session.starts_at == datetime(2026, 9, 21, 5, 30, tzinfo=timezone.utc)
    assert session.review_deadline == datetime(2026, 9, 20, 20, 59, tzinfo=timezone.utc)
    assert session.review_opens_at == datetime(2026, 9, 14, 5, 30, tzinfo=timezone.utc)


def test_an_update_changes_in_place(app, tmp_path) -> None:
    data = course_definition_data()
    course, _ = apply_course_definition(load_course_file(write(tmp_path, data)))
    db.session.commit()
    session_ids = set(db.session.scalars(select(PaperSession.id)))
    data["weeks"][2]["topic"] = "Renamed topic"
    data["roles"][0]["minutes"] = 15
    _, changes = apply_course_definition(load_course_file(write(tmp_path, data)))
    assert changes.changed == ["role overview minutes", "week 3 topic"]
    assert set(db.session.scalars(select(PaperSession.id))) == session_ids
    assert db.session.scalar(select(Week.topic).where(Week.number == 3)) == "Renamed topic"


def test_removing_a_session_with_reviews_needs_the_explicit_flag(app, tmp_path) -> None:
    data = course_definition_data()
    course, _ = apply_course_definition(load_course_file(write(tmp_path, data)))
    student = make_member(course)
    db.session.add(Review(session_id=course.sessions[0].id, user_id=student.id,
                          content={"summary": "x"}))
    db.session.commit()
    data["paper_sessions"] = data["paper_sessions"][1:]
    definition = load_course_file(write(tmp_path, data))
    with pytest.raises(CourseUpdateRefused) as caught:
        apply_course_definition(definition)
    assert "week 3 session" in str(caught.value) and "1 review(s)" in str(caught.value)
    db.session.rollback()
    _, changes = apply_course_definition(definition, allow_delete=True)
    assert "removed the week 3 session" in changes.changed
    assert db.session.scalar(select(func.count()).select_from(Review)) == 0


@pytest.mark.parametrize("field, value, where", [
    ("title", "T" * 201, "title"),
    ("term", "Fall " * 13, "term"),
])
def test_an_over_long_course_field_is_a_message_naming_it(tmp_path: Path, runner, field, value,
                                                          where) -> None:
    data = course_definition_data()
    data[field] = value
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{where}: String should have at most" in result.output


def test_over_long_week_paper_and_role_fields_are_named(tmp_path: Path, runner) -> None:
    data = course_definition_data()
    data["weeks"][0]["topic"] = "x" * 201
    data["paper_sessions"][0]["authors"] = "a" * 1001
    data["paper_sessions"][0]["venue"] = "v" * 101
    data["paper_sessions"][0]["url"] = "https://example.org/" + "u" * 500
    data["roles"][0]["name"] = "n" * 101
    data["roles"][1]["key"] = "k" * 33
    result = runner.invoke(args=["course", "import", str(write(tmp_path, data))])
    assert result.exit_code == 1 and "Traceback" not in result.output
    for where in ("weeks[0].topic", "paper_sessions[0].authors", "paper_sessions[0].venue",
                  "paper_sessions[0].url", "roles[0].name", "roles[1].key"):
        assert f"{where}: String should have at most" in result.output, where
