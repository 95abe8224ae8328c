"""A real browser: dissolving a group takes two steps. The first click shows what will change,
naming the graded week and who keeps its grade; Cancel keeps the group; confirming dissolves."""

from __future__ import annotations

from sqlalchemy import select

from models import CourseRole, Group, db
from review.accounts.services import hash_password
from tests.browser.conftest import PASSWORD, sign_in
from tests.factories import hold_slot, make_course, make_group, make_member, make_staff_score


def _group_exists(group_id: int) -> bool:
    """Whether the group is still live (one that presented is dissolved softly, kept as record)."""
    db.session.expire_all()
    return db.session.scalar(select(Group.id).where(
        Group.id == group_id, Group.dissolved_at.is_(None))) is not None


def test_staff_dissolve_asks_first_and_names_the_graded_week(
        live_app, live_server, browser_page) -> None:
    course = make_course("confirm-course")
    instructor = make_member(course, CourseRole.instructor, email="staff@example.edu",
                             password_hash=hash_password(PASSWORD))
    members = [make_member(course, first_name=name) for name in ("Ada", "Ben", "Cem")]
    group = make_group(course, members, name="Group 6")
    slot = hold_slot(course, group, 5, "overview")
    make_staff_score(course, instructor, 75, rubric_key="presentation-overview", slot_id=slot.id)
    db.session.commit()
    group_id, base = group.id, live_server.url

    page = browser_page
    sign_in(page, base, "staff@example.edu")
    page.goto(f"{base}/c/confirm-course/groups")
    page.click(f"#group-{group_id} button:has-text('Dissolve')")
    page.wait_for_selector("h1:has-text('Dissolve Group 6?')")
    text = page.text_content("main")
    assert "Group 6 presented week 5 (Overview), graded 75.0" in text
    assert all(member.full_name in text for member in members)
    assert _group_exists(group_id)

    page.click("text=Cancel")
    page.wait_for_selector(f"#group-{group_id}")
    assert _group_exists(group_id)

    page.click(f"#group-{group_id} button:has-text('Dissolve')")
    page.click("button:has-text('Dissolve Group 6')")
    page.wait_for_selector("text=Group 6 dissolved")
    assert not _group_exists(group_id)
