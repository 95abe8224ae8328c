"""Gradebook forms: the grades file upload, the import confirmation and the grid."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired


class GradesUploadForm(FlaskForm):
    """Step 1 of an import: the file, which is only previewed."""

    file = FileField("CSV or XLSX file", validators=[
        FileRequired("Choose a file to upload."),
        FileAllowed(["csv", "xlsx"], "Only .csv and .xlsx files can be imported."),
    ])
    submit = SubmitField("Preview")


class ConfirmImportForm(FlaskForm):
    """Step 2: the previewed rows come back and are validated again before saving."""

    payload = HiddenField(validators=[DataRequired("The preview is missing; upload the file again.")])
    source = HiddenField()
    submit = SubmitField("Save these grades")


class GridForm(FlaskForm):
    """The grid's fixed fields; the cells (``g-<user id>-<component>``) are read by the view."""

    user_ids = HiddenField(validators=[DataRequired()])
    original = HiddenField()
    submit = SubmitField("Save grades")
