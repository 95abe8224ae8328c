"""Scoring arithmetic: pure functions over rubrics and plain numbers (no database, no Flask).

Conventions:

- A *percentage* is on a 0..100 scale (percent of a rubric's ``max_score``).
- Criterion scores may be any number within ``0..points``, not only a level's score: levels are
  anchors that describe what a score looks like, and a grader may put a piece of work between
  two anchors (e.g. 3 between "Good" = 4 and "Partial" = 2). Forms that offer only the levels
  simply never send anything else.
- Missing criteria make a score *incomplete*, not invalid, so drafts can be saved; a final
  save passes ``require_complete=True`` and gets a ``ScoringError`` instead.
- Invalid input raises ``ScoringError`` (a ``ValueError``) whose ``problems`` list names every
  problem, not just the first.

Public API:

- ``score_total(rubric, selections, *, require_complete=False) -> ScoreResult``
- ``score_from_count(criterion, count) -> float``: a tally (questions raised) as a score.
- ``combine_grader_scores(scores, method="mean", disagreement_threshold_pct=20.0)
  -> CombinedScore`` with ``GraderScore`` inputs.
- ``aggregate_peer(values, method="median", trim=0.1) -> float | None``
- ``presentation_grade(staff_pct, peer_pct, peer_weight=0.0) -> float``
- ``individual_adjustment(group_pct, adjustment) -> float`` with ``Adjustment``.
- ``krippendorff_alpha(ratings, level="interval") -> float | None``
- ``rater_distances(peer, staff) -> dict[rater, float]``
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from review.rubrics import Criterion, Rubric

if TYPE_CHECKING:
    import numpy as np

Rater = TypeVar("Rater", bound=Hashable)
Item = TypeVar("Item", bound=Hashable)

CombineMethod = Literal["mean", "instructor_override"]
PeerMethod = Literal["median", "trimmed_mean"]
AlphaLevel = Literal["nominal", "ordinal", "interval", "ratio"]


class ScoringError(ValueError):
    """Scores that cannot be accepted; ``problems`` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_pct(name: str, value: object) -> float:
    if not _is_number(value) or not 0 <= value <= 100:  # type: ignore[operator]
        raise ScoringError([f"{name} must be a percentage between 0 and 100 (got {value!r})"])
    return float(value)  # type: ignore[arg-type]


# --- one grader, one rubric -------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreResult:
    """A validated set of criterion scores against one rubric version."""

    rubric_id: str
    rubric_version: int
    scores: dict[str, float]  # criterion id -> score, in rubric order, only those given
    missing: tuple[str, ...]  # criterion ids not scored yet, in rubric order
    total: float  # sum of the given scores
    max_score: float  # the rubric's maximum, whether or not every criterion is scored
    percentage: float  # total / max_score * 100

    @property
    def complete(self) -> bool:
        """True when every criterion has a score."""
        return not self.missing


def score_total(
    rubric: Rubric, selections: Mapping[str, float], *, require_complete: bool = False
) -> ScoreResult:
    """Validate criterion scores and add them up.

    Every unknown criterion id and every value that is not a number within ``0..points`` is
    reported. The percentage of an incomplete score is still taken of the rubric's full maximum,
    so a draft never looks better than the final grade could be.
    """
    problems = [
        f"unknown criterion {key!r} (rubric {rubric.id!r} has {', '.join(rubric.criterion_ids)})"
        for key in selections
        if key not in rubric.criterion_ids
    ]
    scores: dict[str, float] = {}
    missing: list[str] = []
    for criterion in rubric.criteria:
        if criterion.id not in selections:
            missing.append(criterion.id)
            continue
        value = selections[criterion.id]
        if not _is_number(value) or not 0 <= value <= criterion.points:
            problems.append(
                f"criterion {criterion.id!r}: score must be between 0 and "
                f"{criterion.points:g} (got {value!r})"
            )
            continue
        scores[criterion.id] = float(value)
    if require_complete and missing:
        problems.append(f"not scored yet: {', '.join(missing)}")
    if problems:
        raise ScoringError(problems)
    total = math.fsum(scores.values())
    return ScoreResult(
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        scores=scores,
        missing=tuple(missing),
        total=total,
        max_score=rubric.max_score,
        percentage=total / rubric.max_score * 100,
    )


