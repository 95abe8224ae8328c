"""The past is frozen: assignment runs and their publication never move a held or graded slot.

Every test builds its own course (two roles, a Pacific timezone, sessions on Wednesdays) and
passes an explicit clock, so "the past" is whatever the test says it is.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import (AuditEntry, CourseRole, Group, PaperSession, PresentationRole, Slot,
                    SlotPresenter, Week, db)
from review.assignment import services
from review.assignment.services import PublishRefused, RunOptions
from review.signup.presenters import record_due_presenters
from review.signup.services import SignupError, assign_slot_by_staff, swap_slots_by_staff
from tests.factories import make_course, make_group, make_member, make_staff_score, set_signup

UTC = timezone.utc
FIRST_WEDNESDAY = date(2027, 1, 13)
ROLES = [{"key": "lead", "name": "Lead", "minutes": 20},
         {"key": "critic", "name": "Critic", "minutes": 10}]
BEFORE_TERM = datetime(2027, 1, 1, tzinfo=UTC)


def week_start(week: int) -> datetime:
    """The UTC start of week ``week``'s session (08:30 in Vancouver, UTC-8 in winter)."""
    local = datetime.combine(FIRST_WEDNESDAY + timedelta(weeks=week - 1), datetime.min.time())
    return (local + timedelta(hours=8, minutes=30 + 8 * 60)).replace(tzinfo=UTC)


def second_course(groups: int, session_weeks: tuple[int, ...], *, code: str = "frz-course",
                  roles: list[dict] = ROLES, **signup):
    course = make_course(code, first_monday=FIRST_WEDNESDAY, weeks=max(session_weeks) + 1,
                         session_weeks=session_weeks, timezone="America/Vancouver",
                         roles=roles, session_time="08:30")
    set_signup(course, mode="preferences", opens_at=datetime(2026, 12, 1),
               closes_at=datetime(2027, 6, 1), **signup)
    made = []
    for index in range(groups):
        members = [make_member(course, CourseRole.student) for _ in range(2)]
        made.append(make_group(course, members, name=f"Team {chr(65 + index)}"))
    return course, made


def session_ids(course) -> dict[int, int]:
    return dict(db.session.execute(select(Week.number, PaperSession.id).join(
        PaperSession, PaperSession.week_id == Week.id).where(PaperSession.course_id == course.id))
        .tuples().all())


def save(group, weeks, *, course, now):
    ids = session_ids(course)
    member = group.memberships[0].user
    services.save_group_preferences(group, member, {ids[w]: r for r, w in enumerate(weeks, 1)},
                                    set(), now)


def slots_by_week(course) -> dict[tuple[int, str], Slot]:
    rows = db.session.execute(
        select(Week.number, PresentationRole.key, Slot).select_from(Slot)
        .join(PaperSession, Slot.session_id == PaperSession.id)
        .join(Week, PaperSession.week_id == Week.id)
        .join(PresentationRole, Slot.role_id == PresentationRole.id)
        .where(PaperSession.course_id == course.id)).tuples().all()
    return {(week, role): slot for week, role, slot in rows}


def holders(course) -> dict[tuple[int, str], int | None]:
    return {key: slot.group_id for key, slot in slots_by_week(course).items()}


