"""In-process CPU per render of the grade pages, on the seeded term of ``make bench``.

Seeds bench/seed_term.py's term (300 students, 10 past sessions) into a temporary SQLite file,
renders each page once to warm up (the staff gradebook's cache included), then renders it N
times through ``app.test_client`` and prints the CPU milliseconds per render and whether the
process has imported pandas or numpy by then; at the end, the process's resident memory.
No server, no network.

    .venv/bin/python bench/bench_render.py [--repeat 30] [--page grades ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run_bench import Term  # noqa: E402

#: name -> (who, path after the course prefix); "student" is the eighth seeded student.
PAGES = {
    "grades": ("student", "/grades"),
    "feedback": ("student", "/feedback"),
    "gradebook": ("instructor", "/gradebook"),
    "gradebook-sorted": ("instructor", "/gradebook?sort=total&dir=desc&q=a"),
    "grading": ("instructor", "/grading"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--page", action="append", choices=sorted(PAGES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        term = Term(f"sqlite:///{tmp}/bench.db")
        who = {"student": term.info["students"][7], "instructor": term.info["instructor"]}
        for name in args.page or list(PAGES):
            email, path = PAGES[name]
            client = term.app.test_client()
            client.set_cookie("session", term.cookie(who[email]).split("=", 1)[1],
                              domain="localhost")
            url = f"/c/{term.code}{path}"
            assert client.get(url).status_code == 200, url
            started = time.process_time()
            for _ in range(args.repeat):
                client.get(url)
            cpu_ms = (time.process_time() - started) * 1000 / args.repeat
            heavy = sorted(m for m in ("pandas", "numpy") if m in sys.modules)
            print(f"{name:18} {cpu_ms:7.1f} ms CPU / render   heavy modules loaded: "
                  f"{', '.join(heavy) or 'none'}", flush=True)
        status = Path("/proc/self/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024
        print(f"resident memory after these renders: {rss:.0f} MB (the seeded term included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
