"""Web pages of the gradebook capability."""

from flask import Blueprint

bp = Blueprint("gradebook", __name__)
