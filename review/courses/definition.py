"""Course as code: the schema of a course YAML file and its loader.

A course file defines the term's schedule, its paper sessions, the presentation roles and their
time boxes, grading components and weights, the review deadline rule, group sizes, the sign-up
rules and which rubric applies to what. ``load_course_file`` validates it and raises
``CourseFileError`` whose lines each name the file, the field and what is wrong.

A course may bring its own rubrics: ``rubrics_dir`` names a folder (relative to the course file)
of rubric YAML files, validated when the file is loaded (``CourseDefinition.local_rubrics``) and
preferred over the deployment's rubrics for this course only.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from review.rubrics import Rubric, RubricError, load_rubric_dir

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeekDef(Strict):
    number: int = Field(ge=1)
    date: date
    topic: str = Field(default="", max_length=200)
    is_break: bool = False


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host: the only kind of paper link pages render."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


class PaperSessionDef(Strict):
    week: int = Field(ge=1)
    # The day of the session; defaults to the week's date. Annotated through the module alias:
    # a field named ``date`` with a default would otherwise shadow the type (``Optional[None]``).
    date: Optional[dt.date] = None
    # The session's start in the course timezone; defaults to the course's session_time.
    time: Optional[dt.time] = None
    room: str = Field(default="", max_length=100)
    title: str = Field(min_length=1, max_length=300)
    authors: str = Field(default="", max_length=1000)
    venue: str = Field(default="", max_length=100)
    year: Optional[int] = Field(default=None, ge=1900, le=2100)
    url: str = Field(default="", max_length=500)

    @field_validator("url")
    @classmethod
    def _web_link_only(cls, url: str) -> str:
        # Pages render it as a link: javascript:, data: and the like would run in the page.
        url = url.strip()
        if url and not is_web_url(url):
            raise ValueError("must be an http:// or https:// link (or empty)")
        return url


class RoleDef(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=32)
    name: str = Field(min_length=1, max_length=100)
    minutes: int = Field(gt=0, le=240)


ComponentKind = Literal["external", "presentations", "reviews", "participation"]


class ComponentDef(Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)  # GradeItem.component
    label: str
    weight: float = Field(ge=0, le=100)
    kind: ComponentKind = "external"
    # External components are imported as points out of max_points.
    max_points: float = Field(default=100, gt=0)
    # Reviews only: how many of a student's lowest review scores are dropped.
    drop_lowest: int = Field(default=0, ge=0)


class LetterDef(Strict):
    letter: str = Field(min_length=1, max_length=3)
    min: float = Field(ge=0, le=100)


class GradingDef(Strict):
    components: list[ComponentDef]
    letters: list[LetterDef] = Field(default_factory=list)
    combine_graders: Literal["mean", "instructor_override"] = "mean"
    disagreement_pct: float = Field(default=20, ge=0, le=100)
    peer_weight: float = Field(default=0, ge=0, le=1)
    peer_aggregate: Literal["median", "trimmed_mean"] = "median"
    peer_window_minutes: int = Field(default=120, ge=1)

    @model_validator(mode="after")
    def weights_make_a_whole_course(self) -> "GradingDef":
        keys = [c.key for c in self.components]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"component keys must be unique; repeated: {', '.join(duplicates)}")
        total = sum(c.weight for c in self.components)
        if abs(total - 100) > 1e-6:
            raise ValueError(f"component weights must add up to 100 (they add up to {total:g})")
        for kind in ("presentations", "reviews", "participation"):
            if sum(1 for c in self.components if c.kind == kind) > 1:
                raise ValueError(f"at most one component may be of kind '{kind}'")
        return self


class LatePolicyDef(Strict):
    mode: Literal["reject", "penalty", "grace_days"] = "reject"
    penalty_per_day_pct: float = Field(default=10, ge=0, le=100)
    grace_days: int = Field(default=0, ge=0)
    # Beyond this many days late a review is refused, whatever the mode (none: no limit).
    max_days_late: Optional[int] = Field(default=None, ge=1)
    # A late penalty never takes a review below this percentage of its score.
    min_score_pct: float = Field(default=0, ge=0, le=100)


class ReviewRulesDef(Strict):
    opens_days_before: int = Field(default=7, ge=0, le=60)
    deadline_days_before: int = Field(default=1, ge=0, le=14)
    deadline_time: time = time(23, 59)
    late_policy: LatePolicyDef = Field(default_factory=LatePolicyDef)
    presenters_exempt: bool = False
    release_mode: Literal["named", "anonymous"] = "anonymous"
    max_chars_per_section: int = Field(default=5000, ge=100)
    max_chars_total: int = Field(default=15000, ge=100)
    similarity_threshold: float = Field(default=0.5, gt=0, le=1)


# When groups lock, after which only the staff change membership (staff can also lock by hand
# at any time, Course.groups_locked):
#   on_first_session  when the course's first paper session starts (the default);
#   on_publish        when the presentation assignment is published, or at the first session
#                     if that comes first;
#   manual            only when the staff lock them.
GroupLock = Literal["on_first_session", "on_publish", "manual"]


class GroupRulesDef(Strict):
    min_size: int = Field(default=2, ge=1)
    max_size: int = Field(default=3, ge=1)
    lock: GroupLock = "on_first_session"

    @model_validator(mode="after")
    def sizes_ordered(self) -> "GroupRulesDef":
        if self.max_size < self.min_size:
            raise ValueError(f"max_size ({self.max_size}) is below min_size ({self.min_size})")
        return self


class SignupDef(Strict):
    mode: Literal["first_come", "preferences"] = "preferences"
    # Local times in the course timezone; none means "not set yet".
    opens_at: Optional[datetime] = None
    closes_at: Optional[datetime] = None
    drop_deadline: Optional[datetime] = None
    quota: Optional[int] = Field(default=None, ge=1)
    min_gap_weeks: int = Field(default=0, ge=0)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class StaffDigestDef(Strict):
    """When the weekly staff digest goes: a weekday and an hour of the course's local time."""

    enabled: bool = True
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    hour: int = Field(default=8, ge=0, le=23)


