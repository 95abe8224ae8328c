"""Mail to the people an action affects: feedback released, regrade answered, slots changed,
swaps proposed and decided. In a course of its own in America/Chicago whose weeks straddle the
end of daylight saving time (Sunday 1 November 2026), against a real SMTP server; every mail
leaves through the job queue after its action commits."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update

from models import (AssignmentRun, CourseRole, OutboxMessage, PaperSession, PresentationRole, Slot,
                    Week, db)
from review.assignment import services as assignment
from review.grading import services as grading
from review.groups import services as grouping
from review.signup import services as signup
from tests.factories import (hold_slot, make_course, make_group, make_member, make_staff_score,
                             make_submitted_review, set_signup)
from tests.smtp import html_text, plain_text

BASE = "https://review.example.edu"
# Week 2 meets Mon 19 Oct, week 3 Mon 26 Oct (CDT, UTC-5), week 4 Mon 2 Nov (CST, UTC-6).
BEFORE_TERM = datetime(2026, 10, 1, tzinfo=timezone.utc)
AFTER_WEEK_3 = datetime(2026, 10, 27, 18, 0, tzinfo=timezone.utc)
OPEN = {"mode": "preferences", "opens_at": "2020-01-01T00:00:00",
        "closes_at": "2099-01-01T00:00:00"}


@pytest.fixture
def app_config(smtp) -> dict[str, Any]:
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp[1], "PUBLIC_BASE_URL": BASE}


@pytest.fixture
def world(app) -> dict[str, Any]:
    course = make_course("notify-course", timezone="America/Chicago",
                         first_monday=date(2026, 10, 12), weeks=6, session_weeks=(2, 3, 4),
                         signup=OPEN)
    people = {"instructor": make_member(course, CourseRole.instructor, first_name="Ina"),
              "ta": make_member(course, CourseRole.ta, first_name="Tom")}
    for name in ("a1", "a2", "b1", "b2", "c1", "d1"):
        people[name] = make_member(course, first_name=name.upper())
    groups = {"alpha": make_group(course, [people["a1"], people["a2"]], name="Alpha"),
              "beta": make_group(course, [people["b1"], people["b2"]], name="Beta"),
              "gamma": make_group(course, [people["c1"]], name="Gamma")}
    db.session.commit()
    return {"course": course, **people, **groups}


def session_of(course, week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == week))


def recipients(inbox) -> list[str]:
    return sorted(message["To"] for message in inbox.messages)


def emails(world: dict[str, Any], *names: str) -> list[str]:
    return sorted(world[name].email for name in names)


def text_to(inbox, user) -> str:
    (message,) = [m for m in inbox.messages if m["To"] == user.email]
    return plain_text(message).replace("\r\n", "\n")


# ---------------------------------------------------------------------------- feedback


@pytest.fixture
def graded(world: dict[str, Any]) -> dict[str, Any]:
    """Week 3 held: Alpha's overview scored, Beta's strengths not; a1's and d1's reviews
    scored, b1's not; c1 scored for participation."""
    course, ina = world["course"], world["instructor"]
    alpha = hold_slot(course, world["alpha"], 3, "overview")
    beta = hold_slot(course, world["beta"], 3, "strengths")
    make_staff_score(course, ina, 80, rubric_key="presentation-overview", slot_id=alpha.id)
    reviews = {name: make_submitted_review(course, world[name], 3) for name in ("a1", "b1", "d1")}
    for name in ("a1", "d1"):
        make_staff_score(course, ina, 70, rubric_key="review", review_id=reviews[name].id)
    make_staff_score(course, ina, 90, rubric_key="participation",
                     session_id=session_of(course, 3).id, student_id=world["c1"].id)
    db.session.commit()
    return {**world, "alpha_slot": alpha, "beta_slot": beta, "reviews": reviews}


def release(world: dict[str, Any], **kwargs: Any) -> None:
    grading.release_session(world["course"], world["instructor"], session_of(world["course"], 3),
                            AFTER_WEEK_3, confirmed=True, **kwargs)
    db.session.commit()


