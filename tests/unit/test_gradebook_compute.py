"""Gradebook arithmetic on hand-computed cases (review.gradebook.compute)."""

import datetime as dt
from collections.abc import Sequence

import pytest

from review.gradebook.compute import (
    Component,
    CourseInfo,
    ExternalGrade,
    Gradebook,
    GradebookInput,
    GradebookInputError,
    LateDayEntry,
    LetterBoundary,
    ParticipationRecord,
    PresentationRecord,
    ReviewRecord,
    Session,
    Student,
    compute_gradebook,
    letter_for,
)

# The COMP541 weights from the syllabus (/work/shared/course/README.md).
COMP541_COMPONENTS = (
    Component("quiz", "Self-assessment quiz", 2, "external", max_points=10),
    Component("assignments", "Programming assignments", 20, "external", max_points=100),
    Component("midterm", "Midterm exam", 21, "external", max_points=100),
    Component("project", "Course project", 32, "external", max_points=100),
    Component("presentations", "Paper presentations", 10, "presentations"),
    Component("reviews", "Paper reviews", 5, "reviews"),
    Component("participation", "Class participation", 10, "participation"),
)
BOUNDARIES = (
    LetterBoundary("A", 90),
    LetterBoundary("A-", 85),
    LetterBoundary("B+", 80),
    LetterBoundary("B", 75),
    LetterBoundary("B-", 70),
    LetterBoundary("C+", 65),
    LetterBoundary("C", 60),
    LetterBoundary("C-", 55),
    LetterBoundary("D+", 50),
    LetterBoundary("D", 45),
    LetterBoundary("F", 0),
)


def make_course(components: Sequence[Component] = COMP541_COMPONENTS) -> CourseInfo:
    return CourseInfo("COMP541", "Deep Learning", tuple(components), BOUNDARIES)


def make_student(user_id: int, first: str = "Ayşe", last: str = "Çetin", email: str | None = None) -> Student:
    return Student(user_id, f"8{user_id:04d}", first, last, email or f"s{user_id}@example.edu")


def make_sessions(count: int) -> list[Session]:
    start = dt.date(2023, 10, 2)
    return [Session(100 + i, 5 + i, f"Paper {i + 1}", start + dt.timedelta(weeks=i)) for i in range(count)]


def presentation(user_id: int, slot_id: int, final_pct: float | None, week: int = 5) -> PresentationRecord:
    return PresentationRecord(
        user_id=user_id,
        slot_id=slot_id,
        group=f"Group {slot_id}",
        week=week,
        paper="Attention Is All You Need",
        role="overview",
        criterion_scores={"clarity": 4.0, "depth": 3.0},
        total=7.0,
        max_points=10.0,
        peer_pct=80.0,
        final_pct=final_pct,
    )


def compute(
    *,
    students: Sequence[Student] | None = None,
    sessions: Sequence[Session] | None = None,
    components: Sequence[Component] = COMP541_COMPONENTS,
    **records: Sequence[object],
) -> Gradebook:
    return compute_gradebook(
        GradebookInput(
            course=make_course(components),
            students=students if students is not None else [make_student(1)],
            sessions=sessions if sessions is not None else make_sessions(3),
            **records,
        )
    )


def reviews_pct(gradebook: Gradebook, user_id: int = 1) -> float:
    return gradebook.row(user_id)["reviews"]


# --- Reviews --------------------------------------------------------------------------------


def test_missing_review_counts_zero_and_excused_review_is_left_out() -> None:
    s = make_sessions(3)
    gradebook = compute(
        sessions=s,
        reviews=[
            ReviewRecord(1, s[0].id, "on_time", 90.0),
            ReviewRecord(1, s[1].id, "missing"),
            ReviewRecord(1, s[2].id, "excused"),
        ],
    )
    assert reviews_pct(gradebook) == pytest.approx(45.0)
    assert gradebook.status[1]["reviews_owed"] == 2


def test_session_without_a_record_counts_as_missing() -> None:
    s = make_sessions(2)
    gradebook = compute(sessions=s, reviews=[ReviewRecord(1, s[0].id, "on_time", 80.0)])
    assert reviews_pct(gradebook) == pytest.approx(40.0)
    row = next(r for r in gradebook.reviews if r["session_id"] == s[1].id)
    assert row["state"] == "missing"
    assert row["effective_pct"] == 0.0


def test_draft_counts_zero_even_with_a_score() -> None:
    s = make_sessions(2)
    gradebook = compute(
        sessions=s,
        reviews=[ReviewRecord(1, s[0].id, "draft", 100.0), ReviewRecord(1, s[1].id, "on_time", 60.0)],
    )
    assert reviews_pct(gradebook) == pytest.approx(30.0)
    assert gradebook.status[1]["reviews_zero"] == 1


