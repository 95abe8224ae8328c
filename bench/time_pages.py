"""In-process CPU per render of pages on the seeded term (no server, no load).

    .venv/bin/python bench/time_pages.py [--renders 40] [--profile] [--only matrix]

Seeds a throwaway SQLite term (bench/seed_term.py: 300 students, 10 past sessions), then renders
each page through ``app.test_client`` as the instructor (or, for the pages named "-student", as
a student): one warm-up, then ``--renders`` timed renders, reported as process CPU milliseconds
per render (the least of five batches: the machine is shared) and the SQL statements of one
render, next to the bare ceiling page (bench/ceiling/app.py, 200 rows) timed the same way in a
process of its own, and their ratio (target >= 0.25 for the pages of more than 200 rows, 0.5 for
the course home, "Your courses" and the student grade page).
``matrix-cold`` is the first visit after a change (the class's review states are otherwise kept
per grades revision). ``--profile`` prints the top of a cProfile of the same renders by own
time. The figures are the before/after of one change on the same data; the ratios of issue 14
come from ``make bench``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.run_bench import Term  # noqa: E402
from models import db  # noqa: E402


def pages(term: Term) -> dict[str, str]:
    course = f"/c/{term.code}"
    reading = f"{course}/reviews/{term.info['past_session']}/all"
    return {"home-student": f"{course}/", "home-instructor": f"{course}/",
            "courses-student": "/", "courses-instructor": "/",
            "matrix": f"{course}/reviews/matrix",
            "matrix-cold": f"{course}/reviews/matrix",
            "matrix-filtered": f"{course}/reviews/matrix?state=late&section=S2&page=1",
            "matrix-sorted": f"{course}/reviews/matrix?sort=missing&page=3",
            "reading": reading, "reading-page-6": f"{reading}?page=6",
            "grades-student": f"{course}/grades"}


def cpu_ms_per_render(client, path: str, renders: int,  # type: ignore[no-untyped-def]
                      before: Callable[[], None] = lambda: None) -> float:
    batches = []
    per_batch = max(1, renders // 5)
    for _ in range(5):
        started = time.process_time()
        for _ in range(per_batch):
            before()
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        batches.append((time.process_time() - started) * 1000 / per_batch)
    return min(batches)


def ceiling_ms(tmp: str, renders: int) -> float:
    """The ceiling in a process of its own (the application's SQLite pragmas hook every Engine)."""
    script = (f"import sys, os; sys.path.insert(0, {str(ROOT)!r}); "
              "from bench.ceiling import app as c; "
              "from bench.time_pages import cpu_ms_per_render; "
              "c.init(os.environ['DATABASE_URL']); "
              f"print(cpu_ms_per_render(c.create_app().test_client(), '/table', {renders}))")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/ceiling.db"}
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True, env=env)
    return float(out.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        term = Term(f"sqlite:///{tmp}/term.db")
        clients = {}
        # The same student as make bench's profile of the course home.
        for who, email in (("instructor", term.info["instructor"]),
                           ("student", term.info["students"][7])):
            clients[who] = term.app.test_client()
            clients[who].set_cookie("session", term.cookie(email).split("=", 1)[1],
                                    domain="localhost")
        ceiling = ceiling_ms(tmp, args.renders)
        print(f"ceiling: {ceiling:.1f} ms CPU/render")
        for name, path in pages(term).items():
            if args.only and name not in args.only:
                continue
            client = clients["student" if name.endswith("-student") else "instructor"]
            client.get(path)
            # "-cold": as the first visit after a change (the class's states are kept per
            # grades revision otherwise).
            forget = (term.app.extensions.get("review_states_cache", {}).clear
                      if name.endswith("-cold") else lambda: None)
            ms = cpu_ms_per_render(client, path, args.renders, forget)
            with term.app.app_context():
                engine = db.engine
            statements = []
            count = lambda *a: statements.append(a[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", count)
            size = len(client.get(path).data) // 1024
            event.remove(engine, "before_cursor_execute", count)
            print(f"{name}: {ms:.1f} ms CPU/render, ratio {ceiling / ms:.2f} "
                  f"({size} KiB, {len(statements)} statements)")
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(5):
                    client.get(path)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    return 0


if __name__ == "__main__":
    sys.exit(main())
