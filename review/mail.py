"""Outgoing mail through the outbox and the job queue, and the one builder of absolute links.

Every mail is an ``OutboxMessage`` written in the transaction of the action that causes it
(``queue_mail``), rendered from templates/mail/<template>.txt and .html, and sent by a job
enqueued after the commit (``deliver``): a rollback never sends, and a mail server that is down
never fails a page. A failed send is retried with back-off, then shown as failed in the staff
outbox, which can resend it. A deployment without MAIL_SERVER sends nothing. Links that leave the site (mail, CLI output,
calendar subscriptions) come from PUBLIC_BASE_URL, never from the request's Host or
X-Forwarded-Host header: a client chooses those, and a reset mail whose link pointed at the
client's host would hand its token to an attacker.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from email.message import EmailMessage
from typing import Any, Optional
from urllib.parse import urlsplit

from flask import current_app, has_request_context, render_template, url_for

from models import OutboxMessage, OutboxStatus, TokenPurpose, User, db, utcnow
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


def send_mail(to: str, subject: str, body: str, html: Optional[str] = None) -> None:
    """Hand one message to the SMTP server now (jobs only: pages queue with ``queue_mail``)."""
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.send_message(message)


# Templates whose mail carries a set-password link: the token is made when the mail is sent.
LINK_PURPOSES = {"set_password": TokenPurpose.set_password,
                 "reset_password": TokenPurpose.reset_password}


def queue_mail(to: str, subject: str, template: str, context: dict[str, Any], *,
               course_id: Optional[int] = None, user: Optional[User] = None) -> OutboxMessage:
    """Write the mail to the outbox in the caller's transaction; it is sent after the commit.

    ``context`` must be JSON (it is kept for resending). For the link templates ``user`` is the
    account the link is for; a ``link`` in the context is sent as it is (it was handed over
    elsewhere too, e.g. a CSV), else a fresh one is made when the mail is sent.
    """
    message = OutboxMessage(to=to, subject=subject, template=template, context=context,
                            course_id=course_id, user_id=user.id if user else None)
    db.session.add(message)
    db.session.flush()
    enqueue_after_commit(message.id)
    return message


def enqueue_after_commit(message_id: int) -> None:
    from review.jobs import after_commit, jobs

    send = jobs().send_outbox_message
    after_commit(lambda: send(message_id))


def resend(message: OutboxMessage) -> None:
    """Queue a sent or failed mail again (staff's "resend"); sent after the caller's commit."""
    message.status = OutboxStatus.queued
    message.attempts = 0
    message.last_error = ""
    # A link mail gets a fresh link (earlier links of that account stop working): the first
    # may have expired, and a sent one's link is no longer kept.
    message.context = {key: value for key, value in message.context.items() if key != "link"}
    enqueue_after_commit(message.id)


def deliver(message_id: int) -> None:
    """The job: send one outbox message, or record why not and retry it later with back-off."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status != OutboxStatus.queued or not mail_configured():
        return
    message.attempts += 1
    try:
        context = dict(message.context)
        if message.template in LINK_PURPOSES and not context.get("link"):
            context["link"] = _fresh_link(message)
        body = render_template(f"mail/{message.template}.txt", **context)
        html = render_template(f"mail/{message.template}.html", **context)
        # The token above is committed before the mail can name it.
        db.session.commit()
        send_mail(message.to, message.subject, body, html)
    except (smtplib.SMTPException, OSError) as exc:
        db.session.rollback()
        _record_failure(message_id, mail_problem(exc))
        return
    message.status = OutboxStatus.sent
    message.sent_at = utcnow()
    message.last_error = ""
    # A link is kept only until its mail is out: the outbox holds no usable token after that.
    message.context = {key: value for key, value in message.context.items() if key != "link"}
    db.session.commit()


def _fresh_link(message: OutboxMessage) -> str:
    from review.accounts.services import issue_password_token

    purpose = LINK_PURPOSES[message.template]
    setting = ("RESET_PASSWORD_TOKEN_HOURS" if purpose == TokenPurpose.reset_password
               else "SET_PASSWORD_TOKEN_HOURS")
    user = db.session.get(User, message.user_id)
    raw = issue_password_token(user, purpose, utcnow(),
                               timedelta(hours=current_app.config[setting]))
    return public_url("accounts.set_password", _base=message.context.get("base_url"), token=raw)


def _record_failure(message_id: int, reason: str) -> None:
    from review.jobs import jobs

    message = db.session.get(OutboxMessage, message_id)
    message.last_error = reason
    config = current_app.config
    if message.attempts >= int(config["JOBS_MAIL_ATTEMPTS"]):
        message.status = OutboxStatus.failed
        current_app.logger.warning("Mail %s to %s failed for good: %s", message.id, message.to,
                                   reason)
    db.session.commit()
    if message.status == OutboxStatus.queued:
        delay = float(config["JOBS_MAIL_RETRY_DELAY"]) * 2 ** (message.attempts - 1)
        jobs().send_outbox_message.schedule(args=(message_id,), delay=delay)


def mail_problem(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "the mail server refused the connection"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the address"
    return f"mail failed: {type(exc).__name__}: {exc}"[:500]


def deliver_password_reset(email: str) -> None:
    """The forgot-password job. The page enqueues it for every address, known or not, so the
    answer takes the same time either way; only here is the account looked up."""
    from review.accounts.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None or not mail_configured():
        return
    queue_mail(user.email, "Reset your password", "reset_password",
               {"hours": current_app.config["RESET_PASSWORD_TOKEN_HOURS"]}, user=user)
    db.session.commit()
