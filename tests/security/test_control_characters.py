"""Control characters: refused at input with a message naming the field; stripped from every
workbook cell so data already stored (or imported before the check) never breaks an export.

An ESC (0x1B) in a review once made the reviews XLSX answer 500 and ``reviews export`` crash
(openpyxl's IllegalCharacterError); the same in a roster name broke the gradebook workbook.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import openpyxl
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from models import CourseRole, db
from review.spreadsheets import neutralise, neutralise_frame
from tests.factories import make_course, make_member, make_submitted_review

ESC = "\x1b"
PAST = date(2020, 9, 7)


@pytest.fixture
def poisoned(app):
    course = make_course("ctl", first_monday=PAST)
    instructor = make_member(course, CourseRole.instructor)
    student = make_member(course, first_name=f"Ay{ESC}se", last_name="As\x07lan")
    make_submitted_review(course, student, 3, summary=f"Escape {ESC}[31m red", questions=[f"Why{ESC}?"])
    db.session.commit()
    return course, instructor, student


def _all_cells(data: bytes) -> list[str]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [str(cell) for sheet in book for row in sheet.iter_rows(values_only=True)
            for cell in row if cell is not None]


def test_reviews_xlsx_download_with_an_escape_character_in_a_review(client, login, poisoned) -> None:
    course, instructor, _ = poisoned
    login(instructor)
    response = client.get(f"/c/{course.code}/reviews/matrix.xlsx")
    assert response.status_code == 200
    cells = _all_cells(response.data)
    assert any("red" in cell for cell in cells)
    assert not any(ILLEGAL_CHARACTERS_RE.search(cell) for cell in cells)


def test_reviews_export_command_with_an_escape_character(runner, poisoned, tmp_path) -> None:
    out = tmp_path / "reviews.xlsx"
    result = runner.invoke(args=["reviews", "export", "ctl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert any("red" in cell for cell in _all_cells(out.read_bytes()))


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "blackboard", "canvas"])
def test_gradebook_exports_with_control_characters_in_a_roster_name(client, login, poisoned,
                                                                    fmt) -> None:
    course, instructor, _ = poisoned
    login(instructor)
    response = client.get(f"/c/{course.code}/gradebook/export/{fmt}")
    assert response.status_code == 200
    if fmt == "xlsx":
        cells = _all_cells(response.data)
        assert any(cell.startswith("Ay") and cell.endswith("se") for cell in cells)
    else:
        assert ESC.encode() not in response.data


def test_gradebook_export_command_with_control_characters(runner, poisoned, tmp_path) -> None:
    out = tmp_path / "book.xlsx"
    result = runner.invoke(args=["gradebook", "export", "ctl", "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_the_shared_cell_helper_strips_every_character_xml_forbids() -> None:
    text = "".join(chr(c) for c in range(32)) + "end"
    assert ILLEGAL_CHARACTERS_RE.search(neutralise(text)) is None
    assert neutralise("tab\tand\nnewline") == "tab\tand\nnewline"
    import pandas as pd
    frame = pd.DataFrame({f"col{ESC}": [f"a{ESC}b", 3], "s": pd.Series([f"x{ESC}", None], dtype="string")})
    out = neutralise_frame(frame)
    assert list(out.columns) == ["col", "s"] and out.iloc[0, 0] == "ab" and out.iloc[0, 1] == "x"


# --- refused at input -------------------------------------------------------------------------


@pytest.fixture
def writer(app, login):
    course = make_course("ctl-in")
    student = make_member(course)
    db.session.commit()
    return course, student


def test_a_review_with_an_escape_character_is_refused_naming_the_field(client, login, writer,
                                                                       monkeypatch) -> None:
    course, student = writer
    session = course.sessions[0]
    monkeypatch.setattr("review.reviews.views._now",
                        lambda: session.review_deadline - timedelta(days=1))
    login(student)
    response = client.post(f"/c/{course.code}/reviews/{session.id}/write",
                           data={"summary": f"bad {ESC} text", "action": "save"})
    assert response.status_code == 400
    assert b"summary" in response.data and b"control character" in response.data
    autosave = client.post(f"/c/{course.code}/reviews/{session.id}/autosave",
                           json={"summary": "ok", "strengths": f"x{ESC}"})
    assert autosave.status_code == 400
    assert "strengths" in autosave.get_json()["error"]


def test_tab_newline_and_carriage_return_are_still_accepted(client, login, writer,
                                                            monkeypatch) -> None:
    course, student = writer
    session = course.sessions[0]
    monkeypatch.setattr("review.reviews.views._now",
                        lambda: session.review_deadline - timedelta(days=1))
    login(student)
    autosave = client.post(f"/c/{course.code}/reviews/{session.id}/autosave",
                           json={"summary": "line one\r\n\tline two"})
    assert autosave.status_code == 200


def test_a_group_name_with_a_control_character_is_refused(client, login, writer) -> None:
    course, student = writer
    login(student)
    response = client.post(f"/c/{course.code}/groups/create", data={"name": f"Team{ESC}"})
    assert response.status_code == 400 and b"name" in response.data


def test_a_roster_name_with_a_control_character_is_refused_with_row_and_column(app) -> None:
    import pandas as pd

    from review.courses.roster import TableFileError, parse_roster

    frame = pd.DataFrame([{"student_id": "1", "first_name": f"Ay{ESC}se", "last_name": "A",
                           "email": "a@example.edu"}])
    with pytest.raises(TableFileError) as caught:
        parse_roster(frame)
    assert "row 2, column first_name" in str(caught.value)


@pytest.mark.parametrize("first_name, expected", [
    ("x" * 6_000_000, "column first_name: longer than 100 characters"),
    ("Ay\x00se", "column first_name: contains a control character (0x00)"),
])
def test_a_roster_name_too_long_or_with_a_nul_is_refused_before_the_database(
        app, first_name, expected) -> None:
    import pandas as pd

    from review.courses.roster import TableFileError, parse_roster

    frame = pd.DataFrame([{"student_id": "1", "first_name": first_name, "last_name": "A",
                           "email": "a@example.edu"}])
    with pytest.raises(TableFileError) as caught:
        parse_roster(frame)
    assert f"row 2, {expected}" in str(caught.value)
