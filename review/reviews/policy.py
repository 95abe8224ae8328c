"""Review deadlines, review windows and the late policy, as pure time arithmetic.

Every instant this module takes or returns is an aware datetime; results are in UTC. Course
rules are stated in the course's local time ("the evening before the session, 23:59"), so the
arithmetic happens on local wall-clock dates and times and only then turns into UTC, which keeps
a deadline at 23:59 local across daylight-saving changes. Naive datetimes are refused: if they
come from storage as naive UTC, attach ``timezone.utc`` at that boundary.

Public API:
    default_deadline(session_local_date, tz, *, days_before=1, at=time(23, 59)) -> datetime
        ``at`` local time, ``days_before`` calendar days before the session's local date.
    window_opens(deadline_utc, tz, *, days_before=7) -> datetime
        Same local wall-clock time, ``days_before`` calendar days before the deadline.
    late_days(deadline_utc, submitted_utc) -> int
        Started 24-hour periods after the deadline; 0 when on time (at the deadline is on time).
    assess_late(policy, deadline_utc, now_utc, grace_days_used_so_far) -> LateAssessment
        Whether a review submitted now is accepted, at what cost, and the sentence to show the
        student before they submit.
    late_window_closes(policy, deadline_utc, grace_days_used_so_far) -> datetime | None
        When a late review stops being worth anything: after this instant it is refused, or its
        penalty is 100%. None when late reviews are accepted at a cost below 100% forever.
    countdown_text(deadline_utc, now_utc) -> str        "2 days 3 hours left", "closed 5 minutes ago"
    format_local(dt_utc, tz) -> str                     "Sun 29 Oct 2023, 23:59 +03"

Data:
    LateMode            "reject" | "penalty" | "grace_days" (a StrEnum; plain strings accepted)
    LatePolicy(mode, penalty_per_day_pct=0.0, grace_days_pool=0, max_days_late=None,
               min_score_pct=0.0)
    LateAssessment(accepted, days_late, penalty_pct, grace_days_to_use, message)

Grace days that do not cover the delay: all remaining grace days are used and the policy's
``penalty_per_day_pct`` applies to each day they do not cover; with no per-day penalty configured
the review is not accepted (and no grace days are spent). Penalties are capped at 100%, and
further at ``100 - min_score_pct`` so that a late review keeps at least that share of its score.
A review more than ``max_days_late`` days late is not accepted in any mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
DEFAULT_DEADLINE_TIME = time(23, 59)

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class LateMode(StrEnum):
    REJECT = "reject"
    PENALTY = "penalty"
    GRACE_DAYS = "grace_days"


@dataclass(frozen=True)
class LatePolicy:
    """How a course treats late reviews; percentages are of the review's grade, per day late."""

    mode: LateMode
    penalty_per_day_pct: float = 0.0
    grace_days_pool: int = 0
    max_days_late: int | None = None
    min_score_pct: float = 0.0

    def __post_init__(self) -> None:
        # Policies come from course settings as plain strings; fail here, not mid-assessment.
        object.__setattr__(self, "mode", LateMode(self.mode))
        if not 0.0 <= self.penalty_per_day_pct <= 100.0:
            raise ValueError(f"penalty_per_day_pct must be within 0..100, got {self.penalty_per_day_pct}")
        if self.grace_days_pool < 0:
            raise ValueError(f"grace_days_pool must not be negative, got {self.grace_days_pool}")
        if self.max_days_late is not None and self.max_days_late < 1:
            raise ValueError(f"max_days_late must be at least 1, got {self.max_days_late}")
        if not 0.0 <= self.min_score_pct <= 100.0:
            raise ValueError(f"min_score_pct must be within 0..100, got {self.min_score_pct}")


@dataclass(frozen=True)
class LateAssessment:
    """The outcome of submitting now; ``message`` is empty when the review is on time."""

    accepted: bool
    days_late: int
    penalty_pct: float
    grace_days_to_use: int
    message: str


def default_deadline(
    session_local_date: date,
    tz: str,
    *,
    days_before: int = 1,
    at: time = DEFAULT_DEADLINE_TIME,
) -> datetime:
    """The review deadline for a session held on ``session_local_date`` in zone ``tz``, in UTC."""
    if days_before < 0:
        raise ValueError(f"days_before must not be negative, got {days_before}")
    local_day = session_local_date - timedelta(days=days_before)
    return _local_to_utc(datetime.combine(local_day, at), ZoneInfo(tz))


def window_opens(deadline_utc: datetime, tz: str, *, days_before: int = 7) -> datetime:
    """When reviewing opens: the deadline's local wall-clock time, ``days_before`` days earlier."""
    _require_aware(deadline_utc)
    if days_before < 0:
        raise ValueError(f"days_before must not be negative, got {days_before}")
    zone = ZoneInfo(tz)
    # Subtracting 7 * 24 h in UTC would open the window an hour off whenever a DST switch falls
    # inside the week; stepping back on the local calendar keeps the same wall-clock time.
    local_deadline = deadline_utc.astimezone(zone).replace(tzinfo=None)
    return _local_to_utc(local_deadline - timedelta(days=days_before), zone)


