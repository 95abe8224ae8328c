"""``flask --app app groups ...``"""

from flask.cli import AppGroup

cli = AppGroup("groups", help="Student groups: import and inspect.")
