"""Formula-injection neutralisation for spreadsheet and CSV cells (review.spreadsheets)."""

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from review.spreadsheets import FORMULA_TRIGGERS, ILLEGAL_CHARACTERS, neutralise, neutralise_frame


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","click")', "+1", "-2", "@SUM(A1:A2)", "\tx", "\rx", "=1+1"],
)
def test_text_starting_with_a_formula_trigger_gets_a_leading_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["Ayşe Çetin", "Güneş Ğ ı İ ş", "a=b", "", " =x", "1+1", "'already"])
def test_harmless_text_is_unchanged(value: str) -> None:
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [-2, -2.5, 0, 3.0, True, None])
def test_numbers_and_missing_values_are_unchanged(value: object) -> None:
    assert neutralise(value) is value


def test_nan_is_unchanged() -> None:
    assert math.isnan(neutralise(math.nan))


@given(st.text())
def test_neutralised_text_never_starts_with_a_trigger_and_keeps_the_original(text: str) -> None:
    result = neutralise(text)
    kept = ILLEGAL_CHARACTERS.sub("", text)  # what no worksheet cell may hold is dropped
    assert not result.startswith(FORMULA_TRIGGERS)
    assert result in (kept, "'" + kept)


def test_frame_neutralises_string_and_object_cells_and_column_labels() -> None:
    frame = pd.DataFrame(
        {
            "name": ["=cmd", "Çetin", None],
            "mixed": pd.Series(["@x", -1, "ok"], dtype=object),
            "=label": [1.0, -2.0, 3.0],
        }
    )
    result = neutralise_frame(frame)
    assert result["name"].tolist()[:2] == ["'=cmd", "Çetin"]
    assert pd.isna(result["name"].iloc[2])
    assert result["mixed"].tolist() == ["'@x", -1, "ok"]
    assert list(result.columns) == ["name", "mixed", "'=label"]
    assert result["'=label"].tolist() == [1.0, -2.0, 3.0]
    assert result["'=label"].dtype == frame["=label"].dtype


def test_frame_neutralisation_leaves_the_input_frame_alone() -> None:
    frame = pd.DataFrame({"name": ["=cmd"]})
    neutralise_frame(frame)
    assert frame["name"].iloc[0] == "=cmd"


def test_frame_with_duplicate_labels_neutralises_each_column() -> None:
    frame = pd.DataFrame([["=a", "+b"]], columns=["x", "x"])
    assert neutralise_frame(frame).iloc[0].tolist() == ["'=a", "'+b"]
