"""Template filters shared by every page: times in the course timezone, durations."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask import Flask, g

from review.core.timeutil import to_local
from review.courses.definition import is_web_url
from review.mail import public_url
from review.permissions import current_staff_can


def _course_timezone() -> str:
    course = g.get("course")
    return course.timezone if course is not None else "UTC"


def localtime(moment: Optional[datetime], fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """Format a stored UTC time in the timezone of the course the page is about."""
    if moment is None:
        return ""
    tz = _course_timezone()
    local = to_local(moment, tz)
    return f"{local.strftime(fmt)} ({local.tzname()})"


def localdate(moment: Optional[datetime], fmt: str = "%a %d %b %Y") -> str:
    if moment is None:
        return ""
    return to_local(moment, _course_timezone()).strftime(fmt)


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(localdate, "localdate")
    app.add_template_global(public_url, "public_url")
    # `{% if url is web_url %}`: only http(s) links are rendered as links (not javascript:).
    app.add_template_test(is_web_url, "web_url")
    # Templates show a staff control only to who may use its route (course_staff_can).
    app.add_template_global(current_staff_can, "can")
