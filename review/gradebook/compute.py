"""Gradebook computation: every course grade number, computed once from plain data.

The DB-backed loader builds a :class:`GradebookInput` (plain dataclasses, no ORM objects) and calls
:func:`compute_gradebook`; the HTML page, the Excel workbook and the CSV exports all read the
resulting :class:`Gradebook`, so they can never disagree (STYLE.md point 7).

Public API:
    ComponentKind, ReviewState: the allowed literal values.
    Component(key, label, weight, kind, max_points=100.0, drop_lowest=0): one graded component.
    LetterBoundary(letter, min_percent): a letter and the lowest total that earns it.
    CourseInfo(code, title, components, boundaries): validated grading scheme.
    Student(user_id, student_id, first_name, last_name, email, username=None, section=None): one
        enrolled student.
    Session(id, week, title, date): one paper session.
    ReviewRecord(user_id, session_id, state, score_pct=None, penalty_pct=0.0): a weekly review.
    PresentationRecord(user_id, slot_id, group, week, paper, role, criterion_scores, total,
        max_points, peer_pct, final_pct): one graded (or pending) presentation slot.
    ParticipationRecord(user_id, session_id, pct): participation in one session (pct None:
        recorded but pending release).
    ExternalGrade(user_id, component_key, score): an entered/imported grade, in points.
    LateDayEntry(user_id, days, note): one line of the late-day ledger.
    GradebookInput(course, students, sessions, reviews, presentations, participation,
        external_grades, late_days): everything the computation needs.
    Gradebook: the result, plain rows (dicts) per table (see its docstring); ``.row(user_id)``
        and ``.student(user_id)`` (a StudentGrades) pick one student's.
    compute_gradebook(data: GradebookInput) -> Gradebook
    letter_for(total: float, boundaries) -> str
    graded_so_far(gradebook, user_id) -> GradedSoFar  (the mean over graded components only)

Grading rules (all percentages are 0-100):
    * Weights are percents of the whole course and must sum to 100. The total is
      ``sum(weight * component_pct) / sum(weights)``.
    * A component with nothing to average (no presentation graded yet, no external grade entered,
      every review excused, no participation recorded) is blank (None) in ``summary`` and counts 0
      in the total. The spreadsheet formula treats a blank cell as 0 too, so both totals agree;
      the workbook highlights such cells and ``status`` says why they are blank.
    * Reviews: the student owes every session in ``sessions`` (the loader passes only sessions
      whose review deadline has passed); a session without a record counts as ``missing``.
      ``missing`` and ``draft`` score 0; ``excused`` and ``exempt`` are left out; ``on_time``
      counts ``score_pct``; ``late`` counts ``score_pct * (1 - penalty_pct / 100)``. A submitted
      review without a score yet is *pending*: left out of the mean and counted in
      ``status.reviews_pending``. Then the ``drop_lowest`` lowest counted scores are dropped,
      but never the last one.
    * Presentations: the mean of the student's ``final_pct`` values (already peer-weighted and
      adjusted upstream); a slot whose ``final_pct`` is None is pending and left out.
    * Participation: the mean of the recorded session percentages; unrecorded sessions are left
      out (the instructor records absences as 0). A session whose ``pct`` is None is *pending*
      (not released to the student yet): left out of the mean and counted in
      ``status.participation_pending``.
    * External components: ``score / max_points * 100``; a missing grade counts 0 in the total.
    * Letters: the first boundary (highest first) whose ``min_percent`` the total, rounded to
      :data:`LETTER_ROUNDING_DECIMALS` decimals, reaches. The rounding only absorbs float
      summation-order noise (the spreadsheet adds in a different order); nothing is rounded up
      to the next letter.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

ComponentKind = Literal["external", "presentations", "reviews", "participation"]
ReviewState = Literal["missing", "draft", "on_time", "late", "excused", "exempt"]
_KINDS = frozenset(get_args(ComponentKind))
_REVIEW_STATES = frozenset(get_args(ReviewState))  # checked for each of ~10,000 records

#: The platform's own kinds each read one pool of records, so a course has at most one of each.
PLATFORM_KINDS: tuple[ComponentKind, ...] = ("presentations", "reviews", "participation")
#: Tolerance for "the weights sum to 100".
WEIGHT_SUM_TOLERANCE = 1e-6
#: Decimals the total is rounded to before the letter lookup (the workbook formula does the same).
LETTER_ROUNDING_DECIMALS = 6

IDENTITY_COLUMNS: tuple[str, ...] = ("student_id", "first_name", "last_name", "email")
_RESERVED_KEYS = frozenset({*IDENTITY_COLUMNS, "user_id", "username", "section", "total", "letter"})
_ZERO_STATES = frozenset({"missing", "draft"})
_EXCLUDED_STATES = frozenset({"excused", "exempt"})
CRITERION_PREFIX = "criterion:"


class GradebookInputError(ValueError):
    """The grading scheme or the records are inconsistent; the message says which."""


# --- Grading scheme -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """One graded component of the course; ``weight`` is its percent of the course grade."""

    key: str
    label: str
    weight: float
    kind: ComponentKind
    max_points: float = 100.0
    drop_lowest: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise GradebookInputError(f"component {self.key!r}: unknown kind {self.kind!r}")
        if not self.key or self.key in _RESERVED_KEYS:
            raise GradebookInputError(f"component key {self.key!r} is empty or reserved")
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise GradebookInputError(f"component {self.key!r}: weight must be >= 0")
        if not self.max_points > 0:
            raise GradebookInputError(f"component {self.key!r}: max_points must be > 0")
        if self.drop_lowest < 0:
            raise GradebookInputError(f"component {self.key!r}: drop_lowest must be >= 0")
        if self.drop_lowest and self.kind != "reviews":
            raise GradebookInputError(f"component {self.key!r}: only reviews can drop the lowest")


@dataclass(frozen=True, slots=True)
class LetterBoundary:
    """A letter grade and the lowest total percentage that earns it."""

    letter: str
    min_percent: float


@dataclass(frozen=True, slots=True)
class CourseInfo:
    """A course's grading scheme; validated so a bad scheme fails before any grade is shown."""

    code: str
    title: str
    components: tuple[Component, ...]
    boundaries: tuple[LetterBoundary, ...]

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the frozen dataclass hashable and immutable.
        object.__setattr__(self, "components", tuple(self.components))
        ordered = tuple(sorted(self.boundaries, key=lambda b: b.min_percent, reverse=True))
        object.__setattr__(self, "boundaries", ordered)
        keys = [c.key for c in self.components]
        if not keys:
            raise GradebookInputError("a course needs at least one component")
        if len(set(keys)) != len(keys):
            raise GradebookInputError(f"component keys must be unique: {keys}")
        for kind in PLATFORM_KINDS:
            if sum(c.kind == kind for c in self.components) > 1:
                raise GradebookInputError(f"at most one {kind!r} component per course")
        total_weight = sum(c.weight for c in self.components)
        if abs(total_weight - 100.0) > WEIGHT_SUM_TOLERANCE:
            raise GradebookInputError(f"component weights sum to {total_weight}, not 100")
        letters = [b.letter for b in ordered]
        if len(set(letters)) != len(letters) or len({b.min_percent for b in ordered}) != len(ordered):
            raise GradebookInputError("letters and their minimum percentages must be unique")
        if not ordered or ordered[-1].min_percent > 0:
            raise GradebookInputError("the lowest letter boundary must start at 0 or below")

    @property
    def component_keys(self) -> list[str]:
        """Component keys in display order; also the component column names of ``summary``."""
        return [c.key for c in self.components]

    def component(self, key: str) -> Component:
        """The component with this key."""
        for component in self.components:
            if component.key == key:
                return component
        raise KeyError(key)


