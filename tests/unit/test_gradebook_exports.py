"""Gradebook workbook and CSV exports (review.gradebook.exports)."""

import csv
import io
import math
import os
import random
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
from openpyxl.formatting.rule import Rule
from openpyxl.worksheet.worksheet import Worksheet

from review.gradebook.compute import (
    Component,
    CourseInfo,
    ExternalGrade,
    Gradebook,
    GradebookInput,
    LateDayEntry,
    ParticipationRecord,
    ReviewRecord,
    Student,
    compute_gradebook,
)
from review.gradebook.exports import (
    write_blackboard_csv,
    write_canvas_csv,
    write_summary_csv,
    write_workbook,
)
from review.spreadsheets import FORMULA_TRIGGERS
from tests.unit.test_gradebook_compute import BOUNDARIES, COMP541_COMPONENTS, make_sessions, presentation

HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A9)", "\tx", "\rx"]
TURKISH = [("Ayşe", "Çetin"), ("Güneş", "Ğündoğdu"), ("ılgın", "İnce"), ("Şule", "Şahin")]
SHEETS = [
    "Summary",
    "Weights",
    "Grade boundaries",
    "Reviews",
    "Presentations",
    "Participation",
    "Late days",
    "Imported",
]
# A hostile component label, to prove configured text is neutralised as well as student text.
COMPONENTS = tuple(
    Component(c.key, "=cmd|' /C calc'!A0", c.weight, c.kind, c.max_points) if c.key == "midterm" else c
    for c in COMP541_COMPONENTS
)


def sample_gradebook(seed: int = 7) -> Gradebook:
    """Turkish and hostile names, every review state, pending and blank components."""
    rng = random.Random(seed)
    names = TURKISH + [(first, "Kaya") for first in HOSTILE]
    students = [
        Student(i + 1, f"8{i:04d}", first, last, f"user{i}@example.edu")
        for i, (first, last) in enumerate(names)
    ]
    students.append(Student(99, "-99", "Deniz", "=Kılıç", "=cmd@example.edu"))
    sessions = make_sessions(4)
    states = ["on_time", "late", "missing", "draft", "excused", "exempt"]
    reviews = []
    for s in students:
        for x in sessions:
            state = rng.choice(states)
            graded = state in ("on_time", "late") and rng.random() > 0.1
            score = rng.uniform(50, 100) if graded else None
            penalty = 15.0 if state == "late" else 0.0
            reviews.append(ReviewRecord(s.user_id, x.id, state, score, penalty))  # type: ignore[arg-type]
    presentations = [presentation(s.user_id, s.user_id, rng.uniform(60, 100)) for s in students[1:]]
    presentations.append(replace(presentation(1, 50, 77.5), group="=Group", paper="@Paper title"))
    participation = [
        ParticipationRecord(s.user_id, x.id, rng.choice([0.0, 50.0, 100.0]))
        for s in students
        for x in sessions
    ]
    external = [
        ExternalGrade(s.user_id, c.key, rng.uniform(0.5, 1.0) * c.max_points)
        for s in students[:-1]  # the last student has no external grades: blank components
        for c in COMPONENTS
        if c.kind == "external"
    ]
    late_days = [LateDayEntry(1, 2, "+2 days for hw1"), LateDayEntry(2, 1, "Güneş: hw2")]
    course = CourseInfo("COMP541", "Deep Learning", COMPONENTS, BOUNDARIES)
    return compute_gradebook(
        GradebookInput(course, students, sessions, reviews, presentations, participation, external, late_days)
    )


@pytest.fixture(scope="module")
def gradebook() -> Gradebook:
    return sample_gradebook()


@pytest.fixture(scope="module")
def xlsx(gradebook: Gradebook) -> bytes:
    return write_workbook(gradebook)


@pytest.fixture(scope="module")
def book(xlsx: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(xlsx))


def header(sheet: Worksheet) -> list[str]:
    return [cell.value for cell in sheet[1]]


def values(gradebook: Gradebook, key: str) -> list[object]:
    return [row[key] for row in gradebook.summary]


def column(sheet: Worksheet, name: str) -> list[object]:
    position = header(sheet).index(name) + 1
    cells = sheet.iter_rows(min_row=2, min_col=position, max_col=position, values_only=True)
    return [row[0] for row in cells]


# --- Workbook structure ----------------------------------------------------------------------


def test_workbook_has_the_documented_sheets_in_order(book: openpyxl.Workbook) -> None:
    assert book.sheetnames == SHEETS


