"""Destructive actions first show what they will change and do it only when confirmed (a second
POST with confirm=1), without JavaScript: leaving and dissolving groups, merging, moving a
student, taking a slot from its holder, withdrawing released feedback. And groups lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from models import CourseRole, Group, Membership, Slot, db
from tests.factories import (hold_slot, make_course, make_group, make_member, make_review,
                             make_staff_score)

VIEWS = ("review.groups.views", "review.signup.views", "review.grading.views")


def set_clock(monkeypatch: pytest.MonkeyPatch, moment) -> None:
    for module in VIEWS:
        monkeypatch.setattr(f"{module}.utcnow", lambda: moment)


def session_start(course, week: int):
    return next(s.starts_at for s in course.sessions if s.week.number == week)


@pytest.fixture
def world(app):
    """Group 6 (Ada, Ben, Cem) presented week 5 (graded 75.0) and holds week 6; Group 7 (Dia,
    Eda) holds nothing. Groups of up to five, so the two can merge."""
    course = make_course(groups={"min_size": 2, "max_size": 5})
    ada, ben, cem, dia, eda = (make_member(course, first_name=name)
                               for name in ("Ada", "Ben", "Cem", "Dia", "Eda"))
    instructor = make_member(course, CourseRole.instructor)
    six = make_group(course, [ada, ben, cem], name="Group 6")
    seven = make_group(course, [dia, eda], name="Group 7")
    presented = hold_slot(course, six, 5, "overview")
    make_staff_score(course, instructor, 75, rubric_key="presentation-overview",
                     slot_id=presented.id)
    upcoming = hold_slot(course, six, 6, "strengths")
    db.session.commit()
    return dict(course=course, students=[ada, ben, cem, dia, eda], instructor=instructor,
                six=six, seven=seven, presented=presented, upcoming=upcoming)


@pytest.fixture
def after_week_5(world, monkeypatch):
    set_clock(monkeypatch, session_start(world["course"], 5) + timedelta(days=1))
    return world


def group_ids() -> set[int]:
    """The live groups (a group that presented is dissolved softly: its row stays as the record)."""
    return set(db.session.scalars(select(Group.id).where(Group.dissolved_at.is_(None))))


def group_of(user) -> int | None:
    return db.session.scalar(select(Membership.group_id).where(Membership.user_id == user.id))


def holder(slot) -> int | None:
    db.session.expire_all()
    return db.session.get(Slot, slot.id).group_id


# ---------------------------------------------------------------------------- the reports


def test_a_student_cannot_leave_with_one_click_after_three_graded_weeks(
        client, login, after_week_5) -> None:
    w = after_week_5
    login(w["students"][0])
    for data in ({}, {"confirm": "1"}):
        page = client.post(f"/c/{w['course'].code}/groups/leave", data=data,
                           follow_redirects=True).get_data(as_text=True)
        assert ("Groups of this course are locked since week 3 began; ask the course staff to "
                "move you.") in page
        assert group_of(w["students"][0]) == w["six"].id
    page = client.get(f"/c/{w['course'].code}/groups").get_data(as_text=True)
    assert "locked since week 3 began" in page and "Leave the group" not in page


def test_staff_dissolve_names_the_graded_week_and_waits_for_confirmation(
        client, login, after_week_5) -> None:
    w = after_week_5
    login(w["instructor"])
    url = f"/c/{w['course'].code}/groups/{w['six'].id}/dissolve"
    response = client.post(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Dissolve Group 6?" in page
    ada, ben, cem = (s.full_name for s in w["students"][:3])
    assert (f"Group 6 presented week 5 (Overview), graded 75.0: the grade stays with its three "
            f"presenters: {ada}, {ben}, {cem}") in page
    assert "week 6 (Strengths)" in page and 'name="confirm" value="1"' in page
    assert w["six"].id in group_ids() and holder(w["upcoming"]) == w["six"].id

    page = client.post(url, data={"confirm": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "Group 6 dissolved" in page
    assert w["six"].id not in group_ids() and holder(w["upcoming"]) is None


# ---------------------------------------------------------------------------- students


def test_leaving_before_the_lock_asks_first_and_says_what_changes(
        client, login, world, monkeypatch) -> None:
    set_clock(monkeypatch, session_start(world["course"], 3) - timedelta(days=1))
    login(world["students"][0])
    url = f"/c/{world['course'].code}/groups/leave"
    page = client.post(url).get_data(as_text=True)
    assert "Leave Group 6?" in page and "week 6 (Strengths)" in page
    assert group_of(world["students"][0]) == world["six"].id
    client.post(url, data={"confirm": "1"})
    assert group_of(world["students"][0]) is None


def test_the_join_link_says_groups_are_locked_instead_of_offering_to_join(
        client, login, after_week_5) -> None:
    w = after_week_5
    loner = make_member(w["course"])
    db.session.commit()
    login(loner)
    page = client.get(f"/c/{w['course'].code}/groups/join/{w['seven'].join_code}").get_data(
        as_text=True)
    assert "locked since week 3 began" in page and "Join Group 7</button>" not in page


# ---------------------------------------------------------------------------- staff


def test_merge_shows_the_moved_slots_and_kept_grades_before_merging(
        client, login, after_week_5) -> None:
    w = after_week_5
    login(w["instructor"])
    url = f"/c/{w['course'].code}/groups/merge"
    data = {"keep": w["seven"].id, "absorb": w["six"].id}
    page = client.post(url, data=data).get_data(as_text=True)
    assert "Merge Group 6 into Group 7?" in page
    assert "Group 6 presented week 5 (Overview), graded 75.0" in page
    assert "Week 6 (Strengths) moves to Group 7" in page
    assert f'name="keep" value="{w["seven"].id}"' in page
    assert group_ids() == {w["six"].id, w["seven"].id}
    client.post(url, data={**data, "confirm": "1"})
    assert group_ids() == {w["seven"].id} and holder(w["upcoming"]) == w["seven"].id


def test_moving_a_member_says_their_past_presentations_stay_with_them(
        client, login, after_week_5) -> None:
    w = after_week_5
    ada = w["students"][0]
    login(w["instructor"])
    url = f"/c/{w['course'].code}/groups/move"
    data = {"student": ada.id, "group": w["seven"].id}
    page = client.post(url, data=data).get_data(as_text=True)
    assert f"Move {ada.full_name} to Group 7?" in page
    assert (f"{ada.full_name} presented week 5 (Overview) with Group 6, graded 75.0: that grade "
            f"stays with {ada.full_name}") in page
    assert "no longer presents week 6 (Strengths)" in page
    assert group_of(ada) == w["six"].id
    client.post(url, data={**data, "confirm": "1"})
    assert group_of(ada) == w["seven"].id


def test_taking_a_slot_from_its_holder_asks_first(client, login, after_week_5) -> None:
    w = after_week_5
    login(w["instructor"])
    url = f"/c/{w['course'].code}/signup/slots/{w['upcoming'].id}/assign"
    data = {"group": w["seven"].id, "reason": "Group 6 asked by email", "version": ""}
    page = client.post(url, data=data).get_data(as_text=True)
    assert "Group 6 no longer presents week 6 (Strengths)" in page
    assert "Group 7" in page and 'value="Group 6 asked by email"' in page
    assert holder(w["upcoming"]) == w["six"].id
    client.post(url, data={**data, "confirm": "1"})
    assert holder(w["upcoming"]) == w["seven"].id


def test_opening_a_graded_slot_names_its_grade_first(client, login, after_week_5) -> None:
    w = after_week_5
    login(w["instructor"])
    url = f"/c/{w['course'].code}/signup/slots/{w['presented'].id}/assign"
    data = {"group": "0", "reason": "wrong group entered", "version": ""}
    page = client.post(url, data=data).get_data(as_text=True)
    assert "Group 6 presented week 5 (Overview), graded 75.0" in page
    assert holder(w["presented"]) == w["six"].id
    client.post(url, data={**data, "confirm": "1"})
    assert holder(w["presented"]) is None


def test_withdrawing_released_feedback_names_who_loses_it(client, login, after_week_5) -> None:
    w = after_week_5
    slot = w["presented"]
    slot.feedback_released_at = session_start(w["course"], 5)
    review = make_review(slot.session, w["students"][3])
    review_id = review.id
    db.session.commit()
    login(w["instructor"])
    code = w["course"].code

    url = f"/c/{code}/grading/presentations/{slot.id}/release"
    page = client.post(url, data={"action": "withdraw"}).get_data(as_text=True)
    assert "Withdraw the feedback of week 5 (Overview)?" in page
    assert w["students"][0].full_name in page and "graded 75.0" in page
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).feedback_released_at is not None
    client.post(url, data={"action": "withdraw", "confirm": "1"})
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).feedback_released_at is None

    url = f"/c/{code}/grading/reviews/{review_id}/release"
    page = client.post(url, data={"action": "withdraw"}).get_data(as_text=True)
    assert w["students"][3].full_name in page and "no longer sees" in page
    from models import Review
    db.session.expire_all()
    assert db.session.get(Review, review_id).feedback_released_at is not None
    client.post(url, data={"action": "withdraw", "confirm": "1"})
    db.session.expire_all()
    assert db.session.get(Review, review_id).feedback_released_at is None


def test_withdrawing_a_whole_week_says_how_much_students_stop_seeing(
        client, login, after_week_5) -> None:
    w = after_week_5
    session = w["presented"].session
    session.feedback_released_at = session.starts_at
    make_review(session, w["students"][3], released=False)
    db.session.commit()
    login(w["instructor"])
    url = f"/c/{w['course'].code}/grading/sessions/{session.id}/release"
    page = client.post(url, data={"action": "withdraw"}).get_data(as_text=True)
    assert "Withdraw the feedback of week 5?" in page
    assert "1 presentation(s) and 1 review(s)" in page
    from models import PaperSession
    db.session.expire_all()
    assert db.session.get(PaperSession, session.id).feedback_released_at is not None
    client.post(url, data={"action": "withdraw", "confirm": "1"})
    db.session.expire_all()
    assert db.session.get(PaperSession, session.id).feedback_released_at is None


def test_releasing_needs_no_confirmation(client, login, after_week_5) -> None:
    w = after_week_5
    login(w["instructor"])
    slot = w["presented"]
    client.post(f"/c/{w['course'].code}/grading/presentations/{slot.id}/release",
                data={"action": "release"})
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).feedback_released_at is not None


def test_the_confirmation_page_costs_the_same_queries_for_a_bigger_group(
        client, login, app, after_week_5) -> None:
    from tests.querycount import count_queries

    w = after_week_5
    login(w["instructor"])
    url = f"/c/{w['course'].code}/groups/{w['six'].id}/dissolve"
    db.session.expire_all()
    with count_queries() as small:
        client.post(url)
    for _ in range(2):
        extra = make_member(w["course"])
        db.session.add(Membership(course_id=w["course"].id, group_id=w["six"].id,
                                  user_id=extra.id))
    hold_slot(w["course"], w["six"], 4, "weaknesses")
    db.session.commit()
    db.session.expire_all()
    with count_queries() as big:
        client.post(url)
    assert big.count == small.count
    assert db.session.scalar(select(func.count()).select_from(Group)) == 2