# --- Records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Student:
    """An enrolled student; ``username`` is the LMS login (the email's local part when the roster
    has none); ``section`` the class section from the roster."""

    user_id: int
    student_id: str
    first_name: str
    last_name: str
    email: str
    username: str | None = None
    section: str | None = None

    @property
    def login(self) -> str:
        """The LMS username: explicit, or the part of the email before the ``@``."""
        return self.username if self.username is not None else self.email.split("@", 1)[0]


@dataclass(frozen=True, slots=True)
class Session:
    """One paper session (one paper, one week)."""

    id: int
    week: int
    title: str
    date: dt.date


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A student's review for a session; ``score_pct`` None means submitted but not graded."""

    user_id: int
    session_id: int
    state: ReviewState
    score_pct: float | None = None
    penalty_pct: float = 0.0

    def __post_init__(self) -> None:
        if self.state not in _REVIEW_STATES:
            raise GradebookInputError(f"review state {self.state!r} is unknown")
        if self.score_pct is not None and not self.score_pct >= 0:
            raise GradebookInputError(f"review score {self.score_pct!r} must be >= 0")
        if not 0 <= self.penalty_pct <= 100:
            raise GradebookInputError(f"late penalty {self.penalty_pct!r} must be within 0-100")


@dataclass(frozen=True, slots=True)
class PresentationRecord:
    """A student's share of one presentation slot; ``final_pct`` None means not graded yet."""

    user_id: int
    slot_id: int
    group: str
    week: int
    paper: str
    role: str
    criterion_scores: Mapping[str, float]
    total: float | None
    max_points: float
    peer_pct: float | None
    final_pct: float | None