def test_a_midterm_rerun_with_a_larger_gap_moves_no_held_or_graded_slot(app) -> None:
    weeks = tuple(range(1, 15))
    course, groups = second_course(8, weeks, min_gap_weeks=2)
    for index, group in enumerate(groups):
        save(group, [weeks[(index * 2 + k) % 14] for k in range(6)], course=course,
             now=BEFORE_TERM)
    first = services.run_assignment(course, None, BEFORE_TERM)
    assert first.status == "optimal"
    services.publish_run(first, None, BEFORE_TERM)
    # Before the term starts, every group changes its mind: it now wants the weeks it was not
    # given (the old run would hand it held weeks once the term is under way).
    published = holders(course)
    for group in groups:
        mine = {week for (week, _), holder in published.items() if holder == group.id}
        save(group, [w for w in weeks if w not in mine][:6], course=course,
             now=BEFORE_TERM + timedelta(days=1))
    db.session.commit()

    # Mid-term: weeks 1-5 have been held; week 7 was graded early. The instructor re-runs with
    # a larger gap, which changes the optimum everywhere, the past included.
    now = week_start(5) + timedelta(hours=2)
    record_due_presenters(course, now)
    grader = make_member(course, CourseRole.instructor)
    graded = slots_by_week(course)[(7, "critic")]
    make_staff_score(course, grader, 80, rubric_key="presentation-overview", slot_id=graded.id)
    before = holders(course)
    db.session.commit()

    rerun = services.run_assignment(course, None, now, RunOptions(min_gap_weeks=3))
    assert rerun.status == "optimal", rerun.result["message"]
    services.publish_run(rerun, grader, now)
    db.session.commit()

    after = holders(course)
    frozen = {key for key in before if key[0] <= 5} | {(7, "critic")}
    assert {key: after[key] for key in frozen} == {key: before[key] for key in frozen}
    # The new gap binds the future: no group gets two new slots fewer than 3 weeks apart.
    for group in groups:
        new_weeks = sorted(week for (week, _), holder in after.items()
                           if holder == group.id and (week, _) not in frozen)
        assert all(b - a >= 3 for a, b in zip(new_weeks, new_weeks[1:]))


def test_a_first_run_on_a_term_already_under_way_assigns_no_past_week(app) -> None:
    course, groups = second_course(4, tuple(range(1, 9)))
    now = week_start(3) + timedelta(minutes=1)
    for group in groups:
        save(group, [6, 7, 8], course=course, now=BEFORE_TERM)
    run = services.run_assignment(course, None, now)
    assert run.status == "optimal", run.result["message"]
    assert run.result["assignments"]
    assert min(item["week"] for item in run.result["assignments"]) == 4
    # The five future weeks' ten slots are shared out; the past ones are not counted.
    assert sorted(len(row["slots"]) for row in run.result["groups"]) == [2, 2, 3, 3]
    services.publish_run(run, None, now)
    after = holders(course)
    assert all(after[(week, role)] is None for week in (1, 2, 3) for role in ("lead", "critic"))
    assert all(after[(week, role)] is not None for week in range(4, 9)
               for role in ("lead", "critic"))


def test_publish_refuses_when_a_slot_it_would_change_started_since_the_run(app) -> None:
    course, groups = second_course(4, (1, 2, 3, 4))
    now = BEFORE_TERM
    first = services.run_assignment(course, None, now)
    services.publish_run(first, None, now)
    db.session.commit()
    save(groups[0], [1], course=course, now=now)
    save(groups[1], [1], course=course, now=now)
    rerun = services.run_assignment(course, None, now)
    changes = {(c["week"], c["role"]) for c in rerun.result["changes"]}
    assert any(week == 1 for week, _ in changes)
    before = holders(course)
    with pytest.raises(PublishRefused) as caught:
        services.publish_run(rerun, None, week_start(1) + timedelta(minutes=5))
    assert "week 1" in str(caught.value) and "run the assignment again" in str(caught.value)
    db.session.rollback()
    assert holders(course) == before


def test_the_preview_lists_changed_holders_and_warns_about_open_preferences(app) -> None:
    course, groups = second_course(4, (1, 2, 3, 4))
    save(groups[0], [1, 2], course=course, now=BEFORE_TERM)
    first = services.run_assignment(course, None, BEFORE_TERM)
    warnings = " ".join(first.result["warnings"])
    assert "Preferences are still open" in warnings
    assert "Team B" in warnings and "Team C" in warnings and "Team D" in warnings
    assert "Team A" not in warnings
    # Nothing is published yet: every slot of the run is a change from "open".
    assert len(first.result["changes"]) == 8
    assert all(change["from"] is None for change in first.result["changes"])
    services.publish_run(first, None, BEFORE_TERM)
    save(groups[1], [w for w in (1, 2, 3, 4)
                     if holders(course)[(w, "lead")] != groups[1].id][:1], course=course,
         now=BEFORE_TERM)
    set_signup(course, closes_at=datetime(2026, 12, 31))
    second = services.run_assignment(course, None, BEFORE_TERM)
    assert not any("still open" in w for w in second.result["warnings"])
    names = {g.id: g.name for g in groups}
    current = holders(course)
    for change in second.result["changes"]:
        assert change["from"] == names.get(current[(change["week"], change["role"])])
        assert change["to"] != change["from"]


