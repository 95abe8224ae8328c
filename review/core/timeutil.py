"""Conversions between the course timezone and the UTC the database stores."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo


def local_to_utc(day: date, at: time, tz: str) -> datetime:
    """The aware UTC instant of a wall-clock time on a day in a timezone (DST-correct)."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def to_local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


def today_in(tz: str, now: datetime) -> date:
    return to_local(now, tz).date()
