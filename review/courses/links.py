"""One-time set-password links for new accounts (students, staff, administrators): made here,
mailed, or written to a CSV.

A link must point at the public site. In a web request Flask knows the host; a command does
not, so commands take ``--base-url`` or the PUBLIC_BASE_URL setting and refuse to start without
one (``link_base_url``). Mail is queued in the action's transaction and sent after the commit by a
job; a mail that fails shows in the staff outbox, which can resend it, and nothing saved is undone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any, Optional

from flask import current_app
from sqlalchemy import select

from models import Course, TokenPurpose, User, db, utcnow
from review.accounts.services import issue_password_token
from review.mail import public_url, queue_mail
from review.spreadsheets import neutralise

LINK_FIELDS = ["email", "name", "link", "expires_utc"]

NO_BASE_URL = ("The links need the site's public address: set FLASK_PUBLIC_BASE_URL or pass "
               "--base-url https://your.site (nothing was changed).")


def link_base_url(explicit: Optional[str] = None) -> Optional[str]:
    """The public address links start with: the command's option, else PUBLIC_BASE_URL."""
    return (explicit or current_app.config.get("PUBLIC_BASE_URL") or "").strip() or None


def issue_links(users: list[User], base_url: Optional[str] = None) -> list[dict[str, str]]:
    """Fresh set-password links (the raw tokens exist only here; the database keeps hashes)."""
    hours = current_app.config["SET_PASSWORD_TOKEN_HOURS"]
    now = utcnow()
    links = []
    for user in users:
        raw = issue_password_token(user, TokenPurpose.set_password, now, timedelta(hours=hours))
        links.append({"email": user.email, "name": user.full_name,
                      "link": external_link(raw, base_url),
                      "expires_utc": (now + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")})
    return links


def external_link(raw_token: str, base_url: Optional[str] = None) -> str:
    return public_url("accounts.set_password", _base=base_url, token=raw_token)


def write_links_csv(handle: IO[str], links: list[dict[str, Any]]) -> None:
    """The links as CSV, names neutralised as in every spreadsheet export (a name such as
    ``=SUM(1+1)`` would otherwise run as a formula beside the secret links)."""
    writer = csv.DictWriter(handle, fieldnames=LINK_FIELDS)
    writer.writeheader()
    writer.writerows({key: neutralise(link[key]) for key in LINK_FIELDS} for link in links)


def links_csv_text(links: list[dict[str, Any]]) -> str:
    """The CSV of ``write_links_csv`` as text with a BOM, for a download Excel opens as UTF-8."""
    buffer = io.StringIO()
    write_links_csv(buffer, links)
    return "\ufeff" + buffer.getvalue()


@dataclass
class MailReport:
    """Which link mails were queued (they go out after the commit; the outbox shows how each
    went) and which could not be queued (with the reason and the link itself)."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    @property
    def failed_links(self) -> list[dict[str, Any]]:
        return [link for link, _ in self.failed]

    def summary(self) -> str:
        text = (f"Queued {len(self.sent)} set-password mail(s); the outbox shows whether each "
                f"went out.")
        if self.failed:
            text += (f" {len(self.failed)} mail(s) could not be queued: "
                     + "; ".join(f"{link['email']} ({reason})" for link, reason in self.failed)
                     + ".")
        return text


def mail_links(course: Optional[Course], links: list[dict[str, Any]], *,
               why: Optional[str] = None) -> MailReport:
    """Queue a mail with each link to its owner, in the caller's transaction: call before the
    commit; the mails go out after it, so no mail names an unsaved token and a mail server that
    is down never undoes or fails the action.

    ``why`` says what the account is for (default: being on the course's roster).
    """
    hours = current_app.config["SET_PASSWORD_TOKEN_HOURS"]
    users = {user.email: user for user in db.session.scalars(
        select(User).where(User.email.in_([link["email"] for link in links])))}
    report = MailReport()
    for link in links:
        user = users.get(link["email"])
        if user is None:
            report.failed.append((link, "no account has this address"))
            continue
        reason = why or f"You are on the roster of {course.title} ({course.term})."
        subject = f"{course.title}: set your password" if course else "Set your password"
        queue_mail(link["email"], subject, "set_password",
                   {"name": link["name"], "reason": reason, "hours": hours, "link": link["link"]},
                   course_id=course.id if course else None, user=user)
        report.sent.append(link["email"])
    return report
