"""Import of external grades: errors by row, replacing only the file's columns, the grid."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import select

from models import AuditEntry, CourseRole, GradeItem, db
from review.courses.roster import TableFileError, read_table
from review.gradebook.services import (
    GridError,
    apply_import,
    cell_name,
    plan_from_records,
    plan_import,
    save_grid,
)
from tests.factories import course_definition_data, make_course, make_member


def _course():
    data = course_definition_data()
    components = [
        {"key": "quiz", "label": "Quiz", "weight": 10, "kind": "external", "max_points": 20},
        {"key": "midterm", "label": "Midterm", "weight": 50, "kind": "external"},
        *data["grading"]["components"][1:],
    ]
    return make_course(grading={**data["grading"], "components": components})


def _table(text: str) -> pd.DataFrame:
    return read_table(text.encode(), "grades.csv")


def _grades(course) -> dict[tuple[str, str], float]:
    from models import Enrollment

    rows = db.session.execute(select(Enrollment.student_number, GradeItem.component, GradeItem.score)
                              .join(Enrollment, (Enrollment.user_id == GradeItem.user_id)
                                    & (Enrollment.course_id == GradeItem.course_id))
                              .where(GradeItem.course_id == course.id))
    return {(number, key): score for number, key, score in rows}


@pytest.fixture
def course_with_students(app: Flask):
    course = _course()
    staff = make_member(course, CourseRole.instructor)
    students = [make_member(course, CourseRole.student) for _ in range(3)]
    numbers = [str(10000 + s.id) for s in students]
    db.session.commit()  # a rejected import rolls back; the roster must survive it
    return course, staff, numbers


def test_a_european_excel_csv_with_decimal_commas_is_imported(course_with_students) -> None:
    course, staff, (a, b, c) = course_with_students
    data = f"Student ID;Name;Quiz;Midterm\r\n{a};José Müller;12,5;80\r\n".encode("cp1252")
    plan = plan_import(course, read_table(data, "grades.csv"))
    apply_import(course, plan, staff, source="test")
    assert _grades(course) == {(a, "quiz"): 12.5, (a, "midterm"): 80.0}


def test_every_problem_is_reported_by_row_and_nothing_is_saved(course_with_students) -> None:
    course, staff, (a, b, c) = course_with_students
    text = (f"student_id,quiz,midterm\n{a},10,80\n99999,5,5\n{b},ten,50\n{c},25,50\n"
            f"{a},1,1\n,3,3\n")
    with pytest.raises(TableFileError) as info:
        plan_import(course, _table(text))
    problems = info.value.problems
    assert "row 3, column student_id: unknown student id '99999' (not a student of this course)" in problems
    assert "row 4, column quiz: 'ten' is not a number" in problems
    assert "row 5, column quiz: 25 is above the maximum of 20" in problems
    assert any(p.startswith("row 6, column student_id: duplicate id") for p in problems)
    assert "row 7, column student_id: empty" in problems
    assert _grades(course) == {}


def test_unknown_and_platform_columns_are_header_errors(course_with_students) -> None:
    course, _, (a, *_) = course_with_students
    with pytest.raises(TableFileError) as info:
        plan_import(course, _table(f"student_id,quizz,reviews,first_name\n{a},1,2,Ann\n"))
    assert info.value.problems == [
        "row 1 (header), column quizz: unknown component 'quizz' (external components: quiz, midterm)",
        "row 1 (header), column reviews: 'reviews' is computed by the platform and cannot be imported",
    ]
    with pytest.raises(TableFileError, match="missing column 'student_id'"):
        plan_import(course, _table("id,quiz\n1,2\n"))
    with pytest.raises(TableFileError, match="negative"):
        plan_import(course, _table(f"student_id,quiz\n{a},-1\n"))


def test_reimport_replaces_only_the_columns_in_the_file(course_with_students) -> None:
    course, staff, (a, b, c) = course_with_students
    plan = plan_import(course, _table(f"student_id,quiz,midterm\n{a},10,80\n{b},12,60\n"))
    assert apply_import(course, plan, staff) == 4
    # The second file carries only the midterm; an empty cell leaves b's midterm unchanged.
    plan = plan_import(course, _table(f"student_id,midterm\n{a},90\n{b},\n{c},40\n"))
    assert [(ch.student_id, ch.old, ch.new) for ch in plan.changes] == [(a, 80.0, 90.0), (c, None, 40.0)]
    column = plan.columns[0]
    assert (column.set_new, column.changed, column.unchanged, column.blank) == (1, 1, 0, 1)
    apply_import(course, plan, staff, source="midterm.csv")
    assert _grades(course) == {(a, "quiz"): 10, (a, "midterm"): 90, (b, "quiz"): 12,
                               (b, "midterm"): 60, (c, "midterm"): 40}
    audits = list(db.session.scalars(select(AuditEntry).where(AuditEntry.category == "grade")
                                     .order_by(AuditEntry.id)))
    assert len(audits) == 6
    assert audits[4].old["score"] == 80 and audits[4].new["score"] == 90
    assert audits[4].reason == "midterm.csv" and audits[4].actor_id == staff.id


def test_xlsx_files_and_the_preview_records_round_trip(course_with_students) -> None:
    course, staff, (a, b, _) = course_with_students
    buffer = io.BytesIO()
    pd.DataFrame({"student_id": [a, b], "quiz": [15, None]}).to_excel(buffer, index=False)
    plan = plan_import(course, read_table(buffer.getvalue(), "grades.xlsx"))
    assert [(ch.student_id, ch.new) for ch in plan.changes] == [(a, 15.0)]
    again = plan_from_records(course, plan.records)
    assert [(ch.row, ch.student_id, ch.new) for ch in again.changes] == [(2, a, 15.0)]


def test_grid_validates_each_cell_and_saves_only_changes(course_with_students) -> None:
    course, staff, numbers = course_with_students
    from models import Enrollment

    ids = {e.student_number: e.user_id for e in db.session.scalars(
        select(Enrollment).where(Enrollment.course_id == course.id))}
    a, b = ids[numbers[0]], ids[numbers[1]]
    original = {cell_name(a, "quiz"): "", cell_name(b, "quiz"): "", cell_name(a, "midterm"): ""}
    with pytest.raises(GridError) as info:
        save_grid(course, [a, b], {cell_name(a, "quiz"): "21", cell_name(b, "quiz"): "x",
                                   cell_name(a, "midterm"): "50"}, original, staff)
    assert set(info.value.problems) == {cell_name(a, "quiz"), cell_name(b, "quiz")}
    assert "above the maximum of 20" in info.value.problems[cell_name(a, "quiz")]
    db.session.rollback()
    assert _grades(course) == {}
    assert save_grid(course, [a, b], {cell_name(a, "quiz"): "18.5", cell_name(a, "midterm"): "50"},
                     original, staff) == 2
    db.session.commit()
    # Someone else changed a's quiz since this page was loaded: a conflict, not an overwrite.
    with pytest.raises(GridError, match="changed by someone else"):
        save_grid(course, [a], {cell_name(a, "quiz"): "3"}, {cell_name(a, "quiz"): ""}, staff)
    db.session.rollback()
    # Emptying a cell removes the grade.
    assert save_grid(course, [a], {cell_name(a, "quiz"): "", cell_name(a, "midterm"): "50"},
                     {cell_name(a, "quiz"): "18.5", cell_name(a, "midterm"): "50"}, staff) == 1
    assert _grades(course) == {(numbers[0], "midterm"): 50}
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["grid_edit", "grid_edit", "grid_clear"]
