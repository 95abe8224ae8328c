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


def test_a_latin1_file_is_read_as_windows_1252(app) -> None:
    frame = read_table("student_id,first_name\n1,Zoë\n".encode("latin-1"), "r.csv")
    assert frame["first_name"].tolist() == ["Zoë"]


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


# --- Files saved by a Turkish or European Excel, and the optional section/username columns ------

TURKISH_ROWS = (
    "student_id;first_name;last_name;email\r\n"
    "81050;Çağrı;Işık;cisik@example.edu\r\n"
    "82491;Şule;Öztürk;sozturk@example.edu\r\n"
)


def imported_names() -> set[tuple[str, str]]:
    return set(db.session.execute(select(User.first_name, User.last_name)).tuples())


def test_a_semicolon_csv_in_windows_1254_keeps_turkish_letters(app) -> None:
    course = make_course()
    result = run_import(course, TURKISH_ROWS.encode("cp1254"))
    assert len(result.created) == 2
    assert imported_names() == {("Çağrı", "Işık"), ("Şule", "Öztürk")}


def test_a_semicolon_csv_in_windows_1252_keeps_european_letters(app) -> None:
    course = make_course()
    text = ("student_id;first_name;last_name;email\r\n"
            "81050;José;Müller;jmuller@example.edu\r\n"
            "82491;Zoë;Åberg;zaberg@example.edu\r\n")
    run_import(course, text.encode("cp1252"))
    assert imported_names() == {("José", "Müller"), ("Zoë", "Åberg")}


def test_a_utf8_bom_semicolon_file_and_a_utf16_tab_file_are_read(app) -> None:
    course = make_course()
    run_import(course, TURKISH_ROWS.encode("utf-8-sig"))
    assert imported_names() == {("Çağrı", "Işık"), ("Şule", "Öztürk")}
    unicode_text = TURKISH_ROWS.replace(";", "\t").replace("81050", "81051").replace(
        "82491", "82492").replace("@", "2@")
    # Excel's "Unicode text" is UTF-16 with a byte-order mark, tab-separated.
    run_import(make_course("second-course"), unicode_text.encode("utf-16"))
    assert count(Enrollment) == 4


def test_a_comma_file_whose_values_hold_semicolons_stays_comma_separated(app) -> None:
    frame = read_table(b"student_id,first_name,last_name,email,program\n"
                       b"1,A,B,a@example.edu,MSc; CS\n2,C,D,c@example.edu,PhD; EE\n", "r.csv")
    assert frame["program"].tolist() == ["MSc; CS", "PhD; EE"]


def test_an_undecodable_byte_is_named_with_its_line(app) -> None:
    data = b"student_id;first_name\n1;Ali\n2;Bad\x9dName\n"
    with pytest.raises(TableFileError) as caught:
        read_table(data, "r.csv")
    assert caught.value.problems[0].startswith(
        "line 3: could not decode byte 0x9d as UTF-8, Windows-1254 or Windows-1252")


def test_a_row_with_more_values_than_the_header_is_named(app) -> None:
    data = b"student_id;first_name;last_name;email\n1;A;B;a@example.edu\n2;C;D;c@x.edu;extra\n"
    with pytest.raises(TableFileError) as caught:
        read_table(data, "r.csv")
    assert caught.value.problems == [
        "row 3: 5 values but the header has 4 columns (extra value 'extra'); "
        "a value holding ';' must be in quotes"]


def test_row_numbers_count_blank_lines(app) -> None:
    data = b"student_id,first_name,last_name,email\n\n\n1,A,B,not-an-email\n"
    with pytest.raises(TableFileError) as caught:
        parse_roster(read_table(data, "r.csv"))
    assert caught.value.problems[0].startswith("row 4, column email: invalid email 'not-an-email'")


SECTION_CSV = (
    "student_id,first_name,last_name,email,section,username\n"
    "81050,Ayşe,Aslan,aaslan17@example.edu,S1,ayse.aslan\n"
    "82491,Mehmet,Çetin,mcetin18@example.edu,S2,mcetin\n"
)


def test_section_and_username_are_stored_and_kept_on_reimport(app) -> None:
    course = make_course()
    run_import(course, SECTION_CSV.encode())
    stored = set(db.session.execute(select(Enrollment.student_number, Enrollment.section,
                                           Enrollment.username)).tuples())
    assert stored == {("81050", "S1", "ayse.aslan"), ("82491", "S2", "mcetin")}
    # A file without the columns changes nothing of them.
    again = run_import(course, GOOD_CSV.replace("84542,Zeynep,Güneş,ZGUNES19@example.edu,MSc\n",
                                                "").replace(",program", ",x").encode())
    assert again.updated == [] and again.unchanged == 2
    assert db.session.scalar(select(Enrollment.section).where(
        Enrollment.student_number == "81050")) == "S1"


def test_a_reimport_that_changes_section_or_username_reports_it(app) -> None:
    course = make_course()
    run_import(course, SECTION_CSV.encode())
    changed = SECTION_CSV.replace(",S1,", ",S3,").replace("mcetin\n", "mehmet.cetin\n")
    result = run_import(course, changed.encode())
    assert result.updated == ["81050: section 'S1' → 'S3'", "82491: username 'mcetin' → 'mehmet.cetin'"]


def test_usernames_swapped_between_two_students_are_saved(app) -> None:
    course = make_course()
    run_import(course, SECTION_CSV.encode())
    swapped = SECTION_CSV.replace("ayse.aslan", "TMP").replace("mcetin\n", "ayse.aslan\n").replace(
        "TMP", "mcetin")
    run_import(course, swapped.encode())
    assert db.session.scalar(select(Enrollment.username).where(
        Enrollment.student_number == "81050")) == "mcetin"


def test_a_duplicate_or_taken_username_and_a_long_section_are_named(app) -> None:
    course = make_course()
    run_import(course, SECTION_CSV.encode())
    bad = ("student_id,first_name,last_name,email,section,username\n"
           "84542,Zeynep,Güneş,zg@example.edu,S1,mcetin\n"
           "88773,Emre,Kurt,ek@example.edu," + "X" * 33 + ",ekurt\n"
           "88774,Ece,Tan,et@example.edu,S1,ekurt\n")
    with pytest.raises(TableFileError) as caught:
        run_import(course, bad.encode())
    problems = caught.value.problems
    assert f"row 3, column section: '{'X' * 33}' is longer than 32 characters" in problems
    assert "row 4, column username: 'ekurt' is also on row 3" in problems
    db.session.rollback()
    with pytest.raises(TableFileError) as caught:
        run_import(course, bad.replace("X" * 33, "S2").replace("S1,ekurt", "S1,ecetan").encode())
    assert caught.value.problems == ["row 2, column username: 'mcetin' is already the username "
                                     "of student 82491"]
    db.session.rollback()
    assert count(Enrollment) == 2


def test_values_longer_than_their_column_are_named_by_row_and_column(app) -> None:
    course = make_course()
    data = ("student_id,first_name,last_name,email\n"
            f"{'9' * 33},{'A' * 101},B,b@example.edu\n").encode()
    with pytest.raises(TableFileError) as caught:
        run_import(course, data)
    assert sorted(caught.value.problems) == [
        "row 2, column first_name: longer than 100 characters (101)",
        f"row 2, column student_id: '{'9' * 33}' is longer than 32 characters"]


def test_a_nul_character_is_named_with_its_line(app) -> None:
    with pytest.raises(TableFileError) as caught:
        read_table(b"student_id,first_name\n1,A\x00li\n", "r.csv")
    assert caught.value.problems[0].startswith("line 2: contains a NUL character")