def test_summary_lists_identity_component_percentages_formulas_and_platform_values(
    book: openpyxl.Workbook, gradebook: Gradebook
) -> None:
    sheet = book["Summary"]
    assert header(sheet) == [
        "Student ID",
        "First name",
        "Last name",
        "Email",
        "Section",
        *("'" + c.label if c.key == "midterm" else c.label for c in COMPONENTS),
        "Total",
        "Letter",
        "Platform total",
        "Platform letter",
    ]
    assert column(sheet, "Platform total") == pytest.approx(values(gradebook, "total"))
    assert column(sheet, "Platform letter") == values(gradebook, "letter")
    reviews = column(sheet, "Paper reviews")
    assert [v is None for v in reviews] == [v is None for v in values(gradebook, "reviews")]
    assert [v for v in reviews if v is not None] == pytest.approx(
        [v for v in values(gradebook, "reviews") if v is not None])


def test_summary_total_is_a_live_formula_over_the_weights_sheet(book: openpyxl.Workbook) -> None:
    totals = column(book["Summary"], "Total")
    assert len(totals) == 11
    for row, formula in enumerate(totals, start=2):
        assert isinstance(formula, str)
        assert formula.startswith(f"=(F{row}*Weights!$C$2+")
        assert formula.endswith(f"/SUM(Weights!$C$2:$C${len(COMPONENTS) + 1})")
        assert formula.count("Weights!$C$") == len(COMPONENTS) + 1


def test_summary_letter_is_an_approximate_lookup_on_the_boundaries_sheet(book: openpyxl.Workbook) -> None:
    total_column = "M"  # 5 identity columns and 7 components (F-L), then Total
    letters = column(book["Summary"], "Letter")
    for row, formula in enumerate(letters, start=2):
        assert formula == f"=VLOOKUP(ROUND({total_column}{row},6),'Grade boundaries'!$A$2:$B$12,2,TRUE)"


def test_summary_formula_evaluated_by_hand_equals_the_platform_total(book: openpyxl.Workbook) -> None:
    """A spreadsheet-free check of what the formula means; the LibreOffice test checks a real engine."""
    summary, weights = book["Summary"], book["Weights"]
    weight_of_row = {row: weights[f"C{row}"].value for row in range(2, len(COMPONENTS) + 2)}
    platform = column(summary, "Platform total")
    for row, formula in enumerate(column(summary, "Total"), start=2):
        terms = re.findall(r"([A-Z]+)(\d+)\*Weights!\$C\$(\d+)", str(formula))
        value = sum((summary[f"{col}{r}"].value or 0.0) * weight_of_row[int(w)] for col, r, w in terms)
        assert value / sum(weight_of_row.values()) == pytest.approx(platform[row - 2], abs=1e-9)


def test_labels_equal_to_fixed_headers_do_not_displace_columns() -> None:
    components = [
        Component("exam", "Total", 60, "external"),
        Component("presentations", "Letter", 40, "presentations"),
    ]
    record = replace(presentation(1, 1, 80.0), criterion_scores={"Week": 3.0, "Total": 2.0})
    gradebook = compute_gradebook(
        GradebookInput(
            CourseInfo("C", "T", tuple(components), BOUNDARIES),
            [Student(1, "1", "Ayşe", "Çetin", "a@x.edu")],
            [],
            presentations=[record],
            external_grades=[ExternalGrade(1, "exam", 50.0)],
        )
    )
    book = openpyxl.load_workbook(io.BytesIO(write_workbook(gradebook)))
    summary = book["Summary"]
    assert header(summary)[5:9] == ["Total", "Letter", "Total", "Letter"]  # two labels, then the formulas
    assert [summary["F2"].value, summary["G2"].value] == [50.0, 80.0]
    assert summary["H2"].value == "=(F2*Weights!$C$2+G2*Weights!$C$3)/SUM(Weights!$C$2:$C$3)"
    assert summary["J2"].value == pytest.approx(62.0)
    row = [cell.value for cell in book["Presentations"][2]]
    assert header(book["Presentations"])[3:9] == ["Week", "Group", "Paper", "Role", "Week", "Total"]
    assert row[3] == 5 and row[7:10] == [3.0, 2.0, 7.0]


def test_weights_sheet_holds_each_component_weight_in_column_c(book: openpyxl.Workbook) -> None:
    weights = book["Weights"]
    assert header(weights)[:3] == ["Key", "Component", "Weight (%)"]
    assert column(weights, "Weight (%)") == [c.weight for c in COMPONENTS]
    assert column(weights, "Key") == [c.key for c in COMPONENTS]


