"""Every route states who may use it, and the rules hold for each kind of visitor."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import CourseRole, ImportJob, db
from tests.factories import make_course, make_member

KNOWN_RULES = {"public", "signed_in", "site_admin", "course_member", "course_student",
               "course_staff", "course_instructor", "course_staff_can"}


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if getattr(view, "access_rule", None) not in KNOWN_RULES:
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
    assert undeclared == []


def _course_get_urls(app: Flask, code: str) -> list[str]:
    """Every GET route under /c/<course_code>/ whose other arguments are absent (list pages)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "course_code" not in rule.arguments:
            continue
        if rule.arguments - {"course_code"}:
            continue
        urls.append(rule.rule.replace("<course_code>", code))
    return urls


@pytest.fixture
def two_courses(app: Flask) -> dict[str, object]:
    course = make_course("course-a")
    other = make_course("course-b")
    people = {
        "student": make_member(course, CourseRole.student),
        "ta": make_member(course, CourseRole.ta),
        "instructor": make_member(course, CourseRole.instructor),
        "outsider": make_member(other, CourseRole.student),
    }
    db.session.commit()
    return {"course": course, **people}


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, client: FlaskClient,
                                                two_courses: dict) -> None:
    urls = _course_get_urls(app, "course-a")
    assert "/c/course-a/" in urls
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"], url


def test_a_student_of_another_course_gets_404_everywhere(app: Flask, client: FlaskClient,
                                                         login, two_courses: dict) -> None:
    login(two_courses["outsider"])
    for url in _course_get_urls(app, "course-a"):
        assert client.get(url).status_code == 404, url


def test_course_pages_by_role(app: Flask, client: FlaskClient, login, two_courses: dict) -> None:
    login(two_courses["student"])
    assert client.get("/c/course-a/").status_code == 200
    assert client.get("/c/course-a/roster").status_code == 403
    login(two_courses["ta"])
    assert client.get("/c/course-a/roster").status_code == 200
    assert client.post("/c/course-a/roster/links.csv").status_code == 403
    login(two_courses["instructor"])
    assert client.get("/c/course-a/roster").status_code == 200
    assert client.post("/c/course-a/roster/links.csv").status_code == 200


def test_unknown_course_is_404(client: FlaskClient, login, two_courses: dict) -> None:
    login(two_courses["instructor"])
    assert client.get("/c/no-such-course/").status_code == 404


def test_responses_carry_a_strict_content_security_policy(client: FlaskClient) -> None:
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_have_no_inline_script_or_style(app: Flask) -> None:
    offenders = []
    for name in app.jinja_env.list_templates():
        if not name.endswith(".html"):
            continue
        source = app.jinja_loader.get_source(app.jinja_env, name)[0]
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source) or "<style" in source \
                or re.search(r"\sstyle=\"", source) or re.search(r"\son[a-z]+=\"", source):
            offenders.append(name)
    assert offenders == []


def test_the_personal_calendar_routes(app: Flask, client: FlaskClient, login,
                                      two_courses: dict) -> None:
    """The feed is public behind its owner's secret token; making a new one needs sign-in."""
    assert app.view_functions["signup.personal_feed"].access_rule == "public"
    assert app.view_functions["signup.rotate_personal_feed"].access_rule == "signed_in"
    student = two_courses["student"]
    assert client.get(f"/calendar/me/{student.calendar_token}.ics").status_code == 200
    assert client.get("/calendar/me/wrong.ics").status_code == 404
    response = client.post("/calendar/me/rotate")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    login(student)
    assert client.post("/calendar/me/rotate").status_code == 302


def test_an_import_status_page_is_for_the_courses_instructors(
        client: FlaskClient, login, two_courses: dict) -> None:
    job = ImportJob(course_id=two_courses["course"].id, kind="roster", state="done", rows=[])
    db.session.add(job)
    db.session.commit()
    url = f"/c/course-a/imports/{job.id}"
    for who, status in (("student", 403), ("ta", 403), ("outsider", 404), ("instructor", 200)):
        login(two_courses[who])
        assert client.get(url).status_code == status, who
