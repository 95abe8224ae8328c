"""Roster import: students from a CSV or XLSX file, all or nothing.

Columns ``student_id, first_name, last_name, email`` (case and spacing of headers ignored; extra
columns ignored; UTF-8 with or without BOM). Every problem of a bad file is reported by row and
column before anything is written. Re-importing the same file changes nothing; a changed email
updates the student's account, found by student id.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pandas as pd
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from models import Course, CourseRole, Enrollment, User, db
from review.core.errors import DomainError
from review.core.input import CONTROL_CHARACTERS

REQUIRED_COLUMNS = ("student_id", "first_name", "last_name", "email")
MAX_NAME_LENGTH = 100  # User.first_name and User.last_name are String(100)


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


@dataclass
class RosterResult:
    created: list[User] = field(default_factory=list)
    enrolled: list[User] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (f"{len(self.created)} new account(s), {len(self.enrolled)} existing account(s) "
                f"enrolled, {len(self.updated)} updated, {self.unchanged} unchanged.")


def read_table(data: bytes, filename: str) -> pd.DataFrame:
    """A CSV or XLSX file as strings, headers normalised; TableFileError when unreadable."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl").fillna("")
        elif suffix in (".csv", ".txt", ""):
            text = data.decode("utf-8-sig")
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                skip_blank_lines=True)
        else:
            raise TableFileError([f"{filename}: use a .csv or .xlsx file (got '{suffix}')"])
    except UnicodeDecodeError as exc:
        raise TableFileError([f"{filename}: not UTF-8 text (byte {exc.start}); save it as "
                              "CSV UTF-8 or as .xlsx"]) from None
    except TableFileError:
        raise
    except Exception as exc:  # pandas and openpyxl raise many types for a broken file
        raise TableFileError([f"{filename}: cannot be read as {suffix or 'CSV'} ({exc})"]) from None
    frame.columns = [str(column).strip().lower().replace(" ", "_") for column in frame.columns]
    return frame.map(lambda value: str(value).strip())


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
    require_columns(frame, REQUIRED_COLUMNS)
    problems: list[str] = []
    rows: list[RosterRow] = []
    first_row_of_id: dict[str, int] = {}
    first_row_of_email: dict[str, int] = {}
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
        rows.append(RosterRow(row=row, student_id=student_id, first_name=record["first_name"],
                              last_name=record["last_name"], email=email,
                              program=record.get("program", "")))
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
        db.session.add(Enrollment(course=course, user=user, role=CourseRole.student,
                                  student_number=row.student_id, program=row.program or None))
    if problems:
        raise TableFileError(problems)
    db.session.flush()
    return result


def students_without_password(course: Course) -> list[tuple[Enrollment, User]]:
    return list(db.session.execute(
        select(Enrollment, User).join(User)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student,
               User.password_hash.is_(None))
        .order_by(User.last_name, User.first_name)).tuples())
