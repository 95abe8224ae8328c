"""Gradebook exports: the Excel workbook and the CSV files for people and for LMS upload.

Every export reads a :class:`~review.gradebook.compute.Gradebook`, so the numbers are the ones
the HTML page shows (STYLE.md point 7). User text (names, emails, paper titles, group names,
component labels, notes) goes through :mod:`review.spreadsheets` first, so the only formulas in a
workbook are the ones written here (STYLE.md point 8).

Public API:
    write_workbook(gradebook) -> bytes: the .xlsx file, built in memory.
    write_summary_csv(gradebook) -> str: one row per student, UTF-8 with a BOM so Excel reads
        Turkish letters correctly; encode it with ``utf-8`` (not ``utf-8-sig``, the BOM is in).
    write_blackboard_csv(gradebook, column_name, *, column_id=None) -> str: Blackboard Grade
        Center upload file carrying the course total.
    write_canvas_csv(gradebook, assignment_name, *, assignment_id=None) -> str: Canvas gradebook
        import file carrying the course total.

Workbook layout: Summary (identity, email, section, one percentage per component, ``Total`` as a live formula
over the Weights sheet, ``Letter`` as an approximate VLOOKUP on the Grade boundaries sheet, then
the platform's own ``Platform total`` and ``Platform letter``), Weights, Grade boundaries, Reviews
(student x session: counted score and state), Presentations, Participation, Late days, Imported.
Editing a weight in the Weights sheet recomputes every Total; ``Platform total`` stays as
exported, so the two side by side show the effect of the change.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from review.gradebook.compute import (
    CRITERION_PREFIX,
    LETTER_ROUNDING_DECIMALS,
    CourseInfo,
    Gradebook,
)
from review.spreadsheets import neutralise, neutralise_frame

if TYPE_CHECKING:
    import pandas as pd

#: Percentages in the workbook show one decimal; the stored values keep full precision.
PERCENT_FORMAT = "0.0"
#: Decimals in CSV files (LMS grade columns accept two).
CSV_DECIMALS = 2
#: The LMS grade column is the course total as points out of this.
LMS_POINTS_POSSIBLE = 100
_MAX_COLUMN_WIDTH = 50
_MIN_COLUMN_WIDTH = 8
_HEADER_FONT = Font(bold=True)
_MISSING_FILL = PatternFill(start_color="FFC7CE", end_color="FFC7CE", fill_type="solid")

SUMMARY_SHEET = "Summary"
WEIGHTS_SHEET = "Weights"
BOUNDARIES_SHEET = "Grade boundaries"
REVIEWS_SHEET = "Reviews"
PRESENTATIONS_SHEET = "Presentations"
PARTICIPATION_SHEET = "Participation"
LATE_DAYS_SHEET = "Late days"
IMPORTED_SHEET = "Imported"

_IDENTITY_HEADERS = {"student_id": "Student ID", "first_name": "First name", "last_name": "Last name"}
#: Columns of the Summary sheet and summary CSV between the identity and the components.
_CONTACT_HEADERS = {"email": "Email", "section": "Section"}


# --- Workbook -------------------------------------------------------------------------------


def write_workbook(gradebook: Gradebook) -> bytes:
    """Build the gradebook .xlsx in memory and return its bytes."""
    # Write-only: every sheet is streamed once, row by row (about 0.7x the time of building
    # cell objects that can be revisited); layout is set before a sheet's rows, formulas go in
    # with them.
    book = Workbook(write_only=True)
    tables = _frames(gradebook)
    summary = _summary_sheet_frame(tables)
    boundaries = _boundaries_frame(tables)
    formulas, blank_columns = _summary_formulas(tables, len(boundaries))
    summary_sheet = _write(book, SUMMARY_SHEET, summary, freeze="D2", formulas=formulas)
    _highlight(summary_sheet, blank_columns, len(summary), "ISBLANK({cell})")
    _write(book, WEIGHTS_SHEET, _weights_frame(tables))
    _write(book, BOUNDARIES_SHEET, boundaries)

    reviews, state_columns = _reviews_sheet_frame(tables)
    _highlight(
        _write(book, REVIEWS_SHEET, reviews, freeze="D2"),
        state_columns,
        len(reviews),
        # Missing and draft reviews both score 0: the work the instructor should chase.
        'OR(LEFT({cell},7)="missing",LEFT({cell},5)="draft")',
    )
    _write(book, PRESENTATIONS_SHEET, _presentations_sheet_frame(tables), freeze="D2")
    _write(book, PARTICIPATION_SHEET, _participation_sheet_frame(tables), freeze="D2")
    _write(book, LATE_DAYS_SHEET, _late_days_sheet_frame(tables), freeze="D2")
    imported = _imported_sheet_frame(tables)
    _highlight(
        _write(book, IMPORTED_SHEET, imported, freeze="D2"),
        range(len(_IDENTITY_HEADERS), imported.shape[1]),
        len(imported),
        "ISBLANK({cell})",
    )
    book.properties.title = f"{tables.course.code} gradebook"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class _Frames:
    """The gradebook's tables as DataFrames (user_id the index of the per-student ones), the
    shape the sheet builders below read."""

    course: CourseInfo
    summary: pd.DataFrame
    students: pd.DataFrame
    sessions: pd.DataFrame
    reviews: pd.DataFrame
    presentations: pd.DataFrame
    participation: pd.DataFrame
    late_days: pd.DataFrame
    imported: pd.DataFrame
    criteria: list[str]


def _frames(gradebook: Gradebook) -> _Frames:
    import pandas as pd

    def frame(rows: list[dict], columns: list[str], numbers: Iterable[str] = (),
              indexed: bool = False) -> pd.DataFrame:
        table = pd.DataFrame.from_records(rows, columns=columns)
        for column in numbers:  # blank numbers are NaN in a float column, not None
            table[column] = table[column].astype(float)
        return table.set_index("user_id") if indexed else table

    course = gradebook.course
    keys = course.component_keys
    external = [c.key for c in course.components if c.kind == "external"]
    criteria = [CRITERION_PREFIX + name for name in gradebook.criteria]
    names = ["user_id", *_IDENTITY_HEADERS]
    return _Frames(
        course=course,
        summary=frame(gradebook.summary, [*names, "email", "section", *keys, "total", "letter"],
                      [*keys, "total"], indexed=True),
        students=frame(gradebook.students, [*names, "email", "username", "section"],
                       indexed=True),
        sessions=frame(gradebook.sessions, ["session_id", "week", "title", "date"]),
        reviews=frame(gradebook.reviews, [*names, "session_id", "week", "state", "score_pct",
                                          "penalty_pct", "effective_pct", "status"],
                      ["score_pct", "penalty_pct", "effective_pct"]),
        presentations=frame(gradebook.presentations,
                            [*names, "slot_id", "week", "group", "paper", "role", *criteria,
                             "total", "max_points", "peer_pct", "final_pct", "status"],
                            [*criteria, "total", "max_points", "peer_pct", "final_pct"]),
        participation=frame(gradebook.participation, [*names, "session_id", "week", "pct"],
                            ["pct"]),
        late_days=frame(gradebook.late_days, [*names, "days", "note"]),
        imported=frame(gradebook.imported, [*names, *external], external, indexed=True),
        criteria=gradebook.criteria,
    )


def _identity(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[list(_IDENTITY_HEADERS)].rename(columns=_IDENTITY_HEADERS)


def _side_by_side(*parts: pd.DataFrame) -> pd.DataFrame:
    # Concatenation keeps columns by position, so a component label or rubric criterion that
    # happens to equal a fixed header ("Total") cannot overwrite it and shift the formulas.
    import pandas as pd
    return pd.concat([part.reset_index(drop=True) for part in parts], axis=1)


def _summary_sheet_frame(gradebook: _Frames) -> pd.DataFrame:
    import pandas as pd
    summary = gradebook.summary
    components = gradebook.course.components
    percentages = summary[[c.key for c in components]].set_axis([c.label for c in components], axis=1)
    platform = pd.DataFrame(
        {
            # Filled with formulas once the sheet exists; the platform's numbers sit beside them.
            "Total": math.nan,
            "Letter": math.nan,
            "Platform total": summary["total"],
            "Platform letter": summary["letter"],
        }
    )
    contact = summary[list(_CONTACT_HEADERS)].rename(columns=_CONTACT_HEADERS)
    # No section is a blank cell, not an empty string.
    contact["Section"] = contact["Section"].mask(contact["Section"] == "")
    return _side_by_side(_identity(summary), contact, percentages, platform)


def _weights_frame(gradebook: _Frames) -> pd.DataFrame:
    import pandas as pd
    components = gradebook.course.components
    return pd.DataFrame(
        {
            "Key": [c.key for c in components],
            "Component": [c.label for c in components],
            "Weight (%)": [float(c.weight) for c in components],
            "Kind": [c.kind for c in components],
            "Max points": [float(c.max_points) if c.kind == "external" else math.nan for c in components],
            "Drop lowest": pd.array(
                [c.drop_lowest if c.kind == "reviews" else None for c in components], dtype="Int64"
            ),
        }
    )


def _boundaries_frame(gradebook: _Frames) -> pd.DataFrame:
    # VLOOKUP's approximate match needs the keys ascending.
    import pandas as pd
    ascending = sorted(gradebook.course.boundaries, key=lambda b: b.min_percent)
    return pd.DataFrame(
        {
            "Minimum %": [float(b.min_percent) for b in ascending],
            "Letter": [b.letter for b in ascending],
        }
    )


#: A formula column of a sheet: 0-based position -> (formula for a 1-based sheet row, whether
#: the cell shows one decimal).
Formulas = dict[int, tuple[Callable[[int], str], bool]]


def _summary_formulas(gradebook: _Frames, boundaries: int) -> tuple[Formulas, range]:
    """The Summary sheet's Total and Letter formulas, and the 0-based component columns."""
    components = gradebook.course.components
    first_component = len(_IDENTITY_HEADERS) + len(_CONTACT_HEADERS) + 1  # 1-based column
    component_columns = [get_column_letter(first_component + i) for i in range(len(components))]
    total_index = first_component + len(components)
    total_column = get_column_letter(total_index)
    # Weights!C holds the weights in component order (see _weights_frame).
    weight_sum = f"SUM({WEIGHTS_SHEET}!$C$2:$C${len(components) + 1})"
    lookup_range = f"'{BOUNDARIES_SHEET}'!$A$2:$B${boundaries + 1}"

    def total(row: int) -> str:
        # A blank component cell multiplies as 0, matching the platform's "blank counts 0" rule.
        products = "+".join(f"{column}{row}*{WEIGHTS_SHEET}!$C${index + 2}"
                            for index, column in enumerate(component_columns))
        return f"=({products})/{weight_sum}"

    def letter(row: int) -> str:
        # Rounded like compute.letter_for, so summation-order noise cannot flip a boundary.
        return (f"=VLOOKUP(ROUND({total_column}{row},{LETTER_ROUNDING_DECIMALS}),"
                f"{lookup_range},2,TRUE)")

    formulas: Formulas = {total_index - 1: (total, True), total_index: (letter, False)}
    return formulas, range(first_component - 1, total_index - 1)