def test_grade_boundaries_are_ascending_for_the_approximate_lookup(book: openpyxl.Workbook) -> None:
    minimums = column(book["Grade boundaries"], "Minimum %")
    assert minimums == sorted(minimums)
    assert minimums[0] == 0
    assert column(book["Grade boundaries"], "Letter")[-1] == "A"


@pytest.mark.parametrize("sheet_name", SHEETS)
def test_every_sheet_has_a_frozen_header_an_autofilter_and_sized_columns(
    book: openpyxl.Workbook, sheet_name: str
) -> None:
    sheet = book[sheet_name]
    assert sheet.freeze_panes in ("A2", "D2")
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, sheet.max_column).column_letter}{sheet.max_row}"
    assert all(sheet.column_dimensions[c.column_letter].width >= 8 for c in sheet[1])
    assert all(cell.font.b for cell in sheet[1])


def test_percentages_are_shown_with_one_decimal(book: openpyxl.Workbook) -> None:
    summary = book["Summary"]
    assert summary["F2"].number_format == "0.0"
    assert summary["M2"].number_format == "0.0"  # the formula total
    assert book["Reviews"]["D2"].number_format == "0.0"


@pytest.mark.parametrize("sheet_name", SHEETS)
def test_only_headers_are_bold_and_only_numbers_carry_the_decimal_format(
    book: openpyxl.Workbook, sheet_name: str
) -> None:
    # Cells share one styled cell object per style while streaming; no style may leak from the
    # header into the rows, or from a percentage column into text.
    for row in book[sheet_name].iter_rows(min_row=2):
        for cell in row:
            assert not cell.font.b, cell.coordinate
            if isinstance(cell.value, str) and not cell.value.startswith("="):
                assert cell.number_format == "General", cell.coordinate


def highlight_rules(sheet: Worksheet) -> dict[str, list[Rule]]:
    return {str(formatting.sqref): formatting.rules for formatting in sheet.conditional_formatting}


def test_blank_components_and_missing_reviews_are_highlighted(book: openpyxl.Workbook) -> None:
    summary_rules = highlight_rules(book["Summary"])
    assert set(summary_rules) == {f"{c}2:{c}12" for c in "FGHIJKL"}
    assert [rule.formula for rule in summary_rules["F2:F12"]] == [["ISBLANK(F2)"]]
    review_rules = highlight_rules(book["Reviews"])
    assert set(review_rules) == {"E2:E12", "G2:G12", "I2:I12", "K2:K12"}
    assert 'LEFT(E2,7)="missing"' in review_rules["E2:E12"][0].formula[0]
    assert review_rules["E2:E12"][0].dxf.fill.fgColor.rgb.endswith("FFC7CE")
    assert set(highlight_rules(book["Imported"])) == {f"{c}2:{c}12" for c in "DEFG"}


def test_reviews_sheet_shows_score_and_state_per_session(
    book: openpyxl.Workbook, gradebook: Gradebook
) -> None:
    sheet = book["Reviews"]
    assert header(sheet)[3:] == [f"W{w} {kind}" for w in (5, 6, 7, 8) for kind in ("score", "state")]
    first = sorted((r for r in gradebook.reviews if r["user_id"] == 1), key=lambda r: r["week"])
    states = [sheet.cell(2, 5 + 2 * i).value for i in range(4)]
    assert [s.split(" ")[0] for s in states] == [r["state"] for r in first]


def test_user_text_never_becomes_a_formula_in_the_workbook(book: openpyxl.Workbook) -> None:
    formulas = [
        (sheet.title, cell.coordinate)
        for sheet in book
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]
    summary_columns = {c for title, coordinate in formulas for c in [re.sub(r"\d", "", coordinate)]}
    assert {title for title, _ in formulas} == {"Summary"}
    assert summary_columns == {"M", "N"}  # Total and Letter, written by the exporter
    texts = [
        cell
        for sheet in book
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if isinstance(cell, str)
    ]
    assert not [t for t in texts if t.startswith(FORMULA_TRIGGERS) and not t.startswith(("=(", "=VLOOKUP("))]


def test_hostile_text_is_kept_readable_behind_an_apostrophe(book: openpyxl.Workbook) -> None:
    # XML stores a carriage return as a line feed; the apostrophe in front is what matters.
    assert column(book["Summary"], "First name")[4:10] == ["'" + h.replace("\r", "\n") for h in HOSTILE]
    assert column(book["Summary"], "Last name")[-1] == "'=Kılıç"
    assert column(book["Summary"], "Student ID")[-1] == "'-99"
    assert column(book["Weights"], "Component")[2] == "'=cmd|' /C calc'!A0"
    assert "'=Group" in column(book["Presentations"], "Group")
    assert "'@Paper title" in column(book["Presentations"], "Paper")
    assert column(book["Late days"], "Note")[0] == "'+2 days for hw1"


