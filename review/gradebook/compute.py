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
    Gradebook: the result, a dataclass of DataFrames (see its docstring).
    compute_gradebook(data: GradebookInput) -> Gradebook
    letter_for(total: float, boundaries) -> str
    graded_so_far(gradebook, user_id) -> GradedSoFar  (the mean over graded components only)

Grading rules (all percentages are 0-100):
    * Weights are percents of the whole course and must sum to 100. The total is
      ``sum(weight * component_pct) / sum(weights)``.
    * A component with nothing to average (no presentation graded yet, no external grade entered,
      every review excused, no participation recorded) is blank (NaN) in ``summary`` and counts 0
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args


if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

ComponentKind = Literal["external", "presentations", "reviews", "participation"]
ReviewState = Literal["missing", "draft", "on_time", "late", "excused", "exempt"]

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
        if self.kind not in get_args(ComponentKind):
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
        if self.state not in get_args(ReviewState):
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


@dataclass(frozen=True)
class Gradebook:
    """The computed gradebook. Per-student frames are indexed by ``user_id`` in roster order.

    summary: student_id, first_name, last_name, email, section ("" when none), one column per
        component key (percent, NaN when blank), total, letter.
    students: student_id, first_name, last_name, email, username, section.
    status: why numbers are blank or provisional: reviews_owed, reviews_counted, reviews_pending,
        reviews_dropped, reviews_zero (missing/draft), presentations_graded,
        presentations_pending, participation_sessions, participation_pending, externals_missing,
        late_days_used.
    sessions: session_id, week, title, date (sorted by week).
    reviews: long, one row per (student, owed session): user_id, student_id, first_name,
        last_name, session_id, week, state, score_pct, penalty_pct, effective_pct (what counts
        before dropping), status in {counted, dropped, excluded, pending}.
    presentations: long: user_id, student_id, first_name, last_name, slot_id, week, group, paper,
        role, one ``criterion:<name>`` column per criterion seen, total, max_points, peer_pct,
        final_pct, status in {graded, pending}.
    participation: long: user_id, student_id, first_name, last_name, session_id, week, pct.
    late_days: long: user_id, student_id, first_name, last_name, days, note.
    imported: per student: student_id, first_name, last_name, one column per external component
        key holding the raw score in points (NaN when not entered).
    criteria: the criterion names behind the ``criterion:<name>`` columns, in first-seen order.
    """

    course: CourseInfo
    summary: pd.DataFrame
    students: pd.DataFrame
    status: pd.DataFrame
    sessions: pd.DataFrame
    reviews: pd.DataFrame
    presentations: pd.DataFrame
    participation: pd.DataFrame
    late_days: pd.DataFrame
    imported: pd.DataFrame
    criteria: list[str]


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
    import pandas as pd
    row = gradebook.summary.loc[user_id]
    graded = [(c.weight, float(row[c.key])) for c in gradebook.course.components
              if not pd.isna(row[c.key]) and c.weight > 0]
    weight = sum(w for w, _ in graded)
    if not weight:
        return GradedSoFar(0.0, None, None)
    average = sum(w * pct for w, pct in graded) / weight
    return GradedSoFar(weight, average, letter_for(average, gradebook.course.boundaries))


def compute_gradebook(data: GradebookInput) -> Gradebook:
    """Compute every component, the weighted total and the letter for every student."""
    import numpy as np
    import pandas as pd
    course = data.course
    students = _students_frame(data.students)
    user_ids = students.index
    sessions = _sessions_frame(data.sessions)
    identity = students[["student_id", "first_name", "last_name"]]

    reviews = _reviews_frame(data, user_ids, sessions)
    presentations, criteria = _presentations_frame(data, user_ids)
    participation = _participation_frame(data, user_ids, sessions)
    imported_points = _imported_points(data, user_ids)

    review_component = next((c for c in course.components if c.kind == "reviews"), None)
    if review_component is not None:
        reviews = _apply_drop_lowest(reviews, review_component.drop_lowest)
    pct = pd.DataFrame(index=user_ids)
    counted = reviews[reviews["status"] == "counted"]
    graded_presentations = presentations[presentations["status"] == "graded"]
    for component in course.components:
        if component.kind == "reviews":
            values = counted.groupby("user_id")["effective_pct"].mean()
        elif component.kind == "presentations":
            values = graded_presentations.groupby("user_id")["final_pct"].mean()
        elif component.kind == "participation":
            values = participation.groupby("user_id")["pct"].mean()
        else:
            values = imported_points[component.key] / component.max_points * 100.0
        pct[component.key] = values.reindex(user_ids).astype(float)

    weights = np.array([c.weight for c in course.components], dtype=float)
    # Blank components count 0, exactly as a blank cell does in the workbook's formula.
    total = pct.fillna(0.0).to_numpy() @ weights / weights.sum()
    summary = students[[*IDENTITY_COLUMNS, "section"]].join(pct)
    summary["total"] = total
    summary["letter"] = [letter_for(t, course.boundaries) for t in total]

    status = _status_frame(data, user_ids, reviews, presentations, participation, imported_points)
    imported = identity.join(imported_points)
    late_days = _late_days_frame(data, user_ids, identity)

    return Gradebook(
        course=course,
        summary=summary,
        students=students,
        status=status,
        sessions=sessions,
        reviews=_with_identity(reviews, identity),
        presentations=_with_identity(presentations, identity),
        participation=_with_identity(participation, identity),
        late_days=late_days,
        imported=imported,
        criteria=criteria,
    )