def _session_labels(sessions: pd.DataFrame) -> dict[int, str]:
    # Week numbers label the columns; two sessions in one week also get their id to stay distinct.
    repeated = sessions["week"].duplicated(keep=False)
    return {
        int(sid): f"W{week}" if not dup else f"W{week}-{sid}"
        for sid, week, dup in zip(sessions["session_id"], sessions["week"], repeated, strict=True)
    }


def _reviews_sheet_frame(gradebook: _Frames) -> tuple[pd.DataFrame, list[int]]:
    import pandas as pd
    reviews = gradebook.reviews
    labels = _session_labels(gradebook.sessions)
    suffix = reviews["status"].map({"pending": " (pending)", "dropped": " (dropped)"}).fillna("")
    shown = pd.DataFrame(
        {
            "user_id": reviews["user_id"],
            "session_id": reviews["session_id"],
            "score": reviews["effective_pct"],
            "state": reviews["state"] + suffix,
        }
    )
    frame = _identity(gradebook.students).reset_index(drop=True)
    state_columns: list[int] = []
    if not shown.empty:
        scores = shown.pivot(index="user_id", columns="session_id", values="score")
        states = shown.pivot(index="user_id", columns="session_id", values="state")
        order = gradebook.students.index
        for session_id, label in labels.items():
            frame[f"{label} score"] = scores[session_id].reindex(order).to_numpy()
            frame[f"{label} state"] = states[session_id].reindex(order).to_numpy()
            state_columns.append(frame.shape[1] - 1)
    return frame, state_columns


