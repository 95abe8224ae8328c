"""Page latency and throughput under concurrent users, against gunicorn on 127.0.0.1.

Seeds the lively demo course into a fresh SQLite file (or uses DATABASE_URL), starts gunicorn
with sync workers on a free loopback port, signs in one session per simulated user, and has them
fetch the busiest pages in a loop for a fixed time. Bounded in users, requests and seconds; it
sends nothing anywhere but 127.0.0.1 and stops gunicorn when done.

    .venv/bin/python bench/bench_pages.py [--users 20] [--seconds 15] [--workers 3]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password-1"
COURSE = "/c/comp541-fall2023"
STUDENT_PAGES = [f"{COURSE}/", f"{COURSE}/signup", f"{COURSE}/reviews", f"{COURSE}/grades"]
STAFF_PAGES = [f"{COURSE}/reviews/matrix", f"{COURSE}/gradebook", f"{COURSE}/grading"]
MAX_REQUESTS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ROOT / ".venv/bin/flask"), "--app", "app", *args], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)


def sign_in(base: str, email: str) -> urllib.request.OpenerDirector:
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": email,
                                   "password": PASSWORD}).encode()
    opener.open(f"{base}/login", data=data).read()
    return opener


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    env = {**os.environ, "DEMO_PASSWORD": PASSWORD, "FLASK_SECRET_KEY": "bench",
           "FLASK_SESSION_COOKIE_SECURE": "false"}
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite'}")
    flask(env, "db", "upgrade")
    flask(env, "demo", "seed", "--with-activity")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(args.workers), "--bind",
         f"127.0.0.1:{port}", "app:create_app()"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/login", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        students = re.findall(r"^\d+,[^,]*,[^,]*,([^,]+),", (ROOT / "demo/roster.csv")
                              .read_text(encoding="utf-8"), re.M)
        emails = ["instructor@example.edu", "ta@example.edu"] + students
        users = [(sign_in(base, email), email) for email in
                 (emails[i % len(emails)] for i in range(args.users))]
        timings: dict[str, list[float]] = {}
        errors: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        budget = [MAX_REQUESTS]

        def run(opener: urllib.request.OpenerDirector, email: str) -> None:
            pages = STAFF_PAGES + STUDENT_PAGES[:2] if email.endswith(("instructor@example.edu",
                                                                      "ta@example.edu")) \
                else STUDENT_PAGES
            index = 0
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                page = pages[index % len(pages)]
                index += 1
                started = time.perf_counter()
                try:
                    response = opener.open(base + page, timeout=30)
                    response.read()
                    status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                elapsed = time.perf_counter() - started
                with lock:
                    timings.setdefault(page, []).append(elapsed)
                    if status != 200:
                        errors.append(f"{page}: {status}")

        threads = [threading.Thread(target=run, args=user) for user in users]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)

    total = sum(len(v) for v in timings.values())
    print(f"{args.users} users, {args.workers} sync workers, {wall:.1f} s: {total} requests, "
          f"{total / wall:.1f} req/s, {len(errors)} errors")
    for page, values in sorted(timings.items()):
        values.sort()
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        print(f"  {page:40s} n={len(values):5d}  median {statistics.median(values) * 1000:6.1f} ms"
              f"  p95 {p95 * 1000:6.1f} ms")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
