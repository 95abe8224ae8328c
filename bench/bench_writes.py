"""In-process CPU and SQL statements per request of the deadline rush, on the benchmark's term.

    .venv/bin/python bench/bench_writes.py [--requests 300] [--repeats 3]

Seeds bench/seed_term.py's term into a throwaway SQLite file, then drives the application
through Flask's test client (no HTTP, no gunicorn): each of ``--requests`` students opens the
review form, autosaves (a changed text each time), submits and opens the receipt. Prints, per kind of request, the median CPU
milliseconds per request over ``--repeats`` passes (``time.process_time``) and the statements
one request sends. A quick before/after figure for changes to the write path; the served figures
are bench/run_bench.py's.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run_bench import CSRF, Term, review_body  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the last pass of each kind")
    parser.add_argument("--statements", action="store_true",
                        help="print the statements of the last request of each kind")
    parser.add_argument("--sort", default="tottime", help="the profile's order (cumulative...)")
    parser.add_argument("--profile-dir", default="",
                        help="with --profile: also write NAME.prof per kind of request here")
    args = parser.parse_args()
    from sqlalchemy import event

    from models import db

    workdir = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    term = Term(f"sqlite:///{workdir / 'term.sqlite'}")
    app, code, session_id = term.app, term.code, term.info["open_session"]
    students = term.info["students"][:args.requests]
    clients = []
    for email in students:
        client = app.test_client()
        client.set_cookie("session", term.cookie(email).split("=", 1)[1], domain="localhost")
        token = CSRF.search(client.get(f"/c/{code}/reviews/{session_id}/write").data)
        clients.append((client, token.group(1).decode()))

    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))

    def autosave(n: int, client, csrf: str, step: int) -> int:
        response = client.post(f"/c/{code}/reviews/{session_id}/autosave",
                               data=json.dumps(review_body(n, step)),
                               content_type="application/json", headers={"X-CSRFToken": csrf})
        return response.status_code

    def submit(n: int, client, csrf: str, step: int) -> int:
        body = review_body(n, 1000 + step)
        response = client.post(f"/c/{code}/reviews/{session_id}/write", data={
            "csrf_token": csrf, "summary": body["summary"], "strengths": body["strengths"],
            "weaknesses": body["weaknesses"], "remedies": body["remedies"],
            "questions-0": body["questions"][0], "submit": "Submit review"})
        return response.status_code

    def form(n: int, client, csrf: str, step: int) -> int:
        return client.get(f"/c/{code}/reviews/{session_id}/write").status_code

    def receipt(n: int, client, csrf: str, step: int) -> int:
        return client.get(f"/c/{code}/reviews/{session_id}/receipt").status_code

    # The deadline rush's requests, in its order.
    for name, call, ok in (("form", form, 200), ("autosave", autosave, 200),
                           ("submit", submit, 302), ("receipt", receipt, 200)):
        per_request = []
        counts = []
        for repeat in range(args.repeats):
            profiler = cProfile.Profile(time.process_time) if args.profile and repeat == args.repeats - 1 else None
            if profiler:
                profiler.enable()
            started = time.process_time()
            for n, (client, csrf) in enumerate(clients):
                before = len(statements)
                status = call(n, client, csrf, repeat)
                counts.append(len(statements) - before)
                if status != ok:
                    raise SystemExit(f"{name} answered {status}")
            per_request.append((time.process_time() - started) / len(clients) * 1000)
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats(args.sort).print_stats(30)
                if args.profile_dir:
                    Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
                    profiler.dump_stats(str(Path(args.profile_dir) / f"{name}.prof"))
        if args.statements:
            print("\n".join(" ".join(s.split())[:300] for s in statements[before:]))
        print(f"{name}: {statistics.median(per_request):.2f} ms CPU per request "
              f"(passes: {', '.join(f'{x:.2f}' for x in per_request)}), "
              f"{statistics.median(counts):g} statements", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