def _presentations_sheet_frame(gradebook: _Frames) -> pd.DataFrame:
    presentations = gradebook.presentations
    slot = presentations[["week", "group", "paper", "role"]].set_axis(
        ["Week", "Group", "Paper", "Role"], axis=1
    )
    criteria = presentations[[CRITERION_PREFIX + name for name in gradebook.criteria]].set_axis(
        gradebook.criteria, axis=1
    )
    result = presentations[["total", "max_points", "peer_pct", "final_pct", "status"]].set_axis(
        ["Total", "Max points", "Peer %", "Final %", "Status"], axis=1
    )
    return _side_by_side(_identity(presentations), slot, criteria, result)


def _participation_sheet_frame(gradebook: _Frames) -> pd.DataFrame:
    import pandas as pd
    participation = gradebook.participation
    frame = _identity(gradebook.students).reset_index(drop=True)
    if participation.empty:
        return frame
    wide = participation.pivot(index="user_id", columns="session_id", values="pct")
    order = gradebook.students.index
    for session_id, label in _session_labels(gradebook.sessions).items():
        column = wide[session_id] if session_id in wide.columns else pd.Series(dtype=float)
        frame[label] = column.reindex(order).to_numpy()
    return frame


def _late_days_sheet_frame(gradebook: _Frames) -> pd.DataFrame:
    late_days = gradebook.late_days
    frame = _identity(late_days)
    frame["Days"] = late_days["days"]
    frame["Note"] = late_days["note"]
    return frame.reset_index(drop=True)


