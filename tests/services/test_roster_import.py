"""Roster import: all or nothing, every problem named by row and column, re-import is a no-op."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import func, select

from models import CourseRole, Enrollment, User, db
from review.courses.roster import TableFileError, import_roster, parse_roster, read_table
from tests.factories import make_course, make_member

GOOD_CSV = (
    "student_id,first_name,last_name,email,program\n"
    "81050,Ayşe,Aslan,aaslan17@example.edu,MSc\n"
    "82491,Mehmet,Çetin,mcetin18@example.edu,PhD\n"
    "84542,Zeynep,Güneş,ZGUNES19@example.edu,MSc\n"
)


def run_import(course, data: bytes, filename: str = "roster.csv"):
    result = import_roster(course, parse_roster(read_table(data, filename)))
    db.session.commit()
    return result


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_good_csv_with_bom_creates_students_with_names_intact(app) -> None:
    course = make_course()
    result = run_import(course, ("\ufeff" + GOOD_CSV).encode("utf-8"))
    assert len(result.created) == 3
    names = set(db.session.execute(select(User.first_name, User.last_name)).tuples())
    assert ("Ayşe", "Aslan") in names and ("Mehmet", "Çetin") in names
    assert db.session.scalar(select(User).where(User.email == "zgunes19@example.edu")) is not None
    numbers = set(db.session.scalars(select(Enrollment.student_number)))
    assert numbers == {"81050", "82491", "84542"}


def test_reimporting_the_same_file_changes_nothing(app) -> None:
    course = make_course()
    run_import(course, GOOD_CSV.encode())
    before = [(u.id, u.email, u.first_name, u.session_token) for u in
              db.session.scalars(select(User).order_by(User.id))]
    result = run_import(course, GOOD_CSV.encode())
    after = [(u.id, u.email, u.first_name, u.session_token) for u in
             db.session.scalars(select(User).order_by(User.id))]
    assert result.unchanged == 3 and not result.created and not result.updated
    assert before == after and count(Enrollment) == 3


def test_a_changed_email_updates_the_account_found_by_student_id(app) -> None:
    course = make_course()
    run_import(course, GOOD_CSV.encode())
    changed = GOOD_CSV.replace("aaslan17@example.edu", "ayse.aslan@example.edu")
    result = run_import(course, changed.encode())
    assert result.updated == ["81050: email"]
    assert count(User) == 3
    assert db.session.scalar(select(User.email).join(Enrollment)
                             .where(Enrollment.student_number == "81050")) == "ayse.aslan@example.edu"


def test_xlsx_files_import_like_csv(app) -> None:
    course = make_course()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Student ID", "First Name", "Last Name", "Email", "Notes"])
    sheet.append([81050, "Ayşe", "Aslan", "aaslan17@example.edu", "extra column ignored"])
    sheet.append([88773, "Emre", "Kurt", "ekurt20@example.edu", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = run_import(course, buffer.getvalue(), "roster.xlsx")
    assert len(result.created) == 2
    assert set(db.session.scalars(select(Enrollment.student_number))) == {"81050", "88773"}


def test_a_bad_file_is_rejected_whole_with_every_problem_named(app) -> None:
    course = make_course()
    bad = (
        "student_id,first_name,last_name,email\n"
        "81050,Ayşe,Aslan,aaslan17@example.edu\n"
        ",Mehmet,Çetin,mcetin18@example.edu\n"
        "81050,Zeynep,Güneş,zgunes19@example.edu\n"
        "88773,Emre,Kurt,not-an-email\n"
    )
    with pytest.raises(TableFileError) as caught:
        run_import(course, bad.encode())
    problems = caught.value.problems
    assert any(p.startswith("row 3, column student_id: empty") for p in problems)
    assert any("row 4, column student_id: duplicate id '81050' (first on row 2)" in p
               for p in problems)
    assert any(p.startswith("row 5, column email: invalid email 'not-an-email'") for p in problems)
    db.session.rollback()
    assert count(User) == 0


def test_missing_columns_are_named(app) -> None:
    with pytest.raises(TableFileError) as caught:
        parse_roster(read_table(b"student_id,name,email\n1,A B,a@example.edu\n", "r.csv"))
    assert "row 1 (header): missing column 'first_name'" in caught.value.problems
    assert "row 1 (header): missing column 'last_name'" in caught.value.problems


def test_a_non_utf8_file_gets_a_clear_message(app) -> None:
    with pytest.raises(TableFileError) as caught:
        read_table("student_id,first_name\n1,Zoë\n".encode("latin-1"), "r.csv")
    assert "not UTF-8" in str(caught.value)


def test_an_email_already_used_by_a_staff_member_is_refused_by_row(app) -> None:
    course = make_course()
    ta = make_member(course, CourseRole.ta, email="ta@example.edu")
    db.session.commit()
    with pytest.raises(TableFileError) as caught:
        run_import(course, b"student_id,first_name,last_name,email\n5,T,A,ta@example.edu\n")
    assert caught.value.problems == ["row 2, column email: 'ta@example.edu' is already in this "
                                     "course as ta"]
    db.session.rollback()
    assert db.session.get(User, ta.id) is not None


def test_a_student_of_another_course_is_enrolled_without_a_second_account(app) -> None:
    first, second = make_course("first-course"), make_course("second-course")
    run_import(first, GOOD_CSV.encode())
    result = run_import(second, GOOD_CSV.encode())
    assert len(result.enrolled) == 3 and not result.created
    assert count(User) == 3 and count(Enrollment) == 6
