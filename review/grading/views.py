"""Web pages of the grading capability."""

from flask import Blueprint

bp = Blueprint("grading", __name__)
