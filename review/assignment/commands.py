"""``flask --app app assign ...``"""

from flask.cli import AppGroup

cli = AppGroup("assign", help="Preferences and the optimal role assignment.")
