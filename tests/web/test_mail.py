"""Password-reset mail goes out through a real SMTP conversation (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import re

import pytest

from models import CourseRole, db
from tests.factories import make_course, make_member
from tests.smtp import plain_text


@pytest.fixture
def app_config(smtp) -> dict:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "MAIL_FROM": "course@example.edu"}


def test_forgot_password_mails_a_one_time_link_that_sets_the_password(client, smtp) -> None:
    inbox, _ = smtp
    course = make_course()
    student = make_member(course, CourseRole.student, email="ayse@example.edu")
    db.session.commit()
    response = client.post("/password/forgot", data={"email": "Ayse@example.edu"})
    assert response.status_code == 302
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "ayse@example.edu" and message["From"] == "course@example.edu"
    link = re.search(r"http://localhost(/password/set/\S+)", plain_text(message)).group(1)
    form = {"password": "a fresh password", "confirm": "a fresh password"}
    assert client.post(link, data=form).status_code == 302
    assert client.post(link, data=form).status_code == 410
    db.session.refresh(student)
    assert student.password_hash


def test_forgot_password_for_an_unknown_address_sends_nothing_and_says_the_same(client,
                                                                                smtp) -> None:
    inbox, _ = smtp
    response = client.post("/password/forgot", data={"email": "nobody@example.edu"},
                           follow_redirects=True)
    assert inbox.messages == []
    assert b"If that address has an account" in response.data


def test_importing_the_roster_mails_each_new_student_a_set_password_link(client, login,
                                                                         smtp) -> None:
    import io

    inbox, _ = smtp
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    csv_bytes = ("student_id,first_name,last_name,email\n"
                 "1,Ayşe,Aslan,ayse@example.edu\n2,Emre,Kurt,emre@example.edu\n").encode()
    response = client.post(f"/c/{course.code}/roster",
                           data={"file": (io.BytesIO(csv_bytes), "roster.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert sorted(m["To"] for m in inbox.messages) == ["ayse@example.edu", "emre@example.edu"]
    link = re.search(r"http://localhost(/password/set/\S+)", plain_text(inbox.messages[0]))
    assert client.get(link.group(1)).status_code == 200
