"""Web pages of the signup capability."""

from flask import Blueprint

bp = Blueprint("signup", __name__)
