"""Roster import: students from a CSV or XLSX file, all or nothing.

Columns ``student_id, first_name, last_name, email``, and optionally ``program``, ``section``
(the class section, up to 32 characters) and ``username`` (the student's login in the
university LMS, which the Blackboard and Canvas grade exports match on). Case and spacing of
headers are ignored; extra columns are ignored. CSV files may be comma-, semicolon- or
tab-separated, in UTF-8 (with or without BOM), UTF-16, Windows-1254 or Windows-1252
(:func:`decode_text` says how the encoding is chosen): what Excel saves in any locale.

Every problem of a bad file is reported by row and column before anything is written. Files are
bounded before they are parsed (:class:`ImportLimits`): too many rows or cells, or an .xlsx that
unpacks to too much, is refused in well under a second with the limit and what was found.
Re-importing the same file changes nothing; a changed email updates the student's account,
found by student id. An empty or missing program, section or username keeps the stored one;
a different one replaces it and the result reports the change.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from flask import current_app, has_app_context
from sqlalchemy import select

from models import Course, CourseRole, Enrollment, User, db
from review.core.errors import DomainError
from review.core.input import CONTROL_CHARACTERS

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_COLUMNS = ("student_id", "first_name", "last_name", "email")
#: Optional columns stored on the enrollment.
OPTIONAL_COLUMNS = ("program", "section", "username")
#: The longest value each column's database field holds (names: see ``name_problem``).
MAX_LENGTHS = {"student_id": 32, "program": 64, "section": 32, "username": 64}
#: Delimiters spreadsheet programs write: comma, semicolon (locales whose decimal mark is a
#: comma: Turkish and most European ones), tab (Excel's "Unicode text").
DELIMITERS = ",;\t"
_SNIFF_SAMPLE = 8192
#: Bytes Windows-1254 reads as Ğ İ Ş ğ ı ş, where Windows-1252 has Ð Ý Þ ð ý þ.
_TURKISH_BYTES = tuple(b"\xd0\xdd\xde\xf0\xfd\xfe")
MAX_NAME_LENGTH = 100  # User.first_name and User.last_name are String(100)
#: Spreadsheet XML packs 5 to 20 times (measured on rosters and grade sheets); a part of an .xlsx
#: that unpacks to more than this many times its packed size is a zip bomb.
MAX_COMPRESSION_RATIO = 100
#: Parts smaller than this cost nothing to unpack, whatever their ratio.
_RATIO_CHECKED_FROM = 1024 * 1024
_UNZIP_CHUNK = 1024 * 1024
#: Start tags of rows, cells and shared strings, with or without a namespace prefix.
_COUNTED_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|si)[\s/>]")
_DIMENSION_TAG = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref="([^"]*)"')
_WORKSHEET_PART = re.compile(r"(?:^|/)worksheets/[^/]+\.xml$", re.IGNORECASE)
_SHARED_STRINGS_PART = re.compile(r"(?:^|/)sharedStrings\.xml$", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")
_NON_BLANK = re.compile(r"\S")


@dataclass(frozen=True)
class ImportLimits:
    """How big a table file may be; anything bigger is refused before it is parsed. The app's
    config overrides each default: ``IMPORT_MAX_ROWS`` (rows below the header),
    ``IMPORT_MAX_CELLS`` (rows × columns) and ``IMPORT_MAX_UNZIPPED_BYTES`` (an unpacked .xlsx)."""

    rows: int = 5000
    cells: int = 200_000
    unzipped_bytes: int = 32 * 1024 * 1024

    @classmethod
    def from_config(cls) -> ImportLimits:
        if not has_app_context():
            return cls()
        config, default = current_app.config, cls()
        return cls(rows=int(config.get("IMPORT_MAX_ROWS", default.rows)),
                   cells=int(config.get("IMPORT_MAX_CELLS", default.cells)),
                   unzipped_bytes=int(config.get("IMPORT_MAX_UNZIPPED_BYTES",
                                                 default.unzipped_bytes)))


class TableFileError(DomainError):
    """A file that was rejected whole; ``problems`` lists every problem by row and column."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("The file was not imported:\n" + "\n".join(problems))


@dataclass
class RosterRow:
    row: int
    student_id: str
    first_name: str
    last_name: str
    email: str
    program: str = ""
    section: str = ""
    username: str = ""