def test_late_review_loses_its_penalty_share_of_the_score() -> None:
    s = make_sessions(2)
    gradebook = compute(
        sessions=s,
        reviews=[ReviewRecord(1, s[0].id, "late", 80.0, 25.0), ReviewRecord(1, s[1].id, "on_time", 100.0)],
    )
    # 80 * (1 - 0.25) = 60, averaged with 100.
    assert reviews_pct(gradebook) == pytest.approx(80.0)


def test_penalty_is_ignored_on_an_on_time_review() -> None:
    s = make_sessions(1)
    gradebook = compute(sessions=s, reviews=[ReviewRecord(1, s[0].id, "on_time", 80.0, 25.0)])
    assert reviews_pct(gradebook) == pytest.approx(80.0)


def test_all_reviews_exempt_leaves_the_component_blank() -> None:
    s = make_sessions(2)
    gradebook = compute(sessions=s, reviews=[ReviewRecord(1, x.id, "exempt") for x in s])
    assert reviews_pct(gradebook) is None
    assert gradebook.status[1]["reviews_owed"] == 0


@pytest.mark.parametrize(
    ("drop_lowest", "expected"),
    [(0, (50 + 70 + 90 + 100) / 4), (1, (70 + 90 + 100) / 3), (2, (90 + 100) / 2)],
)
def test_drop_lowest_removes_that_many_of_the_lowest_scores(drop_lowest: int, expected: float) -> None:
    s = make_sessions(4)
    components = [
        Component(c.key, c.label, c.weight, c.kind, c.max_points, drop_lowest if c.kind == "reviews" else 0)
        for c in COMP541_COMPONENTS
    ]
    scores = [90.0, 50.0, 100.0, 70.0]
    gradebook = compute(
        sessions=s,
        components=components,
        reviews=[ReviewRecord(1, x.id, "on_time", score) for x, score in zip(s, scores, strict=True)],
    )
    assert reviews_pct(gradebook) == pytest.approx(expected)
    assert gradebook.status[1]["reviews_dropped"] == drop_lowest


def test_drop_lowest_never_drops_the_last_counted_review() -> None:
    s = make_sessions(3)
    components = [
        Component(c.key, c.label, c.weight, c.kind, c.max_points, 5 if c.kind == "reviews" else 0)
        for c in COMP541_COMPONENTS
    ]
    gradebook = compute(
        sessions=s,
        components=components,
        reviews=[
            ReviewRecord(1, s[0].id, "excused"),
            ReviewRecord(1, s[1].id, "on_time", 40.0),
            ReviewRecord(1, s[2].id, "excused"),
        ],
    )
    assert reviews_pct(gradebook) == pytest.approx(40.0)


def test_drop_lowest_can_drop_a_missing_review() -> None:
    s = make_sessions(3)
    components = [
        Component(c.key, c.label, c.weight, c.kind, c.max_points, 1 if c.kind == "reviews" else 0)
        for c in COMP541_COMPONENTS
    ]
    gradebook = compute(
        sessions=s,
        components=components,
        reviews=[ReviewRecord(1, s[0].id, "on_time", 80.0), ReviewRecord(1, s[1].id, "late", 100.0, 10.0)],
    )
    assert reviews_pct(gradebook) == pytest.approx(85.0)
    dropped = [r["session_id"] for r in gradebook.reviews if r["status"] == "dropped"]
    assert dropped == [s[2].id]


def test_submitted_but_ungraded_review_is_pending_and_left_out_of_the_mean() -> None:
    s = make_sessions(3)
    gradebook = compute(
        sessions=s,
        reviews=[
            ReviewRecord(1, s[0].id, "on_time", 70.0),
            ReviewRecord(1, s[1].id, "on_time", None),
            ReviewRecord(1, s[2].id, "late", None, 10.0),
        ],
    )
    assert reviews_pct(gradebook) == pytest.approx(70.0)
    assert gradebook.status[1]["reviews_pending"] == 2
    assert gradebook.status[1]["reviews_counted"] == 1


# --- Presentations, participation, external components ---------------------------------------


def test_presentations_average_the_final_percentages_and_skip_pending_slots() -> None:
    gradebook = compute(
        presentations=[presentation(1, 1, 70.0), presentation(1, 2, 90.0, week=8), presentation(1, 3, None)]
    )
    assert gradebook.row(1)["presentations"] == pytest.approx(80.0)
    assert gradebook.status[1]["presentations_pending"] == 1
    assert [p["criterion:clarity"] for p in gradebook.presentations] == [4.0, 4.0, 4.0]