def _imported_sheet_frame(gradebook: _Frames) -> pd.DataFrame:
    imported = gradebook.imported
    frame = _identity(imported)
    for component in gradebook.course.components:
        if component.kind == "external":
            frame[f"{component.label} (of {component.max_points:g})"] = imported[component.key]
    return frame.reset_index(drop=True)


def _write(book: Workbook, name: str, frame: pd.DataFrame, freeze: str = "A2",
           formulas: Formulas | None = None) -> WriteOnlyWorksheet:
    """Write a neutralised frame as a new write-only sheet: frozen header, filter, widths, one
    decimal; ``formulas`` replace the frame's values in their columns.

    Rows go in with ``append`` rather than ``DataFrame.to_excel``: pandas' per-cell formatting
    layer cost about a quarter of a second on the 1,000-student benchmark, for nothing this
    workbook uses.
    """
    import pandas as pd

    safe = neutralise_frame(frame)
    rows, columns = safe.shape
    sheet = book.create_sheet(name)
    sheet.freeze_panes = freeze
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"
    for position in range(columns):
        sheet.column_dimensions[get_column_letter(position + 1)].width = _column_width(
            str(safe.columns[position]), safe.iloc[:, position])
    percent = [position for position in range(columns)
               if pd.api.types.is_float_dtype(safe.iloc[:, position].dtype)]
    formulas = formulas or {}
    _stream_cells(sheet, header=_styled_cell(sheet, font=_HEADER_FONT), styled={
        position + 1: _styled_cell(sheet, number_format=PERCENT_FORMAT) for position in
        {*percent, *(p for p, (_formula, formatted) in formulas.items() if formatted)}})
    sheet.append([str(label) for label in safe.columns])
    # None, not NaN, so missing values become truly blank cells (ISBLANK, and 0 in arithmetic).
    values = safe.astype(object).where(safe.notna(), None).itertuples(index=False, name=None)
    if not formulas:
        for row in values:
            sheet.append(row)
        return sheet
    for number, row in enumerate(values, start=2):
        cells = list(row)
        for position, (formula, _formatted) in formulas.items():
            cells[position] = formula(number)
        sheet.append(cells)
    return sheet


