"""``flask --app app reviews ...``"""

from flask.cli import AppGroup

cli = AppGroup("reviews", help="Weekly paper reviews: export and inspect.")
