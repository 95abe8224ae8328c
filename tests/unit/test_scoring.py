"""Scoring arithmetic: rubric totals, combining graders, peers, adjustments, reliability."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import trim_mean

from review.grading.scoring import (
    Adjustment,
    GraderScore,
    ScoringError,
    aggregate_peer,
    combine_grader_scores,
    individual_adjustment,
    krippendorff_alpha,
    presentation_grade,
    rater_distances,
    score_from_count,
    score_total,
)
from review.rubrics import Rubric, load_rubric_dir

RUBRICS = load_rubric_dir(Path(__file__).resolve().parents[2] / "rubrics")


# --- score_total ------------------------------------------------------------------------------


@pytest.mark.parametrize("rubric_id", sorted(RUBRICS))
def test_top_levels_score_full_marks_and_bottom_levels_zero(rubric_id: str) -> None:
    rubric = RUBRICS[rubric_id]
    top = score_total(rubric, {c.id: c.level_scores[0] for c in rubric.criteria})
    bottom = score_total(rubric, {c.id: c.level_scores[-1] for c in rubric.criteria})
    assert (top.total, top.percentage, top.complete) == (rubric.max_score, 100.0, True)
    assert bottom.total == sum(c.level_scores[-1] for c in rubric.criteria)


def test_overview_total_and_percentage_add_up() -> None:
    result = score_total(
        RUBRICS["presentation-overview"],
        {
            "problem-motivation": 3,
            "method": 4,
            "results-evidence": 4,
            "clarity-slides": 2,
            "time": 2,
            "questions": 1,
        },
    )
    assert (result.total, result.max_score, result.percentage) == (16.0, 20.0, 80.0)
    assert (result.rubric_id, result.rubric_version) == ("presentation-overview", 2)
    assert list(result.scores) == list(RUBRICS["presentation-overview"].criterion_ids)


def test_review_half_point_and_between_level_values_are_accepted() -> None:
    result = score_total(
        RUBRICS["review"],
        {"summary": 2, "strengths": 1.5, "weaknesses": 2, "ideas": 1, "discussion-questions": 0.5},
    )
    assert result.total == 7.0
    assert result.percentage == 70.0


def test_every_invalid_selection_is_named_in_one_error() -> None:
    with pytest.raises(ScoringError) as excinfo:
        score_total(
            RUBRICS["peer"],
            {"clarity": 5, "insight": -1, "time": True, "humour": 3},
        )
    assert excinfo.value.problems == [
        "unknown criterion 'humour' (rubric 'peer' has clarity, insight, time)",
        "criterion 'clarity': score must be between 0 and 4 (got 5)",
        "criterion 'insight': score must be between 0 and 4 (got -1)",
        "criterion 'time': score must be between 0 and 4 (got True)",
    ]


def test_nan_score_is_rejected() -> None:
    with pytest.raises(ScoringError, match="criterion 'clarity'"):
        score_total(RUBRICS["peer"], {"clarity": math.nan})


def test_missing_criteria_make_a_draft_incomplete_out_of_the_full_maximum() -> None:
    result = score_total(RUBRICS["peer"], {"clarity": 4, "time": 2})
    assert result.missing == ("insight",)
    assert not result.complete
    assert result.total == 6.0
    assert result.percentage == 50.0  # 6 of the full 12, not 6 of the 8 scored so far


def test_final_save_refuses_missing_criteria() -> None:
    with pytest.raises(ScoringError, match="not scored yet: insight, time"):
        score_total(RUBRICS["peer"], {"clarity": 4}, require_complete=True)


@pytest.mark.parametrize(("count", "score"), [(0, 0.0), (2, 2.0), (3, 3.0), (7, 3.0)])
def test_questions_raised_count_scores_one_point_each_up_to_the_cap(count: int, score: float) -> None:
    criterion = RUBRICS["participation"].criterion("questions-raised")
    assert score_from_count(criterion, count) == score


@pytest.mark.parametrize("count", [-1, 1.5, True])
def test_count_must_be_a_whole_number(count: object) -> None:
    criterion = RUBRICS["participation"].criterion("questions-raised")
    with pytest.raises(ScoringError):
        score_from_count(criterion, count)  # type: ignore[arg-type]


# --- combining graders ------------------------------------------------------------------------


def test_mean_combines_all_graders_and_flags_a_spread_above_threshold() -> None:
    combined = combine_grader_scores(
        [GraderScore("ta1", 70.0), GraderScore("ta2", 95.0), GraderScore("prof", 80.0, True)],
        method="mean",
        disagreement_threshold_pct=20.0,
    )
    assert combined.percentage == pytest.approx(245 / 3)
    assert combined.decided_by == ("ta1", "ta2", "prof")
    assert (combined.grader_count, combined.spread, combined.disagreement) == (3, 25.0, True)


def test_spread_equal_to_threshold_is_not_a_disagreement() -> None:
    combined = combine_grader_scores(
        [GraderScore("ta1", 70.0), GraderScore("ta2", 90.0)], disagreement_threshold_pct=20.0
    )
    assert (combined.spread, combined.disagreement) == (20.0, False)


def test_instructor_override_takes_the_instructor_score_but_still_flags_disagreement() -> None:
    combined = combine_grader_scores(
        [GraderScore("ta1", 50.0), GraderScore("prof", 85.0, is_instructor=True)],
        method="instructor_override",
        disagreement_threshold_pct=15.0,
    )
    assert (combined.percentage, combined.decided_by) == (85.0, ("prof",))
    assert combined.disagreement


def test_instructor_override_without_an_instructor_falls_back_to_the_mean() -> None:
    combined = combine_grader_scores(
        [GraderScore("ta1", 60.0), GraderScore("ta2", 80.0)], method="instructor_override"
    )
    assert (combined.percentage, combined.decided_by) == (70.0, ("ta1", "ta2"))


def test_invalid_grader_input_is_reported_together() -> None:
    with pytest.raises(ScoringError) as excinfo:
        combine_grader_scores(
            [GraderScore("ta1", 60.0), GraderScore("ta1", 120.0)],
            method="median",  # type: ignore[arg-type]
            disagreement_threshold_pct=-1,
        )
    assert len(excinfo.value.problems) == 4
    with pytest.raises(ScoringError, match="no grader scores"):
        combine_grader_scores([])


def test_grader_score_from_result_carries_the_percentage_and_refuses_drafts() -> None:
    complete = score_total(RUBRICS["peer"], {"clarity": 3, "insight": 3, "time": 3})
    assert GraderScore.from_result("ta1", complete, is_instructor=True) == GraderScore(
        "ta1", 75.0, True
    )
    draft = score_total(RUBRICS["peer"], {"clarity": 3})
    with pytest.raises(ScoringError, match="incomplete"):
        GraderScore.from_result("ta1", draft)


# --- peers, presentation grade, adjustments ---------------------------------------------------


def test_peer_aggregation_of_no_ratings_is_none() -> None:
    assert aggregate_peer([]) is None
    assert aggregate_peer([], method="trimmed_mean") is None


def test_peer_median_ignores_a_single_outlier() -> None:
    assert aggregate_peer([80.0, 85.0, 0.0, 90.0, 75.0]) == 80.0


def test_trimmed_mean_drops_one_rating_from_each_end_of_ten() -> None:
    values = [0.0, 70.0, 72.0, 74.0, 76.0, 78.0, 80.0, 82.0, 84.0, 100.0]
    assert aggregate_peer(values, method="trimmed_mean", trim=0.1) == pytest.approx(77.0)


@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=30),
    st.floats(0, 0.49),
)
def test_trimmed_mean_matches_scipy(values: list[float], trim: float) -> None:
    expected = float(trim_mean(values, trim))
    assert aggregate_peer(values, method="trimmed_mean", trim=trim) == pytest.approx(expected)


def test_peer_aggregation_rejects_bad_arguments() -> None:
    with pytest.raises(ScoringError):
        aggregate_peer([50.0], method="mode")  # type: ignore[arg-type]
    with pytest.raises(ScoringError):
        aggregate_peer([50.0], method="trimmed_mean", trim=0.5)
    with pytest.raises(ScoringError):
        aggregate_peer([50.0, math.nan])


def test_presentation_grade_is_staff_only_by_default_or_without_peers() -> None:
    assert presentation_grade(82.0, 60.0) == 82.0
    assert presentation_grade(82.0, None, peer_weight=0.3) == 82.0


def test_presentation_grade_blends_peers_by_weight() -> None:
    assert presentation_grade(80.0, 60.0, peer_weight=0.25) == 75.0


@pytest.mark.parametrize(
    ("staff", "peer", "weight"), [(101.0, 50.0, 0.2), (80.0, -5.0, 0.2), (80.0, 50.0, 1.5)]
)
def test_presentation_grade_rejects_out_of_range_input(
    staff: float, peer: float, weight: float
) -> None:
    with pytest.raises(ScoringError):
        presentation_grade(staff, peer, peer_weight=weight)


@pytest.mark.parametrize(
    ("adjustment", "expected"),
    [
        (None, 80.0),
        (Adjustment("delta", -15.0), 65.0),
        (Adjustment("delta", 30.0), 100.0),
        (Adjustment("delta", -95.0), 0.0),
        (Adjustment("override", 40.0), 40.0),
    ],
)
def test_individual_adjustment_shifts_within_0_100_or_overrides(
    adjustment: Adjustment | None, expected: float
) -> None:
    assert individual_adjustment(80.0, adjustment) == expected


@pytest.mark.parametrize(
    "adjustment",
    [Adjustment("override", 120.0), Adjustment("delta", 150.0), Adjustment("bonus", 5.0)],  # type: ignore[arg-type]
)
def test_individual_adjustment_rejects_impossible_values(adjustment: Adjustment) -> None:
    with pytest.raises(ScoringError):
        individual_adjustment(80.0, adjustment)


# --- reliability ------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, missing values. Published: nominal .743, ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorffs_published_example(level: str, published: float) -> None:
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert alpha == pytest.approx(published, abs=0.0005)


def test_alpha_is_one_for_perfect_agreement() -> None:
    assert krippendorff_alpha([[1, 2, 3, None], [1, 2, 3, 4]]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "ratings",
    [
        [],
        [[1, 2, 3]],  # a single rater
        [[1, None], [None, 2]],  # no item rated twice
        [[3, 3], [3, 3]],  # one value throughout: nothing to agree about
    ],
)
def test_alpha_is_none_when_undefined(ratings: list[list[float | None]]) -> None:
    assert krippendorff_alpha(ratings) is None


def test_alpha_rejects_ragged_or_non_numeric_ratings() -> None:
    with pytest.raises(ScoringError):
        krippendorff_alpha([[1, 2], [1]])
    with pytest.raises(ScoringError):
        krippendorff_alpha([[1, "2"], [1, 2]])  # type: ignore[list-item]


def test_rater_distances_put_the_careless_rater_first() -> None:
    staff = {"g1": 80.0, "g2": 60.0, "g3": 90.0}
    peer = {
        "careful": {"g1": 78.0, "g2": 64.0, "g3": 90.0},
        "everyone-100": {"g1": 100.0, "g2": 100.0, "g3": 100.0},
        "unrated-only": {"g9": 50.0},
    }
    distances = rater_distances(peer, staff)
    assert list(distances) == ["everyone-100", "careful"]
    assert distances["everyone-100"] == pytest.approx((20 + 40 + 10) / 3)
    assert distances["careful"] == pytest.approx(2.0)


def test_rater_distances_ignore_items_staff_did_not_score() -> None:
    distances = rater_distances({"r": {"g1": 70.0, "g2": 10.0}}, {"g1": 80.0})
    assert distances == {"r": 10.0}


def test_scoring_uses_the_rubric_it_is_given() -> None:
    # A rubric version with different points changes the arithmetic, not a cached copy.
    stored = RUBRICS["peer"].to_storage()
    stored["version"] = 2
    stored["criteria"][0]["points"] = 8
    stored["criteria"][0]["levels"][0]["score"] = 8
    v2 = Rubric.from_storage(stored)
    result = score_total(v2, {"clarity": 8, "insight": 4, "time": 4})
    assert (result.rubric_version, result.max_score, result.percentage) == (2, 16.0, 100.0)
