"""A forged Host or X-Forwarded-Host never reaches a link that is mailed, printed or published.

The password-reset mail once built its link from the request's Host header, so an attacker who
asked for a reset of the victim's account with ``Host: attacker.example`` had the victim mailed a
valid token pointing at the attacker's site.
"""

from __future__ import annotations

import re

import pytest

from app import create_app
from models import CourseRole, db
from tests.conftest import base_config
from tests.factories import make_course, make_member
from tests.smtp import plain_text

PUBLIC = "https://review.example.edu"


@pytest.fixture
def app_config(smtp) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "PUBLIC_BASE_URL": PUBLIC,
            "SERVER_NAME": None, "TRUSTED_PROXIES": 1}


def _links(message) -> list[str]:
    return re.findall(r"https?://\S+", plain_text(message))


@pytest.mark.parametrize("headers", [
    {"Host": "attacker.example"},
    {"X-Forwarded-Host": "attacker.example"},
    {"Host": "attacker.example", "X-Forwarded-Host": "attacker.example",
     "X-Forwarded-Proto": "http"},
])
def test_reset_mail_links_to_the_public_base_url_whatever_host_the_request_names(
        client, smtp, headers) -> None:
    inbox, _ = smtp
    course = make_course()
    make_member(course, CourseRole.student, email="victim@example.edu")
    db.session.commit()
    client.post("/password/forgot", data={"email": "victim@example.edu"}, headers=headers)
    assert len(inbox.messages) == 1
    links = _links(inbox.messages[0])
    assert links and all(link.startswith(f"{PUBLIC}/password/set/") for link in links), links


def test_roster_links_and_calendar_feeds_use_the_public_base_url(client, login, smtp) -> None:
    import io

    inbox, _ = smtp
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    csv_bytes = b"student_id,first_name,last_name,email\n1,Ayse,Aslan,ayse@example.edu\n"
    client.post(f"/c/{course.code}/roster", data={"file": (io.BytesIO(csv_bytes), "r.csv")},
                content_type="multipart/form-data", headers={"X-Forwarded-Host": "attacker.example"})
    assert [link.startswith(f"{PUBLIC}/password/set/") for link in _links(inbox.messages[0])] == [True]
    board = client.get(f"/c/{course.code}/signup", headers={"X-Forwarded-Host": "attacker.example"})
    feeds = re.findall(rb"https?://[^\"<\s]+\.ics", board.data)
    assert feeds and all(feed.startswith(PUBLIC.encode()) for feed in feeds), feeds


def test_production_refuses_a_host_outside_the_public_base_url() -> None:
    app = create_app(base_config(TESTING=False, SERVER_NAME=None, PUBLIC_BASE_URL=PUBLIC))
    client = app.test_client()
    assert client.get("/login", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "review.example.edu"}).status_code != 400


def test_trusted_hosts_can_be_set_explicitly() -> None:
    app = create_app(base_config(TESTING=False, SERVER_NAME=None, PUBLIC_BASE_URL=PUBLIC,
                                 TRUSTED_HOSTS=["review.example.edu", "alias.example.edu"]))
    client = app.test_client()
    assert client.get("/login", headers={"Host": "alias.example.edu"}).status_code != 400
    assert client.get("/login", headers={"Host": "other.example"}).status_code == 400


def test_cli_links_use_the_public_base_url_and_without_one_say_what_to_set(app, runner,
                                                                            tmp_path) -> None:
    import csv

    course = make_course()
    make_member(course, CourseRole.student, email="cli@example.edu")
    db.session.commit()
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "links", course.code, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert rows and rows[0]["link"].startswith(f"{PUBLIC}/password/set/")
    app.config["PUBLIC_BASE_URL"] = None
    result = runner.invoke(args=["roster", "links", course.code, "--out", str(out)])
    assert result.exit_code != 0 and "FLASK_PUBLIC_BASE_URL" in result.output
    assert "Traceback" not in result.output