# ---------------------------------------------------------------------------- staff corrections


def graded_slot_setup(app):
    course, groups = second_course(4, (1, 2, 3, 4), code="frz-staff")
    first = services.run_assignment(course, None, BEFORE_TERM)
    services.publish_run(first, None, BEFORE_TERM)
    now = week_start(2) + timedelta(hours=1)
    record_due_presenters(course, now)
    staff = make_member(course, CourseRole.instructor)
    db.session.commit()
    return course, groups, staff, now


def test_staff_correct_a_held_slot_only_with_a_reason_and_the_presenters_follow(app) -> None:
    course, groups, staff, now = graded_slot_setup(app)
    slot = slots_by_week(course)[(1, "lead")]
    old_group = db.session.get(Group, slot.group_id)
    new_group = next(g for g in groups
                     if g.id != old_group.id
                     and g.id not in {s.group_id for s in slot.session.slots})
    with pytest.raises(SignupError) as caught:
        assign_slot_by_staff(slot, new_group, staff, "  ", now)
    assert "reason" in str(caught.value)
    db.session.rollback()

    assign_slot_by_staff(slot, new_group, staff, "Team swapped in on the day", now)
    db.session.commit()
    presenters = set(db.session.scalars(select(SlotPresenter.user_id)
                                        .where(SlotPresenter.slot_id == slot.id)))
    assert presenters == {m.user_id for m in new_group.memberships}
    actions = {e.action: e for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity_id == slot.id, AuditEntry.entity == "slot"))}
    assert actions["staff_assign"].old["group"] == old_group.name
    assert actions["staff_assign"].new["group"] == new_group.name
    assert actions["staff_assign"].reason == "Team swapped in on the day"
    assert actions["set_presenters"].new == {"presenters": sorted(presenters)}


def test_staff_may_name_the_presenters_of_a_corrected_held_slot(app) -> None:
    course, groups, staff, now = graded_slot_setup(app)
    slot = slots_by_week(course)[(1, "critic")]
    new_group = next(g for g in groups if g.id not in {s.group_id for s in slot.session.slots})
    one = new_group.memberships[0].user_id
    assign_slot_by_staff(slot, new_group, staff, "only one member came", now, presenters=[one])
    db.session.commit()
    assert list(db.session.scalars(select(SlotPresenter.user_id)
                                   .where(SlotPresenter.slot_id == slot.id))) == [one]


def test_a_staff_swap_of_held_slots_moves_the_presenters_too(app) -> None:
    course, groups, staff, now = graded_slot_setup(app)
    slots = slots_by_week(course)
    a, b = slots[(1, "lead")], slots[(2, "lead")]
    group_a, group_b = a.group_id, b.group_id
    if group_a in {s.group_id for s in b.session.slots} or group_b in {
            s.group_id for s in a.session.slots}:
        pytest.skip("the published run put both groups in both weeks")
    swap_slots_by_staff(a, b, staff, "they traded", now)
    db.session.commit()
    members = {g.id: {m.user_id for m in g.memberships} for g in groups}
    got = {s: set(db.session.scalars(select(SlotPresenter.user_id)
                                     .where(SlotPresenter.slot_id == s))) for s in (a.id, b.id)}
    assert got == {a.id: members[group_b], b.id: members[group_a]}


# ---------------------------------------------------------------------------- preferences


def test_past_sessions_are_not_offered_for_ranking(app, client, login, monkeypatch) -> None:
    course, groups = second_course(3, (1, 2, 3, 4, 5), code="frz-prefs")
    db.session.commit()
    ids = session_ids(course)
    monkeypatch.setattr("review.assignment.views.utcnow", lambda: week_start(2) + timedelta(hours=1))
    login(groups[0].memberships[0].user)
    page = client.get("/c/frz-prefs/preferences")
    assert page.status_code == 200
    for week in (1, 2):
        assert f'name="rank_{ids[week]}"' not in page.text
        assert f'name="unavailable_{ids[week]}"' not in page.text
    for week in (3, 4, 5):
        assert f'name="rank_{ids[week]}"' in page.text
    # A past week's field is not on the form, so a forged value for it is ignored.
    response = client.post("/c/frz-prefs/preferences",
                           data={f"rank_{ids[3]}": "1", f"rank_{ids[1]}": "2"})
    assert response.status_code == 302
    assert services.preferences_of(groups[0]).ranking == [ids[3]]


