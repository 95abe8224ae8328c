"""Forms of the groups pages."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange


class GroupNameForm(FlaskForm):
    name = StringField("Group name", validators=[DataRequired(), Length(max=100)])
    submit = SubmitField("Create group")


class JoinForm(FlaskForm):
    code = StringField("Join code", validators=[DataRequired(), Length(max=32)])
    submit = SubmitField("Join")


class MergeForm(FlaskForm):
    keep = IntegerField("Keep group", validators=[InputRequired()])
    absorb = IntegerField("Merge into it", validators=[InputRequired()])
    submit = SubmitField("Merge")


class MoveStudentForm(FlaskForm):
    student = IntegerField("Student", validators=[InputRequired()])
    # 0 = take the student out of every group.
    group = IntegerField("Group", validators=[InputRequired(), NumberRange(min=0)])
    submit = SubmitField("Move")


class AutoFormApplyForm(FlaskForm):
    fingerprint = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Create these groups")