def test_releasing_a_session_mails_each_student_with_feedback_in_it_once(smtp, graded) -> None:
    inbox, _ = smtp
    release(graded)
    assert recipients(inbox) == emails(graded, "a1", "a2", "c1", "d1")
    a1 = text_to(inbox, graded["a1"])
    # One mail naming both of a1's items, not one per item.
    assert "your group's presentation (Overview)" in a1 and "your review" in a1
    assert "week 3 in Course notify-course" in a1 and "Paper of week 3" in a1
    assert f"{BASE}/c/notify-course/feedback" in a1
    assert f'href="{BASE}/c/notify-course/feedback"' in html_text(inbox.messages[0])
    assert "your participation" in text_to(inbox, graded["c1"])
    assert "presentation" not in text_to(inbox, graded["d1"])
    assert all(m["Subject"] == "Course notify-course: feedback of week 3 released"
               for m in inbox.messages)


def test_re_releasing_or_withdrawing_a_session_mails_nobody(smtp, graded) -> None:
    inbox, _ = smtp
    release(graded)
    assert len(inbox.messages) == 4
    release(graded)
    release(graded, release=False)
    assert len(inbox.messages) == 4
    # Withdrawn feedback that comes back is news again.
    release(graded)
    assert len(inbox.messages) == 8


def test_items_released_one_by_one_are_not_named_again_by_the_session_release(
        smtp, graded) -> None:
    inbox, _ = smtp
    course, ina = graded["course"], graded["instructor"]
    grading.release_item(course, ina, grading.review_item(course, graded["reviews"]["d1"].id),
                         AFTER_WEEK_3)
    db.session.commit()
    assert recipients(inbox) == emails(graded, "d1")
    assert (f"{BASE}/c/notify-course/feedback/reviews/{graded['reviews']['d1'].id}"
            in text_to(inbox, graded["d1"]))
    inbox.messages.clear()
    release(graded)
    assert recipients(inbox) == emails(graded, "a1", "a2", "c1")


def test_releasing_a_presentation_mails_its_presenters_once(smtp, graded) -> None:
    inbox, _ = smtp
    course, ina, slot = graded["course"], graded["instructor"], graded["alpha_slot"]
    item = grading.presentation_item(course, slot.id)
    grading.release_item(course, ina, item, AFTER_WEEK_3)
    db.session.commit()
    assert recipients(inbox) == emails(graded, "a1", "a2")
    assert (f"{BASE}/c/notify-course/feedback/presentations/{slot.id}"
            in text_to(inbox, graded["a2"]))
    grading.release_item(course, ina, item, AFTER_WEEK_3)              # already released
    grading.release_item(course, ina, item, AFTER_WEEK_3, release=False)
    # Nothing to read yet: an unscored presentation's release says nothing.
    grading.release_item(course, ina, grading.presentation_item(course, graded["beta_slot"].id),
                         AFTER_WEEK_3)
    db.session.commit()
    assert len(inbox.messages) == 2


def test_an_item_of_a_released_session_is_not_announced_again(smtp, graded) -> None:
    inbox, _ = smtp
    release(graded)
    assert emails(graded, "a1")[0] in recipients(inbox)
    inbox.messages.clear()
    course = graded["course"]
    grading.release_item(course, graded["instructor"],
                         grading.review_item(course, graded["reviews"]["a1"].id), AFTER_WEEK_3)
    db.session.commit()
    assert inbox.messages == []


# ---------------------------------------------------------------------------- regrades


