"""Review deadlines across time zones and DST changes, and every branch of the late policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from review.reviews.policy import (
    LateAssessment,
    LateMode,
    LatePolicy,
    assess_late,
    countdown_text,
    default_deadline,
    format_local,
    late_days,
    window_opens,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_date", "tz", "expected_utc"),
    [
        # Istanbul has been UTC+3 all year since 2016: same offset in autumn and winter.
        (date(2023, 10, 30), "Europe/Istanbul", utc(2023, 10, 29, 20, 59)),
        (date(2024, 1, 8), "Europe/Istanbul", utc(2024, 1, 7, 20, 59)),
        # New York springs forward on Sun 10 Mar 2024: Sunday evening is already EDT (UTC-4).
        (date(2024, 3, 4), "America/New_York", utc(2024, 3, 4, 4, 59)),
        (date(2024, 3, 11), "America/New_York", utc(2024, 3, 11, 3, 59)),
        # ... and falls back on Sun 3 Nov 2024: that Sunday evening is EST (UTC-5) again.
        (date(2024, 10, 28), "America/New_York", utc(2024, 10, 28, 3, 59)),
        (date(2024, 11, 4), "America/New_York", utc(2024, 11, 4, 4, 59)),
        # Berlin: summer time starts Sun 26 Mar 2023 and ends Sun 29 Oct 2023.
        (date(2023, 3, 27), "Europe/Berlin", utc(2023, 3, 26, 21, 59)),
        (date(2023, 10, 23), "Europe/Berlin", utc(2023, 10, 22, 21, 59)),
        (date(2023, 10, 30), "Europe/Berlin", utc(2023, 10, 29, 22, 59)),
        # East of UTC: Auckland in summer is UTC+13, Kolkata is UTC+5:30.
        (date(2024, 1, 8), "Pacific/Auckland", utc(2024, 1, 7, 10, 59)),
        (date(2024, 1, 8), "Asia/Kolkata", utc(2024, 1, 7, 18, 29)),
    ],
)
def test_default_deadline_is_2359_local_the_evening_before(
    session_date: date, tz: str, expected_utc: datetime
) -> None:
    deadline = default_deadline(session_date, tz)
    assert deadline == expected_utc
    assert deadline.utcoffset() == timedelta(0)
    local = deadline.astimezone(ZoneInfo(tz))
    assert (local.date(), local.time()) == (session_date - timedelta(days=1), time(23, 59))


def test_deadline_in_a_zone_east_of_utc_can_fall_on_the_previous_utc_day() -> None:
    # A deadline at 09:00 on the session's own day in Auckland is still the day before in UTC.
    deadline = default_deadline(date(2024, 1, 8), "Pacific/Auckland", days_before=0, at=time(9, 0))
    assert deadline == utc(2024, 1, 7, 20, 0)


def test_deadline_days_before_and_time_are_configurable() -> None:
    deadline = default_deadline(date(2023, 10, 30), "Europe/Istanbul", days_before=3, at=time(17, 0))
    assert deadline == utc(2023, 10, 27, 14, 0)


def test_deadline_at_a_skipped_local_time_moves_to_the_later_instant() -> None:
    # 02:30 does not exist in New York on 10 Mar 2024; the clock shows 03:30 EDT at that moment.
    deadline = default_deadline(date(2024, 3, 10), "America/New_York", days_before=0, at=time(2, 30))
    assert deadline == utc(2024, 3, 10, 7, 30)


def test_deadline_at_a_repeated_local_time_takes_the_later_occurrence() -> None:
    # 01:30 happens twice in New York on 3 Nov 2024 (EDT, then EST); students get the second.
    deadline = default_deadline(date(2024, 11, 3), "America/New_York", days_before=0, at=time(1, 30))
    assert deadline == utc(2024, 11, 3, 6, 30)


def test_negative_days_before_is_rejected() -> None:
    with pytest.raises(ValueError):
        default_deadline(date(2024, 1, 8), "UTC", days_before=-1)


# --- review window ------------------------------------------------------------------------------


def test_window_opens_a_week_before_at_the_same_local_time_across_spring_forward() -> None:
    deadline = default_deadline(date(2024, 3, 11), "America/New_York")
    opens = window_opens(deadline, "America/New_York")
    assert opens == utc(2024, 3, 4, 4, 59)  # Sun 3 Mar 23:59 EST
    assert deadline - opens == timedelta(days=7) - timedelta(hours=1)


def test_window_opens_a_week_before_at_the_same_local_time_across_fall_back() -> None:
    deadline = default_deadline(date(2023, 10, 30), "Europe/Berlin")
    opens = window_opens(deadline, "Europe/Berlin")
    assert opens == utc(2023, 10, 22, 21, 59)  # Sun 22 Oct 23:59 CEST
    assert deadline - opens == timedelta(days=7, hours=1)


def test_window_length_is_configurable() -> None:
    deadline = default_deadline(date(2023, 10, 30), "Europe/Istanbul")
    assert window_opens(deadline, "Europe/Istanbul", days_before=3) == utc(2023, 10, 26, 20, 59)


# --- late days ----------------------------------------------------------------------------------

DEADLINE = utc(2023, 10, 29, 20, 59)


@pytest.mark.parametrize(
    ("submitted", "expected"),
    [
        (DEADLINE - timedelta(days=2), 0),
        (DEADLINE, 0),
        (DEADLINE + timedelta(microseconds=1), 1),
        (DEADLINE + timedelta(hours=23, minutes=59), 1),
        (DEADLINE + timedelta(days=1), 1),
        (DEADLINE + timedelta(days=1, seconds=1), 2),
        (DEADLINE + timedelta(days=4, hours=12), 5),
    ],
)
def test_late_days_round_any_started_day_up(submitted: datetime, expected: int) -> None:
    assert late_days(DEADLINE, submitted) == expected


def test_late_days_count_elapsed_days_not_local_calendar_days_across_dst() -> None:
    # Sat 9 Mar 23:59 EST to Sun 10 Mar 23:59 EDT is one calendar day but only 23 hours.
    deadline = default_deadline(date(2024, 3, 10), "America/New_York")
    next_evening = default_deadline(date(2024, 3, 11), "America/New_York")
    assert late_days(deadline, next_evening) == 1
    assert late_days(deadline, next_evening + timedelta(hours=1)) == 1
    assert late_days(deadline, next_evening + timedelta(hours=1, seconds=1)) == 2


def test_late_days_compare_instants_whatever_zone_they_are_expressed_in() -> None:
    submitted_in_istanbul = datetime(2023, 10, 29, 23, 59, 30, tzinfo=ZoneInfo("Europe/Istanbul"))
    assert late_days(DEADLINE, submitted_in_istanbul) == 1


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        late_days(datetime(2023, 10, 29, 20, 59), DEADLINE)
    with pytest.raises(ValueError):
        countdown_text(DEADLINE, datetime(2023, 10, 29))


# --- late policy --------------------------------------------------------------------------------

REJECT = LatePolicy(LateMode.REJECT)
PENALTY = LatePolicy(LateMode.PENALTY, penalty_per_day_pct=10)
GRACE = LatePolicy(LateMode.GRACE_DAYS, grace_days_pool=5)
GRACE_THEN_PENALTY = LatePolicy(LateMode.GRACE_DAYS, penalty_per_day_pct=20, grace_days_pool=5)


def days_late(days: int) -> datetime:
    return DEADLINE + timedelta(days=days - 1, hours=1)


@pytest.mark.parametrize("policy", [REJECT, PENALTY, GRACE, GRACE_THEN_PENALTY])
def test_on_time_review_is_accepted_at_no_cost_under_every_policy(policy: LatePolicy) -> None:
    assert assess_late(policy, DEADLINE, DEADLINE, 5) == LateAssessment(True, 0, 0.0, 0, "")


def test_reject_policy_refuses_any_late_review() -> None:
    assert assess_late(REJECT, DEADLINE, DEADLINE + timedelta(seconds=1), 0) == LateAssessment(
        False, 1, 0.0, 0, "This review is 1 day late: late reviews are not accepted."
    )


def test_penalty_policy_charges_per_started_day() -> None:
    assert assess_late(PENALTY, DEADLINE, days_late(2), 0) == LateAssessment(
        True, 2, 20.0, 0, "This review is 2 days late: a 20% penalty applies."
    )


def test_penalty_is_capped_at_100_percent() -> None:
    assessment = assess_late(PENALTY, DEADLINE, days_late(14), 0)
    assert (assessment.accepted, assessment.penalty_pct) == (True, 100.0)
    assert assessment.message == "This review is 14 days late: a 100% penalty applies."


def test_fractional_penalties_are_shown_without_float_noise() -> None:
    policy = LatePolicy("penalty", penalty_per_day_pct=33.3)
    assessment = assess_late(policy, DEADLINE, days_late(3), 0)
    assert assessment.penalty_pct == 99.9
    assert assessment.message == "This review is 3 days late: a 99.9% penalty applies."


def test_grace_days_cover_the_delay_from_the_remaining_pool() -> None:
    assert assess_late(GRACE, DEADLINE, days_late(2), 0) == LateAssessment(
        True, 2, 0.0, 2, "This review is 2 days late: 2 of your 5 remaining grace days will be used."
    )
    assert assess_late(GRACE, DEADLINE, days_late(1), 3).message == (
        "This review is 1 day late: 1 of your 2 remaining grace days will be used."
    )


def test_grace_days_that_exactly_cover_the_delay_are_the_last_ones() -> None:
    assert assess_late(GRACE, DEADLINE, days_late(2), 3) == LateAssessment(
        True, 2, 0.0, 2, "This review is 2 days late: your last 2 grace days will be used."
    )
    assert assess_late(GRACE, DEADLINE, days_late(1), 4).message == (
        "This review is 1 day late: your last grace day will be used."
    )


def test_grace_days_short_of_the_delay_without_a_penalty_mean_not_accepted() -> None:
    assert assess_late(GRACE, DEADLINE, days_late(3), 3) == LateAssessment(
        False,
        3,
        0.0,
        0,
        "This review is 3 days late and you have only 2 grace days left: it cannot be accepted.",
    )
    assert assess_late(GRACE, DEADLINE, days_late(2), 4).message == (
        "This review is 2 days late and you have only 1 grace day left: it cannot be accepted."
    )


def test_no_grace_days_left_without_a_penalty_means_not_accepted() -> None:
    assert assess_late(GRACE, DEADLINE, days_late(1), 5) == LateAssessment(
        False, 1, 0.0, 0, "This review is 1 day late and you have no grace days left: it cannot be accepted."
    )


def test_grace_days_short_of_the_delay_are_used_up_and_the_rest_is_penalised() -> None:
    assert assess_late(GRACE_THEN_PENALTY, DEADLINE, days_late(3), 4) == LateAssessment(
        True,
        3,
        40.0,
        1,
        "This review is 3 days late: your last grace day will be used and the other 2 days carry "
        "a 40% penalty.",
    )
    assert assess_late(GRACE_THEN_PENALTY, DEADLINE, days_late(4), 2).message == (
        "This review is 4 days late: your last 3 grace days will be used and the remaining day "
        "carries a 20% penalty."
    )


def test_no_grace_days_left_with_a_penalty_charges_every_day() -> None:
    assert assess_late(GRACE_THEN_PENALTY, DEADLINE, days_late(2), 5) == LateAssessment(
        True, 2, 40.0, 0, "This review is 2 days late and you have no grace days left: a 40% penalty applies."
    )


def test_overdrawn_grace_pool_counts_as_empty() -> None:
    assessment = assess_late(GRACE_THEN_PENALTY, DEADLINE, days_late(1), 7)
    assert (assessment.grace_days_to_use, assessment.penalty_pct) == (0, 20.0)


def test_negative_grace_days_used_is_rejected() -> None:
    with pytest.raises(ValueError):
        assess_late(GRACE, DEADLINE, days_late(1), -1)


def test_policy_mode_accepts_the_stored_string() -> None:
    assert LatePolicy("grace_days", grace_days_pool=7).mode is LateMode.GRACE_DAYS


@pytest.mark.parametrize(
    "arguments",
    [
        {"mode": "forgive"},
        {"mode": "penalty", "penalty_per_day_pct": -5},
        {"mode": "penalty", "penalty_per_day_pct": 150},
        {"mode": "grace_days", "grace_days_pool": -1},
    ],
)
def test_invalid_policies_are_rejected(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LatePolicy(**arguments)  # type: ignore[arg-type]


# --- countdown and display ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (DEADLINE - timedelta(days=2, hours=3, minutes=20), "2 days 3 hours left"),
        (DEADLINE - timedelta(days=2, minutes=20), "2 days left"),
        (DEADLINE - timedelta(days=1, hours=1), "1 day 1 hour left"),
        (DEADLINE - timedelta(hours=5, minutes=1, seconds=30), "5 hours 1 minute left"),
        (DEADLINE - timedelta(hours=1, minutes=59, seconds=59), "1 hour 59 minutes left"),
        (DEADLINE - timedelta(hours=3), "3 hours left"),
        (DEADLINE - timedelta(minutes=42, seconds=59), "42 minutes left"),
        (DEADLINE - timedelta(seconds=59), "less than a minute left"),
        (DEADLINE, "less than a minute left"),
        (DEADLINE + timedelta(seconds=10), "closed just now"),
        (DEADLINE + timedelta(minutes=5, seconds=59), "closed 5 minutes ago"),
        (DEADLINE + timedelta(minutes=1), "closed 1 minute ago"),
        (DEADLINE + timedelta(days=1, hours=2, minutes=30), "closed 1 day 2 hours ago"),
    ],
)
def test_countdown_text_rounds_down_to_the_two_largest_units(now: datetime, expected: str) -> None:
    assert countdown_text(DEADLINE, now) == expected


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (utc(2023, 10, 29, 20, 59), "Europe/Istanbul", "Sun 29 Oct 2023, 23:59 +03"),
        (utc(2023, 10, 29, 22, 59), "Europe/Berlin", "Sun 29 Oct 2023, 23:59 CET"),
        (utc(2023, 10, 22, 21, 59), "Europe/Berlin", "Sun 22 Oct 2023, 23:59 CEST"),
        (utc(2024, 3, 11, 3, 59), "America/New_York", "Sun 10 Mar 2024, 23:59 EDT"),
        (utc(2024, 1, 7, 20, 0), "Pacific/Auckland", "Mon 08 Jan 2024, 09:00 NZDT"),
    ],
)
def test_format_local_shows_local_wall_time_and_zone(instant: datetime, tz: str, expected: str) -> None:
    assert format_local(instant, tz) == expected