def _stream_cells(sheet: WriteOnlyWorksheet, header: Cell, styled: dict[int, Cell]) -> None:
    """Write the sheet's rows through one cell object per style: the header's for row 1, a
    column's own for its styled (1-based) columns, a plain one for the rest.

    openpyxl's own conversion takes a styled cell only as a cell object made per value, and for
    each one first fails to store it as a value (an exception that formats the cell's repr), then
    builds a fresh cell for the next value: a third of the write for the ~47,000 percentages of a
    1,000-student gradebook. Each cell is serialised before the next value goes into it (openpyxl
    reuses its own plain cell the same way), so one object per style is enough."""
    plain = WriteOnlyCell(sheet)

    def values_to_row(values: Iterable[object], row: int) -> Iterator[Cell]:
        for column, value in enumerate(values, 1):
            if value is None:
                continue
            cell = header if row == 1 else styled.get(column, plain)
            cell.value = value
            cell.column = column
            cell.row = row
            yield cell

    # An instance attribute: only this sheet's rows take this path (openpyxl 3.1.5, pinned;
    # tests/unit/test_gradebook_exports.py reads the styles, formulas and blanks back).
    sheet._values_to_row = values_to_row  # type: ignore[method-assign]


class _StyledCell(Cell):
    """A cell whose style is fixed once made: its style id is registered once, not on every
    cell written (openpyxl looks it up by hashing the style for each one, and asks twice per
    cell whether there is one)."""

    __slots__ = ("_fixed_style_id",)
    has_style = True

    @property
    def style_id(self) -> int:
        return self._fixed_style_id


def _styled_cell(sheet: WriteOnlyWorksheet, **style: object) -> Cell:
    cell = _StyledCell(sheet)
    for name, value in style.items():
        setattr(cell, name, value)
    cell._fixed_style_id = Cell.style_id.fget(cell)  # type: ignore[attr-defined]
    return cell


def _column_width(header: str, column: pd.Series) -> float:
    import pandas as pd
    if pd.api.types.is_numeric_dtype(column.dtype):
        longest = 6
    else:
        lengths = column.dropna().astype(str).str.len()
        longest = int(lengths.max()) if len(lengths) else 0
    return float(min(_MAX_COLUMN_WIDTH, max(_MIN_COLUMN_WIDTH, len(header), longest) + 2))


def _highlight(sheet: WriteOnlyWorksheet, positions: Iterable[int], rows: int, condition: str) -> None:
    """Red-fill cells of the given 0-based columns where ``condition`` (with ``{cell}``) holds."""
    if rows == 0:
        return
    for position in positions:
        letter = get_column_letter(position + 1)
        rule = FormulaRule(formula=[condition.format(cell=f"{letter}2")], fill=_MISSING_FILL)
        sheet.conditional_formatting.add(f"{letter}2:{letter}{rows + 1}", rule)


