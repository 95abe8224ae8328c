"""A real browser types a review summary of three sentences and the editor's live check warns
that one or two are enough; trimmed to two sentences, the warning goes away."""

from __future__ import annotations

from datetime import timedelta

from models import db
from review.accounts.services import hash_password
from tests.factories import make_course, make_member

PASSWORD = "correct horse battery"


def test_live_check_warns_about_a_long_summary(live_app, live_server, browser_page) -> None:
    course = make_course("check-course")
    session = course.sessions[0]
    make_member(course, email="writer@example.edu", password_hash=hash_password(PASSWORD))
    db.session.commit()
    session_id = session.id
    import review.reviews.views as views

    moment = session.review_deadline - timedelta(days=1)
    original = views._now
    views._now = lambda: moment
    try:
        page = browser_page
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=email]", "writer@example.edu")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")
        page.wait_for_url(f"{live_server.url}/**")
        page.goto(f"{live_server.url}/c/check-course/reviews/{session_id}/write")
        # With JavaScript the empty summary is flagged at once (the server would refuse it too).
        page.wait_for_selector("#summary-check.bad", timeout=10000)
        assert page.get_attribute("#summary-check", "aria-live") == "polite"

        page.fill("textarea[name=summary]",
                  "The paper proposes a method. It is tested on three datasets. It beats the baselines.")
        page.wait_for_selector("#summary-check.warn", timeout=5000)
        assert page.text_content("#summary-check") == (
            "The summary has 3 sentences; one or two are enough.")

        page.fill("textarea[name=summary]", "The paper proposes a method. It beats the baselines.")
        page.wait_for_selector("#summary-check:not(.warn):not(.bad)", state="attached", timeout=5000)
        assert page.text_content("#summary-check") == ""
    finally:
        views._now = original