@dataclass(frozen=True, slots=True)
class ParticipationRecord:
    """A student's participation percentage in one session (None: pending release)."""

    user_id: int
    session_id: int
    pct: float | None


@dataclass(frozen=True, slots=True)
class ExternalGrade:
    """A grade entered or imported for an external component, in points out of its max."""

    user_id: int
    component_key: str
    score: float | None


@dataclass(frozen=True, slots=True)
class LateDayEntry:
    """One line of the late-day ledger (days may be negative for a correction)."""

    user_id: int
    days: int
    note: str


@dataclass(frozen=True, slots=True)
class GradebookInput:
    """Everything :func:`compute_gradebook` needs, as plain data."""

    course: CourseInfo
    students: Sequence[Student]
    sessions: Sequence[Session]
    reviews: Sequence[ReviewRecord] = ()
    presentations: Sequence[PresentationRecord] = ()
    participation: Sequence[ParticipationRecord] = ()
    external_grades: Sequence[ExternalGrade] = ()
    late_days: Sequence[LateDayEntry] = ()


# --- Result ---------------------------------------------------------------------------------

#: One row of a result table: a plain dict (column name -> value; a blank number is None).
Row = dict[str, Any]


@dataclass(frozen=True)
class StudentGrades:
    """One student's part of a :class:`Gradebook`: what their grade page shows."""

    row: Row
    status: Row
    imported: Row
    reviews: list[Row]
    presentations: list[Row]
    participation: list[Row]
    late_days: list[Row]


@dataclass(frozen=True)
class Gradebook:
    """The computed gradebook, as plain rows (dicts); a blank number is None.

    Per-student tables list the students in roster order.

    summary: user_id, student_id, first_name, last_name, email, section ("" when none), one key
        per component (percent, None when blank), total, letter.
    students: user_id, student_id, first_name, last_name, email, username, section.
    status (by user_id): why numbers are blank or provisional: reviews_owed, reviews_counted,
        reviews_pending, reviews_dropped, reviews_zero (missing/draft), presentations_graded,
        presentations_pending, participation_sessions, participation_pending, externals_missing,
        late_days_used.
    sessions: session_id, week, title, date (sorted by week, then id).
    reviews: one row per (student, owed session), roster then session order: user_id,
        student_id, first_name, last_name, session_id, week, state, score_pct, penalty_pct,
        effective_pct (what counts before dropping), status in {counted, dropped, excluded,
        pending}.
    presentations: sorted by user_id, week, slot_id: user_id, student_id, first_name, last_name,
        slot_id, week, group, paper, role, one ``criterion:<name>`` key per criterion seen,
        total, max_points, peer_pct, final_pct, status in {graded, pending}.
    participation: in input order: user_id, student_id, first_name, last_name, session_id, week,
        pct.
    late_days: in input order: user_id, student_id, first_name, last_name, days, note.
    imported: user_id, student_id, first_name, last_name, one key per external component holding
        the raw score in points (None when not entered).
    criteria: the criterion names behind the ``criterion:<name>`` keys, in first-seen order.

    Callers must not modify the rows: a cached gradebook serves many requests.
    """

    course: CourseInfo
    summary: list[Row]
    students: list[Row]
    status: dict[int, Row]
    sessions: list[Row]
    reviews: list[Row]
    presentations: list[Row]
    participation: list[Row]
    late_days: list[Row]
    imported: list[Row]
    criteria: list[str]

    @cached_property
    def _summary_by_user(self) -> dict[int, Row]:
        return {row["user_id"]: row for row in self.summary}

    def row(self, user_id: int) -> Row:
        """The summary row of one student (KeyError when not on the roster)."""
        return self._summary_by_user[user_id]

    def student(self, user_id: int) -> StudentGrades:
        """One student's rows of every table (KeyError when not on the roster)."""
        def mine(rows: list[Row]) -> list[Row]:
            return [r for r in rows if r["user_id"] == user_id]

        return StudentGrades(
            row=self.row(user_id), status=self.status[user_id],
            imported=next(r for r in self.imported if r["user_id"] == user_id),
            reviews=mine(self.reviews), presentations=mine(self.presentations),
            participation=mine(self.participation), late_days=mine(self.late_days))