@dataclass
class RosterResult:
    created: list[User] = field(default_factory=list)
    enrolled: list[User] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (f"{len(self.created)} new account(s), {len(self.enrolled)} existing account(s) "
                f"enrolled, {len(self.updated)} updated, {self.unchanged} unchanged.")

    def lines(self) -> list[str]:
        """What the import did, for the page (or the import's status page)."""
        return [f"Roster imported: {self.summary()}", *(f"Updated {line}" for line in self.updated)]


def read_table(data: bytes, filename: str,
               limits: Optional[ImportLimits] = None) -> pd.DataFrame:
    """A CSV or XLSX file as strings, headers normalised; TableFileError when unreadable.

    Row ``n`` of the frame is row ``n + 2`` of the file (the header is row 1): blank rows stay in
    the frame as empty strings, so every importer's row numbers are the spreadsheet's, and every
    importer skips blank rows. Columns with an empty header are dropped like any extra column.
    A file beyond ``limits`` (the app's config by default) is refused before it is parsed whole.
    """
    limits = limits or ImportLimits.from_config()
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _table(_xlsx_records(data, filename, suffix, limits), delimiter=None)
    if suffix in (".csv", ".txt", ""):
        text = decode_text(data)
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise TableFileError([f"line {line}: contains a NUL character, which no value may "
                                  "hold; save the file as \"CSV UTF-8\" or as .xlsx"])
        delimiter = sniff_delimiter(text)
        return _table(_csv_records(text, delimiter, limits), delimiter=delimiter)
    raise TableFileError([f"{filename}: use a .csv or .xlsx file (got '{suffix}')"])


def _too_many_rows(found: str, limits: ImportLimits, note: str = "",
                   where: str = "the file") -> TableFileError:
    return TableFileError([f"{where} has {found} rows below the header{note}; imports take at "
                           f"most {limits.rows:,}: split the file"])


def _too_many_cells(found: str, limits: ImportLimits, note: str = "",
                    where: str = "the file") -> TableFileError:
    return TableFileError([f"{where} has {found} cells (rows × columns){note}; imports take at "
                           f"most {limits.cells:,}: delete unused columns or split the file"])


class _CsvLines:
    """The lines of a CSV text for ``csv.reader``; a line with more values than a whole file may
    hold is refused before the reader splits it into a list."""

    def __init__(self, text: str, delimiter: str, limits: ImportLimits):
        self.text, self.delimiter, self.limits = text, delimiter, limits
        self.consumed = 0

    def __iter__(self) -> Iterator[str]:
        for number, line in enumerate(_lines(self.text), start=1):
            values = line.count(self.delimiter) + 1
            if values > self.limits.cells:
                raise TableFileError([f"line {number}: {values:,} values; imports take at most "
                                      f"{self.limits.cells:,} cells in the whole file"])
            self.consumed += len(line)
            yield line

    def lines_left(self) -> int:
        """Lines not read yet, counted without parsing them (a quoted line break counts too)."""
        start = self.consumed
        breaks = max(self.text.count("\n", start), self.text.count("\r", start))
        unterminated = len(self.text) > start and self.text[-1] not in "\r\n"
        return breaks + unterminated


def _lines(text: str, start: int = 0) -> Iterator[str]:
    """The lines of a text from ``start`` with their ends (CR, LF or CRLF), one at a time: no
    list of them and no copy of the text (``io.StringIO`` would take four bytes a character)."""
    while start < len(text):
        end = _LINE_END.search(text, start)
        stop = end.end() if end else len(text)
        yield text[start:stop]
        start = stop


def _line_start(text: str, position: int) -> int:
    return max(text.rfind("\n", 0, position), text.rfind("\r", 0, position)) + 1


def _csv_records(text: str, delimiter: str, limits: ImportLimits) -> list[list[str]]:
    """Records of a CSV text, the header first; refused once past the row or cell limit."""
    lines = _CsvLines(text, delimiter, limits)
    reader = csv.reader(lines, delimiter=delimiter)
    records: list[list[str]] = []
    cells = 0
    try:
        for record in reader:
            records.append(record)
            cells += len(record)
            if len(records) - 1 > limits.rows:
                raise _too_many_rows(f"{len(records) - 1 + lines.lines_left():,}", limits)
            if cells > limits.cells:
                raise _too_many_cells(f"more than {limits.cells:,}", limits,
                                      f" by row {len(records)}")
    except csv.Error as exc:
        raise TableFileError([f"line {reader.line_num}: cannot be read as CSV ({exc})"]) from None
    return records


