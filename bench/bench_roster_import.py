"""How long the roster page keeps an instructor waiting, and how long the job then takes.

Seeds a fresh SQLite file (``db.create_all()``) with one course and its instructor, then for each
size in ``--rows`` uploads a roster of that many new students through the Flask test client
(mail configured unless ``--no-mail``, so every new account gets a set-password link and a
mail queued) and reports:

- ``page_s``: the upload request, as the instructor waits for it. Up to IMPORT_JOB_ROWS rows the
  page imports the roster itself; above, it checks the file, stores the rows and queues the job.
- ``job_s``: the worker applying a queued import (one transaction, the mails queued, not sent).

Each size goes to a course of its own, so every import creates all its accounts. The embedded
SQLite queue is used, as ``make run`` has it; nothing listens for mail (no mail is sent).

    .venv/bin/python bench/bench_roster_import.py [--rows 300 500 5000] [--job-rows 300] [--no-mail]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def roster_csv(count: int, prefix: str) -> bytes:
    lines = ["student_id,first_name,last_name,email"]
    lines += [f"{prefix}{n},Student,Number{n},{prefix}{n}@example.edu" for n in range(count)]
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[300, 500, 5000])
    parser.add_argument("--job-rows", type=int, default=300)
    parser.add_argument("--no-mail", action="store_true", help="No MAIL_SERVER: no links made.")
    args = parser.parse_args()

    from sqlalchemy import select

    from app import create_app
    from models import CourseRole, ImportJob, db
    from review.jobs import jobs
    from tests.factories import make_course, make_member

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite", "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False, "SERVER_NAME": "localhost", "SESSION_COOKIE_SECURE": False,
            "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": f"{tmp}/jobs.sqlite",
            "MAIL_SERVER": "" if args.no_mail else "127.0.0.1", "PUBLIC_BASE_URL": "https://review.example.edu",
            "TRUSTED_HOSTS": ["localhost"], "IMPORT_JOB_ROWS": args.job_rows})
        with app.app_context():
            db.create_all()
        for count in args.rows:
            code = f"bench-{count}"
            with app.app_context():
                course = make_course(code)
                instructor = make_member(course, CourseRole.instructor)
                db.session.commit()
                course_id, user_id = course.id, instructor.get_id()
            # Requests outside the set-up's app context: each gets its own, as in production.
            client = app.test_client()
            with client.session_transaction() as cookie:
                cookie["_user_id"], cookie["_fresh"] = user_id, True
            started = time.perf_counter()
            response = client.post(f"/c/{code}/roster", data={
                "file": (io.BytesIO(roster_csv(count, f"s{count}-")), "roster.csv")},
                content_type="multipart/form-data")
            page = time.perf_counter() - started
            job_s = None
            with app.app_context():
                huey = jobs().huey
                if response.status_code == 302:
                    started = time.perf_counter()
                    huey.execute(huey.dequeue())  # the import; its mails stay queued
                    job_s = round(time.perf_counter() - started, 2)
                    job = db.session.scalars(select(ImportJob).where(
                        ImportJob.course_id == course_id)).one()
                    assert job.state == "done", job.error
                huey.flush()
            results.append({"rows": count, "status": response.status_code,
                            "page_s": round(page, 2), "job_s": job_s})
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
