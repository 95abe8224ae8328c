"""Each notifying action through its page, with the embedded job queue a worker drains: with a
real SMTP server the right people get the mail, its links on the public base URL (not the
request's host); with the mail server down the page still answers, the action is saved and the
course outbox shows the failed mail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from models import (AssignmentRun, CourseRole, OutboxMessage, OutboxStatus, PaperSession,
                    PresentationRole, RegradeRequest, Slot, SwapProposal, Week, db, utcnow)
from review.assignment import services as assignment
from review.jobs import jobs, run_due_jobs
from tests.factories import (hold_slot, make_course, make_group, make_member, make_staff_score,
                             make_submitted_review, set_signup)
from tests.smtp import Inbox, free_port, html_text, plain_text

BASE = "https://review.example.edu"
CODE = "notify-web"


@pytest.fixture
def mail_port() -> int:
    return free_port()


@pytest.fixture
def app_config(mail_port: int, tmp_path) -> dict[str, Any]:
    # Nothing listens on the port unless the test starts a server there.
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": mail_port, "JOBS_MAIL_ATTEMPTS": 1,
            "JOBS_MAIL_RETRY_DELAY": 0, "PUBLIC_BASE_URL": BASE, "JOBS_BACKEND": "sqlite",
            "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite")}


@pytest.fixture
def world(app) -> dict[str, Any]:
    # The pages act at the real time: the term starts in four weeks, whatever day this runs.
    today = date.today()
    first_monday = today + timedelta(days=28 - today.weekday())
    course = make_course(CODE, timezone="America/Chicago", first_monday=first_monday,
                         session_weeks=(2, 3, 4),
                         signup={"mode": "preferences", "opens_at": "2020-01-01T00:00:00",
                                 "closes_at": "2099-01-01T00:00:00"})
    people = {"instructor": make_member(course, CourseRole.instructor)}
    for name in ("a1", "a2", "b1", "b2", "c1"):
        people[name] = make_member(course)
    groups = {"alpha": make_group(course, [people["a1"], people["a2"]], name="Alpha"),
              "beta": make_group(course, [people["b1"], people["b2"]], name="Beta"),
              "gamma": make_group(course, [people["c1"]], name="Gamma")}
    db.session.commit()
    return {"course": course, **people, **groups}


def session_of(world: dict[str, Any], week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == world["course"].id, Week.number == week))


@dataclass
class Action:
    """One notifying action: who posts what where, how to see it was saved, who is mailed."""

    actor: str
    url: str
    data: dict[str, Any]
    saved: Callable[[], bool]
    to: tuple[str, ...]


def _feedback(world: dict[str, Any]) -> Action:
    review = make_submitted_review(world["course"], world["c1"], 3)
    make_staff_score(world["course"], world["instructor"], 70, rubric_key="review",
                     review_id=review.id)
    session = session_of(world, 3)
    return Action("instructor", f"/c/{CODE}/grading/sessions/{session.id}/release",
                  {"action": "release", "confirm": "1"},
                  lambda: session_of(world, 3).feedback_released_at is not None, ("c1",))


def _regrade(world: dict[str, Any]) -> Action:
    review = make_submitted_review(world["course"], world["c1"], 3)
    make_staff_score(world["course"], world["instructor"], 70, rubric_key="review",
                     review_id=review.id)
    review.feedback_released_at = utcnow()
    request = RegradeRequest(course_id=world["course"].id, user_id=world["c1"].id,
                             review_id=review.id, reason="My summary covers the method.")
    db.session.add(request)
    db.session.flush()
    return Action("instructor", f"/c/{CODE}/grading/regrades/{request.id}",
                  {"outcome": "kept", "reply": "It stands: see the rubric."},
                  lambda: db.session.get(RegradeRequest, request.id).status == "kept", ("c1",))


def _publish(world: dict[str, Any]) -> Action:
    run = assignment.run_assignment(world["course"], None, utcnow())
    return Action("instructor", f"/c/{CODE}/assignment/runs/{run.id}/publish", {},
                  lambda: db.session.get(AssignmentRun, run.id).published_at is not None,
                  ("a1", "a2", "b1", "b2", "c1"))


def _staff_assign(world: dict[str, Any]) -> Action:
    slot = hold_slot(world["course"], world["alpha"], 4, "overview")
    return Action("instructor", f"/c/{CODE}/signup/slots/{slot.id}/assign",
                  {"group": world["beta"].id, "reason": "Alpha asked", "confirm": "1"},
                  lambda: db.session.get(Slot, slot.id).group_id == world["beta"].id,
                  ("a1", "a2", "b1", "b2"))


def _staff_swap(world: dict[str, Any], *, holders: tuple[str, str] = ("alpha", "beta"),
                to: tuple[str, ...] = ("a1", "a2", "b1", "b2")) -> Action:
    a = hold_slot(world["course"], world[holders[0]], 3, "overview")
    b = hold_slot(world["course"], world[holders[1]], 4, "strengths")
    return Action("instructor", f"/c/{CODE}/signup/staff-swap",
                  {"slot_a": a.id, "slot_b": b.id, "reason": "Timetable clash"},
                  lambda: db.session.get(Slot, a.id).source == "manual", to)


def _swap_slots(world: dict[str, Any]) -> tuple[Slot, Slot]:
    return (hold_slot(world["course"], world["alpha"], 3, "overview"),
            hold_slot(world["course"], world["beta"], 4, "overview"))


def _propose(world: dict[str, Any]) -> Action:
    ours, theirs = _swap_slots(world)
    return Action("a1", f"/c/{CODE}/signup/swaps", {"from_slot": ours.id, "to_slot": theirs.id},
                  lambda: db.session.scalar(select(SwapProposal.status)) == "pending",
                  ("b1", "b2"))


def _accept(world: dict[str, Any]) -> Action:
    ours, theirs = _swap_slots(world)
    proposal = SwapProposal(course_id=world["course"].id, from_slot_id=ours.id,
                            to_slot_id=theirs.id, proposer_group_id=world["alpha"].id,
                            target_group_id=world["beta"].id)
    db.session.add(proposal)
    db.session.flush()
    # The proposers hear the answer; b2's group-mate that b2 changed their slots.
    return Action("b2", f"/c/{CODE}/signup/swaps/{proposal.id}/accept", {},
                  lambda: db.session.get(Slot, ours.id).group_id == world["beta"].id,
                  ("a1", "a2", "b1"))


def _slot_at(world: dict[str, Any], week: int, role_key: str) -> Slot:
    return db.session.scalar(select(Slot).join(PaperSession).join(Week).join(
        PresentationRole, Slot.role_id == PresentationRole.id).where(
        PaperSession.course_id == world["course"].id, Week.number == week,
        PresentationRole.key == role_key))


def _claim(world: dict[str, Any]) -> Action:
    set_signup(world["course"], mode="first_come")
    slot = _slot_at(world, 4, "overview")
    return Action("a1", f"/c/{CODE}/signup/slots/{slot.id}/claim", {},
                  lambda: db.session.get(Slot, slot.id).group_id == world["alpha"].id, ("a2",))


def _move(world: dict[str, Any]) -> Action:
    db.session.add(AssignmentRun(course_id=world["course"].id, status="optimal",
                                 published_at=utcnow()))
    mine = hold_slot(world["course"], world["alpha"], 3, "overview")
    target = _slot_at(world, 4, "weaknesses")
    return Action("a2", f"/c/{CODE}/signup/slots/{mine.id}/move", {"target": target.id},
                  lambda: db.session.get(Slot, target.id).group_id == world["alpha"].id, ("a1",))


def _dissolve(world: dict[str, Any]) -> Action:
    slot = hold_slot(world["course"], world["alpha"], 4, "overview")
    return Action("instructor", f"/c/{CODE}/groups/{world['alpha'].id}/dissolve",
                  {"confirm": "1"}, lambda: db.session.get(Slot, slot.id).group_id is None,
                  ("a1", "a2"))


def _merge(world: dict[str, Any]) -> Action:
    hold_slot(world["course"], world["beta"], 3, "overview")
    moved = hold_slot(world["course"], world["gamma"], 4, "overview")
    return Action("instructor", f"/c/{CODE}/groups/merge",
                  {"keep": world["beta"].id, "absorb": world["gamma"].id, "confirm": "1"},
                  lambda: db.session.get(Slot, moved.id).group_id == world["beta"].id,
                  ("b1", "b2", "c1"))


ACTIONS = {"feedback released": _feedback, "regrade answered": _regrade,
           "assignment published": _publish, "staff set a holder": _staff_assign,
           "staff swapped two groups' slots": _staff_swap,
           "swap proposed": _propose, "swap accepted": _accept,
           "a member claimed a slot": _claim, "a member moved to an open slot": _move,
           "staff dissolved a group": _dissolve, "staff merged two groups": _merge}


def act(world: dict[str, Any], client, login, build: Callable[..., Action]) -> Action:
    action = build(world)
    db.session.commit()
    login(world[action.actor])
    response = client.post(action.url, data=action.data)
    assert response.status_code == 302
    db.session.expire_all()
    assert action.saved()
    return action


def outbox() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("kind", ACTIONS)
def test_each_kind_reaches_its_people_through_the_worker_with_public_links(
        world, client, login, mail_port, kind) -> None:
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=mail_port)
    server.start()
    try:
        action = act(world, client, login, ACTIONS[kind])
        assert inbox.messages == []                    # the page only queued the mail
        assert run_due_jobs(jobs().huey) == len(action.to)
    finally:
        server.stop()
    assert sorted(m["To"] for m in inbox.messages) == sorted(world[n].email for n in action.to)
    for message in inbox.messages:
        text, html = plain_text(message), html_text(message)
        links = re.findall(r"https?://\S+", text)
        assert links and all(link.startswith(f"{BASE}/c/{CODE}/") for link in links)
        assert "localhost" not in text and "localhost" not in html
    assert [m.status for m in outbox()] == [OutboxStatus.sent] * len(action.to)


@pytest.mark.parametrize("kind", ACTIONS)
def test_with_the_mail_server_down_the_action_is_saved_and_the_outbox_shows_the_failure(
        world, client, login, kind) -> None:
    action = act(world, client, login, ACTIONS[kind])
    run_due_jobs(jobs().huey)
    messages = outbox()
    assert sorted(m.to for m in messages) == sorted(world[n].email for n in action.to)
    assert all(m.status == OutboxStatus.failed and "refused the connection" in m.last_error
               for m in messages)
    login(world["instructor"])
    page = client.get(f"/c/{CODE}/outbox")
    assert page.status_code == 200
    assert page.data.count(b"refused the connection") == len(action.to)


def test_a_staff_swap_between_two_slots_of_one_group_mails_nobody(world, client, login) -> None:
    act(world, client, login,
        lambda world: _staff_swap(world, holders=("alpha", "alpha"), to=()))
    assert outbox() == []
