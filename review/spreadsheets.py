"""Neutralise user text before it goes into a spreadsheet or a CSV file.

A spreadsheet program treats a cell whose text starts with ``=``, ``+``, ``-`` or ``@`` as a
formula, and a leading tab or carriage return can smuggle one past a naive check; a student who
names themself ``=HYPERLINK("http://evil", "click")`` would otherwise get a live formula into the
instructor's gradebook. Following the OWASP "CSV Injection" advice, such text gets a leading
apostrophe, which every spreadsheet shows as plain text. openpyxl is stricter still: any ``str``
value starting with ``=`` becomes a formula, so xlsx exports need this too.

Only strings change; numbers, booleans, dates and missing values pass through untouched, so a
negative grade stays a number.

Public API:
    FORMULA_TRIGGERS: the leading characters that make a cell dangerous.
    neutralise(value) -> value: one cell.
    neutralise_frame(frame) -> DataFrame: every text cell and every column label of a copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar


if TYPE_CHECKING:
    import pandas as pd

FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"

T = TypeVar("T")


def neutralise(value: T) -> T | str:
    """Return ``value`` with a leading apostrophe if it is text a spreadsheet would execute."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return _ESCAPE + value
    return value


def _neutralise_series(series: pd.Series) -> pd.Series:
    import pandas as pd
    if pd.api.types.is_string_dtype(series.dtype) and not pd.api.types.is_object_dtype(series.dtype):
        # Vectorised path for pandas' string dtype (the default for text since pandas 3).
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
