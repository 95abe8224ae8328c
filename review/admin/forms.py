"""Site administration forms."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import EmailField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, Length, Optional


class NewCourseForm(FlaskForm):
    """A course YAML file and the course's first instructor."""

    file = FileField("Course file (YAML)", validators=[
        FileRequired("Choose the course's YAML file."),
        FileAllowed(["yaml", "yml"], "The course file must be a .yaml or .yml file."),
    ])
    instructor_email = EmailField("First instructor's email", validators=[
        DataRequired("Name the course's first instructor by email."),
        Email("Enter a valid email address."), Length(max=254)])
    first_name = StringField("First name", validators=[Optional(), Length(max=100)],
                             description="Needed when the instructor has no account yet.")
    last_name = StringField("Last name", validators=[Optional(), Length(max=100)])
    submit = SubmitField("Create course")
