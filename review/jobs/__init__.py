"""Background jobs on a Huey task queue: mail, the periodic review reminders and staff digest,
the similarity check and question digest of a session (review.reviews.analysis), and large
roster imports (review.courses.imports).

The backend comes from JOBS_BACKEND:

- ``sqlite`` (default): a queue file in instance/ (JOBS_SQLITE_PATH), so a fresh machine needs
  nothing but Python; ``flask --app app worker`` consumes it (``make run`` starts one).
- ``redis``: production, at JOBS_REDIS_URL; run the worker as its own process.
- ``immediate``: every job runs inside the call that enqueues it (tests, scripts). Jobs scheduled
  for later (retries) wait in memory until ``run_due_jobs`` runs them.

Jobs run in their own application context and database session: a job never sees, or commits,
the request's unfinished work. Enqueue only after the commit (see ``after_commit``).

Huey is imported, and the queue opened, on the first ``jobs()`` call rather than in
``create_app``: with the Redis client and psycopg it pulls in, it was 0.17 s of every process's
start-up (every CLI command, every web worker), most of which never queue anything.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from flask import Flask, current_app
from sqlalchemy import event

if TYPE_CHECKING:
    from huey import Huey

from models import db

BACKENDS = ("sqlite", "redis", "immediate")


@dataclass
class Jobs:
    """The app's queue and the jobs registered on it."""

    huey: "Huey"
    send_outbox_message: Any
    forgot_password: Any
    review_reminders: Any
    staff_digest: Any
    analyse_session: Any
    apply_import: Any


def init_app(app: Flask) -> None:
    config = app.config
    config.setdefault("JOBS_BACKEND", "sqlite")
    config.setdefault("JOBS_SQLITE_PATH", str(Path(app.instance_path) / "jobs.sqlite"))
    config.setdefault("JOBS_REDIS_URL", "redis://127.0.0.1:6379/0")
    # Sites sharing one Redis need a queue name each.
    config.setdefault("JOBS_QUEUE_NAME", "review")
    # A mail is tried this many times in all; the n-th retry waits RETRY_DELAY * 2**(n-1) s.
    config.setdefault("JOBS_MAIL_ATTEMPTS", 4)
    config.setdefault("JOBS_MAIL_RETRY_DELAY", 60)
    # The same for the similarity check and the question digest of a session.
    config.setdefault("JOBS_ANALYSIS_ATTEMPTS", 3)
    config.setdefault("JOBS_ANALYSIS_RETRY_DELAY", 60)
    # The same for a large roster import.
    config.setdefault("JOBS_IMPORT_ATTEMPTS", 3)
    config.setdefault("JOBS_IMPORT_RETRY_DELAY", 60)
    # A job ``enqueue_once`` queued that has not started after this long is taken as lost (a
    # worker killed between taking it and running it), and the next request queues another.
    config.setdefault("JOBS_PENDING_SECONDS", 900)
    if config["JOBS_BACKEND"] not in BACKENDS:
        raise RuntimeError(f"JOBS_BACKEND must be one of {', '.join(BACKENDS)}, "
                           f"not {config['JOBS_BACKEND']!r}.")
    _register_worker_command(app)


_OPENING = threading.Lock()