def late_days(deadline_utc: datetime, submitted_utc: datetime) -> int:
    """Whole days late, any started day counting as one; 0 when submitted by the deadline."""
    _require_aware(deadline_utc)
    _require_aware(submitted_utc)
    lateness = submitted_utc - deadline_utc
    if lateness <= timedelta(0):
        return 0
    # Elapsed 24-hour periods, not local calendar days: one second or 23 hours late are both
    # one day, and a DST change in between neither adds nor removes a late day.
    return -(-lateness // DAY)


def assess_late(
    policy: LatePolicy,
    deadline_utc: datetime,
    now_utc: datetime,
    grace_days_used_so_far: int,
) -> LateAssessment:
    """What happens if the student submits at ``now_utc``, with the sentence to show them."""
    if grace_days_used_so_far < 0:
        raise ValueError(f"grace_days_used_so_far must not be negative, got {grace_days_used_so_far}")
    days = late_days(deadline_utc, now_utc)
    if days == 0:
        return LateAssessment(True, 0, 0.0, 0, "")
    lead = f"This review is {_count(days, 'day')} late"

    if policy.mode is LateMode.REJECT:
        return LateAssessment(False, days, 0.0, 0, f"{lead}: late reviews are not accepted.")

    if policy.max_days_late is not None and days > policy.max_days_late:
        return LateAssessment(
            False, days, 0.0, 0,
            f"Reviews are accepted at most {_count(policy.max_days_late, 'day')} late; "
            f"this one would be {_count(days, 'day')} late.")

    if policy.mode is LateMode.PENALTY:
        penalty = _penalty_for(days, policy)
        return LateAssessment(True, days, penalty, 0, f"{lead}: a {_percent(penalty)} penalty applies.")

    remaining = max(0, policy.grace_days_pool - grace_days_used_so_far)
    if days <= remaining:
        # days < remaining means at least two remain, so "grace days" is always plural there.
        spent = (
            _last_grace_days(days)
            if days == remaining
            else f"{days} of your {remaining} remaining grace days"
        )
        return LateAssessment(True, days, 0.0, days, f"{lead}: {spent} will be used.")

    uncovered = days - remaining
    if policy.penalty_per_day_pct == 0.0:
        left = "no grace days left" if remaining == 0 else f"only {_count(remaining, 'grace day')} left"
        return LateAssessment(False, days, 0.0, 0, f"{lead} and you have {left}: it cannot be accepted.")
    penalty = _penalty_for(uncovered, policy)
    if remaining == 0:
        message = f"{lead} and you have no grace days left: a {_percent(penalty)} penalty applies."
    else:
        rest = "the remaining day carries" if uncovered == 1 else f"the other {uncovered} days carry"
        spent = _last_grace_days(remaining)
        message = f"{lead}: {spent} will be used and {rest} a {_percent(penalty)} penalty."
    return LateAssessment(True, days, penalty, remaining, message)


def late_window_closes(
    policy: LatePolicy,
    deadline_utc: datetime,
    grace_days_used_so_far: int,
) -> datetime | None:
    """The last instant a late review is still accepted and worth something (see the docstring).

    A review ``d`` days late (``late_days``) is submitted within ``d`` days after the deadline,
    so "worth something while at most ``n`` days late" closes at ``deadline + n days``.
    """
    _require_aware(deadline_utc)
    if policy.mode is LateMode.REJECT:
        return deadline_utc
    covered = 0
    if policy.mode is LateMode.GRACE_DAYS:
        covered = max(0, policy.grace_days_pool - grace_days_used_so_far)
        if policy.penalty_per_day_pct == 0.0:
            return deadline_utc + covered * DAY
    if policy.penalty_per_day_pct == 0.0:
        return None
    # The first uncovered day whose penalty reaches 100% is worth nothing.
    worthless_day = math.ceil(round(100.0 / policy.penalty_per_day_pct, 6))
    return deadline_utc + (covered + worthless_day - 1) * DAY


def countdown_text(deadline_utc: datetime, now_utc: datetime) -> str:
    """"2 days 3 hours left" before the deadline, "closed 5 minutes ago" after it."""
    _require_aware(deadline_utc)
    _require_aware(now_utc)
    remaining = deadline_utc - now_utc
    if remaining >= timedelta(0):
        duration = _duration_text(remaining)
        return "less than a minute left" if duration is None else f"{duration} left"
    duration = _duration_text(-remaining)
    return "closed just now" if duration is None else f"closed {duration} ago"


def format_local(dt_utc: datetime, tz: str) -> str:
    """``dt_utc`` as local time in ``tz``, e.g. "Sun 29 Oct 2023, 23:59 +03"."""
    _require_aware(dt_utc)
    local = dt_utc.astimezone(ZoneInfo(tz))
    # Names spelled out here rather than strftime's %a/%b, which follow the process locale.
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day:02d} {_MONTHS[local.month - 1]} {local.year}, "
        f"{local.hour:02d}:{local.minute:02d} {local.tzname()}"
    )


def _local_to_utc(wall_time: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time, the later one when a clock change makes it
    ambiguous or skips it, so that no student loses time to the change."""
    candidates = (wall_time.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1))
    return max(candidates)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {instant!r}")


def _penalty_for(days: int, policy: LatePolicy) -> float:
    # Rounded so that 3 x 33.3 shows as 99.9, not 99.89999999999999.
    ceiling = 100.0 - float(policy.min_score_pct)
    return round(min(ceiling, days * float(policy.penalty_per_day_pct)), 6)


def _percent(value: float) -> str:
    return f"{value:g}%"


def _last_grace_days(count: int) -> str:
    return "your last grace day" if count == 1 else f"your last {count} grace days"


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


def _count(count: int, noun: str) -> str:
    return f"{count} {_plural(count, noun)}"


def _duration_text(duration: timedelta) -> str | None:
    """The two largest whole units of ``duration``, rounded down; None under a minute."""
    minutes_total = math.floor(duration / timedelta(minutes=1))
    days, minutes_left = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(minutes_left, 60)
    if days:
        return " ".join([_count(days, "day"), *([_count(hours, "hour")] if hours else [])])
    if hours:
        return " ".join([_count(hours, "hour"), *([_count(minutes, "minute")] if minutes else [])])
    if minutes:
        return _count(minutes, "minute")
    return None