# --- Computation ----------------------------------------------------------------------------


def letter_for(total: float, boundaries: Iterable[LetterBoundary]) -> str:
    """The letter for ``total``; ``boundaries`` must be sorted highest first (CourseInfo does)."""
    rounded = round(total, LETTER_ROUNDING_DECIMALS)
    ordered = list(boundaries)
    for boundary in ordered:
        if rounded >= boundary.min_percent:
            return boundary.letter
    # Only a negative total (a negative input percentage) gets here; it earns the lowest letter.
    return ordered[-1].letter


@dataclass(frozen=True)
class GradedSoFar:
    """A student's standing on the work graded so far, for a mid-term reading of the total."""

    weight: float  # percent of the course whose components have a grade
    average: float | None  # weighted mean percent over those components; None when nothing is
    letter: str | None


def graded_so_far(gradebook: Gradebook, user_id: int) -> GradedSoFar:
    """Mid-term, the total counts ungraded components as 0; this is the mean over graded ones."""
    row = gradebook.row(user_id)
    graded = [(c.weight, row[c.key]) for c in gradebook.course.components
              if row[c.key] is not None and c.weight > 0]
    weight = sum(w for w, _ in graded)
    if not weight:
        return GradedSoFar(0.0, None, None)
    average = sum(w * pct for w, pct in graded) / weight
    return GradedSoFar(weight, average, letter_for(average, gradebook.course.boundaries))


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def compute_gradebook(data: GradebookInput) -> Gradebook:
    """Compute every component, the weighted total and the letter for every student.

    Every rule is per student, so the gradebook of a one-student roster (a student's own page)
    holds exactly that student's rows of the class's gradebook.
    """
    course = data.course
    students = _student_rows(data.students)
    user_ids = [s["user_id"] for s in students]
    identity = {s["user_id"]: {"student_id": s["student_id"], "first_name": s["first_name"],
                               "last_name": s["last_name"]} for s in students}
    sessions = _session_rows(data.sessions)
    week_of = {s["session_id"]: s["week"] for s in sessions}

    reviews = _review_rows(data, identity, sessions)
    presentations, criteria = _presentation_rows(data, identity)
    participation = _participation_rows(data, identity, week_of)
    points = _imported_points(data, user_ids)
    late_days = _late_day_rows(data, identity)

    review_component = next((c for c in course.components if c.kind == "reviews"), None)
    if review_component is not None and review_component.drop_lowest > 0:
        _apply_drop_lowest(reviews, review_component.drop_lowest)

    counted: dict[int, list[float]] = {uid: [] for uid in user_ids}
    status = {uid: dict.fromkeys(_STATUS_KEYS, 0) for uid in user_ids}
    for r in reviews:
        counts = status[r["user_id"]]
        if r["status"] != "excluded":
            counts["reviews_owed"] += 1
            counts["reviews_" + r["status"]] += 1
        if r["status"] == "counted":
            counted[r["user_id"]].append(r["effective_pct"])
        if r["state"] in _ZERO_STATES:
            counts["reviews_zero"] += 1
    graded: dict[int, list[float]] = {uid: [] for uid in user_ids}
    for p in presentations:
        if p["status"] == "graded":
            graded[p["user_id"]].append(p["final_pct"])
        status[p["user_id"]]["presentations_" + p["status"]] += 1
    recorded: dict[int, list[float]] = {uid: [] for uid in user_ids}
    for p in participation:
        if p["pct"] is None:
            status[p["user_id"]]["participation_pending"] += 1
        else:
            recorded[p["user_id"]].append(p["pct"])
            status[p["user_id"]]["participation_sessions"] += 1
    for uid, scores in points.items():
        status[uid]["externals_missing"] = sum(score is None for score in scores.values())
    for entry in data.late_days:
        status[entry.user_id]["late_days_used"] += entry.days

    weight_sum = math.fsum(c.weight for c in course.components)
    summary: list[Row] = []
    for s in students:
        uid = s["user_id"]
        row: Row = {key: s[key] for key in ("user_id", *IDENTITY_COLUMNS, "section")}
        for component in course.components:
            if component.kind == "reviews":
                value = _mean(counted[uid])
            elif component.kind == "presentations":
                value = _mean(graded[uid])
            elif component.kind == "participation":
                value = _mean(recorded[uid])
            else:
                score = points[uid][component.key]
                value = None if score is None else score / component.max_points * 100.0
            row[component.key] = value
        # Blank components count 0, exactly as a blank cell does in the workbook's formula.
        total = math.fsum(c.weight * (row[c.key] or 0.0) for c in course.components) / weight_sum
        row["total"] = total
        row["letter"] = letter_for(total, course.boundaries)
        summary.append(row)

    return Gradebook(
        course=course,
        summary=summary,
        students=students,
        status=status,
        sessions=sessions,
        reviews=reviews,
        presentations=presentations,
        participation=participation,
        late_days=late_days,
        imported=[{"user_id": uid, **identity[uid], **points[uid]} for uid in user_ids],
        criteria=criteria,
    )