def score_from_count(criterion: Criterion, count: int) -> float:
    """One point per counted event, capped at the criterion's points.

    This is how a tally of questions raised in class becomes the ``questions-raised`` score of
    the participation rubric, whose levels are exactly those counts.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ScoringError([f"count must be a whole number >= 0 (got {count!r})"])
    return float(min(count, criterion.points))


# --- several graders, one submission ----------------------------------------------------------


@dataclass(frozen=True)
class GraderScore:
    """One grader's complete score of one submission, as a percentage."""

    grader: Hashable  # a user id or name; one score per grader
    percentage: float
    is_instructor: bool = False

    @classmethod
    def from_result(
        cls, grader: Hashable, result: ScoreResult, *, is_instructor: bool = False
    ) -> GraderScore:
        """Wrap a complete ``ScoreResult``; a draft cannot count towards a grade."""
        if not result.complete:
            raise ScoringError(
                [f"grader {grader!r}: score is incomplete ({', '.join(result.missing)} missing)"]
            )
        return cls(grader=grader, percentage=result.percentage, is_instructor=is_instructor)


@dataclass(frozen=True)
class CombinedScore:
    """The grade agreed from several graders' scores."""

    percentage: float
    method: CombineMethod
    decided_by: tuple[Hashable, ...]  # the graders whose scores make up ``percentage``
    grader_count: int
    spread: float  # max - min across all graders, in percentage points
    disagreement: bool  # spread above the threshold: worth a second look


def combine_grader_scores(
    scores: Sequence[GraderScore],
    method: CombineMethod = "mean",
    disagreement_threshold_pct: float = 20.0,
) -> CombinedScore:
    """Combine several graders' scores of one submission.

    ``mean``: the mean of all graders. ``instructor_override``: if any instructor scored, the
    mean of the instructors' scores wins (usually there is one); otherwise the mean of all.
    The disagreement flag always looks at every grader, instructors included, so that a TA whose
    scores an instructor keeps overriding still shows up. Percentages are on the same 0..100
    scale whatever rubric version each grader used.
    """
    problems: list[str] = []
    if not scores:
        problems.append("no grader scores to combine")
    if method not in ("mean", "instructor_override"):
        problems.append(f"unknown method {method!r} (use 'mean' or 'instructor_override')")
    if not _is_number(disagreement_threshold_pct) or disagreement_threshold_pct < 0:
        problems.append(
            f"disagreement threshold must be a number >= 0 (got {disagreement_threshold_pct!r})"
        )
    seen: set[Hashable] = set()
    for score in scores:
        if score.grader in seen:
            problems.append(f"grader {score.grader!r} scored more than once")
        seen.add(score.grader)
        if not _is_number(score.percentage) or not 0 <= score.percentage <= 100:
            problems.append(
                f"grader {score.grader!r}: percentage must be between 0 and 100 "
                f"(got {score.percentage!r})"
            )
    if problems:
        raise ScoringError(problems)

    deciding = list(scores)
    if method == "instructor_override":
        deciding = [score for score in scores if score.is_instructor] or deciding
    values = [score.percentage for score in scores]
    spread = max(values) - min(values)
    return CombinedScore(
        percentage=statistics.fmean(score.percentage for score in deciding),
        method=method,
        decided_by=tuple(score.grader for score in deciding),
        grader_count=len(scores),
        spread=spread,
        disagreement=spread > disagreement_threshold_pct,
    )


# --- peers and the presentation grade ---------------------------------------------------------


def aggregate_peer(
    values: Sequence[float], method: PeerMethod = "median", trim: float = 0.1
) -> float | None:
    """One number from many peer ratings; None when there are none.

    ``trimmed_mean`` drops ``floor(trim * n)`` values from each end before averaging (the same
    rule as ``scipy.stats.trim_mean``), so with the default 0.1 nothing is dropped below ten
    ratings. Both methods blunt a few careless or strategic raters.
    """
    problems = [f"rating {value!r} is not a finite number" for value in values if not _is_number(value)]
    if method not in ("median", "trimmed_mean"):
        problems.append(f"unknown method {method!r} (use 'median' or 'trimmed_mean')")
    if not _is_number(trim) or not 0 <= trim < 0.5:
        problems.append(f"trim must be at least 0 and below 0.5 (got {trim!r})")
    if problems:
        raise ScoringError(problems)
    if not values:
        return None
    if method == "median":
        return float(statistics.median(values))
    cut = math.floor(trim * len(values))
    kept = sorted(values)[cut : len(values) - cut]
    return statistics.fmean(kept)


