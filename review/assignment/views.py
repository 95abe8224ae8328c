"""Web pages of the assignment capability."""

from flask import Blueprint

bp = Blueprint("assignment", __name__)