_STATUS_KEYS = ("reviews_owed", "reviews_counted", "reviews_pending", "reviews_dropped",
                "reviews_zero", "presentations_graded", "presentations_pending",
                "participation_sessions", "participation_pending", "externals_missing",
                "late_days_used")


def _student_rows(students: Sequence[Student]) -> list[Row]:
    rows = [{"user_id": s.user_id, "student_id": s.student_id, "first_name": s.first_name,
             "last_name": s.last_name, "email": s.email, "username": s.login,
             "section": s.section or ""} for s in students]
    if len({r["user_id"] for r in rows}) != len(rows):
        raise GradebookInputError("a student appears twice in the roster")
    return rows


def _session_rows(sessions: Sequence[Session]) -> list[Row]:
    if len({s.id for s in sessions}) != len(sessions):
        raise GradebookInputError("a session appears twice")
    ordered = sorted(sessions, key=lambda s: (s.week, s.id))
    return [{"session_id": s.id, "week": s.week, "title": s.title, "date": s.date}
            for s in ordered]


def _check_known(ids: Iterable[Any], known: Container[Any], what: str) -> None:
    unknown = {i for i in ids if i not in known}
    if unknown:
        raise GradebookInputError(f"{what} refers to unknown ids: {sorted(unknown)[:5]}")


def _unique(records: Sequence[Any], key: Callable[[Any], tuple[Any, ...]],
            problem: str) -> dict[tuple[Any, ...], Any]:
    """The records by ``key``; two with the same key are an error."""
    keyed = {key(r): r for r in records}
    if len(keyed) != len(records):
        raise GradebookInputError(problem)
    return keyed


