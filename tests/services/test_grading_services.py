"""Grading rules against the database: versions, arithmetic, combining, adjustments, audit,
participation, release, optimistic locking, and the results API for the gradebook."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flask import Flask
from sqlalchemy import event, select

import models
from models import AuditEntry, CourseRole, ParticipationRecord, Score, db
from review.grading import services
from review.grading.results import participation_scores, presentation_results, review_scores
from review.rubrics import load_rubric_dir
from tests.factories import (
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_submitted_review,
)

OVERVIEW_FULL = {"problem": 3, "method": 5, "results": 3, "clarity": 3, "time": 2, "questions": 2}


@pytest.fixture
def setup(app: Flask) -> dict:
    course = make_course("grading-a")
    instructor = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    a, b, c = (make_member(course) for _ in range(3))
    group = make_group(course, [a, b])
    slot = hold_slot(course, group, 3, "overview")
    db.session.commit()
    return {"course": course, "instructor": instructor, "ta": ta, "a": a, "b": b, "c": c,
            "group": group, "slot": slot}


def overview_values(app: Flask, **changes: float) -> dict[str, float]:
    rubric = app.extensions["rubrics"]["presentation-overview"]
    values = {criterion.id: criterion.points for criterion in rubric.criteria}
    values.update(changes)
    return values


def test_overview_rubric_fixture_matches_file(app: Flask) -> None:
    rubric = app.extensions["rubrics"]["presentation-overview"]
    assert set(overview_values(app)) == set(rubric.criterion_ids)


def test_score_total_and_audit(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    values = overview_values(app)
    first = next(iter(values))
    values[first] = 0
    score = services.save_score(setup["course"], setup["instructor"], item, values=values,
                                comments={first: "Missing."}, overall_comment="Good talk.")
    db.session.commit()
    rubric = app.extensions["rubrics"]["presentation-overview"]
    assert score.max_total == rubric.max_score
    assert score.total == rubric.max_score - rubric.criterion(first).points
    assert score.rubric.key == "presentation-overview" and score.rubric.version == 1
    services.save_score(setup["course"], setup["instructor"], item,
                        values=overview_values(app), loaded_version=score.version,
                        reason="Re-watched the recording")
    db.session.commit()
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["score.create", "score.update"]
    assert entries[1].old["total"] == rubric.max_score - rubric.criterion(first).points
    assert entries[1].new["total"] == rubric.max_score
    assert entries[1].reason == "Re-watched the recording"
    assert entries[1].actor_id == setup["instructor"].id and entries[1].category == "grade"


@pytest.mark.parametrize("values, message", [
    ({"method": 99}, "between 0 and"),
    ({"nonsense": 1}, "unknown criterion 'nonsense'"),
    ({"method": "lots"}, "criterion 'method'"),
])
def test_bad_values_are_refused_clearly(app: Flask, setup: dict, values: dict,
                                        message: str) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    with pytest.raises(services.GradingRefused, match=message):
        services.save_score(setup["course"], setup["ta"], item,
                            values=overview_values(app, **values))
    assert db.session.scalar(select(Score.id)) is None


def test_incomplete_score_is_refused(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    values = overview_values(app)
    values.pop("method")
    with pytest.raises(services.GradingRefused, match="not scored yet: method"):
        services.save_score(setup["course"], setup["ta"], item, values=values)


def test_students_and_other_courses_are_refused(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    with pytest.raises(services.GradingRefused, match="instructors and TAs"):
        services.save_score(setup["course"], setup["c"], item, values=overview_values(app))
    other = make_course("grading-b")
    with pytest.raises(services.GradingRefused, match="no presentation"):
        services.presentation_item(other, setup["slot"].id)
    outsider_staff = make_member(other, CourseRole.instructor)
    with pytest.raises(services.GradingRefused):
        services.save_score(setup["course"], outsider_staff, item, values=overview_values(app))


def test_stale_save_is_refused_and_shows_the_saved_score(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    score = services.save_score(setup["course"], setup["ta"], item, values=overview_values(app))
    db.session.commit()
    loaded = score.version  # two tabs load version 1
    services.save_score(setup["course"], setup["ta"], item,
                        values=overview_values(app, method=1), loaded_version=loaded)
    db.session.commit()
    with pytest.raises(services.StaleScore) as caught:
        services.save_score(setup["course"], setup["ta"], item,
                            values=overview_values(app, method=4), loaded_version=loaded)
    assert caught.value.current.values["method"] == 1
    assert "changed" in str(caught.value)
    db.session.rollback()
    assert db.session.get(Score, score.id).values["method"] == 1
    # A new score whose form thought there was none, while one exists, is stale too.
    with pytest.raises(services.StaleScore):
        services.save_score(setup["course"], setup["ta"], item,
                            values=overview_values(app), loaded_version=0)


def test_changed_rubric_file_makes_a_new_version_and_keeps_old_scores(
        app: Flask, setup: dict, tmp_path: Path) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    old_values = overview_values(app)
    old = services.save_score(setup["course"], setup["ta"], item, values=old_values)
    db.session.commit()
    old_total, old_max, old_rubric_id = old.total, old.max_total, old.rubric_id

    source = Path(app.config["RUBRICS_DIR"])
    for path in source.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    data = yaml.safe_load((tmp_path / "presentation-overview.yaml").read_text())
    data["version"] = 2
    data["criteria"][0]["points"] = data["criteria"][0]["points"] * 2
    data["criteria"][0]["levels"][0]["score"] = data["criteria"][0]["points"]
    (tmp_path / "presentation-overview.yaml").write_text(yaml.safe_dump(data))
    app.extensions["rubrics"] = load_rubric_dir(tmp_path)  # as a restart would

    new_rubric = app.extensions["rubrics"]["presentation-overview"]
    new = services.save_score(setup["course"], setup["instructor"], item,
                              values={c.id: c.points for c in new_rubric.criteria})
    db.session.commit()
    assert new.rubric.version == 2 and new.rubric_id != old_rubric_id
    assert new.max_total == new_rubric.max_score != old_max
    again = db.session.get(Score, old.id)
    assert (again.total, again.max_total, again.rubric_id) == (old_total, old_max, old_rubric_id)
    # Editing the old score validates against its own (old) version, not the new file.
    services.save_score(setup["course"], setup["ta"], item, values=old_values,
                        loaded_version=again.version)
    db.session.commit()
    assert db.session.get(Score, old.id).rubric_id == old_rubric_id
    # Same content loaded again maps to the same row.
    assert services.ensure_rubric_row(new_rubric).id == new.rubric_id


def test_combining_graders_mean_and_instructor_override(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    rubric = app.extensions["rubrics"]["presentation-overview"]
    half = {c.id: c.points / 2 for c in rubric.criteria}
    services.save_score(setup["course"], setup["ta"], item, values=half)
    services.save_score(setup["course"], setup["instructor"], item, values=overview_values(app))
    db.session.commit()
    results = presentation_results(setup["course"])
    assert {r.user_id for r in results} == {setup["a"].id, setup["b"].id}
    assert results[0].staff_pct == pytest.approx(75.0)
    assert results[0].disagreement is True  # spread 50 > default 20
    assert results[0].released is False and results[0].rubric_key == "presentation-overview"

    course = setup["course"]
    definition = dict(course.definition)
    definition["grading"] = {**definition["grading"], "combine_graders": "instructor_override",
                             "disagreement_pct": 60}
    course.definition = definition
    db.session.commit()
    results = presentation_results(course)
    assert results[0].staff_pct == pytest.approx(100.0)
    assert results[0].disagreement is False
    assert results[0].criteria["method"] == rubric.criterion("method").points


def test_member_adjustment_is_instructor_only_and_audited(app: Flask, setup: dict) -> None:
    item = services.presentation_item(setup["course"], setup["slot"].id)
    services.save_score(setup["course"], setup["ta"], item, values=overview_values(app))
    with pytest.raises(services.GradingRefused, match="instructor"):
        services.adjust_member(setup["course"], setup["ta"], setup["slot"], setup["a"].id, -10,
                               "Did not contribute")
    with pytest.raises(services.GradingRefused, match="did not present"):
        services.adjust_member(setup["course"], setup["instructor"], setup["slot"],
                               setup["c"].id, -10, "x")
    with pytest.raises(services.GradingRefused, match="reason"):
        services.adjust_member(setup["course"], setup["instructor"], setup["slot"],
                               setup["a"].id, -10, "  ")
    services.adjust_member(setup["course"], setup["instructor"], setup["slot"], setup["a"].id,
                           -15, "Did not contribute to the slides")
    db.session.commit()
    by_user = {r.user_id: r for r in presentation_results(setup["course"])}
    assert by_user[setup["a"].id].final_pct == pytest.approx(85.0)
    assert by_user[setup["b"].id].final_pct == pytest.approx(100.0)
    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "adjustment.set")).one()
    assert entry.new == {"user_id": setup["a"].id, "delta_pct": -15}
    assert entry.reason == "Did not contribute to the slides"


def test_review_scores_only_graded_submitted_reviews(app: Flask, setup: dict) -> None:
    course = setup["course"]
    graded = make_submitted_review(course, setup["a"], 3)
    make_submitted_review(course, setup["b"], 3)
    draft = make_submitted_review(course, setup["c"], 3)
    draft.status = models.ReviewStatus.draft
    db.session.flush()
    with pytest.raises(services.GradingRefused, match="not submitted"):
        services.review_item(course, draft.id)
    rubric = app.extensions["rubrics"]["review"]
    values = {c.id: c.points for c in rubric.criteria}
    values["weaknesses"] = 0
    services.save_score(course, setup["ta"], services.review_item(course, graded.id),
                        values=values)
    db.session.commit()
    expected = (rubric.max_score - rubric.criterion("weaknesses").points) / rubric.max_score * 100
    assert review_scores(course) == {graded.id: pytest.approx(expected)}


def test_participation_from_records_then_staff_score(app: Flask, setup: dict) -> None:
    course = setup["course"]
    session = setup["slot"].session
    review = make_submitted_review(course, setup["a"], 3)
    db.session.add(ParticipationRecord(session_id=session.id, user_id=setup["a"].id,
                                       kind="question", review_id=review.id, question_index=0))
    services.add_manual_participation(course, setup["ta"], session, setup["a"].id, 1,
                                      "Answered a classmate")
    with pytest.raises(services.GradingRefused, match="note"):
        services.add_manual_participation(course, setup["ta"], session, setup["a"].id, 1, "")
    db.session.commit()
    # 1 question + 1 manual point = 2 of the 3 points of "questions-raised".
    assert participation_scores(course) == {(session.id, setup["a"].id): pytest.approx(200 / 3)}
    rubric = app.extensions["rubrics"]["participation"]
    item = services.participation_item(course, session.id, setup["a"].id)
    services.save_score(course, setup["instructor"], item,
                        values={c.id: c.points for c in rubric.criteria})
    db.session.commit()
    assert participation_scores(course)[(session.id, setup["a"].id)] == pytest.approx(100.0)
    with pytest.raises(services.GradingRefused, match="not a student"):
        services.participation_item(course, session.id, setup["ta"].id)


def test_course_rubric_choices_are_checked(app: Flask, setup: dict) -> None:
    course = setup["course"]
    assert services.check_course_rubrics(course) == []
    definition = dict(course.definition)
    definition["rubrics"] = {**definition.get("rubrics", {}), "review": "no-such-rubric",
                             "peer": "review"}
    course.definition = definition
    problems = services.check_course_rubrics(course)
    assert any("no-such-rubric" in p and "rubrics.review" in p for p in problems)
    assert any("applies to review" in p for p in problems)
    review = make_submitted_review(course, setup["a"], 3)
    with pytest.raises(services.RubricMissing, match="no-such-rubric"):
        services.save_score(course, setup["ta"], services.review_item(course, review.id),
                            values={"summary": 1})


def test_presentation_results_query_count_is_fixed(app: Flask) -> None:
    def build(code: str, groups: int) -> models.Course:
        course = make_course(code, session_weeks=(3, 4, 5, 6, 7))
        staff = make_member(course, CourseRole.instructor)
        values = overview_values(app)
        for index in range(groups):
            group = make_group(course, [make_member(course) for _ in range(3)])
            slot = hold_slot(course, group, 3 + index % 5,
                             ("overview", "strengths", "weaknesses")[index // 5])
            if slot.role.key == "overview":
                services.save_score(course, staff, services.presentation_item(course, slot.id),
                                    values=values)
        db.session.commit()
        return course

    small, large = build("small", 2), build("large", 12)
    counts = []
    for course in (small, large):
        db.session.expire_all()
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            results = presentation_results(course)
            participation_scores(course)
            review_scores(course)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        counts.append(len(statements))
        assert len(results) == (6 if course is small else 36)
    assert counts[0] == counts[1]
