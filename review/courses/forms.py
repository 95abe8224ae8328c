"""Course pages' forms."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import EmailField, HiddenField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp


class TableUploadForm(FlaskForm):
    """Upload of a CSV or XLSX table (roster, groups, preferences, grades)."""

    file = FileField("CSV or XLSX file", validators=[
        FileRequired("Choose a file to upload."),
        FileAllowed(["csv", "xlsx"], "Only .csv and .xlsx files can be imported."),
    ])
    submit = SubmitField("Import")


class StaffForm(FlaskForm):
    """Add a TA or co-instructor by email; names are needed only for a new account."""

    email = EmailField("Email", validators=[DataRequired("Enter the person's email."),
                                            Email("Enter a valid email address."),
                                            Length(max=254)])
    role = RadioField("Role", choices=[SelectChoice("ta", "TA"),
                                       SelectChoice("instructor", "Instructor")],
                      default="ta", validators=[DataRequired("Choose a role.")])
    first_name = StringField("First name", validators=[Optional(), Length(max=100)],
                             description="Needed when the person has no account yet.")
    last_name = StringField("Last name", validators=[Optional(), Length(max=100)])
    submit = SubmitField("Add to staff")


class UserIdsForm(FlaskForm):
    """A comma-separated list of account ids (people whose set-password links to hand out)."""

    user_ids = HiddenField(validators=[
        DataRequired("Say whose links to make."),
        Regexp(r"^\d{1,9}(,\d{1,9})*$", message="The list of people is not valid.")])

    def ids(self) -> list[int]:
        return [int(part) for part in self.user_ids.data.split(",")]
