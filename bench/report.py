"""bench/RESULTS.md from the run's results.json (see run_bench.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NOTES = Path(__file__).resolve().parent / "NOTES.md"


def _rush(name: str, rush: dict[str, Any] | None, p99_target: float, expected_versions: int,
          students: int) -> str:
    if rush is None:
        return f"| {name} | not run | | | | | |\n"
    rows = rush["rows"]
    lost = students - rows["submitted"]
    duplicated = rows["reviews"] - rows["authors"] + max(0, rows["versions"] - expected_versions)
    ok = rush["errors"] == 0 and lost == 0 and duplicated == 0
    p99 = f"{rush['p99_ms']:.0f} ms" + ("" if name != "burst" else
                                        (" (target < %d ms%s)" % (p99_target, "" if rush["p99_ms"] < p99_target else ", **missed**")))
    return (f"| {name} | {rush['requests']} in {rush['seconds']:.1f} s | {rush['errors']} | "
            f"{rush['p50_ms']:.0f} ms | {p99} | {lost} lost, {duplicated} duplicated "
            f"({rows['submitted']} submitted, {rows['versions']} versions) | "
            f"{'ok' if ok else '**not ok**'} |\n")


def write_results(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["start_up"]
    out = ["# Benchmark results (`make bench`)\n\n",
           f"Run {report['when']}, {report['total_seconds']:.0f} s in all. Machine: {m['cpu']}, "
           f"{m['cores']} cores, load average at start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} "
           f"(shared: absolute numbers are noisy, the interleaved ratios are what counts). "
           f"Python {m['python']}, Flask {m['flask']}, SQLAlchemy {m['sqlalchemy']}, gunicorn {m['gunicorn']} "
           f"(2 sync workers, bench/gunicorn.conf.py), kernel {m['kernel']}. "
           f"{m['concurrency']} concurrent clients (a bounded Python load generator), "
           f"{m['rounds']} ceiling and {m['rounds']} application rounds per figure, interleaved.\n\n",
           "**Ratio** = the application's requests per server CPU-second over the ceiling's "
           "(= ceiling CPU per request / application CPU per request), CPU from the gunicorn "
           "workers' own counters (/proc/<pid>/stat). Ceilings (bench/ceiling/app.py): a bare "
           "Flask + SQLAlchemy page rendering a 200-row joined table, and an insert of one row of "
           "five text fields with a commit. Targets: pages >= 0.5, pages of more than 200 rows "
           ">= 0.25, writes >= 0.5.\n\n",
           "## Start-up\n\n",
           f"- `create_app()`: {s['create_app_cpu_s']:.2f} CPU-s, {s['create_app_rss_mb']:.0f} MB "
           f"peak (targets 1.5 s, 120 MB: {'met' if s['create_app_cpu_s'] < 1.5 and s['create_app_rss_mb'] < 120 else '**missed**'}); "
           f"heavy modules loaded: {', '.join(s['heavy_modules_loaded']) or 'none'}"
           + (f"; at the same moment the bare Flask + SQLAlchemy + Flask-Login + Flask-WTF "
              f"imports took {s['bare_framework_imports_cpu_s']:.2f} CPU-s (0.45 on a quiet "
              f"machine: read the absolute figures against it)"
              if "bare_framework_imports_cpu_s" in s else "") + ".\n",
           f"- `flask --app app --help`: {s['flask_help_wall_s']:.2f} s wall, "
           f"{s['flask_help_cpu_s']:.2f} CPU-s (target 1 s: "
           f"{'met' if s['flask_help_wall_s'] < 1 else 'met in CPU, missed in wall time on this shared machine' if s['flask_help_cpu_s'] < 1 else '**missed**'}).\n\n"]
    x = report.get("xlsx")
    if x:
        out += [f"## Gradebook XLSX ({x['students']:,} students x {x['sessions']} sessions)\n\n",
                f"- Load and compute from an SQLite file: {x['load_compute_s']:.3f} s "
                f"({x['load_compute_cpu_s']:.3f} CPU-s, {x['queries']} queries; target 0.3 s: "
                f"{'met' if x['load_compute_s'] < 0.3 else '**missed**'}).\n",
                f"- Write: {x['write_cpu_s']:.3f} CPU-s against {x['bare_write_only_cpu_s']:.3f} for "
                f"a bare openpyxl write-only write of the same cells, {x['write_ratio']:.2f}x "
                f"(target 1.1x: {'met' if x['write_ratio'] <= 1.1 else '**missed**'}); "
                f"{x['xlsx_kib']} KiB.\n\n"]
    for db in report["databases"]:
        name = "SQLite" if db["database"] == "sqlite" else "PostgreSQL"
        out.append(f"## {name} ({db['server_version']})\n\n")
        seeded = db["seeded"]
        out.append(f"Seeded in {db['seed_seconds']:.0f} s: {len(seeded) and seeded['reviews']} "
                   f"reviews, {seeded['groups']} groups, {seeded['slots']} held slots, "
                   f"{seeded['peer_ratings']} peer ratings, 300 students.\n\n")
        out.append("| page or write | app CPU ms / req | ceiling CPU ms / req | ratio | target | "
                   "app p50 / p99 ms | app req/s | errors |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n")
        for row in db["pages"]:
            verdict = "met" if row["met"] else f"**missed** ({row['ratio'] / row['target']:.0%} of it)"
            out.append(f"| {row['name']} | {row['app_cpu_ms']:.1f} | {row['ceiling_cpu_ms']:.1f} | "
                       f"{row['ratio']:.3f} | >= {row['target']} {verdict} | "
                       f"{row['app_p50_ms']:.0f} / {row['app_p99_ms']:.0f} | {row['app_rps']:.0f} | "
                       f"{row['app_errors']} |\n")
        for row in db["pages"]:
            if row.get("floor"):
                floor = row["floor"]
                out.append(
                    f"\nThe signed-in floor for the {row['name']} (bench/ceiling/floor.py: a bare "
                    f"Flask + Flask-Login + Flask-WTF + SQLAlchemy submit that keeps only the "
                    f"sign-in with its session token, CSRF, the WTForms form, the locked read, the "
                    f"UPDATE and the version's INSERT), in the same rounds: {floor['cpu_ms']:.1f} "
                    f"CPU ms / request, ratio {floor['ratio']:.3f} to the insert ceiling "
                    f"({floor['errors']} errors): the stack's own sign-in, CSRF and form handling "
                    f"with the least a submit writes. The application, which does the rest too "
                    f"(NOTES below), is at {row['ratio'] / floor['ratio']:.0%} of it.\n")
        students = 300
        out.append("\nDeadline rush: 300 students open the form, autosave three times, submit and "
                   "open the receipt, 32 at a time; the paced run sends the same students again "
                   "(each review resubmitted: a second version).\n\n"
                   "| run | requests | errors | p50 | p99 | rows after | verdict |\n| --- | --- | ---: | ---: | --- | --- | --- |\n")
        target = 150 if db["database"] == "sqlite" else 250
        out.append(_rush("burst", db["rush_burst"], target, students, students))
        out.append(_rush("paced", db["rush_paced"], target, 2 * students, students))
        mem = db["memory"]
        worst = max(mem["app_worker_rss_mb"] or [float("nan")])
        out.append(f"\nWorker memory after the rush and the page runs: application "
                   f"{', '.join(f'{x:.0f}' for x in mem['app_worker_rss_mb'])} MB (target < 150 MB: "
                   f"{'met' if worst < 150 else '**missed**'}), ceiling "
                   f"{', '.join(f'{x:.0f}' for x in mem['ceiling_worker_rss_mb'])} MB.\n\n")
        missed = [row for row in db["pages"] if not row["met"] and row.get("profile")]
        if missed:
            out.append(f"### {name}: profiles of the pages that miss their target\n\n"
                       "In-process cProfile of 5 renders against the same database, by own time "
                       "(ncalls, tottime, percall, cumtime, percall, function):\n\n")
            for row in missed:
                out.append(f"**{row['name']}** (ratio {row['ratio']:.3f}, target {row['target']}):\n\n"
                           f"```\n{row['profile']}\n```\n\n")
    if NOTES.exists():
        out.append(NOTES.read_text())
    return "".join(out)
