"""Request-wide input rules that no single form can enforce.

A NUL character cannot be stored in a PostgreSQL text column (the driver refuses it with an
error that would surface as a 500), and no legitimate form, query string or JSON body needs
one. Such a request is refused before any view runs, with a message, and nothing is saved.
"""

from __future__ import annotations

from flask import Flask, abort, request

NUL_MESSAGE = ("The request contained a NUL character (\\0), which no field may hold; "
               "nothing was saved. Remove it and try again.")


def _refuse_nul_characters() -> None:
    if any("\x00" in key or "\x00" in value for values in (request.args, request.form)
           for key, value in values.items(multi=True)):
        abort(400, NUL_MESSAGE)
    if request.is_json and b"\\u0000" in request.get_data(cache=True):
        abort(400, NUL_MESSAGE)


def register_input_rules(app: Flask) -> None:
    app.before_request(_refuse_nul_characters)