def test_turkish_names_survive_the_workbook(book: openpyxl.Workbook) -> None:
    sheet = book["Summary"]
    pairs = list(zip(column(sheet, "First name"), column(sheet, "Last name"), strict=True))[:4]
    assert pairs == TURKISH
    assert column(book["Late days"], "Note")[1] == "Güneş: hw2"


# --- CSV -------------------------------------------------------------------------------------


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_summary_csv_starts_with_a_bom_and_has_one_row_per_student(gradebook: Gradebook) -> None:
    text = write_summary_csv(gradebook)
    assert text.startswith("\ufeff")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    rows = rows_of(text)
    assert rows[0] == [
        "Student ID",
        "First name",
        "Last name",
        "Email",
        "Section",
        *("'" + c.label if c.key == "midterm" else c.label for c in COMPONENTS),
        "Total",
        "Letter",
    ]
    assert len(rows) == 1 + len(gradebook.summary)
    assert rows[1][:3] == ["80000", "Ayşe", "Çetin"]
    assert [float(r[-2]) for r in rows[1:]] == pytest.approx(values(gradebook, "total"), abs=0.005)
    assert [r[-1] for r in rows[1:]] == values(gradebook, "letter")
    assert rows[-1][5:9] == ["", "", "", ""]  # blank external components stay blank, not 0


@pytest.mark.parametrize(
    "write",
    [
        write_summary_csv,
        lambda gb: write_blackboard_csv(gb, "Course Total"),
        lambda gb: write_canvas_csv(gb, "Course total"),
    ],
    ids=["summary", "blackboard", "canvas"],
)
def test_no_csv_cell_starts_with_a_formula_trigger(gradebook: Gradebook, write: object) -> None:
    text = write(gradebook)  # type: ignore[operator]
    cells = [cell for row in rows_of(text) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_TRIGGERS)]
    assert any(c.startswith("'=HYPERLINK(") or "=HYPERLINK(" in c for c in cells)


def test_blackboard_csv_follows_the_grade_center_upload_layout(gradebook: Gradebook) -> None:
    text = write_blackboard_csv(gradebook, "Course Total")
    lines = text.splitlines()
    assert lines[0] == (
        '"Last Name","First Name","Username","Student ID","Course Total [Total Pts: 100 Score]"'
    )
    total = gradebook.summary[0]["total"]
    assert lines[1] == f'"Çetin","Ayşe","user0","80000","{total:.2f}"'
    assert rows_of(text)[-1][:4] == ["'=Kılıç", "Deniz", "'=cmd", "'-99"]


def test_blackboard_header_ends_with_the_column_id_for_an_existing_column(gradebook: Gradebook) -> None:
    first = rows_of(write_blackboard_csv(gradebook, "Final Grade", column_id="1234"))[0]
    assert first[-1] == "Final Grade [Total Pts: 100 Score] |1234"


def test_canvas_csv_follows_the_gradebook_import_layout(gradebook: Gradebook) -> None:
    rows = rows_of(write_canvas_csv(gradebook, "Course total", assignment_id=4321))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Course total (4321)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "100"]
    total = gradebook.summary[0]["total"]
    assert rows[2] == ["Çetin, Ayşe", "", "80000", "user0", "", f"{total:.2f}"]
    assert len(rows) == 2 + len(gradebook.summary)


def test_canvas_header_without_an_id_is_the_bare_assignment_name(gradebook: Gradebook) -> None:
    assert rows_of(write_canvas_csv(gradebook, "Course total"))[0][-1] == "Course total"


# --- Sections and LMS usernames from the roster ------------------------------------------------


def sectioned_gradebook() -> Gradebook:
    students = [
        Student(1, "81050", "Ayşe", "Çetin", "a.cetin@example.edu", username="acetin", section="Şube 1"),
        # No username on the roster: the LMS exports fall back to the email's local part.
        Student(2, "82491", "Emre", "Kurt", "ekurt20@example.edu", section="=S2"),
        Student(3, "84542", "Zeynep", "Güneş", "zg@example.edu"),
    ]
    return compute_gradebook(
        GradebookInput(CourseInfo("C", "T", COMPONENTS, BOUNDARIES), students, make_sessions(1))
    )


def test_blackboard_matches_on_the_roster_username_and_guesses_only_without_one() -> None:
    rows = rows_of(write_blackboard_csv(sectioned_gradebook(), "Course Total"))
    assert [row[2] for row in rows[1:]] == ["acetin", "ekurt20", "zg"]


