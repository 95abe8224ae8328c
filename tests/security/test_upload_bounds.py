"""Staff uploads cannot take the site down: tables are bounded before they are parsed.

Reported: a 65 KB XLSX zip bomb took 40 s to reject; a valid 8 MB CSV of 200,000 rows ran past
the worker timeout at 1.5 GB and held SQLite's write lock. Each test here names the protection
it proves and fails without it: the zip directory's ratio and size, the sheet's declared range,
the tag count before openpyxl opens the file, the row and cell caps while reading, the CSV line
guard, the 413 page, and that no write transaction is open while a file is parsed.
"""

from __future__ import annotations

import io
import sqlite3
import time
import tracemalloc
import zipfile
from typing import Any, Callable

import openpyxl
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from models import Course, CourseRole, Enrollment, db
from review.courses import roster
from review.courses.roster import ImportLimits, TableFileError, read_table
from tests.conftest import ON_POSTGRES, make_app
from tests.factories import make_course, make_member

#: Generous bounds: the protections answer in a few hundredths of a second and a few megabytes.
SECONDS = 1.0
MEGABYTES = 50

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def xlsx(rows_xml: str, *, dimension: str | None = None,
         shared_strings: list[str] | None = None) -> bytes:
    """A minimal workbook (one sheet) written by hand, as an attacker would craft one."""
    sheet = (f'<worksheet xmlns="{_MAIN}">'
             + (f'<dimension ref="{dimension}"/>' if dimension else "")
             + f"<sheetData>{rows_xml}</sheetData></worksheet>")
    strings = shared_strings or []
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
            "</Types>"),
        "_rels/.rels": (
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
            f'Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_RELS}">'
            f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"),
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">'
            + "".join(f"<si><t>{text}</t></si>" for text in strings) + "</sst>"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def text_row(number: int, values: list[str]) -> str:
    cells = "".join(f'<c r="{openpyxl.utils.get_column_letter(column)}{number}" t="inlineStr">'
                    f"<is><t>{value}</t></is></c>" for column, value in enumerate(values, start=1))
    return f'<row r="{number}">{cells}</row>'


HEADER = text_row(1, ["student_id", "first_name", "last_name", "email"])


def numbered_rows(count: int) -> str:
    """Rows that differ from each other, so they pack about as well as a real roster does."""
    return "".join(text_row(n, [str(20_000_000 + n), f"F{n}", f"L{n}", f"s{n}@example.edu"])
                   for n in range(2, count + 2))


def refused(data: bytes, filename: str,
            limits: ImportLimits | None = None) -> tuple[str, float, float]:
    """The refusal's message, the CPU seconds and the peak megabytes it took (measured in two
    runs: tracing memory slows Python several times over)."""
    started = time.process_time()
    with pytest.raises(TableFileError) as error:
        read_table(data, filename, limits)
    seconds = time.process_time() - started
    tracemalloc.start()
    try:
        with pytest.raises(TableFileError):
            read_table(data, filename, limits)
        peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()
    return str(error.value), seconds, peak


# --- XLSX -----------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_from_the_zip_directory_without_being_unpacked() -> None:
    bomb = xlsx(HEADER + '<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 100_000)
    assert len(bomb) < 65_000  # the reported file's size
    message, seconds, peak = refused(bomb, "bomb.xlsx")
    assert "looks like a zip bomb" in message and "xl/worksheets/sheet1.xml" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_sheet_declaring_100000_rows_is_refused_by_its_used_range() -> None:
    data = xlsx(HEADER + numbered_rows(100_000), dimension="A1:D100001")
    message, seconds, peak = refused(data, "big.xlsx")
    assert ("the file declares the range A1:D100001, 100,000 rows below the header; "
            "imports take at most 5,000") in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_sheet_without_a_declared_range_is_counted_before_openpyxl_opens_it() -> None:
    data = xlsx(HEADER + numbered_rows(100_000))
    message, seconds, peak = refused(data, "big.xlsx")
    assert "the file has 100,000 rows below the header; imports take at most 5,000" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_rows_a_sheet_skips_count_while_it_is_read() -> None:
    # Two row tags pass the count, but openpyxl yields the 999,998 rows between them as empty.
    data = xlsx(HEADER + text_row(1_000_000, ["1", "A", "B", "a@example.edu"]))
    message, seconds, peak = refused(data, "gap.xlsx")
    assert "the file has more than 5,000 rows below the header (empty rows count)" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_sheet_with_too_many_cells_is_refused_by_the_count() -> None:
    wide = "".join(text_row(n, [str(n)] * 300) for n in range(1, 1001))
    message, seconds, _ = refused(xlsx(wide), "wide.xlsx")
    assert "the file has 300,000 cells (rows × columns); imports take at most 200,000" in message
    assert seconds < SECONDS


def test_cells_a_row_skips_count_while_it_is_read() -> None:
    # One cell per row in the last column: openpyxl pads each row to 16,384 values.
    far = "".join(f'<row r="{n}"><c r="XFD{n}"><v>1</v></c></row>' for n in range(1, 31))
    message, _, _ = refused(xlsx(far), "far.xlsx")
    assert "the file has more than 200,000 cells (rows × columns) by row 13" in message


def test_a_workbook_with_more_texts_than_cells_is_refused_before_they_are_loaded() -> None:
    data = xlsx(HEADER, shared_strings=[f"s{n}" for n in range(250_000)])
    message, seconds, peak = refused(data, "strings.xlsx")
    assert "the file holds 250,000 different texts; imports take at most 200,000 cells" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_workbook_unpacking_beyond_the_limit_is_refused() -> None:
    data = xlsx(HEADER + numbered_rows(20_000))
    limits = ImportLimits(rows=100_000, cells=1_000_000, unzipped_bytes=1024 * 1024)
    message, seconds, _ = refused(data, "big.xlsx", limits)
    assert "the file unpacks to 4.7 MB; imports take at most 1.0 MB" in message
    assert seconds < SECONDS


# --- CSV ------------------------------------------------------------------------------------


def test_a_200000_row_csv_is_refused_in_under_a_second() -> None:
    data = ("student_id,first_name,last_name,email\n" + "".join(
        f"{20_000_000 + n},First{n},Last{n},student{n}@example.edu\n"
        for n in range(200_000))).encode()
    assert len(data) > 8_000_000
    message, seconds, peak = refused(data, "big.csv")
    assert "the file has 200,000 rows below the header; imports take at most 5,000" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_csv_line_of_eight_million_values_is_refused_before_it_is_split() -> None:
    data = b"student_id,first_name\n" + b"," * 8_000_000 + b"\n"
    message, seconds, peak = refused(data, "wide.csv")
    assert "line 2: 8,000,001 values; imports take at most 200,000 cells" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_csv_of_eight_million_blank_lines_is_refused_in_under_a_second() -> None:
    message, seconds, peak = refused(b"\n" * 8_000_000 + b"student_id,email\n", "blank.csv")
    assert "the file has 8,000,000 rows below the header" in message
    assert seconds < SECONDS and peak < MEGABYTES


def test_a_csv_with_too_many_cells_is_refused_while_it_is_read() -> None:
    data = "".join(",".join(["v"] * 250) + "\n" for _ in range(1000)).encode()
    message, _, _ = refused(data, "wide.csv")
    assert "the file has more than 200,000 cells (rows × columns) by row 801" in message


# --- At the limits --------------------------------------------------------------------------


def test_files_at_the_default_limits_are_read_whole() -> None:
    rows = [[str(20_000_000 + n), f"F{n}", f"L{n}", f"s{n}@example.edu"] for n in range(5000)]
    csv_data = "\n".join(",".join(row) for row in [["student_id", "first_name", "last_name",
                                                     "email"], *rows]).encode()
    assert len(read_table(csv_data, "roster.csv")) == 5000
    workbook = openpyxl.Workbook()
    workbook.active.append(["student_id", "first_name", "last_name", "email"])
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    frame = read_table(buffer.getvalue(), "roster.xlsx")
    assert len(frame) == 5000 and frame.iloc[-1].tolist() == rows[-1]


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"IMPORT_MAX_ROWS": 40, "MAX_CONTENT_LENGTH": 64 * 1024}


def _roster_csv(count: int) -> bytes:
    return ("student_id,first_name,last_name,email\n" + "".join(
        f"{30_000 + n},First,Last{n},s{n}@example.edu\n" for n in range(count))).encode()


def _upload(client: FlaskClient, url: str, data: bytes, filename: str) -> Any:
    return client.post(url, data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def _students(course: Course) -> int:
    return len(db.session.scalars(select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)).all())


def test_the_roster_page_imports_a_file_at_the_configured_limit_and_names_it_above(
        client: FlaskClient, login: Callable[..., FlaskClient]) -> None:
    course = make_course()
    login(make_member(course, CourseRole.instructor))
    db.session.commit()
    page = _upload(client, f"/c/{course.code}/roster", _roster_csv(41), "roster.csv")
    assert page.status_code == 422
    assert ("the file has 41 rows below the header; imports take at most 40"
            in page.get_data(as_text=True))
    assert _students(course) == 0
    page = _upload(client, f"/c/{course.code}/roster", _roster_csv(40), "roster.csv")
    assert page.status_code == 200 and "Roster imported: 40 new account(s)" in page.get_data(
        as_text=True)
    assert _students(course) == 40


def test_an_upload_over_the_request_limit_gets_the_413_page(
        client: FlaskClient, login: Callable[..., FlaskClient]) -> None:
    course = make_course()
    login(make_member(course, CourseRole.instructor))
    db.session.commit()
    page = _upload(client, f"/c/{course.code}/roster", b"x" * 100_000, "roster.csv")
    html = page.get_data(as_text=True)
    assert page.status_code == 413 and "<h1>Too large</h1>" in html
    assert "uploads take at most 64 KB" in html and "Nothing was saved" in html
    assert page.headers["Content-Security-Policy"]


# --- No write lock while parsing ------------------------------------------------------------

IMPORTS = {
    "roster page": ("web", "/c/{code}/roster"),
    "groups page": ("web", "/c/{code}/groups/import"),
    "preferences page": ("web", "/c/{code}/assignment/import"),
    "grades page": ("web", "/c/{code}/gradebook/import"),
    "roster command": ("cli", ["roster", "import"]),
    "groups command": ("cli", ["groups", "import"]),
    "preferences command": ("cli", ["assign", "import-preferences"]),
    "grades command": ("cli", ["grades", "import"]),
}


def _another_writer_can_commit(path: str) -> bool:
    """Whether a second connection gets SQLite's write lock at once (no busy wait)."""
    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.commit()
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        connection.close()


@pytest.mark.skipif(ON_POSTGRES, reason="probes SQLite's single write lock")
@pytest.mark.parametrize("name", IMPORTS)
def test_no_write_transaction_is_open_while_an_upload_is_parsed(
        name: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "review.sqlite")
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        db.create_all()
        course = make_course()
        instructor = make_member(course, CourseRole.instructor)
        db.session.commit()
        # The probe sees a write the session holds (so this test can fail) ...
        db.session.execute(update(Course).where(Course.id == course.id).values(title="x"))
        assert not _another_writer_can_commit(path)
        db.session.rollback()
        # ... and, while each import parses its file, sees none.
        probes: list[bool] = []
        parse = roster._csv_records

        def parse_and_probe(*args: Any) -> Any:
            probes.append(_another_writer_can_commit(path))
            return parse(*args)

        monkeypatch.setattr(roster, "_csv_records", parse_and_probe)
        kind, target = IMPORTS[name]
        data = _roster_csv(200)
        if kind == "web":
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = instructor.get_id()
            _upload(client, target.format(code=course.code), data, "upload.csv")
        else:
            upload = tmp_path / "upload.csv"
            upload.write_bytes(data)
            app.test_cli_runner().invoke(args=[*target, course.code, str(upload)])
        db.session.remove()
        db.engine.dispose()
    assert probes == [True]


def test_a_crafted_grades_confirmation_cannot_skip_the_row_limit(app, client, login) -> None:
    """The preview's rows come back in the confirm POST: a forged one with more rows than an
    upload may have is refused like the file would be, and nothing is saved."""
    import json

    from models import GradeItem

    app.config["IMPORT_MAX_ROWS"] = 3
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    students = [make_member(course) for _ in range(4)]
    db.session.commit()
    login(instructor)
    records = [{"student_id": enrollment_number, "midterm": "50"} for enrollment_number in
               db.session.scalars(select(Enrollment.student_number).where(
                   Enrollment.course_id == course.id, Enrollment.role == CourseRole.student))]
    assert len(records) == len(students)
    response = client.post(f"/c/{course.code}/gradebook/import/confirm",
                           data={"payload": json.dumps(records), "source": "forged.csv"},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "holds 4 rows" in page and "at most 3 rows" in page
    assert db.session.scalar(select(GradeItem.id)) is None
