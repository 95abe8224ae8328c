"""Outgoing mail over SMTP (smtplib), and the one builder of absolute links.

A deployment without MAIL_SERVER sends nothing. Links that leave the site (mail, CLI output,
calendar subscriptions) come from PUBLIC_BASE_URL, never from the request's Host or
X-Forwarded-Host header: a client chooses those, and a reset mail whose link pointed at the
client's host would hand its token to an attacker.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any, Optional
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for

from review.core.errors import DomainError


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def public_url(endpoint: str, _base: Optional[str] = None, **values: Any) -> str:
    """The absolute URL of ``endpoint`` on the public site: ``_base`` (a command's --base-url),
    else PUBLIC_BASE_URL.

    Without either (tests, a local debug server) Flask's own external URL is used;
    production refuses to start with mail configured and no base URL (see app.py).
    """
    base = (_base or "").strip() or current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        if not has_request_context() and not current_app.config.get("SERVER_NAME"):
            raise DomainError("Links made outside a web request need the site's address: set "
                              "FLASK_PUBLIC_BASE_URL, e.g. https://review.example.edu.")
        return url_for(endpoint, _external=True, **values)
    # A private adapter: the path must not depend on the request (its Host, its script root).
    adapter = current_app.url_map.bind(urlsplit(base).netloc or "localhost", script_name="/")
    return base.rstrip("/") + adapter.build(endpoint, values)


def send_mail(to: str, subject: str, body: str) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(message)
