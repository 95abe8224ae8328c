"""Password-reset mail goes out through a real SMTP conversation (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import re
import socket
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from models import CourseRole, db
from tests.factories import make_course, make_member


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


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
    link = re.search(r"http://localhost(/password/set/\S+)", message.get_payload()).group(1)
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
