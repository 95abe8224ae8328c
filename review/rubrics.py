"""Rubrics as data: the schema of ``rubrics/<id>.yaml`` and its loader.

A rubric file looks like this (every field shown is required unless marked optional)::

    id: presentation-overview        # must equal the file name without ".yaml"
    version: 1                       # integer >= 1; bump it whenever the content changes
    title: Overview presentation
    applies_to: presentation         # presentation | review | participation | peer
    role: overview                   # optional free slug, e.g. the presenting group's role
    description: What the rubric is for.
    criteria:
      - id: method                   # slug, unique within the rubric
        title: The method
        description: What is judged.
        points: 5                    # the criterion's maximum, a positive number
        levels:                      # at least two; scores unique, within 0..points,
          - score: 5                 # and one of them equal to points
            label: Excellent
            descriptor: What a 5 looks like.
          - score: 0
            label: Missing
            descriptor: What a 0 looks like.

Weighting model: points only. A criterion's share of the rubric is its ``points`` divided by
the rubric's ``max_score`` (the sum of all points); there is no separate ``weight`` field, so a
grader sees exactly the numbers that are added up. Levels are anchors that describe what a score
looks like; they are stored best first (highest score first) whatever their order in the file.

Public API:

- ``Level``, ``Criterion``, ``Rubric``: frozen pydantic models (``extra="forbid"``).
- ``Rubric.max_score``, ``Rubric.criterion(id)``, ``Rubric.criterion_ids``,
  ``Rubric.content_hash`` (sha256 of the canonical JSON of the validated content),
  ``Rubric.to_storage()`` and ``Rubric.from_storage(data)`` for the database.
- ``load_rubric(path) -> Rubric`` and ``load_rubric_dir(directory) -> dict[str, Rubric]``, both
  raising ``RubricError`` that lists every problem found, not just the first.
- ``check_rubric_dir(directory) -> list[str]``: the same checks, returning the problems (empty
  when all is well); it backs ``flask rubrics check [DIR]``.
- ``Rubric.rendered(**values)``: the rubric as shown to a person, its text variables filled in.

Text variables: a rubric's text may name the presenting role's time box as ``{minutes}`` (in
presentation rubrics only; ``TEXT_VARIABLES`` lists what each kind may use), so one file serves
courses whose slots differ. A literal brace is written ``{{`` or ``}}``. An unknown variable is a
problem naming it. The stored content keeps the variables; they are filled in only for display.

Every problem message names the file, the place in it and what is wrong, for example
``rubrics/overview.yaml: criteria[2] (id 'clarity').levels[1].score: must be between 0 and 5
(got 7)``. List indexes count from 0, as in the pydantic and YAML tooling; the criterion's id
is shown next to its index so it can be found without counting.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

RUBRIC_SUFFIX = ".yaml"

SLUG_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"

AppliesTo = Literal["presentation", "review", "participation", "peer"]

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
# Stripped so that YAML block scalars (which end in a newline) and hand-typed trailing spaces
# do not change the content hash.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

# The pydantic error type of the cross-field rules below; the file loader reports those rules
# itself (per level, with precise paths), so it skips pydantic's combined copy of them.
_RULE_ERROR = "rubric_rule"

Loc = tuple[int | str, ...]

# The variables each kind of rubric may use in its text (filled in by ``Rubric.rendered``).
TEXT_VARIABLES: dict[str, tuple[str, ...]] = {
    "presentation": ("minutes",),
    "review": (),
    "participation": (),
    "peer": (),
}


class RubricError(Exception):
    """One or more rubric files are invalid; ``problems`` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        header = f"{count} rubric problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


class _Frozen(BaseModel):
    # Frozen because a rubric's hash and version identify its content once loaded.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Frozen):
    """One anchor of a criterion: what a given score looks like."""

    # strict: "5" or true in a YAML file is a mistake, not a number.
    score: float = Field(strict=True, ge=0, allow_inf_nan=False)
    label: Text
    descriptor: Text