class NotificationsDef(Strict):
    """Which mails the course sends on its own (students may still opt out of reminders)."""

    review_reminders: bool = True
    # ``false`` switches the digest off, ``true`` keeps the default time (Monday 08:00).
    staff_digest: StaffDigestDef = Field(default_factory=StaffDigestDef)

    @field_validator("staff_digest", mode="before")
    @classmethod
    def digest_switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return {"enabled": value}
        return value


class RubricChoiceDef(Strict):
    """Which rubric file (by id) grades what; presentation rubrics are per role key."""

    presentations: dict[str, str] = Field(default_factory=dict)
    review: str = "review"
    participation: str = "participation"
    peer: str = "peer"


class StaffDef(Strict):
    """An instructor or TA of the course; a new email gets an account without a password."""

    email: str = Field(min_length=3, max_length=254)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    role: Literal["instructor", "ta"]

    @field_validator("email")
    @classmethod
    def email_is_an_address(cls, value: str) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(value.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError(f"not a valid email address ({exc})") from None


# What ``ta_can:`` may grant TAs beyond grading, viewing and exporting (instructors may do all).
TA_ACTIONS: dict[str, str] = {
    "release": "release or withdraw feedback and reviews to students",
    "resolve_regrades": "answer students' regrade requests",
    "excuse_reviews": "excuse a student from a week's review",
    "manage_groups": "create, rename, lock, auto-form and import groups, move students",
    "dissolve_groups": "dissolve or merge groups",
    "publish_assignment": "run, import and publish the slot assignment",
    "manage_slots": "assign and swap slots by hand, change the sign-up settings",
    "edit_external_grades": "import and edit external grades (midterm, projects, ...)",
}


class CourseDefinition(Strict):
    code: str
    # Lengths are the columns' (models.py): a longer value is named here, not refused by the
    # database with a driver error (PostgreSQL) or stored whole (SQLite).
    title: str = Field(min_length=1, max_length=200)
    term: str = Field(min_length=1, max_length=64)
    timezone: str = "UTC"
    session_time: time = time(9, 0)
    discussion_minutes: int = Field(default=10, ge=0)
    weeks: list[WeekDef] = Field(min_length=1)
    paper_sessions: list[PaperSessionDef] = Field(default_factory=list)
    roles: list[RoleDef] = Field(min_length=1)
    grading: GradingDef
    reviews: ReviewRulesDef = Field(default_factory=ReviewRulesDef)
    groups: GroupRulesDef = Field(default_factory=GroupRulesDef)
    signup: SignupDef = Field(default_factory=SignupDef)
    rubrics: RubricChoiceDef = Field(default_factory=RubricChoiceDef)
    # A folder of this course's own rubric files, relative to the course file.
    rubrics_dir: Optional[str] = Field(default=None, min_length=1)
    # The rubrics read from rubrics_dir by load_course_file (None: not read from a file).
    _local_rubrics: Optional[dict[str, Rubric]] = PrivateAttr(default=None)
    staff: list[StaffDef] = Field(default_factory=list)
    ta_can: list[str] = Field(default_factory=list)
    notifications: NotificationsDef = Field(default_factory=NotificationsDef)

    @field_validator("ta_can")
    @classmethod
    def ta_actions_exist(cls, value: list[str]) -> list[str]:
        unknown = [action for action in value if action not in TA_ACTIONS]
        if unknown:
            raise ValueError(f"unknown action(s) {', '.join(map(repr, unknown))}; choose from "
                             + ", ".join(TA_ACTIONS))
        return value

    @field_validator("staff")
    @classmethod
    def staff_listed_once(cls, value: list[StaffDef]) -> list[StaffDef]:
        emails = [person.email for person in value]
        repeated = sorted({email for email in emails if emails.count(email) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return value

    @field_validator("code")
    @classmethod
    def code_is_a_url_slug(cls, value: str) -> str:
        if not CODE_PATTERN.match(value):
            raise ValueError(
                "must be lowercase letters, digits and dashes (2-63 characters), e.g. comp541-fall2023"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name like Europe/Istanbul)")
        return value

    @model_validator(mode="after")
    def references_agree(self) -> "CourseDefinition":
        problems: list[str] = []
        numbers = [w.number for w in self.weeks]
        if len(set(numbers)) != len(numbers):
            problems.append("weeks: week numbers repeat")
        by_number = {w.number: w for w in self.weeks}
        seen_weeks: set[int] = set()
        for index, session in enumerate(self.paper_sessions):
            week = by_number.get(session.week)
            if week is None:
                problems.append(f"paper_sessions[{index}].week: week {session.week} is not in weeks")
            elif week.is_break:
                problems.append(f"paper_sessions[{index}].week: week {session.week} is a break week")
            if session.week in seen_weeks:
                problems.append(f"paper_sessions[{index}].week: week {session.week} has two sessions")
            seen_weeks.add(session.week)
        role_keys = [r.key for r in self.roles]
        if len(set(role_keys)) != len(role_keys):
            problems.append("roles: role keys repeat")
        for role_key in self.rubrics.presentations:
            if role_key not in role_keys:
                problems.append(f"rubrics.presentations.{role_key}: no role with that key")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def week_date(self, number: int) -> date:
        return next(w.date for w in self.weeks if w.number == number)

    def session_date(self, session: PaperSessionDef) -> date:
        return session.date or self.week_date(session.week)

    def session_start_time(self, session: PaperSessionDef) -> time:
        return session.time or self.session_time

    def presentation_rubric(self, role_key: str) -> str:
        return self.rubrics.presentations.get(role_key, f"presentation-{role_key}")

    @property
    def local_rubrics(self) -> Optional[dict[str, Rubric]]:
        """The course's own rubrics by id, when read from ``rubrics_dir`` by load_course_file."""
        return self._local_rubrics


class CourseFileError(Exception):
    """A course file that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: the field path, what is wrong, and the value given."""
    lines = []
    for item in error.errors():
        where = _location(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        given = item.get("input")
        if item["type"] not in ("missing",) and not isinstance(given, (dict, list)):
            lines.append(f"{where}: {message} (got {given!r})")
        else:
            lines.append(f"{where}: {message}")
    return lines


def parse_course_definition(data: Any, source: str) -> CourseDefinition:
    if not isinstance(data, dict):
        raise CourseFileError(source, ["the file must hold a mapping of course fields"])
    try:
        return CourseDefinition.model_validate(data)
    except ValidationError as exc:
        raise CourseFileError(source, describe_validation_error(exc)) from None


def load_course_file(path: str | Path) -> CourseDefinition:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CourseFileError(str(path), [f"cannot be read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CourseFileError(str(path), [f"{where}not valid YAML ({problem})"]) from None
    definition = parse_course_definition(data, str(path))
    if definition.rubrics_dir is not None:
        directory = path.parent / definition.rubrics_dir
        try:
            definition._local_rubrics = load_rubric_dir(directory)
        except RubricError as exc:
            # Each problem already names the rubric file and the field in it.
            raise CourseFileError(str(path), [f"rubrics_dir: {p}" for p in exc.problems]) from None
    return definition


_VALIDATED: dict[Any, tuple[dict[str, Any], CourseDefinition]] = {}
_VALIDATED_KEPT = 64


def stored_definition(course: Any) -> CourseDefinition:
    """``course.definition`` validated, once per course and stored content.

    Every request loads the course row afresh, so a new dict each time; the result is reused
    while that dict equals the one it was validated from (comparing is ~1/10 of validating).
    The compared copy is the cache's own, so a dict modified in place afterwards is not mistaken
    for it. Kept per course (an unsaved one by identity), so courses never share a result. The
    result is shared within a course: read it, never modify it (``model_copy`` first)."""
    stored = course.definition
    key = getattr(course, "id", None) or ("object", id(course))
    hit = _VALIDATED.get(key)
    if hit is not None and hit[0] == stored:
        return hit[1]
    validated = CourseDefinition.model_validate(stored)
    if len(_VALIDATED) >= _VALIDATED_KEPT:
        _VALIDATED.pop(next(iter(_VALIDATED)))
    _VALIDATED[key] = (copy.deepcopy(stored), validated)
    return validated
