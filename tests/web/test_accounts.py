"""Sign in, sign out, passwords and one-time links, as a browser would use them."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import redis

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import CourseRole, TokenPurpose, db, utcnow
from review.accounts.services import hash_password, issue_password_token
from tests.factories import make_course, make_member

PASSWORD = "correct horse battery"


@pytest.fixture
def student(app: Flask):
    course = make_course()
    user = make_member(course, CourseRole.student, password_hash=hash_password(PASSWORD))
    db.session.commit()
    return user


def sign_in(client: FlaskClient, email: str, password: str, next_url: str | None = None):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})


def test_sign_in_with_the_right_password_opens_the_course_list(client, student) -> None:
    response = sign_in(client, student.email.upper(), PASSWORD)
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert b"Course test-course" in client.get("/").data


def test_wrong_password_and_unknown_email_get_the_same_answer(client, student) -> None:
    wrong = sign_in(client, student.email, "not the password")
    unknown = sign_in(client, "nobody@example.edu", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    message = b"That email and password do not match an account."
    assert message in wrong.data and message in unknown.data


@pytest.mark.parametrize("target,expected", [
    ("/c/test-course/", "/c/test-course/"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_only_redirects_within_the_site(client, student, target, expected) -> None:
    response = sign_in(client, student.email, PASSWORD, next_url=target)
    location = response.headers["Location"]
    assert location.endswith(expected) and "evil" not in location


def test_a_cookie_captured_before_sign_out_is_refused_after_it(app, client, student) -> None:
    sign_in(client, student.email, PASSWORD)
    captured = client.get_cookie("session").value
    client.post("/logout")
    replay = app.test_client()
    replay.set_cookie("session", captured, domain="localhost")
    response = replay.get("/c/test-course/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client, student) -> None:
    sign_in(client, student.email, PASSWORD)
    other_device = app.test_client()
    sign_in(other_device, student.email, PASSWORD)
    response = client.post("/account/password", data={
        "current": PASSWORD, "password": "a brand new passphrase",
        "confirm": "a brand new passphrase"})
    assert response.status_code == 302
    assert client.get("/c/test-course/").status_code == 200
    assert other_device.get("/c/test-course/").status_code == 302


def test_password_change_needs_the_current_password(client, student) -> None:
    sign_in(client, student.email, PASSWORD)
    response = client.post("/account/password", data={
        "current": "wrong one", "password": "a brand new passphrase",
        "confirm": "a brand new passphrase"})
    assert response.status_code == 422
    assert b"The current password is not right." in response.data


def test_set_password_link_works_once(client, student) -> None:
    raw = issue_password_token(student, TokenPurpose.set_password, utcnow(), timedelta(hours=1))
    db.session.commit()
    form = {"password": "my first password", "confirm": "my first password"}
    assert client.post(f"/password/set/{raw}", data=form).status_code == 302
    second = client.post(f"/password/set/{raw}", data=form)
    assert second.status_code == 410 and b"already used" in second.data


def test_set_password_link_expires(client, student) -> None:
    raw = issue_password_token(student, TokenPurpose.set_password, utcnow() - timedelta(hours=2),
                               timedelta(hours=1))
    db.session.commit()
    response = client.get(f"/password/set/{raw}")
    assert response.status_code == 410 and b"expired" in response.data


def test_a_new_link_voids_the_earlier_unused_one(client, student) -> None:
    first = issue_password_token(student, TokenPurpose.set_password, utcnow(), timedelta(hours=1))
    issue_password_token(student, TokenPurpose.set_password, utcnow(), timedelta(hours=1))
    db.session.commit()
    assert client.get(f"/password/set/{first}").status_code == 410


def test_short_passwords_are_refused_with_a_reason(client, student) -> None:
    raw = issue_password_token(student, TokenPurpose.set_password, utcnow(), timedelta(hours=1))
    db.session.commit()
    response = client.post(f"/password/set/{raw}", data={"password": "short", "confirm": "short"})
    assert response.status_code == 422 and b"at least 10 characters" in response.data


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True,
                                         "LOGIN_RATE_LIMIT": "3 per minute"}])
def test_repeated_sign_in_failures_are_rate_limited(client, student) -> None:
    codes = [sign_in(client, student.email, "wrong password").status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_forms_without_a_csrf_token_are_refused(client, student) -> None:
    response = client.post("/login", data={"email": student.email, "password": PASSWORD})
    assert response.status_code == 400 and b"The form expired" in response.data


def test_session_cookie_is_httponly_and_samesite_lax(client, student) -> None:
    response = sign_in(client, student.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_session_cookie_is_secure_outside_debug() -> None:
    from app import create_app
    from tests.conftest import DATABASE_URL

    app = create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": DATABASE_URL})
    assert app.config["SESSION_COOKIE_SECURE"] is True



REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize("app_config", [{
    "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "2 per minute",
    "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}])
def test_login_rate_limits_can_live_in_redis(client, student) -> None:
    """Production keeps the counters in Redis so every gunicorn worker shares them."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    codes = [sign_in(client, student.email, "wrong password").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
