"""A real browser types a review, the draft autosaves, and after a reload the text is there."""

from __future__ import annotations

from datetime import timedelta

from models import Review, db
from review.accounts.services import hash_password
from tests.factories import make_course, make_member


def test_draft_autosaves_and_survives_a_reload(live_app, live_server, browser_page) -> None:
    course = make_course("live-course")
    session = course.sessions[0]
    student = make_member(course, email="live@example.edu",
                          password_hash=hash_password("correct horse battery"))
    db.session.commit()
    session_id = session.id
    # Put "now" inside the review window whatever today's date is.
    import review.reviews.views as views

    moment = session.review_deadline - timedelta(days=1)
    original = views._now
    views._now = lambda: moment
    try:
        page = browser_page
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=email]", "live@example.edu")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(f"{live_server.url}/**")
        page.goto(f"{live_server.url}/c/live-course/reviews/{session_id}/write")
        page.type("textarea[name=summary]", "Typed in a real browser, with $x^2$ math.")
        page.fill("input[name=questions-0]", "Does autosave work?")
        # (A selector wait, not wait_for_function: the page's CSP forbids eval.)
        page.wait_for_selector("#review-form[data-dirty=no]", state="attached", timeout=15000)
        assert page.text_content("#save-status").startswith("Last saved")
        page.reload()
        assert page.input_value("textarea[name=summary]") == "Typed in a real browser, with $x^2$ math."
        assert page.input_value("input[name=questions-0]") == "Does autosave work?"
        assert "Last saved" in page.text_content("#save-status")
    finally:
        views._now = original
    db.session.expire_all()
    review = db.session.query(Review).one()
    assert review.user_id == student.id and review.status.value == "draft"