def _xlsx_records(data: bytes, filename: str, suffix: str,
                  limits: ImportLimits) -> list[list[str]]:
    """Rows of the first sheet as text; the archive is measured before a sheet is parsed."""
    import openpyxl  # imported here: it loads numpy, which start-up must not pay for

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_archive(archive, limits)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True,
                                          keep_links=False)
        try:
            return _sheet_records(workbook.worksheets[0], limits)
        finally:
            workbook.close()
    except TableFileError:
        raise
    except Exception as exc:  # zipfile and openpyxl raise many types for a broken file
        raise TableFileError([f"{filename}: cannot be read as {suffix} ({exc})"]) from None


def _check_archive(archive: zipfile.ZipFile, limits: ImportLimits) -> None:
    """Refuse a zip bomb or an oversized sheet from the archive's directory and a scan of its
    XML for tags, before openpyxl parses anything (opening a workbook reads every sheet that
    does not declare its size). The sizes in the directory can be trusted: ``zipfile`` never
    unpacks a part beyond its declared size."""
    parts = archive.infolist()
    for part in parts:
        if (part.file_size > _RATIO_CHECKED_FROM
                and part.file_size > MAX_COMPRESSION_RATIO * max(part.compress_size, 1)):
            raise TableFileError([
                f"the file's part {part.filename} unpacks to {_megabytes(part.file_size)} from "
                f"{part.compress_size:,} bytes ({part.file_size // max(part.compress_size, 1):,} "
                f"times); spreadsheets pack at most {MAX_COMPRESSION_RATIO} times, so the file "
                "was not opened (it looks like a zip bomb)"])
    unpacked = sum(part.file_size for part in parts)
    if unpacked > limits.unzipped_bytes:
        raise TableFileError([f"the file unpacks to {_megabytes(unpacked)}; imports take at most "
                              f"{_megabytes(limits.unzipped_bytes)} (an .xlsx file is a zip "
                              "archive): split the file or save it as CSV"])
    # Opening a workbook reads every sheet, so every sheet is bounded, not only the first.
    sheets = [part.filename for part in parts if _WORKSHEET_PART.search(part.filename)]
    for name in sheets:
        where, note = ("the file", "") if len(sheets) == 1 else (
            f"the sheet stored as {name}", " (imports read the first sheet: delete the others)")
        dimension = _declared_dimension(archive, name)
        if dimension:
            _check_dimension(dimension, where, note, limits)
        counts = _count_tags(archive, name)
        rows = max(counts[b"row"] - 1, 0)
        if rows > limits.rows:
            raise _too_many_rows(f"{rows:,}", limits, note, where)
        if counts[b"c"] > limits.cells:
            raise _too_many_cells(f"{counts[b'c']:,}", limits, note, where)
    for name in (part.filename for part in parts if _SHARED_STRINGS_PART.search(part.filename)):
        texts = _count_tags(archive, name)[b"si"]
        if texts > limits.cells:
            raise TableFileError([f"the file holds {texts:,} different texts; imports take at "
                                  f"most {limits.cells:,} cells"])


def _check_dimension(reference: str, where: str, note: str, limits: ImportLimits) -> None:
    """The range a sheet declares it uses: Excel always writes it, so a sheet too big for an
    import is refused from its first bytes, with the range named."""
    from openpyxl.utils.cell import range_boundaries

    try:
        _, _, last_column, last_row = range_boundaries(reference)
    except (TypeError, ValueError):
        return  # an unreadable declaration is ignored; the counted tags still bound the sheet
    if last_row is None or last_column is None:
        return
    hint = "; empty rows or columns that keep formatting count: delete them"
    if last_row - 1 > limits.rows:
        raise TableFileError([f"{where} declares the range {reference}, {last_row - 1:,} rows "
                              f"below the header{note}; imports take at most {limits.rows:,}"
                              + hint])
    if last_row * last_column > limits.cells:
        raise TableFileError([f"{where} declares the range {reference}, "
                              f"{last_row * last_column:,} cells{note}; imports take at most "
                              f"{limits.cells:,}" + hint])


def _declared_dimension(archive: zipfile.ZipFile, name: str) -> Optional[str]:
    """The range a sheet part declares it uses (its ``dimension``, at the start of the part)."""
    with archive.open(name) as part:
        found = _DIMENSION_TAG.search(part.read(_UNZIP_CHUNK))
    return found.group(1).decode("ascii", "replace") if found else None


