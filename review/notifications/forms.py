"""A student's reminder setting for one course."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField


class RemindersForm(FlaskForm):
    reminders = RadioField("Review reminders", choices=["on", "off"])
