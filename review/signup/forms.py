"""Forms of the sign-up board and its settings."""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from review.core.ids import id_range


class SlotActionForm(FlaskForm):
    """Claim, release, wait: carries the slot version the board showed (a stale form fails)."""

    version = IntegerField(validators=[Optional()])
    submit = SubmitField("Go")


class MoveForm(FlaskForm):
    target = IntegerField("Move to slot", validators=[InputRequired(), id_range()])
    version = IntegerField(validators=[Optional()])
    submit = SubmitField("Move")


class SwapProposalForm(FlaskForm):
    from_slot = IntegerField("Our slot", validators=[InputRequired(), id_range()])
    to_slot = IntegerField("Their slot", validators=[InputRequired(), id_range()])
    submit = SubmitField("Propose swap")


REASON_REQUIRED = "Give a reason for the change; it goes into the audit log. Nothing was changed."


class StaffAssignForm(FlaskForm):
    # 0 = open the slot.
    group = IntegerField("Group", validators=[InputRequired(), id_range()])
    reason = StringField("Reason", validators=[DataRequired(message=REASON_REQUIRED),
                                               Length(max=500)])
    # Only for a held or graded slot: who presented (emails); empty = the new holder's members.
    presenters = StringField("Presenters", validators=[Optional(), Length(max=4000)])
    version = IntegerField(validators=[Optional()])
    submit = SubmitField("Set holder")


class StaffSwapForm(FlaskForm):
    slot_a = IntegerField("Slot", validators=[InputRequired(), id_range()])
    slot_b = IntegerField("Swap with slot", validators=[InputRequired(), id_range()])
    reason = StringField("Reason", validators=[DataRequired(message=REASON_REQUIRED),
                                               Length(max=500)])
    submit = SubmitField("Swap holders")


class SettingsForm(FlaskForm):
    mode = SelectField("Mode", choices=[
        SelectChoice("first_come", "First come, first served"),
        SelectChoice("preferences", "Preferences, then assignment")])
    opens_at = DateTimeLocalField("Opens at (course time)", format="%Y-%m-%dT%H:%M",
                                  validators=[Optional()])
    closes_at = DateTimeLocalField("Closes at (course time)", format="%Y-%m-%dT%H:%M",
                                   validators=[Optional()])
    drop_deadline = DateTimeLocalField("Drop deadline (course time)", format="%Y-%m-%dT%H:%M",
                                       validators=[Optional()])
    quota = IntegerField("Slots per group (empty: derived from slots and groups)",
                         validators=[Optional(), NumberRange(min=1, max=1000)])
    min_gap_weeks = IntegerField("Minimum weeks between a group's slots", default=0,
                                 validators=[InputRequired(), NumberRange(min=0, max=52)])
    submit = SubmitField("Save settings")