def test_student_without_a_graded_presentation_is_blank_and_scores_zero_towards_the_total() -> None:
    only_presentations = [Component("presentations", "Presentations", 100, "presentations")]
    gradebook = compute(components=only_presentations, presentations=[presentation(1, 1, None)])
    assert gradebook.row(1)["presentations"] is None
    assert gradebook.row(1)["total"] == 0.0
    assert gradebook.row(1)["letter"] == "F"


def test_participation_is_the_mean_of_recorded_sessions() -> None:
    s = make_sessions(3)
    gradebook = compute(
        sessions=s,
        participation=[ParticipationRecord(1, s[0].id, 100.0), ParticipationRecord(1, s[1].id, 50.0)],
    )
    assert gradebook.row(1)["participation"] == pytest.approx(75.0)
    assert gradebook.status[1]["participation_sessions"] == 2


def test_participation_pending_release_is_listed_but_not_counted() -> None:
    s = make_sessions(2)
    gradebook = compute(
        sessions=s,
        participation=[ParticipationRecord(1, s[0].id, 40.0), ParticipationRecord(1, s[1].id, None)],
    )
    assert gradebook.row(1)["participation"] == pytest.approx(40.0)
    assert gradebook.status[1]["participation_sessions"] == 1
    assert gradebook.status[1]["participation_pending"] == 1


def test_external_grade_is_a_percentage_of_its_max_points_and_a_missing_one_counts_zero() -> None:
    gradebook = compute(external_grades=[ExternalGrade(1, "quiz", 7.0)])
    assert gradebook.row(1)["quiz"] == pytest.approx(70.0)
    assert gradebook.row(1)["midterm"] is None
    # Only the quiz (weight 2) has a grade; the other components contribute 0.
    assert gradebook.row(1)["total"] == pytest.approx(2 * 70.0 / 100)
    assert gradebook.status[1]["externals_missing"] == 3
    assert gradebook.student(1).imported["quiz"] == 7.0


def test_weighted_total_of_the_comp541_scheme_matches_a_hand_computation() -> None:
    s = make_sessions(2)
    gradebook = compute(
        sessions=s,
        external_grades=[
            ExternalGrade(1, "quiz", 8.0),
            ExternalGrade(1, "assignments", 90.0),
            ExternalGrade(1, "midterm", 70.0),
            ExternalGrade(1, "project", 85.0),
        ],
        presentations=[presentation(1, 1, 80.0)],
        reviews=[ReviewRecord(1, s[0].id, "on_time", 100.0), ReviewRecord(1, s[1].id, "on_time", 20.0)],
        participation=[ParticipationRecord(1, x.id, 100.0) for x in s],
    )
    # (2*80 + 20*90 + 21*70 + 32*85 + 10*80 + 5*60 + 10*100) / 100
    assert gradebook.row(1)["total"] == pytest.approx(82.5)
    assert gradebook.row(1)["letter"] == "B+"


def test_summary_has_identity_components_total_and_letter_in_roster_order() -> None:
    students = [make_student(7, "Zeynep", "Güneş"), make_student(3, "İrem", "Aksoy")]
    gradebook = compute(students=students)
    assert list(gradebook.summary[0]) == [
        "user_id",
        "student_id",
        "first_name",
        "last_name",
        "email",
        "section",
        *(c.key for c in COMP541_COMPONENTS),
        "total",
        "letter",
    ]
    assert [r["user_id"] for r in gradebook.summary] == [7, 3]
    assert [r["first_name"] for r in gradebook.summary] == ["Zeynep", "İrem"]


def test_late_days_used_sums_the_ledger() -> None:
    gradebook = compute(
        students=[make_student(1), make_student(2)],
        late_days=[LateDayEntry(1, 2, "hw1"), LateDayEntry(1, 3, "hw3"), LateDayEntry(1, -1, "refund")],
    )
    assert [gradebook.status[u]["late_days_used"] for u in (1, 2)] == [4, 0]
    assert len(gradebook.late_days) == 3


def test_username_defaults_to_the_email_local_part() -> None:
    students = [
        make_student(1, email="aaslan17@example.edu"),
        Student(2, "2", "A", "B", "x@y.z", username="ab"),
    ]
    gradebook = compute(students=students)
    assert [r["username"] for r in gradebook.students] == ["aaslan17", "ab"]


