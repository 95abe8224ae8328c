"""One-time set-password links for imported students: made here, mailed or downloaded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from models import Course, TokenPurpose, User, utcnow
from review.accounts.services import issue_password_token
from review.mail import public_url, send_mail

LINK_FIELDS = ["email", "name", "link", "expires_utc"]


def issue_links(users: list[User]) -> list[dict[str, str]]:
    """Fresh set-password links (the raw tokens exist only here; the database keeps hashes)."""
    hours = current_app.config["SET_PASSWORD_TOKEN_HOURS"]
    now = utcnow()
    links = []
    for user in users:
        raw = issue_password_token(user, TokenPurpose.set_password, now, timedelta(hours=hours))
        links.append({"email": user.email, "name": user.full_name, "link": external_link(raw),
                      "expires_utc": (now + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")})
    return links


def external_link(raw_token: str) -> str:
    return public_url("accounts.set_password", token=raw_token)


def mail_links(course: Course, links: list[dict[str, Any]]) -> int:
    """Send each link to its student; call after the commit so no mail names an unsaved token."""
    hours = current_app.config["SET_PASSWORD_TOKEN_HOURS"]
    for link in links:
        send_mail(link["email"], f"{course.title}: set your password",
                  f"Hello {link['name']},\n\nYou are on the roster of {course.title} "
                  f"({course.term}). Open this link within {hours} hours to choose your "
                  f"password:\n\n{link['link']}\n\nThe link works once.")
    return len(links)
