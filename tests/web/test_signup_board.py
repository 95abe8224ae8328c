"""The sign-up board and the group pages: who may do what, messages, calendar feeds, queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from models import AuditEntry, CourseRole, Slot, db
from tests.factories import grant_ta, make_course, make_group, make_member, set_signup
from tests.querycount import count_queries

WIDE_OPEN = dict(mode="first_come", opens_at=datetime(2020, 1, 1), closes_at=datetime(2099, 1, 1),
                 drop_deadline=datetime(2099, 1, 1))


@pytest.fixture
def setup(app):
    course = make_course(first_monday=date(2030, 9, 2))  # sessions still ahead
    set_signup(course, **WIDE_OPEN)
    other = make_course("other-course")
    students = [make_member(course) for _ in range(4)]
    group_a = make_group(course, students[:2], name="Alpha")
    group_b = make_group(course, students[2:], name="Beta")
    people = dict(course=course, other=other, students=students, a=group_a, b=group_b,
                  ta=make_member(course, CourseRole.ta),
                  instructor=make_member(course, CourseRole.instructor),
                  outsider=make_member(other), loner=make_member(course))
    db.session.commit()
    return people


def first_slot(course, index: int = 0) -> Slot:
    return sorted(course.sessions[index].slots, key=lambda s: s.role.position)[0]


def holder(slot_id: int):
    db.session.expire_all()
    return db.session.get(Slot, slot_id).group_id


def test_the_board_shows_sessions_slots_and_holders_to_everyone_in_the_course(
        client, login, setup) -> None:
    course, slot = setup["course"], first_slot(setup["course"])
    slot.group_id = setup["b"].id
    db.session.commit()
    for person in (setup["students"][0], setup["ta"], setup["loner"]):
        login(person)
        page = client.get(f"/c/{course.code}/signup").get_data(as_text=True)
        assert "Paper of week 3" in page and "A. Author" in page and "ICLR" in page
        assert "https://example.org/3" in page and "Beta" in page and "open" in page
        assert "Overview" in page and "14 min" in page
        assert f"/calendar/course/{course.calendar_token}.ics" in page
    login(setup["outsider"])
    assert client.get(f"/c/{course.code}/signup").status_code == 404


def test_a_member_claims_then_the_loser_is_told_it_was_just_taken(client, login, setup) -> None:
    course = setup["course"]
    slot = first_slot(course)
    version = slot.version
    login(setup["students"][0])
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/claim",
                           data={"version": version}, follow_redirects=True)
    assert "Your group now holds Overview of week 3" in response.get_data(as_text=True)
    assert holder(slot.id) == setup["a"].id
    login(setup["students"][2])
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/claim",
                           data={"version": version}, follow_redirects=True)
    assert response.request.path == f"/c/{course.code}/signup"
    assert "just taken" in response.get_data(as_text=True)
    assert holder(slot.id) == setup["a"].id


def test_a_stale_form_changes_nothing(client, login, setup) -> None:
    course = setup["course"]
    slot = first_slot(course)
    stale = slot.version
    slot.group_id = setup["a"].id
    db.session.commit()
    login(setup["students"][0])
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/release",
                           data={"version": stale}, follow_redirects=True)
    assert "The board changed since you loaded it" in response.get_data(as_text=True)
    assert holder(slot.id) == setup["a"].id


def test_a_closed_board_refuses_claims(client, login, setup) -> None:
    course = setup["course"]
    set_signup(course, closes_at=datetime(2021, 1, 1))
    db.session.commit()
    slot = first_slot(course)
    login(setup["students"][0])
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/claim",
                           follow_redirects=True)
    assert "Sign-up is closed" in response.get_data(as_text=True)
    assert holder(slot.id) is None


def test_a_slot_of_another_course_is_404_and_unchanged(client, login, setup) -> None:
    slot = first_slot(setup["other"])
    login(setup["students"][0])
    assert client.post(f"/c/{setup['course'].code}/signup/slots/{slot.id}/claim").status_code == 404
    assert holder(slot.id) is None


def test_only_members_act_for_their_group(client, login, setup) -> None:
    course = setup["course"]
    slot = first_slot(course)
    slot.group_id = setup["a"].id
    db.session.commit()
    login(setup["students"][2])  # Beta tries to release Alpha's slot
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/release",
                           follow_redirects=True)
    assert "does not hold that slot" in response.get_data(as_text=True)
    assert holder(slot.id) == setup["a"].id
    login(setup["loner"])
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/release",
                           follow_redirects=True)
    assert "Join or create a group first" in response.get_data(as_text=True)


def test_staff_only_pages_and_actions(client, login, setup) -> None:
    course = setup["course"]
    slot = first_slot(course)
    login(setup["students"][0])
    assert client.get(f"/c/{course.code}/signup/settings").status_code == 403
    assert client.post(f"/c/{course.code}/signup/slots/{slot.id}/assign",
                       data={"group": setup["a"].id, "reason": "x"}).status_code == 403
    assert client.post(f"/c/{course.code}/groups/lock", data={"locked": "1"}).status_code == 403
    assert client.post(f"/c/{course.code}/groups/merge",
                       data={"keep": setup["a"].id, "absorb": setup["b"].id}).status_code == 403
    assert client.get(f"/c/{course.code}/groups/auto").status_code == 403
    assert holder(slot.id) is None
    login(setup["ta"])
    assert client.post(f"/c/{course.code}/signup/slots/{slot.id}/assign",
                       data={"group": setup["b"].id, "reason": "x"}).status_code == 403
    grant_ta(course, "manage_slots", "manage_groups", "dissolve_groups")
    db.session.commit()
    assert client.post(f"/c/{course.code}/signup/slots/{slot.id}/claim").status_code == 403
    response = client.post(f"/c/{course.code}/signup/slots/{slot.id}/assign",
                           data={"group": setup["b"].id, "reason": "asked by email"},
                           follow_redirects=True)
    assert "Slot now held by Beta" in response.get_data(as_text=True)
    assert holder(slot.id) == setup["b"].id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "staff_assign"))
    assert entry.actor_id == setup["ta"].id and entry.reason == "asked by email"


def test_settings_page_saves_and_reports_bad_values(client, login, setup) -> None:
    course = setup["course"]
    login(setup["instructor"])
    assert client.get(f"/c/{course.code}/signup/settings").status_code == 200
    response = client.post(f"/c/{course.code}/signup/settings", data={
        "mode": "first_come", "opens_at": "2026-10-02T10:00", "closes_at": "2026-10-01T10:00",
        "min_gap_weeks": "0"})
    assert response.status_code == 422 and "closes_at: must be after opens_at" in \
        response.get_data(as_text=True)
    response = client.post(f"/c/{course.code}/signup/settings", data={
        "mode": "preferences", "opens_at": "2026-10-01T10:00", "closes_at": "2026-10-08T10:00",
        "quota": "2", "min_gap_weeks": "1"}, follow_redirects=True)
    assert "Sign-up settings saved" in response.get_data(as_text=True)
    db.session.expire_all()
    signup = db.session.get(type(course), course.id).definition["signup"]
    assert signup["mode"] == "preferences" and signup["quota"] == 2
    assert signup["opens_at"].startswith("2026-10-01T10:00")


def test_swap_by_agreement_through_the_board(client, login, setup) -> None:
    course = setup["course"]
    a, b = first_slot(course, 0), first_slot(course, 1)
    a.group_id, b.group_id = setup["a"].id, setup["b"].id
    db.session.commit()
    login(setup["students"][0])
    client.post(f"/c/{course.code}/signup/swaps", data={"from_slot": a.id, "to_slot": b.id})
    login(setup["students"][3])
    page = client.get(f"/c/{course.code}/signup").get_data(as_text=True)
    assert "Accept" in page
    from models import SwapProposal
    proposal = db.session.scalar(select(SwapProposal))
    response = client.post(f"/c/{course.code}/signup/swaps/{proposal.id}/accept",
                           follow_redirects=True)
    assert "Swap done" in response.get_data(as_text=True)
    assert (holder(a.id), holder(b.id)) == (setup["b"].id, setup["a"].id)


def test_calendar_feeds_need_the_secret_token(client, setup) -> None:
    course, group = setup["course"], setup["a"]
    slot = first_slot(course)
    slot.group_id = group.id
    db.session.commit()
    response = client.get(f"/calendar/course/{course.calendar_token}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    events = [c for c in Calendar.from_ical(response.data).walk("VEVENT")]
    assert len(events) == 4
    first = events[0]
    session = course.sessions[0]
    assert first.decoded("dtstart") == session.starts_at
    # 14 + 8 + 8 minutes of roles and 10 of discussion.
    assert first.decoded("dtend") - first.decoded("dtstart") == timedelta(minutes=40)
    assert "Overview (14 min): Alpha" in str(first.get("description"))
    group_feed = client.get(f"/calendar/group/{group.calendar_token}.ics")
    group_events = list(Calendar.from_ical(group_feed.data).walk("VEVENT"))
    assert len(group_events) == 1 and "Alpha presents (Overview)" in str(group_events[0]["summary"])
    assert client.get("/calendar/course/not-the-token.ics").status_code == 404
    assert client.get("/calendar/group/not-the-token.ics").status_code == 404


def _board_queries(client, login, code: str, groups: int) -> int:
    course = make_course(code)
    set_signup(course, **WIDE_OPEN)
    staff = make_member(course, CourseRole.instructor)
    slots = [s for session in course.sessions for s in session.slots]
    students = []
    for index in range(groups):
        members = [make_member(course) for _ in range(3)]
        students += members
        group = make_group(course, members)
        slots[index % len(slots)].group_id = group.id if index < len(slots) else None
    db.session.commit()
    counts = []
    for viewer in (staff, students[0]):
        login(viewer)
        with count_queries() as counter:
            assert client.get(f"/c/{code}/signup").status_code == 200
        counts.append(counter.count)
        with count_queries() as counter:
            assert client.get(f"/c/{code}/groups").status_code == 200
        counts.append(counter.count)
    return counts


def test_board_and_group_pages_make_no_query_per_group(client, login, app) -> None:
    assert _board_queries(client, login, "small-class", 2) == \
        _board_queries(client, login, "large-class", 10)


def test_templates_of_the_board_work_without_javascript(client, login, setup) -> None:
    login(setup["students"][0])
    page = client.get(f"/c/{setup['course'].code}/signup").get_data(as_text=True)
    assert '<form method="post"' in page and 'name="version"' in page


def test_waitlist_promotion_shows_a_notice_on_the_board(client, login, setup) -> None:
    course = setup["course"]
    slot = first_slot(course)
    login(setup["students"][0])
    client.post(f"/c/{course.code}/signup/slots/{slot.id}/claim")
    login(setup["students"][2])
    page = client.post(f"/c/{course.code}/signup/slots/{slot.id}/waitlist",
                       follow_redirects=True).get_data(as_text=True)
    assert "Your group is on the waitlist" in page and "1 waiting" in page
    login(setup["students"][1])
    client.post(f"/c/{course.code}/signup/slots/{slot.id}/release")
    assert holder(slot.id) == setup["b"].id
    login(setup["students"][3])
    page = client.get(f"/c/{course.code}/signup").get_data(as_text=True)
    assert "Your group got Week 3 Overview from the waitlist" in page
    login(setup["students"][0])
    page = client.get(f"/c/{course.code}/signup").get_data(as_text=True)
    assert "from the waitlist" not in page


def test_after_publication_a_member_moves_to_an_open_slot(client, login, setup) -> None:
    from models import AssignmentRun, utcnow
    course = setup["course"]
    set_signup(course, mode="preferences")
    a, target = first_slot(course, 0), first_slot(course, 1)
    a.group_id = setup["a"].id
    db.session.add(AssignmentRun(course_id=course.id, status="optimal", published_at=utcnow()))
    db.session.commit()
    login(setup["students"][0])
    page = client.get(f"/c/{course.code}/signup").get_data(as_text=True)
    assert f"/signup/slots/{a.id}/move" in page
    page = client.post(f"/c/{course.code}/signup/slots/{a.id}/move", data={"target": target.id},
                       follow_redirects=True).get_data(as_text=True)
    assert "Moved to Overview of week 4" in page
    assert holder(a.id) is None and holder(target.id) == setup["a"].id


def test_staff_swap_two_slots_from_the_board(client, login, setup) -> None:
    course = setup["course"]
    a, b = first_slot(course, 0), first_slot(course, 1)
    a.group_id = setup["a"].id
    db.session.commit()
    login(setup["instructor"])
    page = client.post(f"/c/{course.code}/signup/staff-swap",
                       data={"slot_a": a.id, "slot_b": b.id, "reason": "clash"},
                       follow_redirects=True).get_data(as_text=True)
    assert "swapped holders" in page
    assert (holder(a.id), holder(b.id)) == (None, setup["a"].id)
    page = client.post(f"/c/{course.code}/signup/staff-swap",
                       data={"slot_a": a.id, "slot_b": b.id, "reason": ""},
                       follow_redirects=True).get_data(as_text=True)
    assert "Nothing was changed" in page
    assert holder(b.id) == setup["a"].id