class Criterion(_Frozen):
    """One thing a grader judges, worth up to ``points``."""

    id: Slug
    title: Text
    description: Text
    points: float = Field(strict=True, gt=0, allow_inf_nan=False)
    levels: tuple[Level, ...] = Field(min_length=2)

    @field_validator("levels", mode="after")
    @classmethod
    def _best_first(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        # One canonical order, so that reordering levels in the file keeps the content hash.
        return tuple(sorted(levels, key=lambda level: -level.score))

    @property
    def level_scores(self) -> tuple[float, ...]:
        """The anchor scores, highest first."""
        return tuple(level.score for level in self.levels)


class Rubric(_Frozen):
    """A validated rubric; see the module docstring for the file format."""

    id: Slug
    version: int = Field(strict=True, ge=1)
    title: Text
    applies_to: AppliesTo
    role: Slug | None = None
    description: Text
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        problems = _rule_problems(self.model_dump(mode="json"))
        if problems:
            summary = "; ".join(f"{_path(loc, None)}: {message}" for loc, message in problems)
            raise PydanticCustomError(_RULE_ERROR, "{summary}", {"summary": summary})
        return self

    @property
    def max_score(self) -> float:
        """The highest total a submission can get: the sum of all criteria's points."""
        return sum(criterion.points for criterion in self.criteria)

    @property
    def criterion_ids(self) -> tuple[str, ...]:
        """Criterion ids in rubric order."""
        return tuple(criterion.id for criterion in self.criteria)

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id; KeyError if the rubric has none."""
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        raise KeyError(criterion_id)

    def rendered(self, **values: object) -> Rubric:
        """This rubric with its text variables filled in, for showing to graders and students;
        scores are still stored against the unrendered rubric (``to_storage``)."""
        variables = _KeepMissing(values)

        def fill(model: _Frozen, fields: tuple[str, ...], **more: object) -> Any:
            # model_copy, not validation: filled-in text may hold a literal brace ("{{" -> "{").
            update = {key: string.Formatter().vformat(getattr(model, key), (), variables)
                      for key in fields}
            return model.model_copy(update={**update, **more})

        criteria = tuple(
            fill(criterion, _CRITERION_TEXT_FIELDS,
                 levels=tuple(fill(level, _LEVEL_TEXT_FIELDS) for level in criterion.levels))
            for criterion in self.criteria)
        return fill(self, _TEXT_FIELDS, criteria=criteria)

    def to_storage(self) -> dict[str, Any]:
        """The canonical plain-JSON form, for a JSON column next to (id, version, hash)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Rubric:
        """Rebuild a rubric from ``to_storage()`` output; RubricError if it is not valid."""
        source = f"stored rubric {data.get('id')!r} version {data.get('version')!r}"
        problems = _validation_problems(dict(data), source)
        if problems:
            raise RubricError(problems)
        return cls.model_validate(dict(data))

    @property
    def content_hash(self) -> str:
        """sha256 hex digest of the canonical JSON; equal content gives an equal hash."""
        canonical = json.dumps(
            self.to_storage(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_TEXT_FIELDS = ("title", "description")
_CRITERION_TEXT_FIELDS = ("title", "description")
_LEVEL_TEXT_FIELDS = ("label", "descriptor")


class _KeepMissing(dict[str, object]):
    """Variables a page does not supply stay as written rather than break the page."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _variable_problem(text: object, allowed: tuple[str, ...], applies_to: object) -> str | None:
    """What is wrong with the ``{variables}`` of one text field, or None."""
    if not isinstance(text, str):
        return None
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return f"braces must enclose a variable such as {{minutes}}, or be doubled ({exc})"
    unknown = [name for name in names if name not in allowed]
    if not unknown:
        return None
    known = ", ".join(f"{{{name}}}" for name in allowed) or "none"
    kind = f"{applies_to} rubrics" if isinstance(applies_to, str) else "this rubric"
    return (f"unknown variable {{{unknown[0]}}} (variables known in {kind}: {known}; "
            "write {{ and }} for literal braces)")


def _text_problems(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    applies_to = data.get("applies_to")
    allowed = TEXT_VARIABLES.get(applies_to, ()) if isinstance(applies_to, str) else ()
    places: list[tuple[Loc, object]] = [((key,), data.get(key)) for key in _TEXT_FIELDS]
    criteria = data.get("criteria")
    for index, criterion in enumerate(criteria if isinstance(criteria, list) else []):
        if not isinstance(criterion, Mapping):
            continue
        places.extend((("criteria", index, key), criterion.get(key))
                      for key in _CRITERION_TEXT_FIELDS)
        levels = criterion.get("levels")
        for level_index, level in enumerate(levels if isinstance(levels, list) else []):
            if isinstance(level, Mapping):
                places.extend((("criteria", index, "levels", level_index, key), level.get(key))
                              for key in _LEVEL_TEXT_FIELDS)
    found = []
    for loc, text in places:
        problem = _variable_problem(text, allowed, applies_to)
        if problem:
            found.append((loc, problem))
    return found


# --- cross-field rules ------------------------------------------------------------------------
# Written over plain data, with type guards, so that the file loader can apply them to every
# criterion even when pydantic rejected some other part of the file.


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rule_problems(data: object) -> list[tuple[Loc, str]]:
    if not isinstance(data, Mapping):
        return []
    problems: list[tuple[Loc, str]] = _text_problems(data)
    if not isinstance(data.get("criteria"), list):
        return problems
    seen_ids: dict[str, int] = {}
    for index, criterion in enumerate(data["criteria"]):
        if not isinstance(criterion, Mapping):
            continue
        criterion_id = criterion.get("id")
        if isinstance(criterion_id, str):
            if criterion_id in seen_ids:
                problems.append(
                    (
                        ("criteria", index, "id"),
                        f"duplicate criterion id {criterion_id!r} "
                        f"(already used by criteria[{seen_ids[criterion_id]}])",
                    )
                )
            else:
                seen_ids[criterion_id] = index
        problems.extend(
            (("criteria", index, *loc), message) for loc, message in _level_problems(criterion)
        )
    return problems


def _level_problems(criterion: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    points, levels = criterion.get("points"), criterion.get("levels")
    if not isinstance(levels, list):
        return []
    problems: list[tuple[Loc, str]] = []
    seen_scores: dict[float, int] = {}
    seen_labels: dict[str, int] = {}
    all_scores_numeric = True
    for index, level in enumerate(levels):
        if not isinstance(level, Mapping):
            all_scores_numeric = False
            continue
        score, label = level.get("score"), level.get("label")
        if isinstance(label, str):
            if label.strip() in seen_labels:
                problems.append(
                    (
                        ("levels", index, "label"),
                        f"duplicate label {label.strip()!r} "
                        f"(already used by levels[{seen_labels[label.strip()]}])",
                    )
                )
            else:
                seen_labels[label.strip()] = index
        if not _is_number(score):
            all_scores_numeric = False
            continue
        if score in seen_scores:
            problems.append(
                (
                    ("levels", index, "score"),
                    f"duplicate score {score:g} (already used by levels[{seen_scores[score]}])",
                )
            )
        else:
            seen_scores[score] = index
        if _is_number(points) and points > 0 and score > points:
            problems.append(
                (
                    ("levels", index, "score"),
                    f"must be between 0 and {points:g} (got {score:g})",
                )
            )
    # Only when every score is readable: otherwise a typo in the top level's score would be
    # reported twice, once as a type error and once as a missing top level.
    if all_scores_numeric and levels and _is_number(points) and points > 0:
        if points not in seen_scores:
            problems.append(
                (
                    ("levels",),
                    f"needs a top level with score equal to points ({points:g}); "
                    f"scores are {', '.join(f'{s:g}' for s in sorted(seen_scores))}",
                )
            )
    return problems


# --- readable messages ------------------------------------------------------------------------

_FIELDS_BY_PLACE: dict[tuple[str, ...], type[BaseModel]] = {
    (): Rubric,
    ("criteria",): Criterion,
    ("criteria", "levels"): Level,
}


def _path(loc: Loc, data: object) -> str:
    """``("criteria", 2, "levels", 1, "score")`` -> ``criteria[2] (id 'x').levels[1].score``."""
    text = ""
    node: object = data
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if previous == "criteria" and isinstance(node, Mapping):
                criterion_id = node.get("id")
                if isinstance(criterion_id, str):
                    text += f" (id {criterion_id!r})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, Mapping) else None
        previous = part
    return text


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        place = tuple(part for part in error["loc"][:-1] if isinstance(part, str))
        model = _FIELDS_BY_PLACE.get(place)
        allowed = f" (allowed: {', '.join(model.model_fields)})" if model else ""
        return f"unknown field{allowed}"
    if kind == "string_pattern_mismatch":
        text = "must be a slug: lowercase letters and digits, joined by '-' or '_'"
    elif kind == "string_too_short":
        text = "must not be empty"
    elif kind == "too_short":
        ctx = error.get("ctx", {})
        return f"needs at least {ctx.get('min_length')} item(s) (got {ctx.get('actual_length')})"
    else:
        text = error["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    value = error["input"]
    if isinstance(value, Mapping | list):
        return text
    return f"{text} (got {value!r})"


def _is_cascade(error: ErrorDetails) -> bool:
    # pydantic counts list items *after* validation, so one bad criterion in a one-criterion
    # rubric also reports "too short"; the item's own error already says what is wrong.
    if error["type"] != "too_short" or not isinstance(error["input"], list | tuple):
        return False
    return len(error["input"]) >= error.get("ctx", {}).get("min_length", 0)


def _validation_problems(data: object, source: str) -> list[str]:
    """Every schema and rule problem of one rubric's plain data, as readable lines."""
    found: list[tuple[Loc, str]] = []
    try:
        Rubric.model_validate(data)
    except ValidationError as exc:
        found.extend(
            (tuple(error["loc"]), _message(error))
            for error in exc.errors()
            if error["type"] != _RULE_ERROR and not _is_cascade(error)
        )
    found.extend(_rule_problems(data))
    return [
        f"{source}: {_path(loc, data)}: {message}" if loc else f"{source}: {message}"
        for loc, message in found
    ]


# --- files ------------------------------------------------------------------------------------


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that rejects repeated keys, which plain PyYAML silently overwrites.

    libyaml's parser where PyYAML was built with it: every process reads the rubrics at
    start-up, and the pure-Python parser took 0.15 s of it."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> tuple[object, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read the file ({exc})"]
    try:
        # _StrictLoader is a SafeLoader (no arbitrary objects), only stricter about duplicates.
        return yaml.load(text, Loader=_StrictLoader), []  # nosec B506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [f"{path}: {where}YAML syntax error: {problem}"]


def _file_problems(path: Path) -> tuple[Rubric | None, list[str]]:
    data, problems = _read_yaml(path)
    if problems:
        return None, problems
    if data is None:
        return None, [f"{path}: the file is empty"]
    if not isinstance(data, dict):
        return None, [f"{path}: must be a mapping of rubric fields (got {type(data).__name__})"]
    problems = _validation_problems(data, str(path))
    if isinstance(data.get("id"), str) and data["id"] != path.stem:
        problems.insert(0, f"{path}: id: must equal the file name {path.stem!r} (got {data['id']!r})")
    if problems:
        return None, problems
    return Rubric.model_validate(data), []


def load_rubric(path: str | Path) -> Rubric:
    """Load and validate one rubric file; RubricError lists every problem in it."""
    rubric, problems = _file_problems(Path(path))
    if rubric is None:
        raise RubricError(problems)
    return rubric


def _dir_results(directory: Path) -> tuple[dict[str, Rubric], list[str]]:
    if not directory.is_dir():
        return {}, [f"{directory}: not a directory"]
    rubrics: dict[str, Rubric] = {}
    problems: list[str] = []
    # A near-miss extension would otherwise be skipped silently and the rubric seem to vanish.
    problems.extend(
        f"{path}: rubric files must end in {RUBRIC_SUFFIX}" for path in sorted(directory.glob("*.yml"))
    )
    paths = sorted(directory.glob(f"*{RUBRIC_SUFFIX}"))
    if not paths and not problems:
        problems.append(f"{directory}: no {RUBRIC_SUFFIX} rubric files")
    for path in paths:
        rubric, file_problems = _file_problems(path)
        problems.extend(file_problems)
        if rubric is not None:
            rubrics[rubric.id] = rubric
    return rubrics, problems


def load_rubric_dir(directory: str | Path) -> dict[str, Rubric]:
    """Load every ``*.yaml`` rubric in a directory, keyed by id; RubricError lists every problem
    across all files, so one start-up shows everything that needs fixing."""
    rubrics, problems = _dir_results(Path(directory))
    if problems:
        raise RubricError(problems)
    return rubrics


def check_rubric_dir(directory: str | Path) -> list[str]:
    """All problems of the rubric files in a directory, one line each; empty when valid."""
    return _dir_results(Path(directory))[1]
