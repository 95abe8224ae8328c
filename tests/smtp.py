"""A real SMTP server on 127.0.0.1 for tests that send mail, and a free-port finder."""

from __future__ import annotations

import socket

from aiosmtpd.handlers import Message


class Inbox(Message):
    """Keeps every message the test SMTP server receives."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def plain_text(message) -> str:
    """The text part of a received mail (mails carry a text and an HTML part)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the mail has no text part")


def html_text(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the mail has no HTML part")
