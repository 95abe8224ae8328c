"""The outbox's forms: resend a message, run a failed job (analysis, import) again."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import DataRequired, NumberRange


class ResendForm(FlaskForm):
    message_id = IntegerField("Message", validators=[DataRequired(),
                                                     NumberRange(min=1, max=2**31 - 1)])


class RerunForm(FlaskForm):
    analysis_id = IntegerField("Job", validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])


class ImportRerunForm(FlaskForm):
    import_id = IntegerField("Import", validators=[DataRequired(), NumberRange(min=1, max=2**31 - 1)])