def test_saving_a_rank_for_a_past_session_is_refused(app) -> None:
    course, groups = second_course(3, (1, 2, 3, 4, 5), code="frz-prefs2")
    with pytest.raises(services.InvalidPreferenceInput) as caught:
        save(groups[0], [3, 1], course=course, now=week_start(2))
    assert "week 1 ('Paper of week 1') has already taken place" in str(caught.value)
    assert services.preferences_of(groups[0]).ranking == []


def test_the_board_corrects_a_held_slot_with_a_reason_and_named_presenters(
        app, client, login, monkeypatch) -> None:
    course, groups, staff, now = graded_slot_setup(app)
    monkeypatch.setattr("review.signup.views.utcnow", lambda: now)
    slot = slots_by_week(course)[(1, "lead")]
    before = slot.group_id
    new_group = next(g for g in groups if g.id not in {s.group_id for s in slot.session.slots})
    login(staff)
    board = client.get("/c/frz-staff/signup")
    assert 'aria-label="Presenters of Week 1 Lead"' in board.text
    assert 'aria-label="Presenters of Week 4 Lead"' not in board.text
    url = f"/c/frz-staff/signup/slots/{slot.id}/assign"
    refused = client.post(url, data={"group": new_group.id, "reason": ""},
                          follow_redirects=True)
    assert "Give a reason for the change" in refused.text
    assert db.session.get(Slot, slot.id).group_id == before
    one = new_group.memberships[1].user
    # Taking a slot from its holder asks first, carrying every field to the confirmed POST.
    asked = client.post(url, data={"group": new_group.id, "reason": "came instead",
                                   "presenters": one.email.upper()})
    assert f'name="presenters" value="{one.email.upper()}"' in asked.text
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).group_id == before
    client.post(url, data={"group": new_group.id, "reason": "came instead",
                           "presenters": one.email.upper(), "confirm": "1"})
    db.session.expire_all()
    assert db.session.get(Slot, slot.id).group_id == new_group.id
    assert list(db.session.scalars(select(SlotPresenter.user_id)
                                   .where(SlotPresenter.slot_id == slot.id))) == [one.id]
    unknown = client.post(url, data={"group": 0, "reason": "oops", "confirm": "1",
                                     "presenters": "nobody@example.org"}, follow_redirects=True)
    assert "not found: nobody@example.org" in unknown.text
    assert db.session.get(Slot, slot.id).group_id == new_group.id


def test_a_group_cannot_move_release_or_swap_away_a_graded_slot(app) -> None:
    from review.signup.services import (SignupClosed, move_to_open_slot, propose_swap,
                                        release_slot)

    course, groups = second_course(5, (1, 2, 3, 4), code="frz-group")
    run = services.run_assignment(course, None, BEFORE_TERM)
    services.publish_run(run, None, BEFORE_TERM)
    grader = make_member(course, CourseRole.instructor)
    slots = slots_by_week(course)
    graded = slots[(4, "lead")]
    make_staff_score(course, grader, 70, rubric_key="presentation-overview", slot_id=graded.id)
    group = db.session.get(Group, graded.group_id)
    member = group.memberships[0].user
    now = BEFORE_TERM + timedelta(days=1)
    set_signup(course, mode="first_come")
    with pytest.raises(SignupClosed, match="already been held or graded"):
        release_slot(graded, group, member, now)
    set_signup(course, mode="preferences")
    other = next(s for s in slots.values() if s.group_id not in (None, group.id)
                 and s.session_id != graded.session_id
                 and group.id not in {x.group_id for x in s.session.slots})
    with pytest.raises(SignupClosed, match="already been held or graded"):
        propose_swap(graded, other, group, member, now)
    graded.group_id = None
    db.session.flush()
    with pytest.raises(SignupClosed, match="already been held or graded"):
        move_to_open_slot(next(s for s in slots.values() if s.group_id == group.id), graded,
                          group, member, now)
