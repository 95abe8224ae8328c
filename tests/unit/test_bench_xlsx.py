"""`make bench` reports the gradebook workbook's figures (issue 14: load and compute under 0.3 s,
the write at most 1.1x a bare openpyxl write-only write): both scripts end with one JSON line,
and RESULTS.md states each figure against its target. Run here on a small course: the timing
itself is the benchmark's, not the test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _last_json(script: str, *options: str) -> dict:
    run = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / script), "--json", *options],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.stdout.strip(), run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_xlsx_benchmarks_report_their_figures_and_results_md_judges_them() -> None:
    # (and states the start-up figures beside a reference taken at the same moment)
    from bench.report import write_results

    figures = {**_last_json("bench_gradebook_db_export.py", "--students", "30", "--sessions", "3",
                            "--repeats", "1"),
               **_last_json("bench_gradebook_export.py", "--students", "30", "--sessions", "3",
                            "--repeat", "1")}
    assert figures["students"] == 30 and figures["queries"] > 0
    assert figures["write_cpu_s"] > 0 and figures["bare_write_only_cpu_s"] > 0
    report = {"when": "now", "total_seconds": 1,
              "machine": {"cpu": "cpu", "cores": 2, "load_average_at_start": [0, 0, 0],
                          "python": "3", "flask": "3", "sqlalchemy": "2", "gunicorn": "23",
                          "kernel": "6", "concurrency": 32, "rounds": 3},
              "start_up": {"create_app_cpu_s": 1, "create_app_rss_mb": 80,
                           "heavy_modules_loaded": [], "flask_help_wall_s": 0.9,
                           "bare_framework_imports_cpu_s": 0.61,
                           "flask_help_cpu_s": 0.9},
              "xlsx": {**figures, "load_compute_s": 0.31, "write_ratio": 1.05},
              "databases": []}
    text = write_results(report)
    assert "## Gradebook XLSX (30 students x 3 sessions)" in text
    assert "0.310 s" in text and "target 0.3 s: **missed**" in text
    assert "1.05x (target 1.1x: met)" in text
    # Start-up is stated beside the same moment's bare framework imports.
    assert "imports took 0.61 CPU-s" in text
