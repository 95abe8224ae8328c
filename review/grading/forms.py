"""Grading forms. Rubric criteria are rendered from the rubric itself (templates/grading/
_rubric.html) as ``score-<criterion id>`` radio groups and ``comment-<criterion id>`` text areas;
``rubric_values`` reads them back. Every key sent is passed on, so a criterion that is not in
the rubric is refused by the scorer with its name rather than silently dropped."""

from __future__ import annotations

from typing import Any, Mapping

from flask_wtf import FlaskForm
from wtforms import (
    FloatField,
    IntegerField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from review.core.ids import id_range


def rubric_values(formdata: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(criterion -> chosen score text, criterion -> comment) from the posted form."""
    values = {key[len("score-"):]: value for key, value in formdata.items()
              if key.startswith("score-")}
    comments = {key[len("comment-"):]: value for key, value in formdata.items()
                if key.startswith("comment-")}
    return values, comments


class ScoreForm(FlaskForm):
    version = IntegerField(validators=[Optional()], default=0)
    overall_comment = TextAreaField("Overall comment", validators=[Length(max=10000)])
    reason = StringField("Reason for the change (kept in the audit log)",
                         validators=[Length(max=500)])
    submit = SubmitField("Save")
    save_next = SubmitField("Save and next ungraded")


class PeerForm(FlaskForm):
    submit = SubmitField("Save my rating")


class AdjustmentForm(FlaskForm):
    user_id = IntegerField(validators=[InputRequired(), id_range()])
    delta_pct = FloatField("Change (percentage points, 0 removes)",
                           validators=[InputRequired(), NumberRange(min=-100, max=100)])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])
    submit = SubmitField("Adjust")


class ManualParticipationForm(FlaskForm):
    user_id = IntegerField(validators=[InputRequired(), id_range()])
    points = FloatField("Points", validators=[InputRequired(), NumberRange(min=0.5, max=10)],
                        default=1)
    note = StringField("Note", validators=[DataRequired(), Length(max=500)])
    submit = SubmitField("Add")


class RegradeRequestForm(FlaskForm):
    reason = TextAreaField("Why should this be looked at again?",
                           validators=[DataRequired(), Length(min=10, max=5000)])
    submit = SubmitField("Request a regrade")


class ResolveRegradeForm(FlaskForm):
    outcome = StringField("Outcome", validators=[InputRequired(), AnyOf(["changed", "kept"])])
    reply = TextAreaField("Reply to the student", validators=[DataRequired(), Length(max=5000)])
    submit = SubmitField("Resolve")


class ReleaseForm(FlaskForm):
    action = StringField(validators=[AnyOf(["release", "withdraw"])], default="release")
    # "1" once the staff member has read the warnings (releasing) or the consequences
    # (withdrawing) and goes ahead: the value every confirmation page posts.
    confirm = StringField(validators=[Optional(), AnyOf(["1"])])
    submit = SubmitField("Release")