# --- Letters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "letter"),
    [
        (100.0, "A"),
        (90.0, "A"),
        (89.99, "A-"),
        (85.0 - 1e-10, "A-"),  # float summation noise must not cost a letter
        (84.9999, "B+"),
        (45.0, "D"),
        (44.99, "F"),
        (0.0, "F"),
    ],
)
def test_letter_is_the_highest_boundary_the_total_reaches(total: float, letter: str) -> None:
    assert letter_for(total, make_course().boundaries) == letter


def test_boundaries_are_ordered_highest_first_whatever_the_input_order() -> None:
    course = CourseInfo("C", "T", COMP541_COMPONENTS, tuple(reversed(BOUNDARIES)))
    assert [b.letter for b in course.boundaries][:2] == ["A", "A-"]


# --- Input validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("components", "boundaries"),
    [
        ((Component("a", "A", 60, "external"), Component("b", "B", 30, "external")), BOUNDARIES),
        ((Component("a", "A", 50, "external"), Component("a", "B", 50, "external")), BOUNDARIES),
        ((Component("r", "R", 50, "reviews"), Component("s", "S", 50, "reviews")), BOUNDARIES),
        ((Component("a", "A", 100, "external"),), (LetterBoundary("A", 90), LetterBoundary("F", 10))),
        ((Component("a", "A", 100, "external"),), (LetterBoundary("A", 90), LetterBoundary("A", 0))),
    ],
    ids=["weights-not-100", "duplicate-key", "two-review-components", "no-zero-boundary", "duplicate-letter"],
)
def test_inconsistent_grading_scheme_is_rejected(
    components: tuple[Component, ...], boundaries: tuple[LetterBoundary, ...]
) -> None:
    with pytest.raises(GradebookInputError):
        CourseInfo("C", "T", components, boundaries)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Component("total", "Total", 100, "external"),
        lambda: Component("x", "X", 100, "external", drop_lowest=1),
        lambda: Component("x", "X", 100, "homework"),  # type: ignore[arg-type]
        lambda: ReviewRecord(1, 1, "lost"),  # type: ignore[arg-type]
        lambda: ReviewRecord(1, 1, "late", 50.0, 120.0),
    ],
    ids=["reserved-key", "drop-lowest-outside-reviews", "unknown-kind", "unknown-state", "penalty-over-100"],
)
def test_invalid_records_are_rejected(make: object) -> None:
    with pytest.raises(GradebookInputError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "records",
    [
        {"reviews": [ReviewRecord(99, 100, "on_time", 50.0)]},
        {"reviews": [ReviewRecord(1, 999, "on_time", 50.0)]},
        {"reviews": [ReviewRecord(1, 100, "on_time", 50.0), ReviewRecord(1, 100, "late", 50.0)]},
        {"external_grades": [ExternalGrade(1, "reviews", 50.0)]},
        {"external_grades": [ExternalGrade(1, "quiz", -1.0)]},
        {"presentations": [presentation(42, 1, 50.0)]},
    ],
    ids=[
        "unknown-student",
        "unknown-session",
        "duplicate-review",
        "not-external",
        "negative-score",
        "stranger",
    ],
)
def test_records_that_do_not_fit_the_roster_or_scheme_are_rejected(records: dict[str, list[object]]) -> None:
    with pytest.raises(GradebookInputError):
        compute(**records)


def test_course_without_any_records_still_lists_every_student_with_a_zero_total() -> None:
    gradebook = compute(students=[make_student(1), make_student(2)], sessions=[])
    assert [r["total"] for r in gradebook.summary] == [0.0, 0.0]
    assert gradebook.reviews == []
    assert gradebook.presentations == []


def test_graded_so_far_averages_only_the_components_with_grades() -> None:
    from review.gradebook.compute import graded_so_far

    data = GradebookInput(
        course=make_course(),
        students=(make_student(1), make_student(2)),
        sessions=(),
        external_grades=(ExternalGrade(1, "quiz", 8), ExternalGrade(1, "midterm", 70)),
    )
    gradebook = compute_gradebook(data)
    standing = graded_so_far(gradebook, 1)
    # quiz 80% (weight 2) and midterm 70% (weight 21) are graded: 23% of the course.
    assert standing.weight == pytest.approx(23)
    assert standing.average == pytest.approx((2 * 80 + 21 * 70) / 23)
    assert standing.letter == "B-"
    # The running total still counts the ungraded 77% as zero.
    assert gradebook.row(1)["total"] == pytest.approx((2 * 80 + 21 * 70) / 100)
    assert graded_so_far(gradebook, 2) == type(standing)(0.0, None, None)