def test_an_answered_regrade_mails_only_the_requester_with_its_scope(smtp, graded) -> None:
    inbox, _ = smtp
    course, ina, slot = graded["course"], graded["instructor"], graded["alpha_slot"]
    release(graded)
    inbox.messages.clear()
    request = grading.request_regrade(course, graded["a1"], slot=slot,
                                      reason="We covered the ablations; see slide 9.")
    review_request = grading.request_regrade(course, graded["d1"],
                                             review=graded["reviews"]["d1"],
                                             reason="My summary does cover the method.")
    db.session.commit()
    assert inbox.messages == []                              # asking mails no student
    grading.resolve_regrade(course, ina, request, outcome="changed",
                            reply="Right, slide 9 covers it: +1.", now=AFTER_WEEK_3)
    db.session.commit()
    assert recipients(inbox) == emails(graded, "a1")
    text = text_to(inbox, graded["a1"])
    assert "the grade was changed" in text and "Right, slide 9 covers it: +1." in text
    # The grade is the group's: the mail says who shares it.
    assert graded["a2"].full_name in text and graded["a1"].full_name not in text
    assert f"{BASE}/c/notify-course/feedback/presentations/{slot.id}" in text
    inbox.messages.clear()
    grading.resolve_regrade(course, ina, review_request, outcome="kept", reply="It stands.",
                            now=AFTER_WEEK_3)
    db.session.commit()
    text = text_to(inbox, graded["d1"])
    assert "the grade stays as it was" in text and "presented it" not in text


# ---------------------------------------------------------------------------- slots


def holdings(course) -> dict[int, set[int]]:
    held: dict[int, set[int]] = {}
    for slot_id, group_id in db.session.execute(
            select(Slot.id, Slot.group_id).join(PaperSession)
            .where(PaperSession.course_id == course.id, Slot.group_id.is_not(None))).tuples():
        held.setdefault(group_id, set()).add(slot_id)
    return held


def members(world: dict[str, Any], *groups: str) -> list[str]:
    names = {"alpha": ("a1", "a2"), "beta": ("b1", "b2"), "gamma": ("c1",)}
    return emails(world, *[name for group in groups for name in names[group]])


