"""One class session live: 60 phones polling live.json, 40 of them voting, against gunicorn.

Seeds a fresh SQLite file (schema from ``db.create_all()``) with one course (its own roles and
minutes, a non-UTC timezone), 60 students and a started run sheet with a few questions; starts
gunicorn with sync workers on a free loopback port (the documented production setup); then for
``--seconds``: every phone polls ``live.json`` as ``static/js/live.js`` does (every ``--poll``
seconds with the last ETag), 40 phones toggle votes, and a staff phone presses "next" every
``--step`` seconds. Reports, for each segment change, how long until every phone saw it (max
staleness), the request count and the errors, and checks the vote tally against the database.
Bounded in users, requests and seconds; talks only to 127.0.0.1; stops gunicorn when done.
Exits 1 on any error, a vote mismatch, or a staleness above ``--target`` seconds.

    .venv/bin/python bench/bench_live.py [--phones 60] [--voters 40] [--seconds 20] [--workers 4]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-live-secret"
CODE = "bench-live"
MAX_REQUESTS = 60_000
ROLES = [{"key": "framing", "name": "Framing", "minutes": 6},
         {"key": "evidence", "name": "Evidence", "minutes": 11},
         {"key": "critique", "name": "Critique", "minutes": 7}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(database_url: str, phones: int) -> tuple[str, int, list[str], str]:
    """The course, its people and a started run sheet; returns (live path, week, student
    session cookies, staff session cookie)."""
    from app import create_app
    from models import CourseRole, Group, Membership, User, db
    from review.courses.definition import CourseDefinition
    from review.courses.services import apply_course_definition, enroll
    from review.live import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET})
    monday = date(2030, 9, 2)
    definition = CourseDefinition.model_validate({
        "code": CODE, "title": "Live bench", "term": "Fall 2030", "timezone": "Asia/Kolkata",
        "session_time": "10:15", "discussion_minutes": 12,
        "weeks": [{"number": n, "date": (monday + timedelta(weeks=n - 1)).isoformat()}
                  for n in range(1, 5)],
        "paper_sessions": [{"week": 2, "title": "A paper", "authors": "A. Author"}],
        "roles": ROLES,
        "rubrics": {"presentations": {r["key"]: "presentation-overview" for r in ROLES}},
        "grading": {"components": [{"key": "participation", "label": "Participation",
                                    "weight": 100, "kind": "participation"}],
                    "letters": [{"letter": "A", "min": 50}, {"letter": "F", "min": 0}]},
    })
    with app.app_context():
        db.create_all()
        course, _ = apply_course_definition(definition)
        staff = User(email="staff@bench.example", first_name="Staff", last_name="Member")
        db.session.add(staff)
        db.session.flush()
        enroll(course, staff, CourseRole.instructor)
        students = []
        for n in range(phones):
            user = User(email=f"phone{n}@bench.example", first_name="Phone", last_name=str(n))
            db.session.add(user)
            db.session.flush()
            enroll(course, user, CourseRole.student, student_number=str(100000 + n))
            students.append(user)
        session = course.sessions[0]
        for index, slot in enumerate(sorted(session.slots, key=lambda s: s.role.position)):
            group = Group(course_id=course.id, name=f"Group {index}", join_code=f"bench{index}")
            db.session.add(group)
            db.session.flush()
            for member in students[index * 2:index * 2 + 2]:
                db.session.add(Membership(course_id=course.id, group_id=group.id,
                                          user_id=member.id))
            slot.group_id = group.id
        now = datetime.now(timezone.utc)
        services.start(session, staff, now)
        for n in range(8):
            services.add_question(session, students[n % len(students)], f"Question number {n} about the paper?",
                                  now)
        db.session.commit()
        serializer = app.session_interface.get_signing_serializer(app)
        cookie = lambda user: serializer.dumps({"_user_id": user.get_id(), "_fresh": True})
        week = session.week.number
        return (f"/c/{CODE}/sessions/{week}/live", week, [cookie(u) for u in students],
                cookie(staff))


class Phone:
    """One browser: its session cookie (updated from Set-Cookie) and a keep-alive-less client."""

    def __init__(self, port: int, cookie: str):
        self.port = port
        self.cookie = cookie
        self.csrf: Optional[str] = None

    def request(self, method: str, path: str, body: Optional[dict[str, Any]] = None,
                headers: Optional[dict[str, str]] = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {"Cookie": f"session={self.cookie}", **(headers or {})}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            payload = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie" and value.startswith("session="):
                    self.cookie = value.split(";", 1)[0].split("=", 1)[1]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
        finally:
            connection.close()

    def load_csrf(self, live_path: str) -> None:
        status, _, page = self.request("GET", live_path)
        match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
        if status != 200 or match is None:
            raise RuntimeError(f"live page answered {status} without a form token")
        self.csrf = match.group(1).decode()


def phone_group(config: dict[str, Any], members: list[tuple[int, str, Optional[str]]]) -> dict[str, Any]:
    """One client process: a thread per phone (several processes keep the clients' own CPU
    time, under Python's GIL, from passing for server latency)."""
    lock = threading.Lock()
    out: dict[str, Any] = {"sightings": [], "latencies": [], "errors": [], "polls": [0, 0],
                           "votes": 0, "voted": {}}
    budget = [config["budget"]]
    deadline = config["deadline"]
    poll = config["poll"]

    def follow(index: int, cookie: str, csrf: Optional[str]) -> None:
        phone = Phone(config["port"], cookie)
        rng = random.Random(index)
        etag: Optional[str] = None
        segment: Optional[int] = None
        next_vote = time.monotonic() + rng.uniform(0, 2)
        # Phones do not poll in lockstep; each polls on a fixed cadence, as live.js does.
        next_poll = time.monotonic() + rng.uniform(0, poll)
        while time.monotonic() < deadline:
            with lock:
                budget[0] -= 1
                if budget[0] < 0:
                    return
            time.sleep(max(0.0, next_poll - time.monotonic()))
            next_poll += poll
            try:
                headers = {"Accept": "application/json"}
                if etag:
                    headers["If-None-Match"] = etag
                sent = time.monotonic()
                status, response_headers, body = phone.request("GET", config["json_path"],
                                                               headers=headers)
                now = time.monotonic()
                with lock:
                    out["latencies"].append(now - sent)
                if status == 200:
                    etag = response_headers.get("etag")
                    state = json.loads(body)
                    with lock:
                        out["polls"][0] += 1
                        if state["segment"] != segment:
                            out["sightings"].append((state["segment"], now))
                    segment = state["segment"]
                elif status == 304:
                    with lock:
                        out["polls"][1] += 1
                else:
                    with lock:
                        out["errors"].append(f"poll: {status}")
                if csrf and time.monotonic() >= next_vote:
                    question = rng.choice(config["question_ids"])
                    status, _, body = phone.request(
                        "POST", config["vote_path"], {"csrf_token": csrf, "question_id": question},
                        {"Accept": "application/json"})
                    with lock:
                        out["votes"] += 1
                        if status != 200 or not json.loads(body).get("ok"):
                            out["errors"].append(f"vote: {status} {body[:80]!r}")
                        else:
                            key = f"{index}:{question}"
                            out["voted"][key] = not out["voted"].get(key, False)
                    next_vote = time.monotonic() + rng.uniform(1, 3)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                with lock:
                    out["errors"].append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=follow, args=member) for member in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=config["deadline"] - time.monotonic() + 60)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=60)
    parser.add_argument("--voters", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--poll", type=float, default=0.75, help="as POLL_MS in live.js")
    parser.add_argument("--step", type=float, default=3.0, help="seconds between 'next' taps")
    parser.add_argument("--target", type=float, default=1.0, help="max staleness allowed (s)")
    args = parser.parse_args()
    if not 1 <= args.phones <= 200 or not 0 <= args.voters <= args.phones or args.seconds > 120 \
            or not 1 <= args.clients <= 16:
        parser.error("at most 200 phones, voters among them, 120 seconds, 16 client processes")

    workdir = Path(tempfile.mkdtemp(prefix="bench-live-"))
    database_url = f"sqlite:///{workdir / 'live.sqlite'}"
    live_path, week, student_cookies, staff_cookie = seed(database_url, args.phones)
    json_path = live_path + ".json"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_SECRET_KEY": SECRET,
           "FLASK_SESSION_COOKIE_SECURE": "false"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(args.workers), "--bind",
         f"127.0.0.1:{port}", "app:create_app()"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    changes: dict[int, float] = {}      # segment -> monotonic time the "next" was sent
    errors: list[str] = []
    results: list[dict[str, Any]] = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        staff = Phone(port, staff_cookie)
        staff.load_csrf(live_path)
        members = []
        for index, cookie in enumerate(student_cookies):
            phone = Phone(port, cookie)
            if index < args.voters:
                phone.load_csrf(live_path)
            members.append((index, phone.cookie, phone.csrf))
        question_ids = [q["id"] for q in json.loads(staff.request("GET", json_path)[2])["questions"]]
        started = time.monotonic()
        deadline = started + args.seconds
        config = {"port": port, "json_path": json_path, "question_ids": question_ids,
                  "vote_path": f"/c/{CODE}/sessions/{week}/questions/vote",
                  "deadline": deadline, "poll": args.poll,
                  "budget": MAX_REQUESTS // args.clients}
        groups = [members[i::args.clients] for i in range(args.clients)]
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(args.clients, mp_context=context) as pool:
            futures = [pool.submit(phone_group, config, group) for group in groups if group]
            segment = 0
            while time.monotonic() + args.step < deadline - args.poll * 2 and segment < len(ROLES):
                time.sleep(args.step)
                changes[segment + 1] = time.monotonic()
                status, _, body = staff.request(
                    "POST", f"/c/{CODE}/sessions/{week}/live/control",
                    {"csrf_token": staff.csrf, "action": "next", "expected_segment": segment},
                    {"Accept": "application/json"})
                if status != 200:
                    errors.append(f"next: {status} {body[:80]!r}")
                segment += 1
            results = [future.result(timeout=args.seconds + 120) for future in futures]
        wall = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=10)

    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        stored_votes = connection.execute(text("SELECT count(*) FROM question_vote")).scalar()
    engine.dispose()
    errors += [error for result in results for error in result["errors"]]
    expected_votes = sum(1 for result in results for value in result["voted"].values() if value)
    polls = [sum(result["polls"][i] for result in results) for i in (0, 1)]
    votes_sent = sum(result["votes"] for result in results)
    latencies = sorted(value for result in results for value in result["latencies"])
    seen: dict[int, list[float]] = {}
    for result in results:
        for segment, moment in result["sightings"]:
            if segment in changes:
                seen.setdefault(segment, []).append(moment - changes[segment])

    print(f"{args.phones} phones ({args.voters} voting) in {args.clients} client processes, "
          f"{args.workers} sync workers, {wall:.1f} s: {polls[0] + polls[1]} polls "
          f"({polls[1]} answered 304), {votes_sent} votes, {len(errors)} errors")
    if latencies:
        print(f"  poll latency median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
              f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms")
    worst = 0.0
    for segment, delays in sorted(seen.items()):
        worst = max([worst, *delays])
        print(f"  segment {segment}: seen by {len(delays)}/{args.phones} phones, "
              f"max staleness {max(delays):.2f} s, median {sorted(delays)[len(delays) // 2]:.2f} s")
    missed = [segment for segment in changes if len(seen.get(segment, [])) < args.phones]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"  machine load average (1, 5, 15 min): {load} on {os.cpu_count()} cores")
    print(f"max staleness {worst:.2f} s (target {args.target:.2f} s); votes in the database "
          f"{stored_votes}, expected {expected_votes}")
    for error in errors[:10]:
        print("  error:", error)
    if missed:
        print(f"  segments not seen by every phone: {missed}")
    failed = errors or missed or worst > args.target or stored_votes != expected_votes
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
