"""Web pages of the groups capability."""

from flask import Blueprint

bp = Blueprint("groups", __name__)
