"""Request-wide input rules that no single form can enforce.

A NUL character cannot be stored in a PostgreSQL text column (the driver refuses it with an
error that would surface as a 500), and no legitimate form, query string or JSON body needs
one. The other C0 control characters (ESC, BEL, ...) have no place in a review, a name or a
comment either, and no worksheet cell can hold them, so a review with one once broke every
export. Tab, newline and carriage return (browsers send textarea lines as CRLF) stay allowed.
Such a request is refused before any view runs, with a message naming the field, and nothing
is saved.

Public API:
    CONTROL_CHARACTERS: the refused characters (NUL included).
    control_character_problem(field, text) -> message or None: the check, for imports too.
    register_input_rules(app).
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from flask import Flask, abort, request

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

NUL_MESSAGE = ("The request contained a NUL character (\\0), which no field may hold; "
               "nothing was saved. Remove it and try again.")


def _describe(character: str) -> str:
    names = {"\x00": "NUL", "\x07": "BEL", "\x08": "backspace", "\x1b": "ESC", "\x7f": "DEL"}
    code = f"0x{ord(character):02X}"
    return f"{names[character]}, {code}" if character in names else code


def control_character_problem(field: str, text: str) -> Optional[str]:
    """A message naming ``field`` if ``text`` holds a refused control character, else None."""
    found = CONTROL_CHARACTERS.search(text)
    if found is None:
        return None
    return (f"The field '{field}' contains a control character ({_describe(found.group())}) "
            "that no text may hold. It is often pasted invisibly from a terminal or a PDF: "
            "retype that part. Nothing was saved.")


def _json_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _json_strings(item, str(key) if not path else f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{index}]")


def _submitted_text() -> Iterator[tuple[str, str]]:
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            yield key, key
            yield key, value
    if request.is_json:
        yield from _json_strings(request.get_json(silent=True, cache=True), "")


def _refuse_control_characters() -> None:
    submitted = list(_submitted_text())
    # One search over everything first: it finds nothing in almost every request.
    if CONTROL_CHARACTERS.search("".join(value for _, value in submitted)) is None:
        return
    if any("\x00" in value for _, value in submitted):
        abort(400, NUL_MESSAGE)
    for field, value in submitted:
        problem = control_character_problem(field or "body", value)
        if problem:
            abort(400, problem)


def register_input_rules(app: Flask) -> None:
    app.before_request(_refuse_control_characters)