def jobs() -> Jobs:
    """The app's queue and jobs, opened on first use (see the module's docstring)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    opened = app.extensions.get("jobs")
    if opened is None:
        # Two threads of one worker may ask at once; the queue is opened once.
        with _OPENING:
            opened = app.extensions.get("jobs")
            if opened is None:
                opened = app.extensions["jobs"] = _register_jobs(app, _make_huey(app))
    return opened


def _make_huey(app: Flask) -> "Huey":
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    backend = app.config["JOBS_BACKEND"]
    name = app.config["JOBS_QUEUE_NAME"]
    if backend == "immediate":
        return MemoryHuey(name, results=False, immediate=True)
    if backend == "redis":
        return RedisHuey(name, results=False, url=app.config["JOBS_REDIS_URL"])
    # "sqlite": init_app refused any other name at start-up.
    path = Path(app.config["JOBS_SQLITE_PATH"])
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, results=False, filename=str(path))


def _register_jobs(app: Flask, huey: "Huey") -> Jobs:
    from huey import crontab

    def in_app_context(function: Callable[..., None]) -> Callable[..., None]:
        def job(*args: Any) -> None:
            with app.app_context():
                try:
                    function(*args)
                finally:
                    db.session.remove()

        job.__name__ = function.__name__
        return job

    from review import mail
    from review.courses import imports
    from review.notifications.digest import digest_job
    from review.notifications.reminders import reminder_job
    from review.reviews import analysis

    return Jobs(
        huey=huey,
        send_outbox_message=huey.task(name="send_outbox_message")(
            in_app_context(mail.deliver)),
        forgot_password=huey.task(name="forgot_password")(
            in_app_context(mail.deliver_password_reset)),
        # Run by the long-running worker (its scheduler), every five minutes.
        review_reminders=huey.periodic_task(crontab(minute="*/5"), name="review_reminders")(
            in_app_context(reminder_job)),
        # Hourly: each course's digest goes at the first run at or after its local hour.
        staff_digest=huey.periodic_task(crontab(minute="0"), name="staff_digest")(
            in_app_context(digest_job)),
        analyse_session=huey.task(name="analyse_session")(
            in_app_context(analysis.analyse_session)),
        apply_import=huey.task(name="apply_import")(in_app_context(imports.apply_import)),
    )


def enqueue_once(task: Any, key: str, *args: Any) -> bool:
    """Enqueue ``task(*args)`` unless a job under ``key`` is already waiting; True if queued.

    Coalesces a burst of requests (thirty students submitting in one minute) into one job. The
    job calls ``job_started(key)`` first, so a change made while it runs queues the next one.
    """
    huey = jobs().huey
    now = time.time()
    # Read first: in a burst, almost every call finds the job already waiting, and a read takes
    # no lock (the SQLite queue's put_if_empty is an exclusive transaction, even when it fails).
    since = huey.get(key, peek=True)
    if since is not None and now - since < float(current_app.config["JOBS_PENDING_SECONDS"]):
        return False
    if since is None:
        if not huey.put_if_empty(key, now):
            return False  # another request queued it since the read
    else:
        huey.put(key, now)  # the mark of a job that never started (a lost worker): queue anew
    task(*args)
    return True


def job_started(key: str) -> None:
    """Clear ``key``'s mark of a waiting job (see ``enqueue_once``)."""
    jobs().huey.get(key)


def retry_delay(setting: str, attempt: int) -> Optional[float]:
    """Seconds to wait before retrying a job whose try number ``attempt`` failed, or None after
    the last: ``<setting>_ATTEMPTS`` tries in all, the n-th retry after
    ``<setting>_RETRY_DELAY * 2**(n-1)`` seconds."""
    config = current_app.config
    if attempt >= int(config[f"{setting}_ATTEMPTS"]):
        return None
    return float(config[f"{setting}_RETRY_DELAY"]) * 2 ** (attempt - 1)


def after_commit(enqueue: Callable[[], None]) -> None:
    """Run ``enqueue`` once the current transaction commits; a rollback drops it.

    A job enqueued before the commit could run before its rows exist, or for rows that a
    rollback then removes.
    """
    session = db.session()
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        event.listen(session, "after_commit", _run_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append(enqueue)


_PENDING = "jobs_after_commit"


def _run_pending(session: Any) -> None:
    pending, session.info[_PENDING] = session.info.get(_PENDING, []), []
    for enqueue in pending:
        enqueue()


def _drop_pending(session: Any, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info[_PENDING] = []


def run_due_jobs(huey: "Huey", *, timeout: float = 0.0) -> int:
    """Run every job that is due now (scheduled ones whose time has come included) and return
    how many ran; with ``timeout``, keep polling that long for jobs that become due."""
    ran = 0
    deadline = time.monotonic() + timeout
    while True:
        for task in huey.read_schedule():
            if huey.immediate:
                huey.execute(task)
                ran += 1
            else:
                huey.enqueue(task)
        task = None if huey.immediate else huey.dequeue()
        if task is not None:
            if not huey.ready_to_run(task):
                # A retry scheduled for later: the queue hands it over at once, and the
                # consumer would park it until its time; so do we.
                huey.add_schedule(task)
                continue
            huey.execute(task)
            ran += 1
            continue
        if time.monotonic() >= deadline:
            return ran
        time.sleep(0.1)


def _register_worker_command(app: Flask) -> None:
    import click

    @app.cli.command("worker")
    @click.option("--burst", is_flag=True,
                  help="Run every job that is due now, then exit (cron, tests, scripts).")
    @click.option("--workers", default=2, show_default=True, help="Worker threads.")
    def worker(burst: bool, workers: int) -> None:
        """Run the background jobs (mail): until stopped, or with --burst until none is due."""
        import logging

        if not logging.getLogger().handlers:
            # The operator sees each job start, finish or fail on the terminal / in the journal.
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        huey = jobs().huey
        if burst:
            click.echo(f"Ran {run_due_jobs(huey)} job(s).")
            return
        huey.create_consumer(workers=workers, worker_type="thread").run()