def test_canvas_carries_the_roster_section_and_username() -> None:
    rows = rows_of(write_canvas_csv(sectioned_gradebook(), "Course total"))
    assert [row[3:5] for row in rows[2:]] == [["acetin", "Şube 1"], ["ekurt20", "'=S2"], ["zg", ""]]


def test_summary_csv_and_workbook_carry_the_section() -> None:
    gradebook = sectioned_gradebook()
    rows = rows_of(write_summary_csv(gradebook))
    assert [row[4] for row in rows] == ["Section", "Şube 1", "'=S2", ""]
    summary = openpyxl.load_workbook(io.BytesIO(write_workbook(gradebook)))["Summary"]
    assert column(summary, "Section") == ["Şube 1", "'=S2", None]
    assert summary["F2"].value is None and str(summary["M2"].value).startswith("=(F2*Weights!")


# --- LibreOffice recalculation ---------------------------------------------------------------

# Calc trusts the cached values in an .xlsx by default; 0 means "always recalculate on load".
RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <item oor:path="/org.openoffice.Office.Calc/Formula/Load">
    <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop>
  </item>
</oor:items>
"""


def soffice_or_skip() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but LibreOffice (soffice) is not installed; this test must run on CI")
        pytest.skip("LibreOffice (soffice) is not installed; needed to recalculate the workbook's formulas")
    return found


def recalculate(soffice: str, files: list[Path], work: Path) -> list[Path]:
    """Open and re-save ``files`` in headless LibreOffice with a fresh, always-recalculate profile."""
    profile = work / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_ALWAYS, encoding="utf-8")
    out = work / "out"
    command = [
        soffice,
        "--headless",
        "--norestore",
        f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to",
        "xlsx",
        "--outdir",
        str(out),
        *map(str, files),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    converted = [out / f.name for f in files]
    assert all(p.exists() for p in converted), result.stdout + result.stderr
    return converted


@pytest.mark.libreoffice
def test_libreoffice_recalculates_the_platform_totals_and_follows_a_changed_weight(
    tmp_path: Path, gradebook: Gradebook, xlsx: bytes
) -> None:
    soffice = soffice_or_skip()
    unchanged = tmp_path / "unchanged.xlsx"
    unchanged.write_bytes(xlsx)
    edited = openpyxl.load_workbook(io.BytesIO(xlsx))
    midterm_row = [c.key for c in COMPONENTS].index("midterm") + 2
    edited["Weights"][f"C{midterm_row}"] = 41  # 21 -> 41: the weights now sum to 120
    changed = tmp_path / "changed.xlsx"
    edited.save(changed)

    recalculated_unchanged, recalculated_changed = recalculate(soffice, [unchanged, changed], tmp_path)

    sheet = openpyxl.load_workbook(recalculated_unchanged, data_only=True)["Summary"]
    platform = values(gradebook, "total")
    assert column(sheet, "Total") == pytest.approx(platform, abs=1e-6)
    assert column(sheet, "Letter") == values(gradebook, "letter")
    assert column(sheet, "First name")[:4] == [first for first, _ in TURKISH]

    weights = {c.key: float(c.weight) for c in COMPONENTS} | {"midterm": 41.0}
    expected = [sum((row[key] or 0.0) * weight for key, weight in weights.items())
                / sum(weights.values()) for row in gradebook.summary]
    totals = column(openpyxl.load_workbook(recalculated_changed, data_only=True)["Summary"], "Total")
    assert totals == pytest.approx(expected, abs=1e-6)
    assert sum(not math.isclose(t, p, abs_tol=1e-3) for t, p in zip(totals, platform, strict=True)) >= 5


def test_distribution_chart_bins_like_a_histogram_and_escapes_labels() -> None:
    import re
    from xml.etree import ElementTree

    from review.gradebook.charts import _counts, distributions_svg

    # Bins of 10 points, 100 in the last bin (numpy.histogram's rule), out-of-range clipped.
    assert _counts([0, 9.99, 10, 55, 99.9, 100, 120, -3]) == [3, 1, 0, 0, 0, 1, 0, 0, 0, 3]
    svg = distributions_svg([("Total <&>", [50.0, 70.0, float("nan")]), ("Empty", [])])
    root = ElementTree.fromstring(svg)  # well-formed, labels escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Total <&>" in texts and "Empty" not in texts
    assert "percent (n=2, mean 60.0)" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 2
    assert not re.search(rb"\sstyle=", svg)  # the strict CSP forbids inline styles
