"""Neutralise user text before it goes into a spreadsheet or a CSV file.

A spreadsheet program treats a cell whose text starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, and a leading tab or carriage return can smuggle one past a naive check; a student who
names themself ``=HYPERLINK("http://evil", "click")`` would otherwise get a live formula into the
instructor's gradebook. Following the OWASP "CSV Injection" advice, such text gets a leading
apostrophe, which every spreadsheet shows as plain text. openpyxl is stricter still: any ``str``
value starting with ``=`` becomes a formula, so xlsx exports need this too.

XML, and so every XLSX cell, cannot hold the C0 control characters other than tab, newline and
carriage return (openpyxl raises IllegalCharacterError, which once turned an ESC in a review
into a failed export). Input refuses them (review/core/input.py), but text stored before that
check, or imported by other routes, must still export: they are removed here, in the one
helper every exporter writes its cells through.

Only strings change; numbers, booleans, dates and missing values pass through untouched, so a
negative grade stays a number.

Public API:
    FORMULA_TRIGGERS: the leading characters that make a cell dangerous.
    ILLEGAL_CHARACTERS: the characters no worksheet cell may hold.
    neutralise(value) -> value: one cell.
    neutralise_frame(frame) -> DataFrame: every text cell and every column label of a copy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import pandas as pd

# The same set as openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE.
ILLEGAL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"

T = TypeVar("T")


def neutralise(value: T) -> T | str:
    """Return ``value`` without illegal characters, and with a leading apostrophe if it is text a
    spreadsheet would execute."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS.sub("", value)
    if value.startswith(FORMULA_TRIGGERS):
        return _ESCAPE + value
    return value


def _neutralise_series(series: pd.Series) -> pd.Series:
    import pandas as pd
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        # Vectorised path for pandas' string dtype (the default for text since pandas 3).
        if series.str.contains(ILLEGAL_CHARACTERS, na=False).any():
            series = series.str.replace(ILLEGAL_CHARACTERS, "", regex=True)
        dangerous = series.str.startswith(FORMULA_TRIGGERS, na=False)
        if not dangerous.any():
            return series
        return series.where(~dangerous, _ESCAPE + series)
    if pd.api.types.is_object_dtype(series.dtype):
        # Object columns may mix text with numbers; only the text cells can be dangerous.
        return series.map(neutralise)
    return series


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose text cells and column labels are all neutralised."""
    out = frame.copy()
    for position in range(out.shape[1]):
        # Positional, so duplicate column labels cannot make one column overwrite another.
        out.isetitem(position, _neutralise_series(out.iloc[:, position]))
    out.columns = [neutralise(column) for column in out.columns]
    return out
