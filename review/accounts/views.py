"""Sign in, sign out, change a password, and the one-time set/reset-password links."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from models import db, utcnow
from review.accounts import services
from review.accounts.forms import (ChangePasswordForm, EmptyForm, ForgotPasswordForm, LoginForm,
                                   NewPasswordForm)
from review.core.errors import DomainError
from review.extensions import limiter
from review.jobs import jobs
from review.mail import mail_configured
from review.permissions import public, signed_in

bp = Blueprint("accounts", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _address_limit() -> str:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _account_at_address() -> str:
    return f"{services.normalize_email(request.form.get('email', ''))}|{get_remote_address()}"


def _sign_in_failed(response: Response) -> bool:
    return response.status_code == 401


# Only failures count, so a class signing in behind one NAT is never slowed down. The tight
# limit is per account *and* address: someone guessing a password from their machine cannot
# lock the owner out of theirs. The loose per-address ceiling still slows guessing across
# many accounts.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_account_at_address,
               deduct_when=_sign_in_failed, scope="login-account-address")
@limiter.limit(_address_limit, methods=["POST"], deduct_when=_sign_in_failed,
               scope="login-address")
@public
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("courses.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            flash("That email and password do not match an account.", "error")
            return render_template("accounts/login.html", form=form), 401
        user.last_login_at = utcnow()
        db.session.commit()
        login_user(user, remember=form.remember.data)
        return redirect(safe_next(request.args.get("next")) or url_for("courses.index"))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout() -> Response:
    form = EmptyForm()
    if form.validate_on_submit():
        services.end_all_sessions(current_user)
        db.session.commit()
        logout_user()
        flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
def change_password() -> tuple[str, int] | Response:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.password.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("accounts/change_password.html", form=form), 422
        db.session.commit()
        # The old session token is gone; sign this browser in again under the new one.
        login_user(current_user)
        flash("Your password is changed. Other devices were signed out.", "success")
        return redirect(url_for("courses.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/change_password.html", form=form), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def forgot_password() -> str | Response:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        if mail_configured():
            # Every address gets the same job, and the job looks the account up: the page does
            # the same work, in the same time, whether or not the address has an account.
            jobs().forgot_password(form.email.data)
        # The same answer whether or not the address has an account.
        flash("If that address has an account, a link to reset the password is on its way. "
              "No email? Ask your instructor for a new link.", "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot_password.html", form=form,
                           mail_enabled=mail_configured())


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@public
def set_password(token: str) -> tuple[str, int] | Response:
    try:
        pending = services.peek_password_token(token, utcnow())
    except services.InvalidToken as exc:
        return render_template("accounts/token_invalid.html", message=str(exc)), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.redeem_password_token(token, form.password.data, utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("accounts/set_password.html", form=form,
                                   email=pending.user.email), 422
        user.last_login_at = utcnow()
        db.session.commit()
        login_user(user)
        flash("Your password is set. Welcome!", "success")
        return redirect(url_for("courses.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/set_password.html", form=form,
                           email=pending.user.email), status
