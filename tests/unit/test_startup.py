"""Start-up cost: a worker or CLI command must not pay for libraries only a few pages use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("sklearn", "scipy", "matplotlib", "pandas", "numpy", "krippendorff")
# Imported when first used: the job queue (with the Redis client), the migration tooling, the
# calendar library, and the Markdown renderer with its MathML converter and sanitiser (0.06 s
# of `flask --help`, measured alternately with the commit before).
ON_FIRST_USE = ("huey", "redis", "alembic", "flask_migrate", "mako", "pygments", "icalendar",
                "markdown_it", "mdit_py_plugins", "latex2mathml", "nh3",
                # the address checker, for the roster import and staff invitations (about 0.04 s)
                "email_validator")

_PROBE = """
import json, re, sys, time
start = time.process_time()
from app import create_app
create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe"})
print(json.dumps({
    "cpu": time.process_time() - start,
    # Peak resident memory of this program (ru_maxrss would count the forking parent's too).
    "rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024,
    "heavy": sorted(m for m in %r if m in sys.modules),
    "on_first_use": sorted(m for m in %r if m in sys.modules),
}))
""" % (HEAVY, ON_FIRST_USE)


def _probe() -> dict:
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_create_app_imports_no_heavy_library():
    assert _probe()["heavy"] == []


def test_create_app_leaves_the_job_queue_the_migration_tools_and_the_renderer_for_first_use():
    assert _probe()["on_first_use"] == []


def test_the_migration_commands_bind_flask_migrate_when_run(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from app import create_app

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    assert "migrate" not in app.extensions
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output, listed.output
    # The group's own option (-x) reaches Flask-Migrate's callback.
    upgraded = runner.invoke(args=["db", "-x", "unused=1", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    with create_engine(url).connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_create_app_stays_within_the_start_up_budget():
    # The targets are 1.5 CPU-s and 120 MB on a quiet machine (about 0.75 s and 92 MB measured);
    # the CPU bound is doubled because the test machine is shared, so only a regression of the
    # size of the heavy imports (4-5 s, 250 MB) fails it.
    probe = _probe()
    assert probe["cpu"] < 3.0, probe
    assert probe["rss_mb"] < 120, probe


_PAGES_PROBE = """
import json, sys
from app import create_app
from bench.seed_term import seed_term
from models import db

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe",
                  "WTF_CSRF_ENABLED": False})
with app.app_context():
    db.create_all()
    term = seed_term(students=40, sessions=3)
    student = db.session.execute(db.text("select id from user where email = :e"),
                                 {"e": term["students"][1]}).scalar()
course = "/c/" + term["code"]
pages = {term["students"][1]: ["/grades", "/feedback"],
         term["instructor"]: ["/gradebook", "/gradebook?sort=total&dir=desc&q=s",
                              "/gradebook/distributions.svg",
                              f"/gradebook/students/{student}", "/grading"]}
statuses = {}
for email, paths in pages.items():
    client = app.test_client()
    client.post("/login", data={"email": email, "password": term["password"]})
    for path in paths:
        statuses[path] = client.get(course + path).status_code
print(json.dumps({"statuses": statuses, "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def test_grade_pages_render_without_pandas_or_numpy():
    # pandas + numpy are ~60 MB per worker; only file imports and the workbook may load them.
    result = subprocess.run([sys.executable, "-c", _PAGES_PROBE], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(probe["statuses"].values()) == {200}, probe
    assert probe["heavy"] == [], probe


def test_connections_are_tested_when_taken_from_a_server_pool_but_not_for_an_sqlite_file():
    from app import create_app

    # Nothing connects here: the options are only read.
    embedded = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe"})
    server = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@127.0.0.1:1/none",
                         "SECRET_KEY": "probe"})
    tuned = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@127.0.0.1:1/none",
                        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3}, "SECRET_KEY": "probe"})
    assert embedded.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is False
    assert server.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    # A deployment's own pool settings keep the test on.
    assert tuned.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "pool_size": 3}


_WARM_PROBE = """
import json, runpy, sys, types
from app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe",
                  "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": sys.argv[2]})
from review.reviews.rendering import _renderer
def links_made():
    builders = [b for rule in app.url_map.iter_rules() for b in (rule._build, rule._build_unknown)]
    return all(b.__func__.__name__ != "build_on_first_use" for b in builders)
before = ("huey" in sys.modules or "jobs" in app.extensions or "markdown_it" in sys.modules
          or links_made())
hook = runpy.run_path(sys.argv[1])["post_worker_init"]
hook(types.SimpleNamespace(wsgi=app))
print(json.dumps({"before": before, "after": "huey" in sys.modules and "jobs" in app.extensions
                  and _renderer.cache_info().currsize == 1 and links_made()}))
"""


def test_each_served_worker_opens_the_job_queue_and_builds_the_renderer_before_its_first_request(
        tmp_path):
    # create_app() leaves the queue closed, the renderer unbuilt and the link builders unmade
    # (fast CLI and tests); gunicorn's post_worker_init readies all three in each worker, so no
    # student's first submit waits for Huey's imports, the Markdown renderer's or a link's.
    for conf in ("gunicorn.conf.py", "bench/gunicorn.conf.py"):
        result = subprocess.run(
            [sys.executable, "-c", _WARM_PROBE, str(PROJECT_ROOT / conf), str(tmp_path / "q.sqlite")],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
        assert json.loads(result.stdout.strip().splitlines()[-1]) == {"before": False,
                                                                      "after": True}, conf


def test_the_bench_ceiling_workers_are_left_as_they_boot(monkeypatch):
    # The bench serves its bare ceiling under the same config: nothing of the application's.
    import runpy
    import types

    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    from bench.ceiling.app import create_app as create_ceiling

    ceiling = create_ceiling()
    hook = runpy.run_path(str(PROJECT_ROOT / "bench/gunicorn.conf.py"))["post_worker_init"]
    hook(types.SimpleNamespace(wsgi=ceiling))
    assert "jobs" not in ceiling.extensions


def test_a_worker_whose_queue_cannot_open_yet_still_serves_and_says_why(tmp_path, caplog):
    from app import create_app, warm_worker

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the queue's folder should be")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe",
                      "JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(blocked / "q.sqlite")})
    warm_worker(app)  # does not raise: the worker goes on to serve
    assert "jobs" not in app.extensions
    assert "could not be opened at worker start-up" in caplog.text
