"""A real browser grades with the keyboard: a level's letter key selects that level of the
highlighted criterion, the next criterion is highlighted, and the live total follows. Digits are
not shortcuts: on a rubric whose points are digits too, "4" must never mean "the fourth level"
(worth 0) to one grader and "4 points" to another."""

from __future__ import annotations

from models import CourseRole, db
from review.accounts.services import hash_password
from tests.browser.conftest import PASSWORD, sign_in
from tests.factories import hold_slot, make_course, make_group, make_member

def _level_value(page, criterion: int, level: int) -> float:
    radio = page.locator("fieldset.criterion").nth(criterion).locator("input[type=radio]").nth(level)
    return float(radio.get_attribute("value"))


def test_number_keys_pick_levels_and_the_total_updates(live_app, live_server, browser_page) -> None:
    course = make_course("kbd-course")
    make_member(course, CourseRole.instructor, email="grader@example.edu",
                password_hash=hash_password(PASSWORD))
    group = make_group(course, [make_member(course), make_member(course)])
    slot = hold_slot(course, group, 3, "overview")
    db.session.commit()

    page = browser_page
    sign_in(page, live_server.url, "grader@example.edu")
    page.goto(f"{live_server.url}/c/kbd-course/grading/presentations/{slot.id}")
    # The keyboard hint is hidden without JavaScript and shown by grading.js once it runs.
    page.wait_for_selector("#keyboard-hint", state="visible", timeout=10000)
    criteria = page.locator("fieldset.criterion")
    count = criteria.count()
    assert count >= 2
    assert page.locator("fieldset.criterion input[type=radio]:checked").count() == 0
    assert page.text_content("#live-total") == f"0 ({count} to score)"
    assert "active" in criteria.nth(0).get_attribute("class")

    page.click("h1")  # focus on the page, not in a field
    page.keyboard.press("a")
    first = criteria.nth(0).locator("input[type=radio]").nth(0)
    assert first.is_checked()
    assert "active" in criteria.nth(1).get_attribute("class")
    expected = _level_value(page, 0, 0)
    assert page.text_content("#live-total") == f"{expected:g} ({count - 1} to score)"

    page.keyboard.press("b")
    assert criteria.nth(1).locator("input[type=radio]").nth(1).is_checked()
    expected += _level_value(page, 1, 1)
    assert page.text_content("#live-total") == f"{expected:g} ({count - 2} to score)"

    # A digit typed into a comment is text, not a shortcut: no level of the next criterion moves.
    page.fill("textarea[name=overall_comment]", "")
    page.type("textarea[name=overall_comment]", "3 clear points")
    assert criteria.nth(2).locator("input[type=radio]:checked").count() == 0
    assert page.input_value("textarea[name=overall_comment]") == "3 clear points"
    assert page.text_content("#live-total") == f"{expected:g} ({count - 2} to score)"


def test_digits_are_not_shortcuts_and_keys_never_read_as_points(live_app, live_server,
                                                                 browser_page) -> None:
    course = make_course("kbd-digits")
    make_member(course, CourseRole.instructor, email="grader2@example.edu",
                password_hash=hash_password(PASSWORD))
    slot = hold_slot(course, make_group(course, [make_member(course)]), 3, "overview")
    db.session.commit()

    page = browser_page
    sign_in(page, live_server.url, "grader2@example.edu")
    page.goto(f"{live_server.url}/c/kbd-digits/grading/presentations/{slot.id}")
    page.wait_for_selector("#keyboard-hint", state="visible", timeout=10000)
    first = page.locator("fieldset.criterion").nth(0)
    levels = first.locator("label.level")
    assert levels.count() >= 4
    # Each level shows its shortcut as a letter key, apart from its points.
    keys = [levels.nth(i).locator("kbd.key").text_content() for i in range(levels.count())]
    assert keys == ["a", "b", "c", "d", "e", "f"][:len(keys)]
    for i in range(levels.count()):
        label = levels.nth(i).text_content()
        points = levels.nth(i).locator("input[type=radio]").get_attribute("value")
        assert f"{points} points" in label
    page.click("h1")
    page.keyboard.press("4")  # the fourth level is worth 0 points here: a digit picks nothing
    assert first.locator("input[type=radio]:checked").count() == 0
    page.keyboard.press("d")
    assert first.locator("input[type=radio]").nth(3).is_checked()