def _count_tags(archive: zipfile.ZipFile, name: str) -> Counter[bytes]:
    """How many row, cell and shared-string tags a part holds, read in chunks without parsing
    the XML (milliseconds per megabyte, the memory of one chunk)."""
    counts: Counter[bytes] = Counter()
    carry = b""
    with archive.open(name) as part:
        while chunk := part.read(_UNZIP_CHUNK):
            buffer = carry + chunk
            # A tag cut at the chunk's end is counted with the next chunk; a tag name is short,
            # so a "<" far from the end starts a tag already complete here.
            cut = buffer.rfind(b"<")
            if cut == -1 or len(buffer) - cut > 64:
                cut = len(buffer)
            counts.update(_COUNTED_TAG.findall(buffer, 0, cut))
            carry = buffer[cut:]
    counts.update(_COUNTED_TAG.findall(carry))
    return counts


def _sheet_records(sheet: Any, limits: ImportLimits) -> list[list[str]]:
    """The sheet's rows as text, refused once past the limits; trailing empty rows dropped."""
    # The declared size was checked; forgetting it keeps openpyxl from padding rows to it.
    sheet.reset_dimensions()
    records: list[list[str]] = []
    cells = 0
    # Rows the sheet skips come back empty, so a lone row numbered 1,000,000 stops here too.
    for values in sheet.iter_rows(values_only=True):
        cells += len(values)
        if cells > limits.cells:
            raise _too_many_cells(f"more than {limits.cells:,}", limits,
                                  f" by row {len(records) + 1}")
        records.append([_cell_text(value) for value in values])
        if len(records) - 1 > limits.rows:
            raise _too_many_rows(f"more than {limits.rows:,}", limits, " (empty rows count)")
    while records and not any(records[-1]):
        records.pop()
    return records


