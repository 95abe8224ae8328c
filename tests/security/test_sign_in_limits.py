"""Sign-in limits count failures only, per account and address, under a far higher per-address
ceiling; and a limiter store that is down never keeps anyone from signing in.

A class behind one NAT was locked out: every sign-in, correct or not, counted against the
address, and the ninth correct sign-in in a minute got 429.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Iterator

import pytest

from models import CourseRole, db
from tests.factories import make_course, make_member

PASSWORD = "correct horse battery"


STORE_DOWN = "the limiter store is down"
LIMIT_ON_EVERY_ROUTE = "a deployment limits every route"


@pytest.fixture
def app_config(request) -> Iterator[dict]:
    if getattr(request, "param", None) == LIMIT_ON_EVERY_ROUTE:
        yield {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
               "RATELIMIT_DEFAULT": "2 per minute"}
        return
    if getattr(request, "param", None) != STORE_DOWN:
        yield {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}
        return
    # A port bound for the whole test and never listening refuses every connection; a port
    # merely free at collection could be taken by then (another test's server picks free ports).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield {"RATELIMIT_ENABLED": True,
               "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{held.getsockname()[1]}/0"}


@pytest.fixture
def cheap_hash(monkeypatch):
    """Argon2 at its cheapest, so sixty sign-ins take a second, not a minute."""
    from argon2 import PasswordHasher

    from review.accounts import services

    monkeypatch.setattr(services, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    cheap_dummy = services._hasher.hash("dummy")
    monkeypatch.setattr(services, "_dummy_hash", lambda: cheap_dummy)
    return services.hash_password


def _sign_in(app, email: str, password: str, address: str) -> int:
    client = app.test_client()
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}).status_code


def test_sixty_students_behind_one_address_all_sign_in_within_a_minute(app, cheap_hash) -> None:
    course = make_course()
    students = [make_member(course, email=f"s{i}@example.edu", password_hash=cheap_hash(PASSWORD))
                for i in range(60)]
    db.session.commit()
    codes = [_sign_in(app, s.email, PASSWORD, "203.0.113.7") for s in students]
    assert codes == [302] * 60


def test_correct_sign_ins_never_count_towards_either_limit(app, cheap_hash) -> None:
    app.config["LOGIN_ADDRESS_RATE_LIMIT"] = "5 per minute"
    course = make_course()
    owner = make_member(course, email="devices@example.edu", password_hash=cheap_hash(PASSWORD))
    db.session.commit()
    # Phone, laptop, lab machines: fifteen sign-ins of one account from one address.
    assert [_sign_in(app, owner.email, PASSWORD, "203.0.113.7") for _ in range(15)] == [302] * 15


def test_sixty_wrong_passwords_from_one_address_do_not_lock_the_owner_out_elsewhere(
        app, cheap_hash) -> None:
    course = make_course()
    owner = make_member(course, email="owner@example.edu", password_hash=cheap_hash(PASSWORD))
    db.session.commit()
    codes = [_sign_in(app, owner.email, "wrong guess 123", "198.51.100.9") for _ in range(60)]
    assert 429 in codes, "the attacker's address is slowed down"
    assert _sign_in(app, owner.email, PASSWORD, "203.0.113.7") == 302


def test_a_few_typos_never_stop_the_owner_from_their_own_address(app, cheap_hash) -> None:
    course = make_course()
    owner = make_member(course, email="owner@example.edu", password_hash=cheap_hash(PASSWORD))
    db.session.commit()
    for _ in range(3):
        assert _sign_in(app, owner.email, "typo typo typo", "203.0.113.7") == 401
    assert _sign_in(app, owner.email, PASSWORD, "203.0.113.7") == 302


def test_many_failures_for_many_accounts_from_one_address_hit_the_address_ceiling(
        app, cheap_hash) -> None:
    app.config["LOGIN_ADDRESS_RATE_LIMIT"] = "20 per minute"
    codes = [_sign_in(app, f"nobody{i}@example.edu", "guess guess", "192.0.2.1") for i in range(25)]
    assert codes[:20] == [401] * 20 and codes[-1] == 429


# --- the limiter's store is unreachable -------------------------------------------------------


@pytest.mark.parametrize("app_config", [STORE_DOWN], indirect=True)
def test_sign_in_works_when_the_limiter_store_is_down(app, cheap_hash, caplog) -> None:
    course = make_course()
    make_member(course, CourseRole.student, email="s@example.edu",
                password_hash=cheap_hash(PASSWORD))
    db.session.commit()
    with caplog.at_level(logging.WARNING):
        assert _sign_in(app, "s@example.edu", PASSWORD, "203.0.113.7") == 302
        assert _sign_in(app, "s@example.edu", "wrong wrong", "203.0.113.7") == 401
    assert any("rate limit" in r.getMessage().lower() or "storage" in r.getMessage().lower()
               for r in caplog.records if r.levelno >= logging.WARNING)


# --- only the limited routes pay for the limiter ------------------------------------------------


def _limiter_checks(make_request) -> int:
    """How many times the limiter's check (``Limiter._check_request_limit``) runs for a request."""
    checks = 0

    def count(frame, event, arg) -> None:  # type: ignore[no-untyped-def]
        nonlocal checks
        if event == "call" and frame.f_code.co_name == "_check_request_limit" \
                and "flask_limiter" in frame.f_code.co_filename:
            checks += 1

    sys.setprofile(count)
    try:
        make_request()
    finally:
        sys.setprofile(None)
    return checks


def test_only_the_routes_with_a_limit_of_their_own_run_the_limiters_check(
        app, client, login, cheap_hash) -> None:
    # The limiter's own before_request hook ran on every request though no limit applies to
    # every route (4% of an autosave's Python calls); the sign-in routes' decorators check
    # their own limits when their views run.
    course = make_course()
    student = make_member(course, CourseRole.student, email="s@example.edu",
                          password_hash=cheap_hash(PASSWORD))
    db.session.commit()
    login(student)
    assert _limiter_checks(lambda: client.get(f"/c/{course.code}/")) == 0
    stranger = app.test_client()
    assert _limiter_checks(lambda: stranger.post(
        "/login", data={"email": "s@example.edu", "password": "wrong wrong"})) >= 1


@pytest.mark.parametrize("app_config", [LIMIT_ON_EVERY_ROUTE], indirect=True)
def test_a_deployment_that_limits_every_route_keeps_that_limit(app, client, login) -> None:
    course = make_course()
    student = make_member(course, CourseRole.student)
    db.session.commit()
    login(student)
    assert [client.get(f"/c/{course.code}/").status_code for _ in range(3)] == [200, 200, 429]


def test_forgot_password_stays_limited_per_address(client, app) -> None:
    for attempt in range(10):
        assert client.post("/password/forgot", data={"email": f"x{attempt}@example.edu"}
                           ).status_code != 429
    assert client.post("/password/forgot", data={"email": "y@example.edu"}).status_code == 429
