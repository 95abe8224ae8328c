"""Every command that names a course answers an unknown course with a message and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

ROSTER = str(Path(__file__).resolve().parents[2] / "demo" / "roster.csv")

COMMANDS = [
    ["roster", "import", "nope", ROSTER],
    ["roster", "links", "nope", "--out", "{tmp}/links.csv", "--base-url", "https://x.edu"],
    ["staff", "add", "nope", "new@example.edu", "--role", "ta", "--first-name", "N",
     "--last-name", "M", "--base-url", "https://x.edu"],
    ["staff", "remove", "nope", "new@example.edu"],
    ["staff", "list", "nope"],
    ["staff", "links", "nope", "--out", "{tmp}/links.csv", "--base-url", "https://x.edu"],
    ["groups", "import", "nope", ROSTER],
    ["groups", "list", "nope"],
    ["assign", "run", "nope"],
    ["assign", "run", "nope", "--json"],
    ["assign", "import-preferences", "nope", ROSTER],
    ["assign", "publish", "nope", "1"],
    ["reviews", "export", "nope", "--out", "{tmp}/reviews.xlsx"],
    ["grades", "import", "nope", ROSTER],
    ["gradebook", "export", "nope", "--out", "{tmp}/book.xlsx"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_an_unknown_course_is_named_and_exits_1(runner, tmp_path, args) -> None:
    result = runner.invoke(args=[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 1, result.output
    assert "No course with the code 'nope'." in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
