"""Presentation credit stays with who presented (issue 10).

A second course built from scratch (four roles, New York time, sessions in weeks 5-10) on a
controlled clock: weeks 5, 6 and 8 are held, graded and released; weeks 9 and 10 lie ahead.
Leaving, joining, moving, merging or dissolving after a session changes nothing about it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from models import (AuditEntry, Course, CourseRole, Group, PaperSession, Slot, SlotPresenter, User,
                    Week, db)
from review.courses.roster import TableFileError
from review.gradebook.loader import load_gradebook
from review.grading import peer
from review.grading import services as grading
from review.grading.results import presentation_results
from review.groups import services as groups
from review.reviews.status import ReviewState, review_statuses
from review.signup import services as signup
from review.signup.presenters import presenters_by_slot
from tests.factories import (
    enrollment,
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_staff_score,
)

ROLES = [{"key": "context", "name": "Context", "minutes": 10},
         {"key": "method", "name": "Method", "minutes": 12},
         {"key": "critique", "name": "Critique", "minutes": 9},
         {"key": "outlook", "name": "Outlook", "minutes": 6}]
RUBRICS = {"presentations": {"context": "presentation-overview", "method": "presentation-strengths",
                             "critique": "presentation-weaknesses",
                             "outlook": "presentation-overview"}}
COMPONENTS = [{"key": "final", "label": "Final exam", "weight": 50, "kind": "external"},
              {"key": "talks", "label": "Talks", "weight": 10, "kind": "presentations"},
              {"key": "reviews", "label": "Reviews", "weight": 30, "kind": "reviews"},
              {"key": "participation", "label": "Participation", "weight": 10,
               "kind": "participation"}]


def _course(**overrides) -> Course:
    settings = dict(weeks=12, session_weeks=(5, 6, 7, 8, 9, 10), timezone="America/New_York",
                    session_time="18:15", roles=ROLES, rubrics=RUBRICS,
                    # Groups stay open all term here, so credit is tested where students can still
                    # leave and join (the default locks groups at the first session).
                    groups={"min_size": 1, "max_size": 4, "lock": "manual"},
                    grading={"components": COMPONENTS, "letters": [{"letter": "P", "min": 0}]})
    return make_course("credit-ny", **{**settings, **overrides})


def session_of(course: Course, week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == week))


class Term:
    """Who is who, which slot is which, and the clock: after the week-8 talk, before week 9."""

    def __init__(self, **overrides) -> None:
        course = self.course = _course(**overrides)
        self.teacher = make_member(course, CourseRole.instructor)
        self.ana, self.ben, self.cem = (make_member(course, last_name=n)
                                        for n in ("Ana", "Ben", "Cem"))
        self.dan, self.eva = (make_member(course, last_name=n) for n in ("Dan", "Eva"))
        self.gus, self.hal = (make_member(course, last_name=n) for n in ("Gus", "Hal"))
        self.isa = make_member(course, last_name="Isa")
        self.red = make_group(course, [self.ana, self.ben, self.cem], "Red")
        self.blue = make_group(course, [self.dan, self.eva], "Blue")
        self.green = make_group(course, [self.gus, self.hal], "Green")
        self.red8 = hold_slot(course, self.red, 8, "context")
        self.red10 = hold_slot(course, self.red, 10, "method")
        self.blue5 = hold_slot(course, self.blue, 5, "context")
        self.blue9 = hold_slot(course, self.blue, 9, "critique")
        self.green6 = hold_slot(course, self.green, 6, "method")
        self.green10 = hold_slot(course, self.green, 10, "outlook")
        make_staff_score(course, self.teacher, 87.5, rubric_key="presentation-overview",
                         slot_id=self.red8.id)
        make_staff_score(course, self.teacher, 75, rubric_key="presentation-overview",
                         slot_id=self.blue5.id)
        make_staff_score(course, self.teacher, 80, rubric_key="presentation-strengths",
                         slot_id=self.green6.id)
        week8 = session_of(course, 8)
        for week in (5, 6, 8):
            session_of(course, week).feedback_released_at = week8.starts_at + timedelta(hours=3)
        self.now = week8.starts_at + timedelta(days=2)
        assert self.now < session_of(course, 9).starts_at
        db.session.commit()

    def results(self, user: User) -> dict[int, float | None]:
        return {r.slot_id: r.final_pct for r in presentation_results(self.course)
                if r.user_id == user.id}

    def book(self, user: User):
        return load_gradebook(self.course, self.now, released_only=True,
                              user_id=user.id).row(user.id)


@pytest.fixture
def term(app: Flask) -> Term:
    return Term()


def test_leaving_after_a_graded_released_talk_keeps_the_grade_and_the_total(term: Term) -> None:
    before = term.book(term.ana)
    assert before["talks"] == pytest.approx(87.5)
    groups.leave_group(term.course, term.ana, now=term.now)
    db.session.commit()
    assert term.results(term.ana) == {term.red8.id: pytest.approx(87.5)}
    after = term.book(term.ana)
    assert after["talks"] == pytest.approx(87.5)
    assert after["total"] == pytest.approx(before["total"])
    # Her former group keeps presenting its future slot without her.
    assert term.ana.id not in presenters_by_slot(term.course)[term.red10.id]


def test_leaving_and_joining_another_group_by_code_moves_only_future_credit(term: Term) -> None:
    groups.leave_group(term.course, term.dan, now=term.now)
    groups.join_group(term.course, term.dan, term.red.join_code, now=term.now)
    db.session.commit()
    # He keeps his week-5 grade and gets nothing for Red's week-8 talk he never gave ...
    assert term.results(term.dan) == {term.blue5.id: pytest.approx(75), term.red10.id: None}
    assert term.book(term.dan)["talks"] == pytest.approx(75)
    # ... but presents with Red from now on, and no longer with Blue.
    presenters = presenters_by_slot(term.course)
    assert term.dan.id in presenters[term.red10.id]
    assert presenters[term.blue9.id] == [term.eva.id]
    assert sorted(presenters[term.red8.id]) == sorted([term.ana.id, term.ben.id, term.cem.id])


def test_the_snapshot_is_taken_for_held_sessions_only(term: Term) -> None:
    groups.leave_group(term.course, term.cem, now=term.now)
    recorded = {slot_id for slot_id in db.session.scalars(select(SlotPresenter.slot_id))}
    assert recorded == {term.red8.id, term.blue5.id, term.green6.id}
    assert term.red10.presenters_recorded_at is None


def test_staff_dissolving_a_group_keeps_its_held_slot_graded(term: Term) -> None:
    groups.dissolve_group(term.course, term.blue, term.teacher, now=term.now)
    db.session.commit()
    blue5, blue9 = db.session.get(Slot, term.blue5.id), db.session.get(Slot, term.blue9.id)
    assert blue5.group_id == term.blue.id and blue5.group.display_name == "Blue (dissolved)"
    assert blue9.group_id is None  # a future slot opens, as before
    assert term.results(term.dan) == {blue5.id: pytest.approx(75)}
    assert term.book(term.eva)["talks"] == pytest.approx(75)
    # The dissolved group is gone from every list and its join code no longer works.
    assert term.blue not in groups.course_groups(term.course)
    assert groups.group_in_course(term.course, term.blue.id) is None
    assert groups.group_of(term.course, term.dan) is None
    with pytest.raises(groups.GroupError, match="join code"):
        groups.join_group(term.course, term.isa, term.blue.join_code, now=term.now)
    assert all(group.id != term.blue.id for group, _ in
               groups.plan_auto_form(term.course).additions)


def test_dissolving_a_group_that_never_presented_deletes_it(term: Term) -> None:
    idle = groups.staff_create_group(term.course, term.teacher, "Idle")
    groups.move_student(term.course, term.isa, idle, term.teacher, now=term.now)
    groups.dissolve_group(term.course, idle, term.teacher, now=term.now)
    db.session.commit()
    assert db.session.get(Group, idle.id) is None


def test_the_last_member_leaving_dissolves_softly_when_the_group_presented(term: Term) -> None:
    groups.leave_group(term.course, term.dan, now=term.now)
    assert groups.leave_group(term.course, term.eva, now=term.now) is None
    db.session.commit()
    assert db.session.get(Group, term.blue.id).dissolved_at == term.now
    assert term.book(term.eva)["talks"] == pytest.approx(75)
    # The name stays taken: the old slot still shows it.
    with pytest.raises(groups.GroupError, match="dissolved"):
        groups.create_group(term.course, term.isa, "blue", now=term.now)


def test_staff_merge_keeps_past_slots_with_the_absorbed_group(term: Term) -> None:
    groups.merge_groups(term.course, term.green, term.blue, term.teacher, now=term.now)
    db.session.commit()
    blue5, blue9 = db.session.get(Slot, term.blue5.id), db.session.get(Slot, term.blue9.id)
    assert blue5.group_id == term.blue.id  # held: stays with who presented it
    assert blue9.group_id == term.green.id  # ahead: moves to the merged group, as before
    presenters = presenters_by_slot(term.course)
    assert sorted(presenters[blue5.id]) == sorted([term.dan.id, term.eva.id])
    assert sorted(presenters[blue9.id]) == sorted(
        [term.dan.id, term.eva.id, term.gus.id, term.hal.id])
    assert term.results(term.gus) == {term.green6.id: pytest.approx(80), blue9.id: None,
                                      term.green10.id: None}
    assert term.book(term.dan)["talks"] == pytest.approx(75)
    assert db.session.get(Group, term.blue.id).dissolved_at is not None


def test_staff_moving_a_member_moves_only_future_credit(term: Term) -> None:
    groups.move_student(term.course, term.eva, term.green, term.teacher, now=term.now)
    db.session.commit()
    assert term.results(term.eva) == {term.blue5.id: pytest.approx(75), term.green10.id: None}
    assert term.book(term.eva)["talks"] == pytest.approx(75)
    assert term.book(term.gus)["talks"] == pytest.approx(80)
    presenters = presenters_by_slot(term.course)
    assert presenters[term.blue9.id] == [term.dan.id]
    assert term.eva.id in presenters[term.green10.id]


def test_the_first_score_saved_before_the_session_records_its_presenters(app: Flask,
                                                                        term: Term) -> None:
    early = session_of(term.course, 9).starts_at - timedelta(days=1)
    rubric = app.extensions["rubrics"]["presentation-weaknesses"]
    values = {criterion.id: criterion.points for criterion in rubric.criteria}
    item = grading.presentation_item(term.course, term.blue9.id)
    grading.save_score(term.course, term.teacher, item, values=values, now=early)
    db.session.commit()
    assert db.session.get(Slot, term.blue9.id).presenters_recorded_at == early
    groups.join_group(term.course, term.isa, term.blue.join_code, now=early)
    db.session.commit()
    assert sorted(presenters_by_slot(term.course)[term.blue9.id]) == sorted(
        [term.dan.id, term.eva.id])
    assert term.blue9.id not in term.results(term.isa)


def test_member_adjustments_follow_the_presenters(term: Term) -> None:
    groups.move_student(term.course, term.dan, term.green, term.teacher, now=term.now)
    grading.adjust_member(term.course, term.teacher, term.blue5, term.dan.id, 10, "led the talk")
    with pytest.raises(grading.GradingRefused, match="did not present"):
        grading.adjust_member(term.course, term.teacher, term.green6, term.dan.id, 5, "no")
    db.session.commit()
    assert term.results(term.dan)[term.blue5.id] == pytest.approx(85)


def test_peer_rating_follows_the_presenters_not_the_current_members(term: Term) -> None:
    during = session_of(term.course, 8).starts_at + timedelta(minutes=20)
    groups.leave_group(term.course, term.ana, now=during)
    groups.join_group(term.course, term.isa, term.red.join_code, now=during)
    db.session.commit()
    values = {"clarity": 3, "insight": 3, "time": 3}
    with pytest.raises(grading.GradingRefused, match="You present"):
        peer.save_peer_rating(term.course, term.ana, term.red8, values, during)
    assert term.red8.id not in {s.id for s in peer.rateable_slots(term.course, term.ana, during)}
    peer.save_peer_rating(term.course, term.isa, term.red8, values, during)
    assert term.red8.id in {s.id for s in peer.rateable_slots(term.course, term.isa, during)}


def test_students_feedback_of_a_talk_belongs_to_its_presenters(term: Term) -> None:
    groups.leave_group(term.course, term.dan, now=term.now)
    groups.join_group(term.course, term.dan, term.red.join_code, now=term.now)
    assert grading.student_slot(term.course, term.dan, term.blue5.id) == term.blue5
    with pytest.raises(grading.GradingRefused):
        grading.student_slot(term.course, term.dan, term.red8.id)


def test_presenters_stay_exempt_from_the_review_of_their_session(app: Flask) -> None:
    term = Term(reviews={"presenters_exempt": True})
    groups.leave_group(term.course, term.ana, now=term.now)
    groups.join_group(term.course, term.isa, term.red.join_code, now=term.now)
    db.session.commit()
    week8 = session_of(term.course, 8)
    statuses = review_statuses(term.course, term.now)
    assert statuses[(term.ana.id, week8.id)].state == ReviewState.exempt
    assert statuses[(term.isa.id, week8.id)].state != ReviewState.exempt


def test_staff_giving_a_held_slot_to_another_group_moves_the_credit_with_an_audit(
        term: Term) -> None:
    groups.leave_group(term.course, term.cem, now=term.now)  # records the held sessions
    signup.assign_slot_by_staff(term.blue5, term.green, term.teacher,
                                "Green gave this talk; the board was wrong", term.now)
    db.session.commit()
    assert sorted(presenters_by_slot(term.course)[term.blue5.id]) == sorted(
        [term.gus.id, term.hal.id])
    assert term.blue5.id not in term.results(term.dan)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "set_presenters"))
    assert entry.old == {"presenters": sorted([term.dan.id, term.eva.id])}
    assert entry.reason == "Green gave this talk; the board was wrong"


def test_a_dissolved_group_can_no_longer_change_nor_be_imported_into(term: Term) -> None:
    groups.dissolve_group(term.course, term.blue, term.teacher, now=term.now)
    for change in (lambda: groups.dissolve_group(term.course, term.blue, term.teacher,
                                                 now=term.now),
                   lambda: groups.merge_groups(term.course, term.green, term.blue, term.teacher,
                                               now=term.now),
                   lambda: groups.move_student(term.course, term.isa, term.blue, term.teacher,
                                               now=term.now),
                   lambda: groups.rename_group(term.course, term.blue, term.teacher, "Azure")):
        with pytest.raises(groups.GroupError, match="dissolved"):
            change()
    number = enrollment(term.course, term.isa).student_number
    with pytest.raises(TableFileError, match="row 2, column group: group 'Blue' was dissolved"):
        groups.import_groups(term.course, [groups.GroupRow(2, "Blue", number)], term.teacher,
                             now=term.now)
