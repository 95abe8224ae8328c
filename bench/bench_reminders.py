"""300 review reminders queued and sent by the job worker while the site keeps answering.

Seeds a fresh SQLite file (schema from ``db.create_all()``) with one course (a non-UTC timezone)
of ``--students`` students who all owe a review due in 23 hours; starts a local SMTP server
(aiosmtpd, in this process, on a free loopback port, answering each message after ``--smtp-delay``
seconds as a real server takes a moment) and the site under gunicorn (sync workers); measures the
course home page, requested in a loop by ``--clients`` signed-in students, while idle; then runs
the reminder job (it writes one outbox row per student and enqueues one mail job each, on the
embedded SQLite queue as ``make run`` has it), which ``flask worker`` (running, idle, from the
start) sends, with the page still requested in the loop. Reports the time to queue, the time until the SMTP server holds
every mail, lost and duplicated mails (by recipient), and page p50/p99 idle and during the send.
Bounded in students (500), seconds (``--timeout``) and requests; loopback only; stops gunicorn and
the worker when done. Exits 1 on a lost or duplicated mail, a page error, or a timeout.

    .venv/bin/python bench/bench_reminders.py [--students 300] [--smtp-delay 0.02] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-reminders-secret"
CODE = "bench-mail"
BASE_URL = "https://review.example.edu"
MAX_REQUESTS = 50_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlowInbox:
    """An aiosmtpd handler that keeps every recipient and takes ``delay`` s per message."""

    def __init__(self, delay: float):
        self.delay = delay
        self.recipients: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        with self.lock:
            self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return sum(self.recipients.values())


def seed(config: dict[str, Any], students: int) -> str:
    """The course and its people; returns a student's session cookie for the page loop."""
    from app import create_app
    from models import CourseRole, User, db
    from review.courses.definition import CourseDefinition
    from review.courses.services import apply_course_definition, enroll

    app = create_app(config)
    monday = date(2030, 9, 2)
    definition = CourseDefinition.model_validate({
        "code": CODE, "title": "Mail bench", "term": "Fall 2030", "timezone": "America/Sao_Paulo",
        "session_time": "13:40",
        "weeks": [{"number": n, "date": (monday + timedelta(weeks=n - 1)).isoformat()}
                  for n in range(1, 5)],
        "paper_sessions": [{"week": 2, "title": "A paper", "authors": "A. Author"}],
        "roles": [{"key": "overview", "name": "Overview", "minutes": 15}],
        "rubrics": {"presentations": {"overview": "presentation-overview"}},
        "grading": {"components": [{"key": "reviews", "label": "Reviews", "weight": 100,
                                    "kind": "reviews"}],
                    "letters": [{"letter": "A", "min": 50}, {"letter": "F", "min": 0}]},
    })
    with app.app_context():
        db.create_all()
        course, _ = apply_course_definition(definition)
        people = []
        for n in range(students):
            user = User(email=f"student{n}@bench.example", first_name="Student", last_name=str(n))
            db.session.add(user)
            db.session.flush()
            enroll(course, user, CourseRole.student, student_number=str(200000 + n))
            people.append(user)
        # The review is open and due in 30 hours: no reminder is due yet (the worker's own
        # five-minute schedule must not send them before the measured run, see ``due_soon``).
        session = course.sessions[0]
        set_deadline(session, datetime.now(timezone.utc) + timedelta(hours=30))
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        return serializer.dumps({"_user_id": people[0].get_id(), "_fresh": True})


def set_deadline(session: Any, deadline: datetime) -> None:
    session.review_opens_at = deadline - timedelta(days=3)
    session.review_deadline = deadline
    session.starts_at = deadline + timedelta(hours=2)