def _students_frame(students: Sequence[Student]) -> pd.DataFrame:
    import pandas as pd
    frame = pd.DataFrame(
        {
            "user_id": [s.user_id for s in students],
            "student_id": [s.student_id for s in students],
            "first_name": [s.first_name for s in students],
            "last_name": [s.last_name for s in students],
            "email": [s.email for s in students],
            "username": [s.login for s in students],
            "section": [s.section or "" for s in students],
        }
    ).set_index("user_id")
    if not frame.index.is_unique:
        raise GradebookInputError("a student appears twice in the roster")
    return frame


def _sessions_frame(sessions: Sequence[Session]) -> pd.DataFrame:
    import pandas as pd
    frame = pd.DataFrame(
        {
            "session_id": [s.id for s in sessions],
            "week": [s.week for s in sessions],
            "title": [s.title for s in sessions],
            "date": [s.date for s in sessions],
        },
        columns=["session_id", "week", "title", "date"],
    )
    if not frame["session_id"].is_unique:
        raise GradebookInputError("a session appears twice")
    return frame.sort_values(["week", "session_id"], kind="stable").reset_index(drop=True)


def _check_known(ids: pd.Series, known: pd.Index, what: str) -> None:
    unknown = ~ids.isin(known)
    if unknown.any():
        raise GradebookInputError(f"{what} refers to unknown ids: {sorted(set(ids[unknown]))[:5]}")


def _reviews_frame(data: GradebookInput, user_ids: pd.Index, sessions: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    records = pd.DataFrame(
        {
            "user_id": pd.Series([r.user_id for r in data.reviews], dtype="int64"),
            "session_id": pd.Series([r.session_id for r in data.reviews], dtype="int64"),
            "state": pd.Series([r.state for r in data.reviews], dtype="str"),
            "score_pct": pd.Series([r.score_pct for r in data.reviews], dtype=float),
            "penalty_pct": pd.Series([r.penalty_pct for r in data.reviews], dtype=float),
        }
    )
    _check_known(records["user_id"], user_ids, "a review")
    _check_known(records["session_id"], pd.Index(sessions["session_id"]), "a review")
    if records.duplicated(["user_id", "session_id"]).any():
        raise GradebookInputError("two review records for the same student and session")

    owed = pd.MultiIndex.from_product(
        [user_ids, sessions["session_id"]], names=["user_id", "session_id"]
    ).to_frame(index=False)
    frame = owed.merge(records, on=["user_id", "session_id"], how="left", sort=False)
    frame = frame.merge(sessions[["session_id", "week"]], on="session_id", how="left")
    # A session the student owes but never touched is missing work.
    frame["state"] = frame["state"].fillna("missing")
    frame["penalty_pct"] = frame["penalty_pct"].fillna(0.0)

    state = frame["state"].to_numpy()
    score = frame["score_pct"].to_numpy()
    zero = np.isin(state, list(_ZERO_STATES))
    excluded = np.isin(state, list(_EXCLUDED_STATES))
    late = state == "late"
    submitted = ~zero & ~excluded
    pending = submitted & np.isnan(score)
    factor = np.where(late, 1.0 - frame["penalty_pct"].to_numpy() / 100.0, 1.0)
    frame["effective_pct"] = np.select([zero, submitted & ~pending], [0.0, score * factor], np.nan)
    frame["status"] = np.select(
        [excluded, pending], ["excluded", "pending"], "counted"
    )
    return frame[
        ["user_id", "session_id", "week", "state", "score_pct", "penalty_pct", "effective_pct", "status"]
    ]


def _apply_drop_lowest(reviews: pd.DataFrame, drop_lowest: int) -> pd.DataFrame:
    import numpy as np
    if drop_lowest <= 0 or reviews.empty:
        return reviews
    counted = reviews[reviews["status"] == "counted"]
    # Lowest first; ties broken by the earlier week so the choice is deterministic.
    ordered = counted.sort_values(["user_id", "effective_pct", "week"], kind="stable")
    rank = ordered.groupby("user_id").cumcount()
    size = ordered.groupby("user_id")["user_id"].transform("size")
    to_drop = ordered.index[rank < np.minimum(drop_lowest, size - 1)]
    out = reviews.copy()
    out.loc[to_drop, "status"] = "dropped"
    return out


def _presentations_frame(data: GradebookInput, user_ids: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    import numpy as np
    import pandas as pd
    records = data.presentations
    criteria = list(dict.fromkeys(name for r in records for name in r.criterion_scores))
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([r.user_id for r in records], dtype="int64"),
            "slot_id": pd.Series([r.slot_id for r in records], dtype="int64"),
            "week": pd.Series([r.week for r in records], dtype="int64"),
            "group": pd.Series([r.group for r in records], dtype="str"),
            "paper": pd.Series([r.paper for r in records], dtype="str"),
            "role": pd.Series([r.role for r in records], dtype="str"),
            **{
                CRITERION_PREFIX + name: pd.Series(
                    [r.criterion_scores.get(name, np.nan) for r in records], dtype=float
                )
                for name in criteria
            },
            "total": pd.Series([r.total for r in records], dtype=float),
            "max_points": pd.Series([r.max_points for r in records], dtype=float),
            "peer_pct": pd.Series([r.peer_pct for r in records], dtype=float),
            "final_pct": pd.Series([r.final_pct for r in records], dtype=float),
        }
    )
    _check_known(frame["user_id"], user_ids, "a presentation")
    frame["status"] = np.where(frame["final_pct"].isna(), "pending", "graded")
    return frame.sort_values(["user_id", "week", "slot_id"], kind="stable").reset_index(drop=True), criteria


