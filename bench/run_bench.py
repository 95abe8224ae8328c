"""`make bench`: the application against a bare Flask + SQLAlchemy ceiling, same machine and database.

For SQLite and (when 127.0.0.1:5432 answers) PostgreSQL, in a throwaway database each:

1. seeds a full term (bench/seed_term.py: 300 students, 100 groups, 10 past sessions, reviews,
   scores, peer ratings) and the ceiling's tables (bench/ceiling/app.py);
2. starts both apps under the same gunicorn settings (bench/gunicorn.conf.py: 2 sync workers) on
   loopback ports;
3. the deadline rush: 300 students each open the review form, autosave three times, submit and
   open their receipt, 32 at a time as fast as they can (burst), then the same spread over a
   fixed time (paced); afterwards the rows are counted (none lost, none duplicated);
4. for each page and write: rounds of ceiling and application interleaved (3 each), 32
   concurrent clients, server CPU per request from the gunicorn workers' /proc/<pid>/stat;
5. times the gradebook workbook of 1,000 students x 10 sessions (bench_gradebook_db_export.py:
   load and compute; bench_gradebook_export.py: the write against a bare write-only write);
6. writes bench/RESULTS.md and bench/results.json: every figure as a ratio to its ceiling (the
   application's requests per server CPU-second over the ceiling's) and in absolute numbers,
   with the machine and the versions, and a profile of each page that misses its target.

Bounded: every round stops after ROUND_SECONDS or ROUND_REQUESTS, the whole run takes about 10
minutes, and nothing leaves 127.0.0.1. Sessions are signed cookies made with the run's own
secret key (no argon2 sign-in per simulated student).

    .venv/bin/python bench/run_bench.py [--databases sqlite,postgresql] [--round-seconds 2.5]
    .venv/bin/python bench/run_bench.py --rush-only --databases sqlite   # the burst alone
    .venv/bin/python bench/run_bench.py --only autosave,submit --after-burst   # the writes as
        # the full run measures them: after the rush, every review submitted
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
SECRET = "bench-secret-key"
CONCURRENCY = 32
ROUNDS = 3
CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# Targets of issue 14 (ratio = application requests per server CPU-second / the ceiling's).
PAGE_TARGET = 0.5
LARGE_PAGE_TARGET = 0.25  # pages showing more than 200 rows of content
WRITE_TARGET = 0.5
RUSH_P99_MS = {"sqlite": 150, "postgresql": 250}
WORKER_RSS_MB = 150


# --------------------------------------------------------------------------------- the clients


@dataclass
class Call:
    method: str
    path: str
    cookie: str
    body: Optional[bytes] = None
    content_type: Optional[str] = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float
    cookie: Optional[str]
    location: Optional[str] = None  # a redirect's target, as a path


def send(port: int, call: Call) -> Reply:
    headers = {"Cookie": call.cookie, "Host": "127.0.0.1", **call.headers}
    if call.content_type:
        headers["Content-Type"] = call.content_type
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(call.method, call.path, body=call.body, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    cookie = None
    for name, value in response.getheaders():
        if name.lower() == "set-cookie" and value.startswith("session="):
            cookie = value.split(";", 1)[0]
    location = response.getheader("Location")
    if location:
        parts = urllib.parse.urlsplit(location)
        location = parts.path + (f"?{parts.query}" if parts.query else "")
    return Reply(response.status, body, time.perf_counter() - started, cookie, location)


# ------------------------------------------------------------------------------ the servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn master on a loopback port; its workers' CPU counters and memory."""

    def __init__(self, app: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "bench/gunicorn.conf.py"), "--bind",
             f"127.0.0.1:{self.port}", app], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{app} did not start: {self.process.stderr.read().decode()}")
            if len(self.workers()) == 2:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        break
                except OSError:
                    pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{app} did not start in 90 s")
        self.warm_up()

    def warm_up(self) -> None:
        """Wait until the workers answer. The master accepts connections before its workers
        have imported the app, so the first requests of a run used to wait for that import
        (seen: the rush's p99 was its first 32 form loads, each ~3.4 s behind worker boot)."""
        threads = [threading.Thread(target=send, args=(self.port, Call("GET", "/login", "")))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def workers(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / CLK_TCK

    def rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.workers():
            match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
            sizes.append(int(match[1]) / 1024 if match else float("nan"))
        return sizes

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ------------------------------------------------------------------------------- the rounds


@dataclass
class Round:
    requests: int
    errors: int
    seconds: float
    cpu: float
    latencies: list[float]

    @property
    def cpu_ms(self) -> float:
        return self.cpu / max(1, self.requests) * 1000


def run_round(server: Server, next_call: Callable[[int], Call], seconds: float,
              max_requests: int) -> Round:
    """``CONCURRENCY`` clients send ``next_call(n)`` until the time or the count is used up."""
    lock = threading.Lock()
    counter = [0]
    latencies: list[float] = []
    errors = [0]
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            with lock:
                if counter[0] >= max_requests:
                    return
                number = counter[0]
                counter[0] += 1
            reply = send(server.port, next_call(number))
            with lock:
                latencies.append(reply.seconds)
                if reply.status >= 400:
                    errors[0] += 1

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    time.sleep(0.05)  # let the workers' last tick land in their counters
    return Round(len(latencies), errors[0], elapsed, server.cpu_seconds() - cpu_before, latencies)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------- the application


class Term:
    """The seeded database, the app object (for cookies and profiles) and the logins."""

    def __init__(self, url: str) -> None:
        from app import create_app
        from bench.seed_term import seed_term
        from models import User, db

        self.url = url
        self.app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                               "WTF_CSRF_ENABLED": True, "SESSION_COOKIE_SECURE": False})
        with self.app.app_context():
            db.create_all()
            started = time.perf_counter()
            self.info = seed_term()
            self.seed_seconds = time.perf_counter() - started
            tokens = {email: (uid, token) for uid, email, token in db.session.execute(
                db.select(User.id, User.email, User.session_token)).tuples()}
        serializer = self.app.session_interface.get_signing_serializer(self.app)
        # Flask-Login's session identifier for a client at 127.0.0.1 without a User-Agent.
        with self.app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            from review.extensions import login_manager

            ident = login_manager._session_identifier_generator()
        self.cookies = {email: "session=" + serializer.dumps(
            {"_user_id": f"{uid}:{token}", "_fresh": True, "_id": ident})
            for email, (uid, token) in tokens.items()}
        self.code = self.info["code"]

    def cookie(self, email: str) -> str:
        return self.cookies[email]

    def count_rush_rows(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from models import Review, ReviewStatus, ReviewVersion, db

        session_id = self.info["open_session"]
        with self.app.app_context():
            submitted = db.session.scalar(select(func.count(Review.id)).where(
                Review.session_id == session_id, Review.status == ReviewStatus.submitted))
            reviews = db.session.scalar(select(func.count(Review.id)).where(
                Review.session_id == session_id))
            versions = db.session.scalar(select(func.count(ReviewVersion.id)).join(
                Review, Review.id == ReviewVersion.review_id).where(
                Review.session_id == session_id))
            authors = db.session.scalar(select(func.count(func.distinct(Review.user_id))).where(
                Review.session_id == session_id))
        return {"reviews": reviews, "submitted": submitted, "versions": versions,
                "authors": authors}

    def profile(self, email: str, path: str, repeat: int = 5) -> str:
        """The top of a cProfile of the page rendered in-process against the same database."""
        client = self.app.test_client()
        client.set_cookie("session", self.cookies[email].split("=", 1)[1], domain="localhost")
        client.get(path)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(repeat):
            client.get(path)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(12)
        lines = [line for line in out.getvalue().splitlines()
                 if re.match(r"\s*\d", line) and "{built-in method time" not in line]
        return "\n".join(line.replace(str(ROOT) + "/", "").replace(
            str(Path(sys.prefix)) + "/lib/", "") for line in lines[:12])


CSRF = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')


def review_body(student: int, step: int, run: str = "") -> dict[str, Any]:
    return {"summary": f"Student {student} summarises, {run} draft {step}: **sparse** attention.",
            "strengths": "Clear ablations.", "weaknesses": "Single seed.",
            "remedies": "Five seeds.", "questions": [f"Question {step} of {student}?"]}


def warm_up_rush(term: Term, server: Server) -> None:
    """Bring the workers to the state a deadline finds them in: they have served the form and
    rendered Markdown before (templates compiled, SQL statements cached, renderer loaded).
    Measured cold, the rush's p99 was its first 32 form loads queued behind a fresh worker's
    first render (0.8 s each; bench/NOTES.md). Nothing is written: the form is read and the
    review preview renders without saving, so the counted rows are untouched."""
    code, session_id = term.code, term.info["open_session"]
    body = review_body(0, 0, "warm-up")["strengths"]

    def visit(email: str) -> None:
        cookie = term.cookie(email)
        page = send(server.port, Call("GET", f"/c/{code}/reviews/{session_id}/write", cookie))
        token = CSRF.search(page.body)
        cookie = page.cookie or cookie
        if token is not None:
            send(server.port, Call("POST", f"/c/{code}/reviews/preview", cookie,
                                   json.dumps({"text": body}).encode(), "application/json",
                                   {"X-CSRFToken": token.group(1).decode()}))

    # Several at once, so that both workers take some.
    threads = [threading.Thread(target=visit, args=(email,))
               for email in term.info["students"][:8]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def rush(term: Term, server: Server, paced_seconds: float = 0.0) -> dict[str, Any]:
    """Every student: open the form, autosave three times, submit, open the receipt. The
    paced run writes other text, so each submit is a resubmission (a second version)."""
    warm_up_rush(term, server)
    run = "paced" if paced_seconds else "burst"
    code, session_id = term.code, term.info["open_session"]
    students = term.info["students"]
    latencies: list[float] = []
    by_step: dict[str, list[float]] = {"form": [], "autosave": [], "submit": [], "receipt": []}
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(enumerate(students))
    start = time.monotonic()

    def one(number: int, email: str) -> None:
        cookie = term.cookie(email)
        write = f"/c/{code}/reviews/{session_id}/write"

        def step(call: Call, expect: tuple[int, ...], kind: str) -> Reply:
            nonlocal cookie
            reply = send(server.port, call)
            if reply.cookie:
                cookie = reply.cookie
            with lock:
                latencies.append(reply.seconds)
                by_step[kind].append(reply.seconds)
                if reply.status not in expect:
                    failures.append(f"{email} {call.method} {call.path}: {reply.status}")
            return reply

        page = step(Call("GET", write, cookie), (200,), "form")
        token = CSRF.search(page.body)
        if token is None:
            with lock:
                failures.append(f"{email}: no CSRF token on the form")
            return
        csrf = token.group(1).decode()
        version = None
        for save in range(3):
            body = {**review_body(number, save, run), "version": version}
            reply = step(Call("POST", f"/c/{code}/reviews/{session_id}/autosave", cookie,
                              json.dumps(body).encode(), "application/json",
                              {"X-CSRFToken": csrf}), (200,), "autosave")
            if reply.status == 200:
                version = json.loads(reply.body).get("version")
        final = review_body(number, 3, run)
        form = {"csrf_token": csrf, "summary": final["summary"], "strengths": final["strengths"],
                "weaknesses": final["weaknesses"], "remedies": final["remedies"],
                "questions-0": final["questions"][0], "submit": "Submit review",
                "version": str(version or "")}
        reply = step(Call("POST", write, cookie, urllib.parse.urlencode(form).encode(),
                          "application/x-www-form-urlencoded"), (302, 303), "submit")
        # Where the submit sends the browser (the receipt of the version just recorded).
        receipt = reply.location or f"/c/{code}/reviews/{session_id}/receipt"
        step(Call("GET", receipt, cookie), (200,), "receipt")

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                number, email = queue.pop(0)
            if paced_seconds:
                # Arrivals spread evenly over the paced window.
                wait = start + paced_seconds * number / len(students) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            one(number, email)

    cpu_before = server.cpu_seconds()
    # The load generator shares the 2 cores with the servers: its own CPU is reported beside.
    client_cpu_before = time.process_time()
    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    return {"students": len(students), "requests": len(latencies), "errors": len(failures),
            "first_errors": failures[:5], "seconds": round(elapsed, 2),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            # Which requests make the tail: p50 / p99 ms of each step.
            "steps_p50_p99_ms": {kind: [round(percentile(values, 50) * 1000, 1),
                                        round(percentile(values, 99) * 1000, 1)]
                                 for kind, values in by_step.items() if values},
            "server_cpu_s": round(server.cpu_seconds() - cpu_before, 2),
            "client_cpu_s": round(time.process_time() - client_cpu_before, 2)}


# -------------------------------------------------------------------------------- the pages


@dataclass
class Target:
    name: str
    kind: str  # "page" or "write"
    make: Callable[[int], Call]
    large: bool = False
    profile: Optional[tuple[str, str]] = None  # (email, path) to profile in-process


def targets(term: Term) -> tuple[list[Target], Callable[[Server], None]]:
    """What to measure, and a step to run before (one form load per student for CSRF tokens)."""
    code, info = term.code, term.info
    students = info["students"]
    instructor = term.cookie(info["instructor"])

    def student(n: int) -> str:
        return term.cookie(students[n % len(students)])

    def get(path: str, who: Callable[[int], str]) -> Callable[[int], Call]:
        return lambda n: Call("GET", path, who(n))

    course = f"/c/{code}"
    csrf_tokens: dict[int, tuple[str, str]] = {}

    def with_csrf(n: int) -> tuple[str, str]:
        """A student's cookie and CSRF token (one form load per student, outside the rounds)."""
        index = n % len(students)
        if index not in csrf_tokens:
            return ("", "")
        return csrf_tokens[index]

    def autosave(n: int) -> Call:
        cookie, csrf = with_csrf(n)
        body = review_body(n % len(students), 10 + n)
        return Call("POST", f"{course}/reviews/{info['open_session']}/autosave", cookie,
                    json.dumps(body).encode(), "application/json", {"X-CSRFToken": csrf})

    def submit(n: int) -> Call:
        cookie, csrf = with_csrf(n)
        body = review_body(n % len(students), 100_000 + n)
        form = {"csrf_token": csrf, "summary": body["summary"], "strengths": body["strengths"],
                "weaknesses": body["weaknesses"], "remedies": body["remedies"],
                "questions-0": body["questions"][0], "submit": "Submit review"}
        return Call("POST", f"{course}/reviews/{info['open_session']}/write", cookie,
                    urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded")

    instructor_email, student_email = info["instructor"], students[7]
    pages = [
        Target("course home (student)", "page", get(f"{course}/", student),
               profile=(student_email, f"{course}/")),
        Target("course home (instructor)", "page", get(f"{course}/", lambda n: instructor),
               profile=(instructor_email, f"{course}/")),
        Target("sign-up board", "page", get(f"{course}/signup", student),
               profile=(student_email, f"{course}/signup")),
        Target("review form (GET)", "page",
               get(f"{course}/reviews/{info['open_session']}/write", student),
               profile=(student_email, f"{course}/reviews/{info['open_session']}/write")),
        Target("grading overview", "page", get(f"{course}/grading", lambda n: instructor),
               profile=(instructor_email, f"{course}/grading")),
        Target("review matrix (staff)", "page",
               get(f"{course}/reviews/matrix", lambda n: instructor), large=True,
               profile=(instructor_email, f"{course}/reviews/matrix")),
        Target("reading view (a session's reviews)", "page",
               get(f"{course}/reviews/{info['past_session']}/all", lambda n: instructor),
               large=True,
               profile=(instructor_email, f"{course}/reviews/{info['past_session']}/all")),
        Target("gradebook (staff)", "page", get(f"{course}/gradebook", lambda n: instructor),
               profile=(instructor_email, f"{course}/gradebook")),
        Target("distribution chart", "page",
               get(f"{course}/gradebook/distributions.svg", lambda n: instructor),
               profile=(instructor_email, f"{course}/gradebook/distributions.svg")),
        Target("student grade page", "page", get(f"{course}/grades", student),
               profile=(student_email, f"{course}/grades")),
        Target("student feedback page", "page", get(f"{course}/feedback", student),
               profile=(student_email, f"{course}/feedback")),
        Target("review autosave", "write", autosave),
        Target("review submit", "write", submit),
    ]

    def load_tokens(server: Server) -> None:
        for index, email in enumerate(students):
            cookie = term.cookie(email)
            reply = send(server.port, Call(
                "GET", f"{course}/reviews/{info['open_session']}/write", cookie))
            token = CSRF.search(reply.body)
            if reply.cookie:
                cookie = reply.cookie
            if token:
                csrf_tokens[index] = (cookie, token.group(1).decode())

    return pages, load_tokens


def ceiling_call(kind: str) -> Callable[[int], Call]:
    if kind == "page":
        return lambda n: Call("GET", "/table", "")
    return lambda n: Call("POST", "/insert", "", urllib.parse.urlencode(
        {k: f"text {k} {n} " * 4 for k in "abcde"}).encode(), "application/x-www-form-urlencoded")


FLOOR_TARGET = "review submit"  # the write the signed-in floor (bench/ceiling/floor.py) bounds


def floor_calls(floor: Server) -> Callable[[int], Call]:
    """The floor's submit, as each of its users: signed in once each, outside the rounds."""
    from bench.ceiling.floor import USERS

    signed_in = []
    for number in range(1, USERS + 1):
        reply = send(floor.port, Call("GET", f"/floor/sign-in/{number}", ""))
        if reply.status != 200 or not reply.cookie:
            raise RuntimeError(f"the floor did not sign in user {number}: {reply.status}")
        signed_in.append((reply.cookie, reply.body.decode()))

    def submit(n: int) -> Call:
        cookie, token = signed_in[n % USERS]
        body = review_body(n % USERS, 100_000 + n)
        form = {"csrf_token": token, "summary": body["summary"], "strengths": body["strengths"],
                "weaknesses": body["weaknesses"], "remedies": body["remedies"],
                "questions": body["questions"][0]}
        return Call("POST", "/floor/submit", cookie, urllib.parse.urlencode(form).encode(),
                    "application/x-www-form-urlencoded")

    return submit


def measure(term: Term, app: Server, ceiling: Server, round_seconds: float,
            round_requests: int, only: Optional[list[str]] = None,
            floor: Optional[Server] = None) -> list[dict[str, Any]]:
    results = []
    plan, prepare = targets(term)
    if only:
        plan = [target for target in plan if any(part in target.name for part in only)]
    prepare(app)
    for target in plan:
        app_rounds, ceiling_rounds, floor_rounds = [], [], []
        floor_call = floor_calls(floor) if floor and target.name == FLOOR_TARGET else None
        for _ in range(ROUNDS):
            ceiling_rounds.append(run_round(ceiling, ceiling_call(target.kind), round_seconds,
                                            round_requests))
            app_rounds.append(run_round(app, target.make, round_seconds, round_requests))
            if floor_call:
                floor_rounds.append(run_round(floor, floor_call, round_seconds, round_requests))
        app_ms = statistics.median(r.cpu_ms for r in app_rounds)
        ceiling_ms = statistics.median(r.cpu_ms for r in ceiling_rounds)
        goal = (WRITE_TARGET if target.kind == "write"
                else LARGE_PAGE_TARGET if target.large else PAGE_TARGET)
        ratio = ceiling_ms / app_ms if app_ms else float("nan")
        row = {"name": target.name, "kind": target.kind, "large": target.large,
               "app_cpu_ms": round(app_ms, 2), "ceiling_cpu_ms": round(ceiling_ms, 2),
               "ratio": round(ratio, 3), "target": goal, "met": ratio >= goal,
               "app_rounds_cpu_ms": [round(r.cpu_ms, 2) for r in app_rounds],
               "ceiling_rounds_cpu_ms": [round(r.cpu_ms, 2) for r in ceiling_rounds],
               "app_requests": sum(r.requests for r in app_rounds),
               "app_errors": sum(r.errors for r in app_rounds),
               "app_p50_ms": round(percentile([x for r in app_rounds for x in r.latencies], 50)
                                   * 1000, 1),
               "app_p99_ms": round(percentile([x for r in app_rounds for x in r.latencies], 99)
                                   * 1000, 1),
               "app_rps": round(sum(r.requests for r in app_rounds)
                                / sum(r.seconds for r in app_rounds), 1),
               "ceiling_rps": round(sum(r.requests for r in ceiling_rounds)
                                    / sum(r.seconds for r in ceiling_rounds), 1)}
        if floor_rounds:
            floor_ms = statistics.median(r.cpu_ms for r in floor_rounds)
            row["floor"] = {"cpu_ms": round(floor_ms, 2), "ratio": round(ceiling_ms / floor_ms, 3),
                            "rounds_cpu_ms": [round(r.cpu_ms, 2) for r in floor_rounds],
                            "requests": sum(r.requests for r in floor_rounds),
                            "errors": sum(r.errors for r in floor_rounds)}
        if not row["met"] and target.profile:
            row["profile"] = term.profile(*target.profile)
        print(f"  {target.name:38s} app {app_ms:7.2f} ms  ceiling {ceiling_ms:5.2f} ms  "
              f"ratio {ratio:5.3f} (target {goal})", flush=True)
        if floor_rounds:
            print(f"  {'  the signed-in floor':38s}     {row['floor']['cpu_ms']:7.2f} ms"
                  f"{'':20s}ratio {row['floor']['ratio']:5.3f} "
                  f"({row['floor']['errors']} errors)", flush=True)
        results.append(row)
    return results


# ---------------------------------------------------------------------------------- the run


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return True
    except OSError:
        return False


def pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                         autocommit=True) as connection:
        connection.execute(statement)


def run_database(kind: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'term.sqlite'}"
        ceiling_url = f"sqlite:///{workdir / 'ceiling.sqlite'}"
        cleanup: Callable[[], None] = lambda: None
    else:
        name = f"bench_{os.getpid()}"
        pg_admin(f"DROP DATABASE IF EXISTS {name}")
        pg_admin(f"CREATE DATABASE {name}")
        url = ceiling_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        cleanup = lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    try:
        print(f"[{kind}] seeding", flush=True)
        term = Term(url)
        subprocess.run([sys.executable, str(ROOT / "bench/ceiling/app.py"), "--init", ceiling_url],
                       cwd=ROOT, check=True)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
        app_env = {**base_env, "DATABASE_URL": url, "FLASK_SECRET_KEY": SECRET,
                   "FLASK_SESSION_COOKIE_SECURE": "false"}
        if args.profile_dir:
            app_env["BENCH_PROFILE_DIR"] = str(Path(args.profile_dir).resolve())
        app = Server("bench.profiled_app:create_app()" if args.profile_dir else "app:create_app()",
                     app_env)
        if args.rush_only:
            try:
                return {"database": kind, "rush_burst": {**rush(term, app),
                                                         "rows": term.count_rush_rows()}}
            finally:
                app.stop()
        ceiling = Server("bench.ceiling.app:create_app()",
                         {**base_env, "DATABASE_URL": ceiling_url, "PYTHONPATH": str(ROOT)})
        floor_url = (f"sqlite:///{workdir / 'floor.sqlite'}" if kind == "sqlite"
                     else ceiling_url)
        subprocess.run([sys.executable, str(ROOT / "bench/ceiling/floor.py"), "--init",
                        floor_url], cwd=ROOT, check=True)
        floor = Server("bench.ceiling.floor:create_app()",
                       {**base_env, "DATABASE_URL": floor_url, "PYTHONPATH": str(ROOT)})
        if args.only:
            try:
                wanted = [part.strip() for part in args.only.split(",") if part.strip()]
                if args.after_burst:
                    rush(term, app)
                return {"database": kind, "pages": measure(term, app, ceiling, args.round_seconds,
                                                          args.round_requests, wanted, floor)}
            finally:
                app.stop()
                ceiling.stop()
                floor.stop()
        try:
            print(f"[{kind}] deadline rush (burst)", flush=True)
            burst = rush(term, app)
            burst["rows"] = term.count_rush_rows()
            paced = None
            if args.paced_seconds > 0:
                # The same students again: each review is resubmitted (a second version).
                print(f"[{kind}] deadline rush (paced over {args.paced_seconds:g} s)", flush=True)
                paced = rush(term, app, args.paced_seconds)
                paced["rows"] = term.count_rush_rows()
            print(f"[{kind}] pages and writes", flush=True)
            rows = measure(term, app, ceiling, args.round_seconds, args.round_requests,
                           floor=floor)
            memory = {"app_worker_rss_mb": [round(x, 1) for x in app.rss_mb()],
                      "ceiling_worker_rss_mb": [round(x, 1) for x in ceiling.rss_mb()]}
        finally:
            app.stop()
            ceiling.stop()
            floor.stop()
        return {"database": kind, "seed_seconds": round(term.seed_seconds, 1),
                "seeded": {k: v for k, v in term.info.items() if k != "students"},
                "rush_burst": burst, "rush_paced": paced, "pages": rows, "memory": memory,
                "server_version": server_version(term)}
    finally:
        cleanup()


def server_version(term: Term) -> str:
    from sqlalchemy import text

    from models import db

    with term.app.app_context():
        if term.url.startswith("sqlite"):
            return "SQLite " + db.session.execute(text("select sqlite_version()")).scalar()
        return db.session.execute(text("show server_version")).scalar().split()[0]


def start_up() -> dict[str, Any]:
    probe = ("import json, re, sys, time\nstart = time.process_time()\nfrom app import create_app\n"
             "create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'SECRET_KEY': 'x'})\n"
             "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
             "print(json.dumps({'cpu_s': time.process_time() - start, 'rss_mb': int(hwm) / 1024,"
             " 'heavy': [m for m in ('sklearn', 'scipy', 'matplotlib', 'pandas', 'numpy')"
             " if m in sys.modules]}))")
    # The same moment's reference: the bare Flask + SQLAlchemy + Flask-Login + Flask-WTF
    # imports (the 0.45 CPU-s on a quiet machine). On this shared VM the absolute
    # start-up figures move 1.5x between hours with the same code; the reference moves with them.
    bare = ("import json, time\nstart = time.process_time()\n"
            "import flask, flask_login, flask_sqlalchemy, flask_wtf, sqlalchemy.orm\n"
            "print(json.dumps({'cpu_s': time.process_time() - start}))")
    runs, bare_runs = [], []
    for _ in range(3):  # alternated, so both see the same hour
        runs.append(json.loads(subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True,
                                              capture_output=True, text=True).stdout))
        bare_runs.append(json.loads(subprocess.run([sys.executable, "-c", bare], cwd=ROOT,
                                                   check=True, capture_output=True,
                                                   text=True).stdout))
    helps, help_cpu = [], []
    for _ in range(3):
        started = time.perf_counter()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([str(BIN / "flask"), "--app", "app", "--help"], cwd=ROOT, check=True,
                       capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        helps.append(time.perf_counter() - started)
        help_cpu.append(after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime)
    return {"create_app_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "create_app_rss_mb": round(statistics.median(r["rss_mb"] for r in runs), 1),
            "heavy_modules_loaded": runs[0]["heavy"],
            "bare_framework_imports_cpu_s": round(statistics.median(r["cpu_s"] for r in bare_runs), 3),
            "flask_help_wall_s": round(statistics.median(helps), 3),
            "flask_help_cpu_s": round(statistics.median(help_cpu), 3)}


def xlsx_export() -> dict[str, Any]:
    """The gradebook workbook of 1,000 students x 10 sessions: the load and compute from an
    SQLite file (bench_gradebook_db_export.py) and the write against a bare openpyxl write-only
    write of the same cells (bench_gradebook_export.py), each the median of its own runs."""
    def last_json(script: str, *options: str) -> dict[str, Any]:
        run = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--json", *options],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        if not run.stdout.strip():
            raise RuntimeError(f"{script} printed nothing: {run.stderr[-2000:]}")
        return json.loads(run.stdout.strip().splitlines()[-1])

    return {**last_json("bench_gradebook_db_export.py", "--repeats", "3"),
            **last_json("bench_gradebook_export.py", "--repeat", "5")}


def machine() -> dict[str, Any]:
    from importlib import metadata

    import gunicorn
    import sqlalchemy

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(), "flask": metadata.version("flask"),
            "sqlalchemy": sqlalchemy.__version__,
            "gunicorn": gunicorn.__version__, "kernel": platform.release(),
            "concurrency": CONCURRENCY, "rounds": ROUNDS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--round-seconds", type=float, default=2.5)
    parser.add_argument("--round-requests", type=int, default=600)
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--out", default=str(ROOT / "bench"))
    parser.add_argument("--rush-only", action="store_true",
                        help="only the deadline rush's burst; print it, write no results files")
    parser.add_argument("--only", default="",
                        help="comma-separated parts of target names (e.g. 'autosave,submit'): "
                             "measure only those, no rush; print them, write no results files")
    parser.add_argument("--after-burst", action="store_true",
                        help="with --only: run the rush's burst first, so the writes meet the "
                             "state the full run measures them in (every review submitted: an "
                             "autosave then edits a working copy, a submit is a resubmit)")
    parser.add_argument("--profile-dir", default="",
                        help="with --only: serve the application under werkzeug's profiler, "
                             "one .prof file per request in this directory (CPU figures then "
                             "include the profiler's own cost: use them for where, not how much)")
    args = parser.parse_args()
    if args.rush_only or args.only:
        workdir = Path(tempfile.mkdtemp(prefix="bench-rush-"))
        try:
            for kind in args.databases.split(","):
                if kind == "postgresql" and not postgres_available():
                    continue
                print(json.dumps(run_database(kind, workdir, args)), flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    started = time.monotonic()
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "machine": machine(), "start_up": start_up(), "databases": []}
    print(f"start-up: {report['start_up']}", flush=True)
    report["xlsx"] = xlsx_export()
    print(f"gradebook xlsx: {report['xlsx']}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        for kind in args.databases.split(","):
            if kind == "postgresql" and not postgres_available():
                print("[postgresql] 127.0.0.1:5432 does not answer; skipped", flush=True)
                continue
            report["databases"].append(run_database(kind, workdir, args))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["total_seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    from bench.report import write_results

    (out / "RESULTS.md").write_text(write_results(report))
    print(f"wrote {out / 'RESULTS.md'} and {out / 'results.json'} "
          f"in {report['total_seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
