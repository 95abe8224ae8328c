"""Web pages of the reviews capability."""

from flask import Blueprint

bp = Blueprint("reviews", __name__)
