"""A real browser types a review summary of three sentences and the editor's live check warns
that one or two are enough; trimmed to two sentences, the warning goes away."""

from __future__ import annotations

from datetime import timedelta

from models import db
from review.accounts.services import hash_password
from tests.browser.conftest import PASSWORD, set_review_clock, sign_in
from tests.factories import make_course, make_member


def test_live_check_warns_about_a_long_summary(live_app, live_server, browser_page,
                                              monkeypatch) -> None:
    course = make_course("check-course")
    session = course.sessions[0]
    make_member(course, email="writer@example.edu", password_hash=hash_password(PASSWORD))
    db.session.commit()
    set_review_clock(monkeypatch, session.review_deadline - timedelta(days=1))
    page = browser_page
    sign_in(page, live_server.url, "writer@example.edu")
    page.goto(f"{live_server.url}/c/check-course/reviews/{session.id}/write")
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
