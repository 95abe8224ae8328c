"""Gradebook services: external grades imported from a file or typed into the grid.

Import (page with a preview, or ``flask --app app grades import COURSE FILE``):
    * The file is CSV or XLSX with a ``student_id`` column and one column per *external*
      component, named by its key in the course file (``quiz``, ``midterm``, ...). The identity
      columns ``first_name``, ``last_name``, ``name`` and ``email`` may be present and are
      ignored; any other column is an error (a typo must not be silently dropped).
    * Every problem is reported by row and column (unknown student id, duplicate id, a score
      that is not a number, negative or above the component's maximum, unknown column), and a
      file with any problem changes nothing.
    * Re-import replaces only the columns present in the file: other components keep their
      grades. An EMPTY CELL LEAVES THAT GRADE UNCHANGED (files are often partial: a midterm
      sheet with absentees left blank must not wipe anything). To remove a grade, clear it in
      the grid. The preview lists, per column, what will be set, changed and left blank.
Grid (staff page, students x external components):
    * Each cell is validated on the server; any bad cell rejects the whole page with a message
      per cell. An emptied cell removes the grade (the grid shows every grade, so a blank there
      is deliberate). Only cells the user changed are written; a cell someone else changed in
      the meantime is reported as a conflict instead of being overwritten.
Every change is audited (AuditEntry category "grade"). Services flush and raise; the caller
commits once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

from sqlalchemy import select

from models import AuditEntry, Course, CourseRole, Enrollment, GradeItem, User, db, utcnow
from review.core.errors import DomainError
from review.courses.roster import TableFileError, require_columns
from review.gradebook.compute import Component
from review.gradebook.loader import course_info

if TYPE_CHECKING:
    import pandas as pd

IGNORED_COLUMNS = frozenset({"first_name", "last_name", "name", "email", "full_name", "section",
                             "username"})
ID_COLUMN = "student_id"


class GridError(DomainError):
    """The grid was rejected; ``problems`` maps a cell name to its message."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__(f"Nothing was saved: {len(problems)} cell(s) need attention.\n"
                         + "\n".join(problems.values()))


def external_components(course: Course) -> list[Component]:
    return [c for c in course_info(course).components if c.kind == "external"]


def parse_score(text: Any, component: Component) -> float:
    """A cell's text as points; ValueError with a message for a bad one."""
    raw = str(text).strip()
    try:
        value = float(raw.replace(",", ".")) if raw.count(",") == 1 and "." not in raw else float(raw)
    except ValueError:
        raise ValueError(f"'{raw}' is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"'{raw}' is not a number")
    if value < 0:
        raise ValueError(f"{raw} is negative")
    if value > component.max_points:
        raise ValueError(f"{raw} is above the maximum of {component.max_points:g}")
    return value


def grade_text(value: Optional[float]) -> str:
    """How a stored grade is shown in the grid (and compared when it comes back)."""
    return "" if value is None else f"{value:.10g}"


# --- Import ---------------------------------------------------------------------------------


@dataclass
class CellChange:
    row: int
    user_id: int
    student_id: str
    name: str
    component: str
    old: Optional[float]
    new: float


@dataclass
class ColumnPlan:
    """What an import does to one component column."""

    key: str
    label: str
    set_new: int = 0
    changed: int = 0
    unchanged: int = 0
    blank: int = 0


@dataclass
class ImportPlan:
    """The preview of an import: every change it would make, nothing written yet."""

    columns: list[ColumnPlan]
    changes: list[CellChange] = field(default_factory=list)
    rows: int = 0
    # The parsed file as plain records, so the confirm step re-validates exactly what was shown.
    records: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{c.key}: {c.set_new} new, {c.changed} changed, {c.unchanged} unchanged, "
                 f"{c.blank} blank (left as they are)" for c in self.columns]
        return f"{self.rows} student row(s); " + "; ".join(parts) + "."


