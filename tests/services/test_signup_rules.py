"""Sign-up rules against the database: each rule of first come first served, its own test."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from models import AssignmentRun, AuditEntry, CourseRole, Slot, SlotWaitlist, db
from review.signup import services
from review.signup.services import (DropDeadlinePassed, GapTooSmall, NotAMember, NotYourSlot,
                                    QuotaReached, SamePaper, SignupClosed, SlotTaken, StaleForm,
                                    WrongCourse, WrongMode)
from tests.factories import make_course, make_group, make_member, set_signup

NOW = datetime(2026, 9, 5, 12, 0, tzinfo=timezone.utc)
OPEN = dict(mode="first_come", opens_at=datetime(2026, 9, 1), closes_at=datetime(2026, 9, 15),
            drop_deadline=datetime(2026, 9, 14))


@pytest.fixture
def world(app):
    course = make_course()
    set_signup(course, **OPEN)
    students = [make_member(course) for _ in range(6)]
    groups = [make_group(course, students[i:i + 2], name=f"G{i // 2}") for i in range(0, 6, 2)]
    db.session.commit()
    return course, students, groups


def slot(course, week_index: int, role_index: int = 0) -> Slot:
    session = course.sessions[week_index]
    return sorted(session.slots, key=lambda s: s.role.position)[role_index]


def holder(slot_id: int):
    db.session.expire_all()
    return db.session.get(Slot, slot_id).group_id


def test_rules_convert_local_times_to_utc_and_derive_the_quota(world) -> None:
    course, _, _ = world
    rules = services.signup_rules(course)
    # Europe/Istanbul is UTC+3: midnight local is 21:00 UTC the day before.
    assert rules.opens_at == datetime(2026, 8, 31, 21, 0, tzinfo=timezone.utc)
    assert rules.mode == "first_come"
    # 4 sessions x 3 roles = 12 slots over 3 groups.
    assert rules.quota == 4 and rules.quota_derived
    set_signup(course, quota=2)
    assert services.signup_rules(course).quota == 2


def test_a_member_claims_an_open_slot_and_it_is_audited(world) -> None:
    course, students, groups = world
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    db.session.commit()
    assert holder(target.id) == groups[0].id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.category == "slot"))
    assert entry.action == "claim" and entry.actor_id == students[0].id
    assert entry.new["group"] == "G0"


@pytest.mark.parametrize("when", [datetime(2026, 8, 30, tzinfo=timezone.utc),
                                  datetime(2026, 9, 16, tzinfo=timezone.utc)])
def test_claims_outside_the_sign_up_window_are_refused(world, when) -> None:
    course, students, groups = world
    with pytest.raises(SignupClosed):
        services.claim_slot(slot(course, 0), groups[0], students[0], when)
    db.session.rollback()
    assert holder(slot(course, 0).id) is None


def test_no_opening_time_means_closed(world) -> None:
    course, students, groups = world
    set_signup(course, opens_at=None)
    with pytest.raises(SignupClosed, match="no opening time"):
        services.claim_slot(slot(course, 0), groups[0], students[0], NOW)


def test_a_session_that_has_taken_place_cannot_be_claimed(world) -> None:
    course, students, groups = world
    set_signup(course, closes_at=datetime(2026, 12, 31))
    after_first_session = datetime(2026, 9, 22, tzinfo=timezone.utc)
    with pytest.raises(SignupClosed, match="already taken place"):
        services.claim_slot(slot(course, 0), groups[0], students[0], after_first_session)
    services.claim_slot(slot(course, 1), groups[0], students[0], after_first_session)


def test_claims_are_refused_in_preferences_mode(world) -> None:
    course, students, groups = world
    set_signup(course, mode="preferences")
    with pytest.raises(WrongMode):
        services.claim_slot(slot(course, 0), groups[0], students[0], NOW)


def test_only_members_claim_for_their_group(world) -> None:
    course, students, groups = world
    with pytest.raises(NotAMember):
        services.claim_slot(slot(course, 0), groups[0], students[3], NOW)


def test_a_taken_slot_cannot_be_claimed(world) -> None:
    course, students, groups = world
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    db.session.commit()
    with pytest.raises(SlotTaken, match="just taken"):
        services.claim_slot(target, groups[1], students[2], NOW)
    db.session.rollback()
    assert holder(target.id) == groups[0].id


def test_the_conditional_update_decides_even_when_the_loaded_slot_is_stale(world) -> None:
    """The page saw the slot open; another transaction took it; the UPDATE finds no row."""
    course, students, groups = world
    target = slot(course, 0)
    db.session.execute(Slot.__table__.update().where(Slot.id == target.id)
                       .values(group_id=groups[1].id, version=Slot.version + 1))
    # Our in-memory copy still says open: the rule checks pass, the conditional UPDATE does not.
    assert target.group_id is None
    with pytest.raises(SlotTaken):
        services.claim_slot(target, groups[0], students[0], NOW)


def test_a_group_holds_at_most_its_quota(world) -> None:
    course, students, groups = world
    set_signup(course, quota=2)
    services.claim_slot(slot(course, 0), groups[0], students[0], NOW)
    services.claim_slot(slot(course, 1), groups[0], students[0], NOW)
    with pytest.raises(QuotaReached):
        services.claim_slot(slot(course, 2), groups[0], students[0], NOW)


def test_never_two_roles_of_the_same_paper(world) -> None:
    course, students, groups = world
    services.claim_slot(slot(course, 0, 0), groups[0], students[0], NOW)
    with pytest.raises(SamePaper):
        services.claim_slot(slot(course, 0, 1), groups[0], students[0], NOW)


def test_the_database_refuses_two_roles_of_one_paper_even_without_the_check(world) -> None:
    course, students, groups = world
    services.claim_slot(slot(course, 0, 0), groups[0], students[0], NOW)
    with pytest.raises(SamePaper):
        services._set_holder_if(slot(course, 0, 1), expected=None, new=groups[0].id,
                                source="claim", now=NOW)
    db.session.rollback()


def test_slots_respect_the_minimum_gap_in_weeks(world) -> None:
    course, students, groups = world
    set_signup(course, min_gap_weeks=2)
    services.claim_slot(slot(course, 0), groups[0], students[0], NOW)  # week 3
    with pytest.raises(GapTooSmall):
        services.claim_slot(slot(course, 1), groups[0], students[0], NOW)  # week 4
    services.claim_slot(slot(course, 2), groups[0], students[0], NOW)  # week 5: two apart


def test_a_slot_of_another_course_is_refused(world) -> None:
    course, students, groups = world
    other = make_course("other-course")
    with pytest.raises(WrongCourse):
        services.claim_slot(slot(other, 0), groups[0], students[0], NOW)


def test_release_until_the_drop_deadline(world) -> None:
    course, students, groups = world
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    services.release_slot(target, groups[0], students[1], NOW)
    assert holder(target.id) is None
    services.claim_slot(target, groups[0], students[0], NOW)
    late = datetime(2026, 9, 14, 12, tzinfo=timezone.utc)
    with pytest.raises(DropDeadlinePassed):
        services.release_slot(target, groups[0], students[0], late)


def test_only_the_holder_releases(world) -> None:
    course, students, groups = world
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    with pytest.raises(NotYourSlot):
        services.release_slot(target, groups[1], students[2], NOW)


def test_release_hands_the_slot_to_the_first_waiting_group_that_fits(world, monkeypatch,
                                                                     app) -> None:
    course, students, groups = world
    set_signup(course, quota=1)
    target, elsewhere = slot(course, 0), slot(course, 1)
    services.claim_slot(target, groups[0], students[0], NOW)
    services.join_waitlist(target, groups[1], students[2], NOW)
    services.join_waitlist(target, groups[2], students[4], NOW)
    # The first in line takes another slot meanwhile: at its quota, it no longer fits.
    services.claim_slot(elsewhere, groups[1], students[2], NOW)
    db.session.commit()
    sent = []
    app.config["MAIL_SERVER"] = "mail.example.org"
    monkeypatch.setattr("review.mail.send_mail", lambda to, subject, *_: sent.append(to))
    result = services.release_slot(target, groups[0], students[0], NOW)
    # Queued in the release's transaction, sent once it commits.
    assert services.send_notices(result.notices) == 2
    assert sent == []
    db.session.commit()
    assert result.promoted.id == groups[2].id
    assert holder(target.id) == groups[2].id
    # The promoted group's members, and the releasing member's group-mate (the slot mail).
    assert sorted(sent) == sorted([students[4].email, students[5].email, students[1].email])
    remaining = db.session.scalars(select(SlotWaitlist.group_id)).all()
    assert remaining == [groups[1].id]
    assert [e.entity_id for e in services.promotions_for(groups[2], NOW)] == [target.id]
    assert services.promotions_for(groups[1], NOW) == []


def test_no_mail_without_a_mail_server(world, monkeypatch) -> None:
    course, students, groups = world
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    services.join_waitlist(target, groups[1], students[2], NOW)
    monkeypatch.setattr("review.mail.send_mail", lambda *a: pytest.fail("mail sent"))
    result = services.release_slot(target, groups[0], students[0], NOW)
    assert result.promoted.id == groups[1].id
    assert services.send_notices(result.notices) == 0


def test_check_group_may_hold_ignores_the_slot_given_up(world) -> None:
    course, students, groups = world
    set_signup(course, quota=1)
    held = slot(course, 0, 0)
    services.claim_slot(held, groups[0], students[0], NOW)
    with pytest.raises(QuotaReached):
        services.check_group_may_hold(groups[0], slot(course, 1))
    services.check_group_may_hold(groups[0], slot(course, 1), ignoring_slot=held)
    services.check_group_may_hold(groups[0], slot(course, 0, 1), ignoring_slot=held)


def test_stale_version_is_refused(world) -> None:
    course, _, _ = world
    target = slot(course, 0)
    with pytest.raises(StaleForm):
        services.check_version(target, target.version - 1)
    services.check_version(target, target.version)


def test_staff_move_a_slot_by_hand_with_a_reason(world) -> None:
    course, students, groups = world
    ta = make_member(course, CourseRole.ta)
    target = slot(course, 0)
    services.claim_slot(target, groups[0], students[0], NOW)
    services.assign_slot_by_staff(target, groups[1], ta, "illness", NOW)
    db.session.commit()
    assert holder(target.id) == groups[1].id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "staff_assign"))
    assert entry.reason == "illness" and entry.old["group"] == "G0" and entry.new["group"] == "G1"
    with pytest.raises(services.SignupError):
        services.assign_slot_by_staff(target, None, students[0], "mine now", NOW)
    with pytest.raises(services.SignupError, match="reason"):
        services.assign_slot_by_staff(target, None, ta, " ", NOW)


def test_staff_swap_within_one_paper_keeps_the_unique_constraint(world) -> None:
    course, students, groups = world
    instructor = make_member(course, CourseRole.instructor)
    a, b = slot(course, 0, 0), slot(course, 0, 1)
    services.claim_slot(a, groups[0], students[0], NOW)
    services.claim_slot(b, groups[1], students[2], NOW)
    services.swap_slots_by_staff(a, b, instructor, "agreed in class", NOW)
    db.session.commit()
    assert (holder(a.id), holder(b.id)) == (groups[1].id, groups[0].id)


def test_groups_swap_by_agreement_atomically(world) -> None:
    course, students, groups = world
    a, b = slot(course, 0), slot(course, 1)
    services.claim_slot(a, groups[0], students[0], NOW)
    services.claim_slot(b, groups[1], students[2], NOW)
    proposal = services.propose_swap(a, b, groups[0], students[0], NOW)
    with pytest.raises(NotAMember):
        services.accept_swap(proposal, students[1], NOW)  # the proposer cannot accept
    services.accept_swap(proposal, students[3], NOW)
    db.session.commit()
    assert (holder(a.id), holder(b.id)) == (groups[1].id, groups[0].id)
    assert proposal.status == "accepted"


def test_a_swap_proposal_goes_void_when_the_slots_changed(world) -> None:
    course, students, groups = world
    ta = make_member(course, CourseRole.ta)
    a, b = slot(course, 0), slot(course, 1)
    services.claim_slot(a, groups[0], students[0], NOW)
    services.claim_slot(b, groups[1], students[2], NOW)
    proposal = services.propose_swap(a, b, groups[0], students[0], NOW)
    services.assign_slot_by_staff(b, groups[2], ta, "moved", NOW)
    db.session.commit()
    db.session.refresh(proposal)
    assert proposal.status == "void"
    with pytest.raises(StaleForm):
        services.accept_swap(proposal, students[3], NOW)


def test_after_publication_a_group_moves_to_an_open_slot_within_the_rules(world) -> None:
    course, students, groups = world
    ta = make_member(course, CourseRole.ta)
    set_signup(course, mode="preferences", quota=2, min_gap_weeks=2)
    a = slot(course, 0)
    services.assign_slot_by_staff(a, groups[0], ta, "assignment", NOW)
    services.assign_slot_by_staff(slot(course, 2), groups[0], ta, "assignment", NOW)
    with pytest.raises(WrongMode):
        services.move_to_open_slot(a, slot(course, 1), groups[0], students[0], NOW)
    db.session.add(AssignmentRun(course_id=course.id, status="optimal", published_at=NOW))
    db.session.flush()
    with pytest.raises(GapTooSmall):  # week 4 is one week from week 5
        services.move_to_open_slot(a, slot(course, 1), groups[0], students[0], NOW)
    services.move_to_open_slot(a, slot(course, 0, 1), groups[0], students[0], NOW)
    db.session.commit()
    assert holder(a.id) is None and holder(slot(course, 0, 1).id) == groups[0].id


def test_settings_are_validated_stored_and_audited(world) -> None:
    course, _, _ = world
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    with pytest.raises(services.SettingsInvalid, match="closes_at"):
        services.update_signup_settings(course, {"closes_at": datetime(2026, 8, 1)}, instructor)
    with pytest.raises(services.SettingsInvalid, match="quota"):
        services.update_signup_settings(course, {"quota": 0}, instructor)
    db.session.rollback()
    services.update_signup_settings(course, {"mode": "preferences", "quota": 3,
                                             "min_gap_weeks": 1}, instructor)
    db.session.commit()
    db.session.expire_all()
    rules = services.signup_rules(course)
    assert (rules.mode, rules.quota, rules.min_gap_weeks) == ("preferences", 3, 1)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.category == "signup"))
    assert entry.old["mode"] == "first_come" and entry.new["quota"] == 3


def test_swap_proposals_can_be_declined_or_withdrawn_only_by_the_right_group(world) -> None:
    course, students, groups = world
    a, b = slot(course, 0), slot(course, 1)
    services.claim_slot(a, groups[0], students[0], NOW)
    services.claim_slot(b, groups[1], students[2], NOW)
    first = services.propose_swap(a, b, groups[0], students[0], NOW)
    with pytest.raises(NotAMember):
        services.decide_swap(first, students[0], NOW, decision="declined")
    services.decide_swap(first, students[2], NOW, decision="declined")
    assert first.status == "declined"
    second = services.propose_swap(a, b, groups[0], students[1], NOW)
    with pytest.raises(NotAMember):
        services.decide_swap(second, students[2], NOW, decision="withdrawn")
    services.decide_swap(second, students[0], NOW, decision="withdrawn")
    with pytest.raises(StaleForm):
        services.accept_swap(second, students[2], NOW)
    assert (holder(a.id), holder(b.id)) == (groups[0].id, groups[1].id)


def test_a_swap_that_would_break_a_rule_is_refused(world) -> None:
    course, students, groups = world
    a, b, c = slot(course, 0, 0), slot(course, 1, 0), slot(course, 1, 1)
    services.claim_slot(a, groups[0], students[0], NOW)
    services.claim_slot(c, groups[0], students[0], NOW)
    services.claim_slot(b, groups[1], students[2], NOW)
    # Alpha already presents week 4's paper (c); taking b too would be two roles of one paper.
    with pytest.raises(SamePaper):
        services.propose_swap(a, b, groups[0], students[0], NOW)