def page(port: int, cookie: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", f"/c/{CODE}/", headers={"Cookie": f"session={cookie}"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        connection.close()


def page_loop(port: int, cookie: str, stop: threading.Event, out: list[tuple[float, float, int]]) -> None:
    """Request the course home page back to back; record (start, seconds, status)."""
    while not stop.is_set() and len(out) < MAX_REQUESTS:
        started = time.monotonic()
        status = page(port, cookie)
        out.append((started, time.monotonic() - started, status))


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"n": len(samples)}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50_ms": round(cuts[49] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1), "max_ms": round(max(samples) * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--smtp-delay", type=float, default=0.02, help="seconds per message")
    parser.add_argument("--idle-seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=2, help="page-loading threads")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=2, help="threads of flask worker")
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    if not 1 <= args.students <= 500 or args.timeout > 600 or not 1 <= args.clients <= 8:
        parser.error("at most 500 students, 600 seconds and 8 clients")

    from aiosmtpd.controller import Controller

    workdir = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    database_url = f"sqlite:///{workdir / 'review.sqlite'}"
    smtp_port, web_port = free_port(), free_port()
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET,
                "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(workdir / "jobs.sqlite"),
                "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
                "PUBLIC_BASE_URL": BASE_URL}
    cookie = seed(settings, args.students)
    inbox = SlowInbox(args.smtp_delay)
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {**os.environ, "DATABASE_URL": database_url,
           **{f"FLASK_{key}": value for key, value in settings.items()
              if key != "SQLALCHEMY_DATABASE_URI"}}
    # The site itself sends no mail here and must answer on 127.0.0.1: no mail settings.
    web_env = {key: value for key, value in env.items()
               if key not in ("FLASK_MAIL_SERVER", "FLASK_PUBLIC_BASE_URL")}
    web_env["FLASK_SESSION_COOKIE_SECURE"] = "false"
    gunicorn = subprocess.Popen(  # nosec B603 - fixed arguments, loopback only
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(args.web_workers),
         "--bind", f"127.0.0.1:{web_port}", "app:create_app()"], cwd=ROOT, env=web_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    result: dict[str, Any] = {}
    log = workdir / "worker.log"
    try:
        # The worker runs from the start, idle, as beside a live site.
        worker = subprocess.Popen(  # nosec B603 - the app's own worker command
            [sys.executable, "-m", "flask", "--app", "app", "worker", "--workers",
             str(args.job_workers)], cwd=ROOT, env=env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT)
        ready_by = time.monotonic() + 120
        while time.monotonic() < ready_by and not (
                page(web_port, cookie) == 200 and b"consumer started" in log.read_bytes()):
            time.sleep(0.2)
        for _ in range(20):     # warm both gunicorn workers up
            page(web_port, cookie)
        clients = [threading.Thread(target=page_loop, args=(web_port, cookie, stop, samples))
                   for _ in range(args.clients)]
        for client in clients:
            client.start()
        time.sleep(args.idle_seconds)

        # The reminder job, as the worker's scheduler runs it every five minutes, once the
        # deadline is 23 hours away.
        from app import create_app
        from models import PaperSession, db
        from review.jobs import jobs

        app = create_app(settings)
        with app.app_context():
            set_deadline(db.session.scalars(db.select(PaperSession)).one(),
                         datetime.now(timezone.utc) + timedelta(hours=23))
            db.session.commit()
            queue_started = time.monotonic()
            jobs().review_reminders.call_local()
            queued_in = time.monotonic() - queue_started
        deadline = queue_started + args.timeout
        while inbox.count() < args.students and time.monotonic() < deadline:
            time.sleep(0.02)
        delivered_in = time.monotonic() - queue_started
        # A little longer: a duplicate would arrive now.
        time.sleep(1.0)
        send_ended = time.monotonic()
        stop.set()
        for client in clients:
            client.join(timeout=60)

        idle = [s for start, s, _ in samples if start < queue_started]
        during = [s for start, s, _ in samples if queue_started <= start < send_ended - 1.0]
        errors = sum(1 for _, _, status in samples if status != 200)
        received = dict(inbox.recipients)
        expected = {f"student{n}@bench.example" for n in range(args.students)}
        result = {
            "students": args.students, "smtp_delay_s": args.smtp_delay,
            "queued_in_s": round(queued_in, 3),
            "all_delivered_in_s": round(delivered_in, 2),
            "delivered": sum(received.values()),
            "lost": len(expected - set(received)),
            "duplicated": sum(count - 1 for count in received.values() if count > 1),
            "unexpected": len(set(received) - expected),
            "page_idle": percentiles(idle), "page_during_send": percentiles(during),
            "page_errors": errors,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                       f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}",
            "web_workers": args.web_workers, "job_workers": args.job_workers,
            "clients": args.clients, "workdir": str(workdir),
        }
    finally:
        stop.set()
        if worker is not None:
            worker.send_signal(signal.SIGINT)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        smtp.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = (result and result["lost"] == 0 and result["duplicated"] == 0
          and result["unexpected"] == 0 and result["page_errors"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