def presentation_grade(
    staff_pct: float, peer_pct: float | None, peer_weight: float = 0.0
) -> float:
    """Blend the staff grade with the peer rating: ``(1 - w) * staff + w * peer``.

    With the default weight 0, or with no peer ratings (``peer_pct`` None), the grade is the
    staff grade alone; a missing peer rating never pulls a grade towards 0.
    """
    staff = _check_pct("staff percentage", staff_pct)
    if not _is_number(peer_weight) or not 0 <= peer_weight <= 1:
        raise ScoringError([f"peer weight must be between 0 and 1 (got {peer_weight!r})"])
    if peer_pct is None:
        return staff
    peer = _check_pct("peer percentage", peer_pct)
    return (1 - peer_weight) * staff + peer_weight * peer


@dataclass(frozen=True)
class Adjustment:
    """An instructor's change to one group member's grade.

    ``delta``: add ``value`` percentage points (negative to lower) to the group's grade; the
    result is kept within 0..100. ``override``: the member's grade is ``value``, whatever the
    group got.
    """

    kind: Literal["delta", "override"]
    value: float


def individual_adjustment(group_pct: float, adjustment: Adjustment | None) -> float:
    """One member's grade from the group's grade and an optional instructor adjustment."""
    group = _check_pct("group percentage", group_pct)
    if adjustment is None:
        return group
    if adjustment.kind == "override":
        return _check_pct("override", adjustment.value)
    if adjustment.kind == "delta":
        if not _is_number(adjustment.value) or not -100 <= adjustment.value <= 100:
            raise ScoringError(
                [f"delta must be between -100 and 100 points (got {adjustment.value!r})"]
            )
        return min(100.0, max(0.0, group + adjustment.value))
    raise ScoringError([f"unknown adjustment kind {adjustment.kind!r} (use 'delta' or 'override')"])


# --- reliability ------------------------------------------------------------------------------


def krippendorff_alpha(
    ratings: Sequence[Sequence[float | None]], level: AlphaLevel = "interval"
) -> float | None:
    """Krippendorff's alpha of a raters x items matrix, None marking a missing rating.

    Returns None when alpha is undefined: fewer than two raters, no item rated by at least two
    raters, or a single value used throughout (no variation to agree about). ``interval`` suits
    rubric totals; ``ordinal`` suits single criteria scored on level anchors.
    """
    import krippendorff
    import numpy as np

    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ScoringError([f"unknown level {level!r}"])
    if len({len(row) for row in ratings}) > 1:
        raise ScoringError(["every rater's row must have one entry per item"])
    problems = [
        f"rating {value!r} of rater {r} is not a number or None"
        for r, row in enumerate(ratings)
        for value in row
        if value is not None and not _is_number(value)
    ]
    if problems:
        raise ScoringError(problems)
    if len(ratings) < 2:
        return None
    matrix = np.array(
        [[np.nan if value is None else float(value) for value in row] for row in ratings],
        dtype=float,
    )
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    observed = matrix[:, pairable]
    if not pairable.any() or np.unique(observed[~np.isnan(observed)]).size < 2:
        return None
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))


def rater_distances(
    peer: Mapping[Rater, Mapping[Item, float]], staff: Mapping[Item, float]
) -> dict[Rater, float]:
    """Each peer rater's mean absolute distance from the staff score, largest first.

    Only items that both the rater and the staff scored count; a rater with no such item is left
    out (there is nothing to compare). A large distance flags a careless rater, or one who rates
    everyone the same.
    """
    distances: dict[Rater, float] = {}
    for rater, items in peer.items():
        shared = [item for item in items if item in staff]
        if shared:
            distances[rater] = statistics.fmean(abs(items[item] - staff[item]) for item in shared)
    return dict(sorted(distances.items(), key=lambda pair: pair[1], reverse=True))
