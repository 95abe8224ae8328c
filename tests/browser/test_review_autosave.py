"""A real browser types a review, the draft autosaves, and after a reload the text is there."""

from __future__ import annotations

from datetime import timedelta

from models import Review, db
from review.accounts.services import hash_password
from tests.browser.conftest import PASSWORD, set_review_clock, sign_in
from tests.factories import make_course, make_member


def test_draft_autosaves_and_survives_a_reload(live_app, live_server, browser_page,
                                               monkeypatch) -> None:
    course = make_course("live-course")
    session = course.sessions[0]
    student = make_member(course, email="live@example.edu", password_hash=hash_password(PASSWORD))
    db.session.commit()
    # Put "now" inside the review window whatever today's date is.
    set_review_clock(monkeypatch, session.review_deadline - timedelta(days=1))
    page = browser_page
    sign_in(page, live_server.url, "live@example.edu")
    page.goto(f"{live_server.url}/c/live-course/reviews/{session.id}/write")
    page.type("textarea[name=summary]", "Typed in a real browser, with $x^2$ math.")
    page.fill("input[name=questions-0]", "Does autosave work?")
    # (A selector wait, not wait_for_function: the page's CSP forbids eval.)
    page.wait_for_selector("#review-form[data-dirty=no]", state="attached", timeout=15000)
    assert page.text_content("#save-status").startswith("Last saved")
    page.reload()
    assert page.input_value("textarea[name=summary]") == "Typed in a real browser, with $x^2$ math."
    assert page.input_value("input[name=questions-0]") == "Does autosave work?"
    assert "Last saved" in page.text_content("#save-status")
    db.session.expire_all()
    review = db.session.query(Review).one()
    assert review.user_id == student.id and review.status.value == "draft"
