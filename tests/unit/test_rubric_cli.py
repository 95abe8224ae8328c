"""``flask rubrics check`` exits 0 on good rubric files and non-zero, naming the problem, on bad."""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def test_check_passes_on_the_shipped_rubrics(app: Flask, runner) -> None:
    result = runner.invoke(args=["rubrics", "check"])
    assert result.exit_code == 0, result.output
    assert "are valid" in result.output


def test_check_fails_on_a_bad_rubric(app: Flask, runner, tmp_path: Path) -> None:
    source = Path(app.config["RUBRICS_DIR"]) / "peer.yaml"
    (tmp_path / "peer.yaml").write_text(source.read_text().replace("points: 4", "points: 3", 1))
    result = runner.invoke(args=["rubrics", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "peer.yaml" in result.output and "problem" in result.output