# --- CSV ------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.{CSV_DECIMALS}f}"


def _csv(rows: Iterable[Sequence[object]], quoting: int = csv.QUOTE_MINIMAL) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting)
    for row in rows:
        # Neutralise the final cell text, so text composed from safe parts is checked too.
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


def write_summary_csv(gradebook: Gradebook) -> str:
    """One row per student: identity, email, section, each component's percentage, total, letter."""
    summary = gradebook.summary
    components = gradebook.course.components
    header = [*_IDENTITY_HEADERS.values(), *_CONTACT_HEADERS.values(), *(c.label for c in components)]
    header += ["Total", "Letter"]
    identity_columns = [*_IDENTITY_HEADERS, *_CONTACT_HEADERS]
    rows = [
        [*(row[key] for key in identity_columns), *(_number(row[c.key]) for c in components),
         _number(row["total"]), row["letter"]]
        for row in summary
    ]
    # The BOM makes Excel open the file as UTF-8 instead of the locale's code page.
    return "\ufeff" + _csv([header, *rows])


def write_blackboard_csv(gradebook: Gradebook, column_name: str, *, column_id: str | None = None) -> str:
    """Blackboard Learn (Original) Grade Center upload file with the course total.

    Layout, per Blackboard's "Uploading or Downloading Grade Center Items for Working Offline":
    students are matched on Username; a column is matched on the ``|<column id>`` suffix of its
    header, and a header without one creates a new column. A downloaded Grade Center labels
    columns ``<Name> [Total Pts: <points> Score] |<id>``, so the new-column header is the same
    without the id. Comma-delimited uploads must quote every field. Header:
    ``"Last Name","First Name","Username","Student ID","<column_name> [Total Pts: 100 Score]"``.

    Username is the ``username`` column of the roster import. For a student imported without
    one it is guessed as the part of the email before the ``@``, which is right only where
    the LMS logins are the email names: import the roster with usernames to be sure.
    """
    header = f"{column_name} [Total Pts: {LMS_POINTS_POSSIBLE} Score]"
    if column_id is not None:
        header += f" |{column_id}"
    rows = [
        [s["last_name"], s["first_name"], s["username"], s["student_id"],
         _number(row["total"] * LMS_POINTS_POSSIBLE / 100)]
        for s, row in zip(gradebook.students, gradebook.summary, strict=True)
    ]
    return _csv([["Last Name", "First Name", "Username", "Student ID", header], *rows], csv.QUOTE_ALL)


def write_canvas_csv(
    gradebook: Gradebook, assignment_name: str, *, assignment_id: int | str | None = None
) -> str:
    """Canvas gradebook import file with the course total.

    Layout, per Canvas's "How do I import grades in the Gradebook?" and its own export: header
    ``Student,ID,SIS User ID,SIS Login ID,Section,<Assignment> (<id>)``, then a read-only
    ``    Points Possible`` row. Canvas matches a row by ID, SIS User ID or SIS Login ID; the
    platform knows no Canvas IDs, so ID stays blank and the SIS columns carry the student number
    and username (the roster's, or the email's local part when the roster has none, as for
    Blackboard). Section is the roster's section. Without ``assignment_id`` the header is the
    bare name, and Canvas offers to create that assignment on import.
    """
    header = assignment_name if assignment_id is None else f"{assignment_name} ({assignment_id})"
    rows = [
        [
            f"{s['last_name']}, {s['first_name']}",
            "",
            s["student_id"],
            s["username"],
            s["section"],
            _number(row["total"] * LMS_POINTS_POSSIBLE / 100),
        ]
        for s, row in zip(gradebook.students, gradebook.summary, strict=True)
    ]
    points_row = ["    Points Possible", "", "", "", "", str(LMS_POINTS_POSSIBLE)]
    return _csv([["Student", "ID", "SIS User ID", "SIS Login ID", "Section", header], points_row, *rows])
