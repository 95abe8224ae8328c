"""Forms of the groups pages."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from review.core.ids import id_range
from review.courses.forms import TableUploadForm


class GroupNameForm(FlaskForm):
    name = StringField("Group name", validators=[DataRequired(), Length(max=100)])
    submit = SubmitField("Create group")


class JoinForm(FlaskForm):
    code = StringField("Join code", validators=[DataRequired(), Length(max=32)])
    submit = SubmitField("Join")


class MergeForm(FlaskForm):
    keep = IntegerField("Keep group", validators=[InputRequired(), id_range()])
    absorb = IntegerField("Merge into it", validators=[InputRequired(), id_range()])
    submit = SubmitField("Merge")


class MoveStudentForm(FlaskForm):
    student = IntegerField("Student", validators=[InputRequired(), id_range()])
    # 0 = take the student out of every group.
    group = IntegerField("Group", validators=[InputRequired(), id_range()])
    submit = SubmitField("Move")


class AutoFormApplyForm(FlaskForm):
    fingerprint = HiddenField(validators=[DataRequired()])
    submit = SubmitField("Create these groups")


class GroupImportForm(TableUploadForm):
    allow_small = BooleanField("Allow groups below the minimum size (each is listed as a warning)")