def plan_import(course: Course, frame: pd.DataFrame) -> ImportPlan:
    """Validate a grades table and work out its changes; TableFileError lists every problem."""
    require_columns(frame, (ID_COLUMN,))
    components = {c.key: c for c in external_components(course)}
    all_keys = {c.key: c for c in course_info(course).components}
    problems: list[str] = []
    columns: list[str] = []
    for column in frame.columns:
        if column == ID_COLUMN or column in IGNORED_COLUMNS:
            continue
        if column in components:
            if column in columns:
                problems.append(f"row 1 (header), column {column}: appears twice")
            columns.append(column)
        elif column in all_keys:
            problems.append(f"row 1 (header), column {column}: '{column}' is computed by the "
                            "platform and cannot be imported")
        else:
            problems.append(f"row 1 (header), column {column}: unknown component '{column}' "
                            f"(external components: {', '.join(components) or 'none'})")
    if not columns and not problems:
        problems.append("row 1 (header): no component column; name columns after the course's "
                        f"external components: {', '.join(components) or 'none'}")
    if problems:
        raise TableFileError(problems)

    roster = {number: (uid, f"{first} {last}") for uid, number, first, last in db.session.execute(
        select(Enrollment.user_id, Enrollment.student_number, User.first_name, User.last_name)
        .join(User, User.id == Enrollment.user_id)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student))}
    current = {(uid, key): score for uid, key, score in db.session.execute(
        select(GradeItem.user_id, GradeItem.component, GradeItem.score)
        .where(GradeItem.course_id == course.id, GradeItem.component.in_(columns)))}

    plan = ImportPlan(columns=[ColumnPlan(key=k, label=components[k].label) for k in columns])
    by_key = {c.key: c for c in plan.columns}
    first_row: dict[str, int] = {}
    for index, record in enumerate(frame.to_dict("records")):
        row = index + 2
        student_id = str(record.get(ID_COLUMN, "")).strip()
        cells = {k: str(record.get(k, "")).strip() for k in columns}
        if not student_id and not any(cells.values()):
            continue  # a blank line
        plan.records.append({ID_COLUMN: student_id, **cells, "_row": str(row)})
        if not student_id:
            problems.append(f"row {row}, column student_id: empty")
            continue
        if student_id in first_row:
            problems.append(f"row {row}, column student_id: duplicate id '{student_id}' "
                            f"(first on row {first_row[student_id]})")
            continue
        first_row[student_id] = row
        student = roster.get(student_id)
        if student is None:
            problems.append(f"row {row}, column student_id: unknown student id '{student_id}' "
                            "(not a student of this course)")
            continue
        uid, name = student
        plan.rows += 1
        for key in columns:
            text = cells[key]
            column = by_key[key]
            if not text:
                column.blank += 1
                continue
            try:
                value = parse_score(text, components[key])
            except ValueError as exc:
                problems.append(f"row {row}, column {key}: {exc}")
                continue
            old = current.get((uid, key))
            if old is None:
                column.set_new += 1
            elif old == value:
                column.unchanged += 1
                continue
            else:
                column.changed += 1
            plan.changes.append(CellChange(row=row, user_id=uid, student_id=student_id, name=name,
                                           component=key, old=old, new=value))
    if problems:
        raise TableFileError(problems)
    if plan.rows == 0:
        raise TableFileError(["the file has a header but no student rows"])
    return plan


def plan_from_records(course: Course, records: Iterable[Mapping[str, str]]) -> ImportPlan:
    """Re-validate the records a preview showed (the confirm step of the import page)."""
    import pandas as pd
    records = list(records)
    if not records:
        raise TableFileError(["the preview is empty; upload the file again"])
    columns = [k for k in records[0] if k != "_row"]
    frame = pd.DataFrame([{k: str(r.get(k, "")) for k in columns} for r in records], columns=columns)
    # Keep the file's row numbers in messages: place each record at its original row.
    plan = plan_import(course, frame)
    rows = [int(r.get("_row", i + 2)) for i, r in enumerate(records)]
    for change in plan.changes:
        change.row = rows[change.row - 2]
    return plan


def apply_import(course: Course, plan: ImportPlan, actor: Optional[User], *,
                 source: str = "") -> int:
    """Write the plan's changes (flush only) and audit each; returns the number of cells written."""
    existing = {(g.user_id, g.component): g for g in db.session.scalars(
        select(GradeItem).where(GradeItem.course_id == course.id,
                                GradeItem.component.in_([c.key for c in plan.columns]))
        .with_for_update())}
    now = utcnow()
    actor_id = actor.id if actor is not None else None
    for change in plan.changes:
        item = existing.get((change.user_id, change.component))
        old = item.score if item is not None else None
        if item is None:
            db.session.add(GradeItem(course_id=course.id, user_id=change.user_id,
                                     component=change.component, score=change.new,
                                     updated_at=now, updated_by_id=actor_id))
        else:
            item.score, item.updated_at, item.updated_by_id = change.new, now, actor_id
        db.session.add(AuditEntry(
            course_id=course.id, actor_id=actor_id, at=now, category="grade", action="import",
            entity="grade_item", entity_id=change.user_id,
            old={"component": change.component, "score": old, "student_id": change.student_id},
            new={"component": change.component, "score": change.new,
                 "student_id": change.student_id},
            reason=source))
    db.session.flush()
    return len(plan.changes)