def _participation_frame(
    data: GradebookInput, user_ids: pd.Index, sessions: pd.DataFrame
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([p.user_id for p in data.participation], dtype="int64"),
            "session_id": pd.Series([p.session_id for p in data.participation], dtype="int64"),
            "pct": pd.Series([np.nan if p.pct is None else p.pct for p in data.participation],
                             dtype=float),
        }
    )
    _check_known(frame["user_id"], user_ids, "a participation record")
    _check_known(frame["session_id"], pd.Index(sessions["session_id"]), "a participation record")
    if frame.duplicated(["user_id", "session_id"]).any():
        raise GradebookInputError("two participation records for the same student and session")
    frame = frame.merge(sessions[["session_id", "week"]], on="session_id", how="left")
    return frame[["user_id", "session_id", "week", "pct"]]


def _imported_points(data: GradebookInput, user_ids: pd.Index) -> pd.DataFrame:
    import pandas as pd
    external = [c.key for c in data.course.components if c.kind == "external"]
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([g.user_id for g in data.external_grades], dtype="int64"),
            "component_key": pd.Series([g.component_key for g in data.external_grades], dtype="str"),
            "score": pd.Series([g.score for g in data.external_grades], dtype=float),
        }
    )
    _check_known(frame["user_id"], user_ids, "an external grade")
    _check_known(frame["component_key"], pd.Index(external), "an external grade")
    if frame.duplicated(["user_id", "component_key"]).any():
        raise GradebookInputError("two external grades for the same student and component")
    if (frame["score"] < 0).any():
        raise GradebookInputError("an external grade is negative")
    wide = frame.pivot(index="user_id", columns="component_key", values="score")
    return wide.reindex(index=user_ids, columns=external).astype(float)


def _late_days_frame(data: GradebookInput, user_ids: pd.Index, identity: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([e.user_id for e in data.late_days], dtype="int64"),
            "days": pd.Series([e.days for e in data.late_days], dtype="int64"),
            "note": pd.Series([e.note for e in data.late_days], dtype="str"),
        }
    )
    _check_known(frame["user_id"], user_ids, "a late-day entry")
    return _with_identity(frame, identity)


def _status_frame(
    data: GradebookInput,
    user_ids: pd.Index,
    reviews: pd.DataFrame,
    presentations: pd.DataFrame,
    participation: pd.DataFrame,
    imported_points: pd.DataFrame,
) -> pd.DataFrame:
    import pandas as pd
    def count(frame: pd.DataFrame, mask: pd.Series | None = None) -> pd.Series:
        rows = frame if mask is None else frame[mask]
        return rows.groupby("user_id").size().reindex(user_ids, fill_value=0).astype("int64")

    late_days = pd.Series(
        [e.days for e in data.late_days], index=[e.user_id for e in data.late_days], dtype="int64"
    )
    return pd.DataFrame(
        {
            "reviews_owed": count(reviews, reviews["status"] != "excluded"),
            "reviews_counted": count(reviews, reviews["status"] == "counted"),
            "reviews_pending": count(reviews, reviews["status"] == "pending"),
            "reviews_dropped": count(reviews, reviews["status"] == "dropped"),
            "reviews_zero": count(reviews, reviews["state"].isin(list(_ZERO_STATES))),
            "presentations_graded": count(presentations, presentations["status"] == "graded"),
            "presentations_pending": count(presentations, presentations["status"] == "pending"),
            "participation_sessions": count(participation, participation["pct"].notna()),
            "participation_pending": count(participation, participation["pct"].isna()),
            "externals_missing": imported_points.isna().sum(axis=1).astype("int64"),
            "late_days_used": late_days.groupby(level=0).sum().reindex(user_ids, fill_value=0),
        },
        index=user_ids,
    )


def _with_identity(frame: pd.DataFrame, identity: pd.DataFrame) -> pd.DataFrame:
    """Put student_id and names right after user_id, so each detail frame reads on its own."""
    joined = frame.join(identity, on="user_id")
    rest = [c for c in frame.columns if c != "user_id"]
    return joined[["user_id", *identity.columns, *rest]]
