"""A real browser: the projector view follows a segment change made from another browser within
2 s, and a student's vote reorders the question queue on the staff view."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from models import CourseRole, LiveQuestion, db
from review.accounts.services import hash_password
from review.live import services
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, sign_in
from tests.factories import hold_slot, make_course, make_group, make_member

ROLES = [{"key": "setup", "name": "Setup", "minutes": 4},
         {"key": "findings", "name": "Findings", "minutes": 9}]
RUBRICS = {"presentations": {role["key"]: "presentation-overview" for role in ROLES}}
FOLLOW_MS = 2000


@pytest.fixture
def two_browsers() -> Iterator[tuple[Any, Any]]:
    """Two separate browser contexts (separate cookies), like a projector and a phone."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        first, second = browser.new_context(), browser.new_context()
        yield first.new_page(), second.new_page()
        first.close()
        second.close()
        browser.close()


def _course() -> dict[str, Any]:
    course = make_course("live-browser", roles=ROLES, discussion_minutes=6, rubrics=RUBRICS,
                         timezone="Pacific/Auckland")
    password = hash_password(PASSWORD)
    staff = make_member(course, CourseRole.instructor, email="projector@example.edu",
                        password_hash=password)
    students = [make_member(course, email=f"s{n}@example.edu", password_hash=password)
                for n in range(4)]
    session = course.sessions[0]
    hold_slot(course, make_group(course, students[:2]), session.week.number, "setup")
    hold_slot(course, make_group(course, students[2:3]), session.week.number, "findings")
    return {"course": course, "staff": staff, "students": students, "session": session,
            "url": f"/c/live-browser/sessions/{session.week.number}/live"}


def test_the_projector_follows_a_next_made_from_another_browser(
        live_app, live_server, two_browsers) -> None:
    world = _course()
    services.start(world["session"], world["staff"], world["session"].starts_at)
    db.session.commit()
    projector, phone = two_browsers
    base = live_server.url
    sign_in(projector, base, "projector@example.edu")
    projector.goto(base + world["url"])
    assert projector.text_content("#live-role") == "Setup"
    # The presenter of the current segment moves on from their phone.
    sign_in(phone, base, "s0@example.edu")
    phone.goto(base + world["url"])
    phone.click("#control-next")
    expect(projector.locator("#live-role")).to_have_text("Findings", timeout=FOLLOW_MS)
    assert projector.text_content("#live-next") == "Discussion"
    assert projector.input_value("form[data-action=next] input.expected-segment") == "1"


def test_a_students_vote_reorders_the_queue_on_the_staff_view(
        live_app, live_server, two_browsers) -> None:
    world = _course()
    first = services.add_question(world["session"], world["students"][0], "Does it scale?",
                                  world["session"].starts_at)
    second = services.add_question(world["session"], world["students"][1],
                                   "Were the baselines tuned?", world["session"].starts_at)
    db.session.commit()
    staff_view, phone = two_browsers
    base = live_server.url
    sign_in(staff_view, base, "projector@example.edu")
    staff_view.goto(base + world["url"])
    order = "Array.from(document.querySelectorAll('#live-questions li')).map(li => li.dataset.questionId).join(',')"
    assert staff_view.evaluate(order) == f"{first.id},{second.id}"
    assert world["students"][1].full_name in staff_view.text_content("#live-questions")
    sign_in(phone, base, "s3@example.edu")
    phone.goto(base + world["url"])
    phone.click(f"li[data-question-id='{second.id}'] .vote-button")
    expect(staff_view.locator("#live-questions li").first).to_have_attribute(
        "data-question-id", str(second.id), timeout=FOLLOW_MS)
    assert staff_view.evaluate(order) == f"{second.id},{first.id}"
    assert staff_view.text_content(f"li[data-question-id='{second.id}'] .votes") == "1"
    db.session.expire_all()
    assert db.session.get(LiveQuestion, second.id) is not None
