"""When saving fails (the site down, the database busy), the review text is kept in the browser
and offered back when the editor is opened again; once the server has it, the copy is dropped."""

from __future__ import annotations

from datetime import timedelta

from review.accounts.services import hash_password
from models import db
from tests.browser.conftest import (PASSWORD, browser_page, live_app, live_server,  # noqa: F401
                                    set_review_clock, sign_in)
from tests.factories import make_course, make_member

TEXT = "Words typed while the site was down."


def test_text_typed_during_an_outage_is_offered_back_and_dropped_once_saved(
        live_app, live_server, browser_page, monkeypatch) -> None:  # noqa: F811
    course = make_course("draft-course")
    session = course.sessions[0]
    make_member(course, email="draft@example.edu", password_hash=hash_password(PASSWORD))
    db.session.commit()
    set_review_clock(monkeypatch, session.review_deadline - timedelta(days=1))
    page = browser_page
    sign_in(page, live_server.url, "draft@example.edu")
    editor = f"{live_server.url}/c/draft-course/reviews/{session.id}/write"
    outage = {"status": 503, "content_type": "application/json",
              "body": '{"ok": false, "error": "The database is not answering."}'}
    page.route("**/autosave", lambda route: route.fulfill(**outage))
    page.goto(editor)
    page.type("textarea[name=summary]", TEXT)
    page.fill("input[name=questions-0]", "Is it kept?")
    page.wait_for_selector("#save-status.error", timeout=15000)
    page.unroute("**/autosave")
    page.goto(editor)  # the server never got the text
    assert page.input_value("textarea[name=summary]") == ""
    page.click("#restore-draft")
    assert page.input_value("textarea[name=summary]") == TEXT
    assert page.input_value("input[name=questions-0]") == "Is it kept?"
    page.wait_for_selector("#review-form[data-dirty=no]", state="attached", timeout=15000)
    page.goto(editor)
    assert page.input_value("textarea[name=summary]") == TEXT
    assert page.locator("#restore-draft").count() == 0
