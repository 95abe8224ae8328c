"""``flask --app app grades ...`` and ``flask --app app gradebook ...``"""

from flask.cli import AppGroup

grades_cli = AppGroup("grades", help="Grades of external components (quiz, assignments, ...).")
gradebook_cli = AppGroup("gradebook", help="The course gradebook and its exports.")