def _review_rows(data: GradebookInput, identity: Mapping[int, Row],
                 sessions: list[Row]) -> list[Row]:
    _check_known((r.user_id for r in data.reviews), identity, "a review")
    _check_known((r.session_id for r in data.reviews), {s["session_id"] for s in sessions},
                 "a review")
    records = _unique(data.reviews, lambda r: (r.user_id, r.session_id),
                      "two review records for the same student and session")
    rows = []
    for uid, ident in identity.items():
        for session in sessions:
            record = records.get((uid, session["session_id"]))
            # A session the student owes but never touched is missing work.
            state = record.state if record is not None else "missing"
            score = record.score_pct if record is not None else None
            penalty = record.penalty_pct if record is not None else 0.0
            effective: float | None
            if state in _ZERO_STATES:
                effective, status = 0.0, "counted"
            elif state in _EXCLUDED_STATES:
                effective, status = None, "excluded"
            elif score is None:
                effective, status = None, "pending"
            else:
                factor = 1.0 - penalty / 100.0 if state == "late" else 1.0
                effective, status = score * factor, "counted"
            rows.append({"user_id": uid, **ident, "session_id": session["session_id"],
                         "week": session["week"], "state": state, "score_pct": score,
                         "penalty_pct": penalty, "effective_pct": effective, "status": status})
    return rows


def _apply_drop_lowest(reviews: list[Row], drop_lowest: int) -> None:
    counted: dict[int, list[Row]] = {}
    for row in reviews:
        if row["status"] == "counted":
            counted.setdefault(row["user_id"], []).append(row)
    for rows in counted.values():
        # Lowest first; ties broken by the earlier week (then session order), so the choice is
        # deterministic; never the last counted review.
        ordered = sorted(rows, key=lambda r: (r["effective_pct"], r["week"]))
        for row in ordered[:min(drop_lowest, len(ordered) - 1)]:
            row["status"] = "dropped"


def _presentation_rows(data: GradebookInput,
                       identity: Mapping[int, Row]) -> tuple[list[Row], list[str]]:
    records = data.presentations
    _check_known((r.user_id for r in records), identity, "a presentation")
    criteria = list(dict.fromkeys(name for r in records for name in r.criterion_scores))
    rows = []
    for r in sorted(records, key=lambda r: (r.user_id, r.week, r.slot_id)):
        row: Row = {"user_id": r.user_id, **identity[r.user_id], "slot_id": r.slot_id,
                    "week": r.week, "group": r.group, "paper": r.paper, "role": r.role}
        for name in criteria:
            score = r.criterion_scores.get(name)
            row[CRITERION_PREFIX + name] = None if score is None else float(score)
        row.update(total=_float(r.total), max_points=float(r.max_points),
                   peer_pct=_float(r.peer_pct), final_pct=_float(r.final_pct),
                   status="pending" if r.final_pct is None else "graded")
        rows.append(row)
    return rows, criteria


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _participation_rows(data: GradebookInput, identity: Mapping[int, Row],
                        week_of: Mapping[int, int]) -> list[Row]:
    records = data.participation
    _check_known((p.user_id for p in records), identity, "a participation record")
    _check_known((p.session_id for p in records), week_of, "a participation record")
    _unique(records, lambda p: (p.user_id, p.session_id),
            "two participation records for the same student and session")
    return [{"user_id": p.user_id, **identity[p.user_id], "session_id": p.session_id,
             "week": week_of[p.session_id], "pct": _float(p.pct)} for p in records]


def _imported_points(data: GradebookInput, user_ids: list[int]) -> dict[int, Row]:
    """Per student, the raw points of each external component (None: not entered)."""
    external = [c.key for c in data.course.components if c.kind == "external"]
    grades = data.external_grades
    _check_known((g.user_id for g in grades), set(user_ids), "an external grade")
    _check_known((g.component_key for g in grades), set(external), "an external grade")
    _unique(grades, lambda g: (g.user_id, g.component_key),
            "two external grades for the same student and component")
    if any(g.score is not None and g.score < 0 for g in grades):
        raise GradebookInputError("an external grade is negative")
    points = {uid: dict.fromkeys(external) for uid in user_ids}
    for g in grades:
        points[g.user_id][g.component_key] = _float(g.score)
    return points


def _late_day_rows(data: GradebookInput, identity: Mapping[int, Row]) -> list[Row]:
    _check_known((e.user_id for e in data.late_days), identity, "a late-day entry")
    return [{"user_id": e.user_id, **identity[e.user_id], "days": e.days, "note": e.note}
            for e in data.late_days]
