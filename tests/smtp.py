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
