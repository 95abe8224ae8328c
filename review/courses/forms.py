"""Course pages' forms."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import SubmitField


class TableUploadForm(FlaskForm):
    """Upload of a CSV or XLSX table (roster, groups, preferences, grades)."""

    file = FileField("CSV or XLSX file", validators=[
        FileRequired("Choose a file to upload."),
        FileAllowed(["csv", "xlsx"], "Only .csv and .xlsx files can be imported."),
    ])
    submit = SubmitField("Import")
