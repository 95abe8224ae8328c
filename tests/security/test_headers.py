"""Response headers and cookies: HSTS over HTTPS, no caching of pages with personal data,
``__Host-`` cookies in production, a remember-me cookie that lasts a term, no server banner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from app import create_app
from models import CourseRole, db
from models import utcnow as models_now
from tests.conftest import base_config
from tests.factories import make_course, make_member
from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_hsts_only_when_served_over_https(client) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_pages_with_grades_reviews_or_the_roster_are_never_stored_by_a_cache(client, login) -> None:
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    for page in (f"/c/{course.code}/gradebook", f"/c/{course.code}/gradebook/export/xlsx",
                 f"/c/{course.code}/reviews/matrix", f"/c/{course.code}/reviews/matrix.xlsx",
                 f"/c/{course.code}/roster"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert "no-store" in response.headers["Cache-Control"], page
    static = client.get("/static/style.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_production_cookies_use_the_host_prefix_and_remember_me_lasts_a_term() -> None:
    app = create_app(base_config(TESTING=False, SESSION_COOKIE_SECURE=None, SERVER_NAME=None))
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["REMEMBER_COOKIE_NAME"] == "__Host-remember_token"
    assert app.config["REMEMBER_COOKIE_DURATION"] >= timedelta(days=120)
    shorter = create_app(base_config(REMEMBER_COOKIE_DURATION=30 * 24 * 3600))
    assert shorter.config["REMEMBER_COOKIE_DURATION"] == 30 * 24 * 3600


def test_signing_in_with_remember_me_sets_a_cookie_for_the_term(app, client) -> None:
    from review.accounts.services import hash_password

    course = make_course()
    make_member(course, email="keep@example.edu", password_hash=hash_password("seminar walnut lantern"))
    db.session.commit()
    response = client.post("/login", data={"email": "keep@example.edu",
                                           "password": "seminar walnut lantern", "remember": "y"})
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token="))
    from email.utils import parsedate_to_datetime

    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    lifetime = expires - models_now()
    assert timedelta(days=119) < lifetime <= timedelta(days=120)
    assert "HttpOnly" in cookie


def test_the_documented_gunicorn_setup_sends_no_server_banner(tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "FLASK_SECRET_KEY": "x" * 32,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite'}"}
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind",
                f"127.0.0.1:{port}", "app:create_app()"]
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/style.css") as reply:
                    headers = reply.headers
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.3)
        assert headers.get("Server") is None
    finally:
        server.terminate()
        server.wait(timeout=10)