# --- Grid -----------------------------------------------------------------------------------


def cell_name(user_id: int, key: str) -> str:
    return f"g-{user_id}-{key}"


@dataclass
class GridRow:
    user_id: int
    student_id: str
    name: str
    values: dict[str, Optional[float]]


def grid_rows(course: Course, *, offset: int = 0, limit: Optional[int] = None) -> tuple[list[GridRow], int]:
    """Students (roster order) with their external grades, one page; and the roster size."""
    keys = [c.key for c in external_components(course)]
    query = (select(Enrollment.user_id, Enrollment.student_number, User.first_name, User.last_name)
             .join(User, User.id == Enrollment.user_id)
             .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)
             .order_by(User.last_name, User.first_name, Enrollment.student_number))
    people = list(db.session.execute(query))
    page = people[offset: offset + limit if limit is not None else None]
    ids = [uid for uid, *_ in page]
    grades = {(uid, key): score for uid, key, score in db.session.execute(
        select(GradeItem.user_id, GradeItem.component, GradeItem.score)
        .where(GradeItem.course_id == course.id, GradeItem.user_id.in_(ids)))}
    rows = [GridRow(user_id=uid, student_id=number or "", name=f"{first} {last}",
                    values={k: grades.get((uid, k)) for k in keys})
            for uid, number, first, last in page]
    return rows, len(people)


def save_grid(course: Course, user_ids: list[int], submitted: Mapping[str, str],
              original: Mapping[str, str], actor: Optional[User]) -> int:
    """Apply the grid cells the user changed; GridError names every bad cell. Flushes only.

    ``submitted`` and ``original`` map cell names to the text typed and the text shown when the
    page was loaded; a cell whose text did not change is not touched.
    """
    components = {c.key: c for c in external_components(course)}
    enrolled = set(db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student,
        Enrollment.user_id.in_(user_ids))))
    numbers = {uid: number for uid, number in db.session.execute(
        select(Enrollment.user_id, Enrollment.student_number).where(
            Enrollment.course_id == course.id, Enrollment.user_id.in_(user_ids)))}
    items = {(g.user_id, g.component): g for g in db.session.scalars(
        select(GradeItem).where(GradeItem.course_id == course.id, GradeItem.user_id.in_(user_ids))
        .with_for_update())}
    problems: dict[str, str] = {}
    writes: list[tuple[int, str, Optional[float], Optional[float]]] = []
    for uid in user_ids:
        if uid not in enrolled:
            raise DomainError("The grid names someone who is not a student of this course; "
                              "reload the page.")
        for key, component in components.items():
            name = cell_name(uid, key)
            if name not in submitted:
                continue
            text = submitted[name].strip()
            before = original.get(name, "").strip()
            if text == before:
                continue
            label = f"{numbers.get(uid)}, {component.label}"
            new: Optional[float] = None
            if text:
                try:
                    new = parse_score(text, component)
                except ValueError as exc:
                    problems[name] = f"{label}: {exc}"
                    continue
            item = items.get((uid, key))
            stored = item.score if item is not None else None
            # ``original`` holds the text the page showed (formatted by ``grade_text``).
            if grade_text(stored) != before:
                problems[name] = (f"{label}: changed by someone else to '{grade_text(stored)}' since "
                                  "you loaded the page; reload and try again")
                continue
            if stored != new:
                writes.append((uid, key, stored, new))
    if problems:
        raise GridError(problems)
    now = utcnow()
    actor_id = actor.id if actor is not None else None
    for uid, key, old, new in writes:
        item = items.get((uid, key))
        if new is None:
            assert item is not None
            db.session.delete(item)
        elif item is None:
            db.session.add(GradeItem(course_id=course.id, user_id=uid, component=key, score=new,
                                     updated_at=now, updated_by_id=actor_id))
        else:
            item.score, item.updated_at, item.updated_by_id = new, now, actor_id
        db.session.add(AuditEntry(
            course_id=course.id, actor_id=actor_id, at=now, category="grade",
            action="grid_clear" if new is None else "grid_edit", entity="grade_item",
            entity_id=uid, old={"component": key, "score": old, "student_id": numbers.get(uid)},
            new={"component": key, "score": new, "student_id": numbers.get(uid)}))
    db.session.flush()
    return len(writes)
