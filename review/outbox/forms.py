"""The outbox's one form: resend a message."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import DataRequired, NumberRange


class ResendForm(FlaskForm):
    message_id = IntegerField("Message", validators=[DataRequired(),
                                                     NumberRange(min=1, max=2**31 - 1)])