def test_publishing_mails_every_member_of_each_group_whose_slots_changed(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    run = assignment.run_assignment(course, None, BEFORE_TERM)
    assignment.publish_run(run, world["instructor"], BEFORE_TERM)
    db.session.commit()
    held = holdings(course)
    assert set(held) == {world[g].id for g in ("alpha", "beta", "gamma")}
    assert recipients(inbox) == members(world, "alpha", "beta", "gamma")
    text = text_to(inbox, world["c1"])
    assert "the slot assignment (run #" in text and f"{BASE}/c/notify-course/signup" in text
    # Local times, each on its side of the DST change.
    for slot in db.session.scalars(select(Slot).where(Slot.id.in_(held[world["gamma"].id]))):
        week = slot.session.week.number
        local = {2: "Mon 19 Oct 2026, 08:30 CDT", 3: "Mon 26 Oct 2026, 08:30 CDT",
                 4: "Mon 02 Nov 2026, 08:30 CST"}[week]
        assert f"{slot.role.name} in week {week}" in text and local in text

    # The same assignment again changes nothing and mails nobody.
    inbox.messages.clear()
    again = assignment.run_assignment(course, None, BEFORE_TERM)
    assert assignment.publish_run(again, world["instructor"], BEFORE_TERM) == 0
    db.session.commit()
    assert inbox.messages == []


def test_a_publication_that_moves_two_groups_mails_only_their_members(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    assignment.publish_run(assignment.run_assignment(course, None, BEFORE_TERM), None,
                           BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    run = assignment.run_assignment(course, None, BEFORE_TERM)
    # A run whose result differs in one week: two groups there trade roles.
    items = [dict(item) for item in run.result["assignments"]]
    week = next(w for w in (2, 3, 4) if len({i["group"] for i in items if i["week"] == w}) >= 2)
    first, second = [i for i in items if i["week"] == week][:2]
    first["group"], second["group"] = second["group"], first["group"]
    run.result = {**run.result, "assignments": items}
    db.session.flush()
    before = holdings(course)
    assert assignment.publish_run(run, None, BEFORE_TERM) == 2
    db.session.commit()
    after = holdings(course)
    moved = sorted(name for name in ("alpha", "beta", "gamma")
                   if before.get(world[name].id) != after.get(world[name].id))
    assert moved == sorted(g.lower() for g in (first["group"], second["group"]))
    assert recipients(inbox) == members(world, *moved)
    text = plain_text(inbox.messages[0])
    assert "New:" in text and "No longer yours:" in text and "Your group presents now:" in text


def test_staff_setting_a_holder_mails_the_group_that_lost_it_and_the_one_that_got_it(
        smtp, world) -> None:
    inbox, _ = smtp
    course, ina = world["course"], world["instructor"]
    slot = hold_slot(course, world["alpha"], 4, "weaknesses")
    db.session.commit()
    signup.assign_slot_by_staff(slot, world["beta"], ina, "Alpha is away that week",
                                BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "alpha", "beta")
    beta = text_to(inbox, world["b1"])
    assert "the course staff changed them" in beta
    assert "New:\n\n- Weaknesses in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST" in beta
    assert "No longer yours" not in beta
    alpha = text_to(inbox, world["a1"])
    assert "No longer yours:" in alpha and "Your group holds no slot now." in alpha
    # The staff's reason is for the audit log, not for the students.
    assert "away" not in alpha
    inbox.messages.clear()
    signup.assign_slot_by_staff(slot, None, ina, "Freed", BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "beta")


def test_a_staff_swap_mails_both_groups_and_a_swap_within_one_group_mails_nobody(
        smtp, world) -> None:
    inbox, _ = smtp
    course, ina = world["course"], world["instructor"]
    a = hold_slot(course, world["alpha"], 3, "overview")
    b = hold_slot(course, world["gamma"], 4, "strengths")
    own = hold_slot(course, world["alpha"], 2, "overview")
    open_slot = db.session.scalar(select(Slot).join(PaperSession).join(Week).join(
        PresentationRole, Slot.role_id == PresentationRole.id).where(
        PaperSession.course_id == course.id, Week.number == 2, PresentationRole.key == "strengths"))
    db.session.commit()
    signup.swap_slots_by_staff(a, b, ina, "Timetable clash", BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "alpha", "gamma")
    text = text_to(inbox, world["c1"])
    assert "New:\n\n- Overview in week 3" in text and "No longer yours:\n\n- Strengths in week 4" in text
    inbox.messages.clear()
    # Alpha moves from one role of week 2 to another: a change, though it holds as many slots.
    signup.swap_slots_by_staff(own, open_slot, ina, "Role change", BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "alpha")
    assert "Strengths in week 2" in text_to(inbox, world["a1"])
    inbox.messages.clear()
    # Two slots of Alpha's trade places: Alpha holds the same slots, nobody is told.
    signup.swap_slots_by_staff(open_slot, b, ina, "No-op", BEFORE_TERM)
    db.session.commit()
    assert inbox.messages == []


# ---------------------------------------------------------------------------- swaps


def test_a_swap_proposal_mails_the_other_group_and_its_answer_the_proposers(
        smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    ours = hold_slot(course, world["alpha"], 3, "overview")
    theirs = hold_slot(course, world["beta"], 4, "overview")
    db.session.commit()
    proposal = signup.propose_swap(ours, theirs, world["alpha"], world["a1"], BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "beta")
    text = text_to(inbox, world["b2"])
    assert "group Alpha in Course notify-course proposes to swap" in text
    assert "you would give: Overview in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST" in text
    assert "and get: Overview in week 3 (“Paper of week 3”), Mon 26 Oct 2026, 08:30 CDT" in text
    assert f"{BASE}/c/notify-course/signup#swaps" in text
    inbox.messages.clear()
    signup.decide_swap(proposal, world["b1"], BEFORE_TERM, decision="declined")
    db.session.commit()
    assert recipients(inbox) == members(world, "alpha")
    assert "declined the swap" in text_to(inbox, world["a2"])

    inbox.messages.clear()
    proposal = signup.propose_swap(ours, theirs, world["alpha"], world["a1"], BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    signup.accept_swap(proposal, world["b2"], BEFORE_TERM)
    db.session.commit()
    # The proposers hear of the answer; b2's group-mate of the slot change b2 made.
    assert recipients(inbox) == sorted(members(world, "alpha") + emails(world, "b1"))
    assert "accepted the swap" in text_to(inbox, world["a1"])

    inbox.messages.clear()
    proposal = signup.propose_swap(theirs, ours, world["alpha"], world["a2"], BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    signup.decide_swap(proposal, world["a2"], BEFORE_TERM, decision="withdrawn")
    db.session.commit()
    assert recipients(inbox) == members(world, "beta")
    assert "withdrew its proposal" in text_to(inbox, world["b1"])


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": BASE}])
def test_without_a_mail_server_nothing_is_queued(world) -> None:
    course = world["course"]
    assignment.publish_run(assignment.run_assignment(course, None, BEFORE_TERM), None,
                           BEFORE_TERM)
    db.session.commit()
    assert holdings(course)
    assert db.session.scalar(select(OutboxMessage.id)) is None


# ---------------------------------------------------------------------------- query counts


def selects_to_notify(notify: Any) -> int:
    from tests.querycount import count_queries

    with count_queries() as counter:
        queued = notify()
    assert queued > 0
    return sum(1 for statement in counter.statements if statement.lstrip().startswith("SELECT"))


@pytest.mark.parametrize("app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 1,
                                         "PUBLIC_BASE_URL": BASE}])
def test_the_queries_to_notify_do_not_grow_with_the_number_of_groups_or_students(app) -> None:
    from review.notifications import events

    counts = []
    for size in (2, 8):
        course = make_course(f"count-{size}", timezone="America/Chicago",
                             first_monday=date(2026, 10, 12), session_weeks=tuple(range(1, 1 + size)),
                             weeks=size + 1)
        ina = make_member(course, CourseRole.instructor)
        before = {}
        for index in range(size):
            students = [make_member(course) for _ in range(2)]
            group = make_group(course, students)
            slot = hold_slot(course, group, 1 + index, "overview")
            before[slot.id] = None
            make_staff_score(course, ina, 50, rubric_key="presentation-overview", slot_id=slot.id)
            review = make_submitted_review(course, students[0], 1)
            make_staff_score(course, ina, 50, rubric_key="review", review_id=review.id)
        db.session.flush()
        counts.append((selects_to_notify(lambda: events.slots_changed(course, before, cause="x")),
                       selects_to_notify(lambda: events.session_feedback_released(
                           course, session_of(course, 1)))))
        db.session.rollback()
    assert counts[0] == counts[1]


# ---------------------------------------------------------------------------- slots a group changes


def slot_at(course, week: int, role_key: str) -> Slot:
    return db.session.scalar(select(Slot).join(PaperSession).join(Week).join(
        PresentationRole, Slot.role_id == PresentationRole.id).where(
        PaperSession.course_id == course.id, Week.number == week, PresentationRole.key == role_key))


@pytest.fixture
def board(world: dict[str, Any]) -> dict[str, Any]:
    """The same course with first-come sign-up open."""
    set_signup(world["course"], mode="first_come", opens_at=datetime(2020, 1, 1),
               closes_at=datetime(2099, 1, 1))
    db.session.commit()
    return world


def test_a_claim_or_release_by_a_member_mails_the_other_members_naming_who_did_it(
        smtp, board) -> None:
    inbox, _ = smtp
    course = board["course"]
    week_3, week_4 = slot_at(course, 3, "overview"), slot_at(course, 4, "strengths")
    signup.claim_slot(week_4, board["alpha"], board["a1"], BEFORE_TERM)
    db.session.commit()
    # a1 claimed it on the board and saw it there; a2 is told, and by whom.
    assert recipients(inbox) == emails(board, "a2")
    text = text_to(inbox, board["a2"])
    assert f"{board['a1'].full_name} claimed a slot on the sign-up board" in text
    assert "New:\n\n- Strengths in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST" in text
    inbox.messages.clear()
    signup.claim_slot(week_3, board["alpha"], board["a2"], BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == emails(board, "a1")
    text = text_to(inbox, board["a1"])
    assert "New:\n\n- Overview in week 3 (“Paper of week 3”), Mon 26 Oct 2026, 08:30 CDT" in text
    assert "Your group presents now:\n\n- Overview in week 3" in text
    assert "- Strengths in week 4" in text.split("Your group presents now:")[1]
    inbox.messages.clear()
    result = signup.release_slot(week_4, board["alpha"], board["a2"], BEFORE_TERM)
    signup.send_notices(result.notices)
    db.session.commit()
    assert recipients(inbox) == emails(board, "a1")
    text = text_to(inbox, board["a1"])
    assert f"{board['a2'].full_name} released a slot on the sign-up board" in text
    assert ("No longer yours:\n\n- Strengths in week 4 (“Paper of week 4”), "
            "Mon 02 Nov 2026, 08:30 CST") in text


def test_a_release_that_promotes_a_waiting_group_mails_each_group_once(smtp, board) -> None:
    inbox, _ = smtp
    course = board["course"]
    slot = slot_at(course, 4, "overview")
    signup.claim_slot(slot, board["alpha"], board["a1"], BEFORE_TERM)
    signup.join_waitlist(slot, board["beta"], board["b1"], BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    result = signup.release_slot(slot, board["alpha"], board["a1"], BEFORE_TERM)
    signup.send_notices(result.notices)
    db.session.commit()
    assert result.promoted is not None and result.promoted.id == board["beta"].id
    # Alpha's other member hears of the release; Beta only of its promotion (its own mail).
    assert recipients(inbox) == emails(board, "a2", "b1", "b2")
    assert "released a slot" in text_to(inbox, board["a2"])
    assert "came free and is now yours" in text_to(inbox, board["b2"])


def test_a_refused_claim_mails_nobody(smtp, board) -> None:
    inbox, _ = smtp
    course = board["course"]
    held = slot_at(course, 3, "overview")
    signup.claim_slot(held, board["alpha"], board["a1"], BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    queued = db.session.scalar(select(func.count(OutboxMessage.id)))
    # A second role of the same paper: refused by the rules.
    with pytest.raises(signup.SamePaper):
        signup.claim_slot(slot_at(course, 3, "strengths"), board["alpha"], board["a2"],
                          BEFORE_TERM)
    # Nothing queued even before the caller rolls back.
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == queued
    db.session.rollback()
    # A lost race: the page still showed the slot open when another group's claim committed.
    contested = slot_at(course, 4, "overview")
    db.session.execute(update(Slot).where(Slot.id == contested.id).values(
        group_id=board["beta"].id).execution_options(synchronize_session=False))
    with pytest.raises(signup.SlotTaken):
        signup.claim_slot(contested, board["alpha"], board["a2"], BEFORE_TERM)
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == queued
    db.session.rollback()
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == queued
    assert inbox.messages == []


def test_a_move_to_an_open_slot_mails_the_other_members(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    db.session.add(AssignmentRun(course_id=course.id, status="optimal", published_at=BEFORE_TERM))
    mine = hold_slot(course, world["alpha"], 3, "overview")
    db.session.commit()
    signup.move_to_open_slot(mine, slot_at(course, 4, "weaknesses"), world["alpha"], world["a2"],
                             BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == emails(world, "a1")
    text = text_to(inbox, world["a1"])
    assert f"{world['a2'].full_name} moved to an open slot on the sign-up board" in text
    assert "New:\n\n- Weaknesses in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST" in text
    assert ("No longer yours:\n\n- Overview in week 3 (“Paper of week 3”), "
            "Mon 26 Oct 2026, 08:30 CDT") in text


def test_an_accepted_swap_mails_each_group_once(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    ours = hold_slot(course, world["alpha"], 3, "overview")
    theirs = hold_slot(course, world["beta"], 4, "overview")
    db.session.commit()
    proposal = signup.propose_swap(ours, theirs, world["alpha"], world["a1"], BEFORE_TERM)
    db.session.commit()
    inbox.messages.clear()
    signup.accept_swap(proposal, world["b2"], BEFORE_TERM)
    db.session.commit()
    # The proposers hear of the answer (it names the slots they now hold), the accepting group's
    # other member of the slot change; nobody twice, and not b2, who accepted.
    assert recipients(inbox) == emails(world, "a1", "a2", "b1")
    assert "accepted the swap" in text_to(inbox, world["a1"])
    text = text_to(inbox, world["b1"])
    assert f"{world['b2'].full_name} accepted the swap proposed by group Alpha" in text
    assert "New:\n\n- Overview in week 3 (“Paper of week 3”), Mon 26 Oct 2026, 08:30 CDT" in text


def test_dissolving_a_group_mails_its_members_the_slots_opened(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    hold_slot(course, world["alpha"], 3, "overview")
    hold_slot(course, world["alpha"], 4, "strengths")
    db.session.commit()
    grouping.dissolve_group(course, world["alpha"], world["instructor"], now=BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "alpha")
    text = text_to(inbox, world["a2"])
    assert "the group was dissolved, so its slots still ahead are open again" in text
    assert ("No longer yours:\n\n- Overview in week 3 (“Paper of week 3”), Mon 26 Oct 2026, "
            "08:30 CDT\n- Strengths in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST"
            in text)
    assert "Your group holds no slot now." in text
    # A group without slots is dissolved without mail.
    inbox.messages.clear()
    grouping.dissolve_group(course, world["gamma"], world["instructor"], now=BEFORE_TERM)
    db.session.commit()
    assert inbox.messages == []


def test_a_merge_mails_every_member_of_the_merged_group_once(smtp, world) -> None:
    inbox, _ = smtp
    course = world["course"]
    hold_slot(course, world["beta"], 3, "overview")
    hold_slot(course, world["gamma"], 3, "strengths")
    hold_slot(course, world["gamma"], 4, "overview")
    db.session.commit()
    grouping.merge_groups(course, world["beta"], world["gamma"], world["instructor"],
                        now=BEFORE_TERM)
    db.session.commit()
    assert recipients(inbox) == members(world, "beta", "gamma")
    text = text_to(inbox, world["c1"])
    assert "the course staff merged group Gamma into Beta" in text
    assert "New:\n\n- Overview in week 4 (“Paper of week 4”), Mon 02 Nov 2026, 08:30 CST" in text
    # Beta already presents week 3: Gamma's role there is open again.
    assert "No longer yours:\n\n- Strengths in week 3" in text
    assert "Your group presents now:\n\n- Overview in week 3" in text
    assert text_to(inbox, world["b1"]) == text.replace("Hello C1", "Hello B1")


@pytest.mark.parametrize("app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 1,
                                         "PUBLIC_BASE_URL": BASE}])
def test_the_queries_of_a_claim_do_not_grow_with_the_size_of_the_group(app) -> None:
    from tests.querycount import count_queries

    counts = []
    for size in (2, 6):
        course = make_course(f"claim-{size}", timezone="America/Chicago",
                             first_monday=date(2026, 10, 12), weeks=6, session_weeks=(2, 3, 4),
                             groups={"min_size": 1, "max_size": 6})
        set_signup(course, mode="first_come", opens_at=datetime(2020, 1, 1),
                   closes_at=datetime(2099, 1, 1))
        students = [make_member(course) for _ in range(size)]
        group = make_group(course, students)
        slot = slot_at(course, 4, "overview")
        db.session.flush()
        with count_queries() as counter:
            signup.claim_slot(slot, group, students[0], BEFORE_TERM)
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.course_id == course.id)) == size - 1
        counts.append(sum(1 for statement in counter.statements
                          if statement.lstrip().startswith("SELECT")))
        db.session.rollback()
    assert counts[0] == counts[1]
