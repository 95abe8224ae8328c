"""A real browser reads a session's reviews with j/k across the pages of the reading view: past
the last review of a page j opens the next page at the following review, and k from the first
goes back to the previous page's last one."""

from __future__ import annotations

import re
from datetime import timedelta

from models import CourseRole, db
from review.accounts.services import hash_password
from review.reviews import services
from review.reviews.services import ReviewContent
from tests.browser.conftest import PASSWORD, set_review_clock, sign_in
from tests.factories import make_course, make_member


def _current(page) -> str:
    page.wait_for_selector("article.reading.current", timeout=10000)
    return page.locator("article.reading.current").get_attribute("id")


def test_j_and_k_cross_the_pages_of_the_reading_view(live_app, live_server, browser_page,
                                                      monkeypatch) -> None:
    monkeypatch.setattr("review.reviews.views.READING_PAGE_SIZE", 2)
    course = make_course("keys-reading", timezone="America/Sao_Paulo")
    session = course.sessions[0]
    make_member(course, CourseRole.instructor, email="reader@example.edu",
                password_hash=hash_password(PASSWORD))
    for n in range(3):
        services.submit_review(session, make_member(course), ReviewContent.build(
            summary=f"Summary {n}", strengths="s", weaknesses="w", remedies="r",
            questions=["q?"]), session.review_deadline - timedelta(hours=1))
    db.session.commit()
    set_review_clock(monkeypatch, session.review_deadline + timedelta(hours=1))

    page = browser_page
    sign_in(page, live_server.url, "reader@example.edu")
    page.goto(f"{live_server.url}/c/keys-reading/reviews/{session.id}/all")
    page.click("h1")
    page.keyboard.press("j")
    assert _current(page) == "r1"
    page.keyboard.press("j")
    assert _current(page) == "r2"
    page.keyboard.press("j")  # past the page's end: the next page, at review 3
    page.wait_for_url(re.compile(r"/all\?page=2#r3$"), timeout=10000)
    assert _current(page) == "r3"
    page.click("h1")
    page.keyboard.press("k")  # before the page's start: back to review 2
    page.wait_for_url(re.compile(r"/all\?page=1#r2$"), timeout=10000)
    assert _current(page) == "r2"
