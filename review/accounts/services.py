"""Accounts: password hashing, sign-in checks, one-time set/reset-password links, sessions."""

from __future__ import annotations

import functools
import gzip
import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from models import PasswordToken, TokenPurpose, User, db, new_token
from review.core.errors import DomainError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a miss costs as long as a wrong password.

    Made at the first such sign-in, not at import: hashing costs every process start 0.3 CPU-s
    and a 64 MB peak."""
    return _hasher.hash("no such user: equal work either way")

MIN_PASSWORD_LENGTH = 10
# The 20,000 most common passwords (lower case), as shipped by Django 5.2 (BSD licence;
# compiled by Royce Williams from breach corpora). See review/accounts/COMMON_PASSWORDS.md.
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt.gz")


class InvalidToken(DomainError):
    pass


class WeakPassword(DomainError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalize_email(email: str) -> str:
    return email.strip().lower()


@cache
def _common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def check_password_strength(password: str, user: Optional[User] = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip().lower() in _common_passwords():
        raise WeakPassword("That password is among the most common ones, which are tried first "
                           "by anyone guessing. Choose another: a few unrelated words work well.")
    if user is not None and password.strip().lower() == user.email:
        raise WeakPassword("The password must not be your email address.")


def authenticate(email: str, password: str) -> Optional[User]:
    """The user whose email and password match, else None (the same answer for both misses)."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def end_all_sessions(user: User) -> None:
    """Rotate the session token: every cookie issued before now stops working."""
    user.session_token = new_token()


def set_password(user: User, password: str) -> None:
    check_password_strength(password, user)
    user.password_hash = hash_password(password)
    end_all_sessions(user)
    db.session.flush()


def change_password(user: User, current: str, new: str) -> None:
    try:
        ok = bool(user.password_hash) and _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise DomainError("The current password is not right.")
    set_password(user, new)


def _digest(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


def issue_password_token(
    user: User, purpose: TokenPurpose, now: datetime, valid_for: timedelta
) -> str:
    """A fresh one-time link token; earlier unused tokens of the user stop working."""
    db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = secrets.token_urlsafe(32)
    db.session.add(
        PasswordToken(
            user_id=user.id,
            token_hash=_digest(raw),
            purpose=purpose,
            created_at=now,
            expires_at=now + valid_for,
        )
    )
    db.session.flush()
    return raw


def peek_password_token(raw_token: str, now: datetime) -> PasswordToken:
    """The usable token behind a link, or InvalidToken saying why it cannot be used."""
    token = db.session.scalar(
        select(PasswordToken).where(PasswordToken.token_hash == _digest(raw_token))
    )
    if token is None:
        raise InvalidToken("This link is not valid. Ask for a new one.")
    if token.used_at is not None:
        raise InvalidToken("This link was already used. Ask for a new one if you need it.")
    if token.expires_at <= now:
        raise InvalidToken("This link has expired. Ask for a new one.")
    return token


def redeem_password_token(raw_token: str, password: str, now: datetime) -> User:
    """Set the password through a one-time link; the link is spent even if used concurrently."""
    token = peek_password_token(raw_token, now)
    check_password_strength(password, token.user)
    # The conditional update is the single-use guarantee: of two simultaneous redemptions only
    # one changes a row.
    spent = db.session.execute(
        update(PasswordToken)
        .where(PasswordToken.id == token.id, PasswordToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise InvalidToken("This link was already used. Ask for a new one if you need it.")
    user = token.user
    set_password(user, password)
    return user


def find_user_by_email(email: str) -> Optional[User]:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))