def _cell_text(value: object) -> str:
    """A cell as text; whole numbers without ".0", as Excel shows them and a CSV export has."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def decode_text(data: bytes) -> str:
    """The text of a CSV file as Excel saves it in any locale; TableFileError when nothing fits.

    The rule, in order: a UTF-16 byte-order mark means UTF-16 (Excel's "Unicode text"); bytes
    that are valid UTF-8 (with or without a BOM) are UTF-8, since a file in a Windows code page
    almost never is; otherwise the file is Windows-1254 (Turkish) if it holds a byte that
    Windows-1254 reads as one of the Turkish letters Ğ İ Ş ğ ı ş (Windows-1252 reads the same
    bytes as the Icelandic Ð Ý Þ ð ý þ, rare in names), else Windows-1252 (Western European).
    All other bytes decode alike in both code pages, so only those six decide.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].decode("utf-16", errors="replace").count("\n") + 1
            raise TableFileError([f"line {line}: the file starts as UTF-16 but byte "
                                  f"{exc.start} is not UTF-16; save it again"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    turkish = any(byte in data for byte in _TURKISH_BYTES)
    for encoding in ("cp1254", "cp1252") if turkish else ("cp1252", "cp1254"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    # Windows-1252 leaves fewer bytes undefined, so the first byte it cannot read is one that
    # neither code page reads; one byte is one character, so its index is the byte's offset.
    position = data.decode("cp1252", errors="replace").index("\ufffd")
    line = data.count(b"\n", 0, position) + 1
    raise TableFileError([f"line {line}: could not decode byte 0x{data[position]:02x} as "
                          "UTF-8, Windows-1254 or Windows-1252; save the file as "
                          "\"CSV UTF-8\" or as .xlsx"])


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV text: comma, semicolon (Turkish and European Excel) or tab.

    ``csv.Sniffer`` decides on the first lines; its answer stands only if the header row holds
    that delimiter (column names hold no delimiters, values may). Otherwise the delimiter the
    header holds most often wins; a header with none is a one-column file.
    """
    first = _NON_BLANK.search(text)  # not a walk over lines: there may be millions of blank ones
    header = next(_lines(text, _line_start(text, first.start()))) if first else ""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    try:
        sniffed = csv.Sniffer().sniff(text[:_SNIFF_SAMPLE], delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if counts.get(sniffed):
        return sniffed
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _table(records: list[list[str]], delimiter: str | None) -> pd.DataFrame:
    """Header row plus data rows as a frame of stripped strings; every shape problem named."""
    import pandas as pd
    if not records or not any(cell.strip() for cell in records[0]):
        raise TableFileError(["row 1: empty; the first row must hold the column names"])
    header = [cell.strip().lower().replace(" ", "_") for cell in records[0]]
    problems: list[str] = []
    first_position: dict[str, int] = {}
    for position, name in enumerate(header):
        if name in first_position:
            problems.append(f"row 1 (header), column {name}: appears twice (columns "
                            f"{first_position[name] + 1} and {position + 1})")
        elif name:
            first_position[name] = position
    width = len(header)
    rows: list[list[str]] = []
    for index, record in enumerate(records[1:]):
        cells = [cell.strip() for cell in record]
        extra = [cell for cell in cells[width:] if cell]
        if extra:
            listed = ", ".join(f"'{cell}'" for cell in extra)
            problems.append(f"row {index + 2}: {len(cells)} values but the header has {width} "
                            f"columns (extra value{'s' if len(extra) > 1 else ''} {listed}); "
                            f"a value holding '{delimiter}' must be in quotes")
        rows.append((cells + [""] * width)[:width])
    if problems:
        raise TableFileError(problems)
    kept = list(first_position.values())
    return pd.DataFrame([[row[i] for i in kept] for row in rows],
                        columns=[header[i] for i in kept], dtype=str)


def require_columns(frame: pd.DataFrame, required: tuple[str, ...]) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise TableFileError([f"row 1 (header): missing column '{column}'" for column in missing]
                             + [f"the header has: {', '.join(map(str, frame.columns)) or 'nothing'}"])


def name_problem(name: str) -> Optional[str]:
    """What is wrong with a first or last name from a file, or None.

    Checked here, not by the database: PostgreSQL refuses an over-long value or a NUL with a
    driver error (a 500), and SQLite would silently store a 6 MB name.
    """
    if not name:
        return "empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"longer than {MAX_NAME_LENGTH} characters ({len(name)})"
    control = CONTROL_CHARACTERS.search(name)
    if control:
        return (f"contains a control character (0x{ord(control.group()):02X}); "
                "retype the name")
    return None


def parse_roster(frame: pd.DataFrame) -> list[RosterRow]:
    # Imported here, not at start-up (about 0.04 s of every process), as the course file's
    # check and WTForms' Email validator also import it when they first check an address.
    from email_validator import EmailNotValidError, validate_email

    require_columns(frame, REQUIRED_COLUMNS)
    problems: list[str] = []
    rows: list[RosterRow] = []
    first_row_of_id: dict[str, int] = {}
    first_row_of_email: dict[str, int] = {}
    first_row_of_username: dict[str, int] = {}
    for index, record in enumerate(frame.to_dict("records")):
        row = index + 2  # the header is row 1
        if not any(record.get(column) for column in REQUIRED_COLUMNS):
            continue  # a fully blank line, common at the end of exported files
        student_id = record["student_id"]
        email = record["email"].lower()
        if not student_id:
            problems.append(f"row {row}, column student_id: empty")
        elif student_id in first_row_of_id:
            problems.append(f"row {row}, column student_id: duplicate id '{student_id}' "
                            f"(first on row {first_row_of_id[student_id]})")
        else:
            first_row_of_id[student_id] = row
        for column in ("first_name", "last_name"):
            problem = name_problem(record[column])
            if problem:
                problems.append(f"row {row}, column {column}: {problem}")
        if not email:
            problems.append(f"row {row}, column email: empty")
        else:
            try:
                email = validate_email(email, check_deliverability=False).normalized.lower()
            except EmailNotValidError as exc:
                problems.append(f"row {row}, column email: invalid email '{record['email']}' ({exc})")
            if email in first_row_of_email:
                problems.append(f"row {row}, column email: '{email}' is also on row "
                                f"{first_row_of_email[email]}")
            else:
                first_row_of_email[email] = row
        for column, longest in MAX_LENGTHS.items():
            if len(record.get(column, "")) > longest:
                problems.append(f"row {row}, column {column}: '{record[column]}' is longer "
                                f"than {longest} characters")
        optional = {column: record.get(column, "") for column in OPTIONAL_COLUMNS}
        username = optional["username"].casefold()
        if username in first_row_of_username:
            problems.append(f"row {row}, column username: '{optional['username']}' is also on "
                            f"row {first_row_of_username[username]}")
        elif username:
            first_row_of_username[username] = row
        rows.append(RosterRow(row=row, student_id=student_id, first_name=record["first_name"],
                              last_name=record["last_name"], email=email, **optional))
    if problems:
        raise TableFileError(problems)
    if not rows:
        raise TableFileError(["the file has a header but no student rows"])
    return rows


def import_roster(course: Course, rows: list[RosterRow]) -> RosterResult:
    """Create or update accounts and enrollments; raises TableFileError before any write sticks.

    The caller commits on success and rolls back on error.
    """
    result = RosterResult()
    problems: list[str] = []
    by_number = {e.student_number: e for e in db.session.scalars(
        select(Enrollment).where(Enrollment.course_id == course.id,
                                 Enrollment.student_number.is_not(None)))}
    users_by_email = {u.email: u for u in db.session.scalars(
        select(User).where(User.email.in_([r.email for r in rows])))}
    problems += _taken_usernames(by_number, rows)
    # Usernames are unique per course; they are written last, after clearing the changed ones,
    # so two students swapping usernames never collide half-way.
    new_usernames: list[tuple[Enrollment, str]] = []
    for row in rows:
        enrollment = by_number.get(row.student_id)
        owner = users_by_email.get(row.email)
        if enrollment is not None:
            user = enrollment.user
            if owner is not None and owner.id != user.id:
                problems.append(f"row {row.row}, column email: '{row.email}' belongs to another "
                                "account; cannot move student "
                                f"{row.student_id} to it")
                continue
            changed = [label for label, attribute, value in (
                ("email", "email", row.email), ("first name", "first_name", row.first_name),
                ("last name", "last_name", row.last_name)) if getattr(user, attribute) != value]
            if row.program and enrollment.program != row.program:
                enrollment.program = row.program
                changed.append("program")
            if row.section and enrollment.section != row.section:
                changed.append(_change("section", enrollment.section, row.section))
                enrollment.section = row.section
            if row.username and enrollment.username != row.username:
                changed.append(_change("username", enrollment.username, row.username))
                new_usernames.append((enrollment, row.username))
            if changed:
                user.email, user.first_name, user.last_name = row.email, row.first_name, row.last_name
                result.updated.append(f"{row.student_id}: {', '.join(changed)}")
            else:
                result.unchanged += 1
            continue
        if owner is not None:
            existing = db.session.scalar(select(Enrollment).where(
                Enrollment.course_id == course.id, Enrollment.user_id == owner.id))
            if existing is not None:
                problems.append(f"row {row.row}, column email: '{row.email}' is already in this "
                                f"course as {existing.role.value}"
                                + (f" with student id {existing.student_number}"
                                   if existing.student_number else ""))
                continue
            user = owner
            result.enrolled.append(user)
        else:
            user = User(email=row.email, first_name=row.first_name, last_name=row.last_name)
            db.session.add(user)
            users_by_email[row.email] = user
            result.created.append(user)
        enrollment = Enrollment(course=course, user=user, role=CourseRole.student,
                                student_number=row.student_id, program=row.program or None,
                                section=row.section or None)
        db.session.add(enrollment)
        if row.username:
            new_usernames.append((enrollment, row.username))
    if problems:
        raise TableFileError(problems)
    for enrollment, _ in new_usernames:
        enrollment.username = None
    db.session.flush()
    for enrollment, username in new_usernames:
        enrollment.username = username
    db.session.flush()
    return result


def _taken_usernames(by_number: dict[str, Enrollment], rows: list[RosterRow]) -> list[str]:
    """Rows whose username another student of the course keeps after this import."""
    in_file = {row.student_id for row in rows if row.username}
    holder = {enrollment.username.casefold(): number for number, enrollment in by_number.items()
              if enrollment.username and number not in in_file}
    return [f"row {row.row}, column username: '{row.username}' is already the username of "
            f"student {holder[row.username.casefold()]}"
            for row in rows if row.username and row.username.casefold() in holder]


def _change(label: str, old: str | None, new: str) -> str:
    return f"{label} '{old}' → '{new}'" if old else f"{label} set to '{new}'"


def students_without_password(course: Course) -> list[tuple[Enrollment, User]]:
    return list(db.session.execute(
        select(Enrollment, User).join(User)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student,
               User.password_hash.is_(None))
        .order_by(User.last_name, User.first_name)).tuples())


def course_sections(course: Course) -> list[str]:
    """The sections of the course's students (for the staff pages' Section filter)."""
    return sorted_sections(db.session.scalars(
        select(Enrollment.section).where(Enrollment.course_id == course.id,
                                         Enrollment.role == CourseRole.student)))


def sorted_sections(sections: Iterable[str | None]) -> list[str]:
    """Distinct non-empty sections in natural order, so "S2" comes before "S10"."""
    return sorted({s for s in sections if s}, key=lambda section: [
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", section)])
