"""The run sheet state machine: segments from the course file, advance, pause, extend, overtime,
stale and duplicate requests, who controls it; the question queue's votes and participation."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import (CourseRole, LiveQuestion, LiveRun, LiveSegment, PaperSession,
                    ParticipationRecord, QuestionVote, User, db)
from review.live import services
from review.live.services import LiveError, StaleSegment
from review.reviews import services as review_services
from review.reviews.services import ReviewContent
from tests.conftest import make_app
from tests.factories import hold_slot, make_course, make_group, make_member

ROLES = [{"key": "context", "name": "Context", "minutes": 5},
         {"key": "method", "name": "Method", "minutes": 12},
         {"key": "critique", "name": "Critique", "minutes": 6},
         {"key": "replication", "name": "Replication", "minutes": 3}]
RUBRICS = {"presentations": {role["key"]: "presentation-overview" for role in ROLES}}


@pytest.fixture
def world(app) -> dict:
    course = make_course("seminar-live", roles=ROLES, discussion_minutes=7, rubrics=RUBRICS,
                         timezone="America/Los_Angeles")
    instructor = make_member(course, CourseRole.instructor)
    students = [make_member(course) for _ in range(6)]
    groups = [make_group(course, students[0:2]), make_group(course, students[2:4])]
    session = course.sessions[0]
    week = session.week.number
    hold_slot(course, groups[0], week, "context")
    hold_slot(course, groups[1], week, "method")
    db.session.commit()
    return {"course": course, "session": session, "instructor": instructor,
            "students": students, "groups": groups, "t0": session.starts_at}


def test_segments_are_the_course_roles_in_order_then_the_discussion(world) -> None:
    segments = services.segments_of(world["session"])
    assert [(s.label, s.planned_seconds) for s in segments] == [
        ("Context", 300), ("Method", 720), ("Critique", 360), ("Replication", 180),
        ("Discussion", 420)]
    assert segments[-1].is_discussion and not segments[0].is_discussion


def test_a_course_without_discussion_time_has_no_discussion_segment(app) -> None:
    course = make_course("no-discussion", roles=ROLES, discussion_minutes=0,
                         rubrics=RUBRICS)
    assert [s.label for s in services.segments_of(course.sessions[0])] == [
        "Context", "Method", "Critique", "Replication"]


def test_countdown_pause_resume_extend_and_overtime(world) -> None:
    session, staff, t0 = world["session"], world["instructor"], world["t0"]
    run = services.start(session, staff, t0)
    segment = services.segments_of(session)[0]
    assert services.remaining_seconds(run, segment, t0 + timedelta(seconds=100)) == 200
    services.pause(session, staff, 0, t0 + timedelta(seconds=100))
    # Paused: the clock stands still however long the pause lasts.
    assert services.remaining_seconds(run, segment, t0 + timedelta(seconds=500)) == 200
    services.resume(session, staff, 0, t0 + timedelta(seconds=160))
    assert services.remaining_seconds(run, segment, t0 + timedelta(seconds=200)) == 160
    services.extend(session, staff, 0, 2, t0 + timedelta(seconds=200))
    assert services.remaining_seconds(run, segment, t0 + timedelta(seconds=200)) == 280
    # Past the time box the remaining time goes negative: overtime, counted up.
    assert services.remaining_seconds(run, segment, t0 + timedelta(seconds=560)) == -80
    services.advance(session, staff, 0, t0 + timedelta(seconds=560))
    record = db.session.scalar(select(LiveSegment))
    assert (record.label, record.planned_seconds, record.extension_seconds,
            record.actual_seconds, record.overtime_seconds) == ("Context", 300, 120, 500, 80)
    assert services.measured_minutes_by_slot([record.slot_id])[record.slot_id] is record
    assert run.segment == 1 and run.paused_seconds == 0 and run.extension_seconds == 0


def test_advancing_through_every_segment_finishes_the_run_sheet(world) -> None:
    session, staff, t0 = world["session"], world["instructor"], world["t0"]
    services.start(session, staff, t0)
    for position in range(5):
        run = services.advance(session, staff, position, t0 + timedelta(minutes=position + 1))
    assert run.segment == 5 and run.finished_at == t0 + timedelta(minutes=5)
    assert [s.actual_seconds for s in services.recorded_segments(run)] == [60] * 5
    with pytest.raises(StaleSegment, match="finished"):
        services.advance(session, staff, 4, t0 + timedelta(minutes=6))


def test_a_duplicate_next_with_the_same_expected_segment_moves_only_once(world) -> None:
    session, staff, t0 = world["session"], world["instructor"], world["t0"]
    services.start(session, staff, t0)
    services.advance(session, staff, 0, t0 + timedelta(minutes=5))
    db.session.commit()
    with pytest.raises(StaleSegment, match="already moved on to Method"):
        services.advance(session, staff, 0, t0 + timedelta(minutes=5, seconds=1))
    db.session.rollback()
    assert services.run_of(session).segment == 1


def test_six_simultaneous_next_requests_move_the_run_sheet_exactly_once(tmp_path) -> None:
    """Real concurrency: threads with their own sessions on a file database, lined up."""
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'live-race.sqlite'}")
    with app.app_context():
        db.create_all()
        course = make_course("race-live", roles=ROLES, rubrics=RUBRICS, timezone="Asia/Tokyo")
        staff = [make_member(course, CourseRole.instructor) for _ in range(6)]
        session = course.sessions[0]
        services.start(session, staff[0], session.starts_at)
        db.session.commit()
        session_id, staff_ids, t0 = session.id, [u.id for u in staff], session.starts_at
        db.session.remove()
    barrier = threading.Barrier(len(staff_ids))
    outcomes: list[str] = [""] * len(staff_ids)

    def tap_next(index: int) -> None:
        with app.app_context():
            try:
                session = db.session.get(PaperSession, session_id)
                actor = db.session.get(User, staff_ids[index])
                services.run_of(session)
                barrier.wait(timeout=30)
                services.advance(session, actor, 0, t0 + timedelta(minutes=5))
                db.session.commit()
                outcomes[index] = "moved"
            except StaleSegment:
                db.session.rollback()
                outcomes[index] = "stale"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=tap_next, args=(i,)) for i in range(len(staff_ids))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["moved"] + ["stale"] * 5
    with app.app_context():
        assert db.session.scalar(select(LiveRun)).segment == 1
        assert len(db.session.scalars(select(LiveSegment)).all()) == 1
        db.engine.dispose()


def test_only_staff_and_the_current_presenters_control_the_timer(world) -> None:
    session, staff, t0 = world["session"], world["instructor"], world["t0"]
    first_presenter, second_presenter, audience = (world["students"][0], world["students"][2],
                                                   world["students"][5])
    with pytest.raises(LiveError, match="Only staff start"):
        services.start(session, first_presenter, t0)
    run = services.start(session, staff, t0)
    assert services.can_control(first_presenter, run, session)
    assert not services.can_control(second_presenter, run, session)
    assert not services.can_control(audience, run, session)
    with pytest.raises(LiveError, match="Only staff and the presenters"):
        services.advance(session, audience, 0, t0 + timedelta(minutes=1))
    services.advance(session, first_presenter, 0, t0 + timedelta(minutes=5))
    # The next segment belongs to the next group.
    assert services.can_control(second_presenter, run, session)
    assert not services.can_control(first_presenter, run, session)


def test_staff_may_start_a_rehearsal_before_the_session(world) -> None:
    session, staff = world["session"], world["instructor"]
    rehearsal = session.starts_at - timedelta(days=2)
    run = services.start(session, staff, rehearsal)
    assert run.started_at == rehearsal
    with pytest.raises(StaleSegment, match="already started"):
        services.start(session, staff, rehearsal)


@pytest.mark.parametrize("minutes", [0, -1, 31])
def test_extensions_outside_the_limits_are_refused(world, minutes: int) -> None:
    session, staff, t0 = world["session"], world["instructor"], world["t0"]
    services.start(session, staff, t0)
    with pytest.raises(LiveError, match="Extend by 1 to 30 minutes"):
        services.extend(session, staff, 0, minutes, t0)


# ============================================================================ questions


def _review(session, student, questions: list[str]) -> None:
    review_services.submit_review(session, student, ReviewContent.build(
        summary="s", strengths="s", weaknesses="w", remedies="r", questions=questions),
        session.review_deadline - timedelta(hours=1))
    # Committed, as a request does: the digest is computed by a job in its own database session,
    # which sees only committed reviews (on PostgreSQL; SQLite's test connection is shared).
    db.session.commit()


def test_digest_copies_become_one_queue_question_and_sync_is_idempotent(world) -> None:
    session, students = world["session"], world["students"]
    for student in students[:3]:
        _review(session, student, ["Why only one dataset?"])
    _review(session, students[3], ["why only one dataset"])
    assert services.sync_digest_questions(session) == 1
    question = db.session.scalar(select(LiveQuestion))
    assert question.asked_count == 4
    _review(session, students[4], ["Why only one dataset?"])
    assert services.sync_digest_questions(session) == 0
    assert db.session.scalar(select(LiveQuestion)).asked_count == 5


def test_one_vote_per_student_per_question_toggles_and_reorders_the_queue(world) -> None:
    session, students, t0 = world["session"], world["students"], world["t0"]
    first = services.add_question(session, students[0], "Does it scale?", t0)
    second = services.add_question(session, students[1], "Is the code public?", t0)
    assert [i.question.id for i in services.question_queue(session)] == [first.id, second.id]
    assert services.toggle_vote(session, second, students[2]) is True
    assert [i.question.id for i in services.question_queue(session)] == [second.id, first.id]
    assert services.toggle_vote(session, second, students[2]) is False
    assert db.session.scalars(select(QuestionVote)).all() == []
    services.toggle_vote(session, second, students[2])
    # The database refuses a second vote however it arrives.
    db.session.add(QuestionVote(question_id=second.id, user_id=students[2].id))
    with pytest.raises(Exception):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(LiveError, match="Only students"):
        services.toggle_vote(session, second, world["instructor"])


def test_marking_raised_and_answered_writes_participation_at_once(world) -> None:
    session, students, staff, t0 = (world["session"], world["students"], world["instructor"],
                                    world["t0"])
    _review(session, students[0], ["Why only one dataset?"])
    services.sync_digest_questions(session)
    from_review = db.session.scalar(select(LiveQuestion))
    live = services.add_question(session, students[1], "What about fairness?", t0)
    services.mark_question(session, from_review, staff, "raised", None, t0)
    services.mark_question(session, live, staff, "answered", students[4].id, t0)
    records = db.session.scalars(select(ParticipationRecord)
                                 .order_by(ParticipationRecord.id)).all()
    assert [(r.kind, r.user_id) for r in records] == [("question", students[0].id),
                                                       ("manual", students[4].id)]
    assert from_review.status == "raised" and live.credited_id == students[4].id
    with pytest.raises(LiveError, match="already marked raised"):
        services.mark_question(session, from_review, staff, "answered", students[2].id, t0)
    other = services.add_question(session, students[1], "And robustness?", t0)
    with pytest.raises(LiveError, match="Choose the student who answered"):
        services.mark_question(session, other, staff, "answered", None, t0)
    with pytest.raises(LiveError, match="must be a student"):
        services.mark_question(session, other, staff, "raised", staff.id, t0)


def test_review_counts_leave_out_presenters_and_excused_students(world) -> None:
    from models import Review, ReviewExcuse

    session, students = world["session"], world["students"]
    # students[0:4] present (two groups); students[4] reviews late, students[5] is excused.
    _review(session, students[0], ["Why?"])
    _review(session, students[4], ["How?"])
    db.session.scalar(select(Review).where(Review.user_id == students[4].id)).days_late = 1
    db.session.add(ReviewExcuse(session_id=session.id, user_id=students[5].id, reason="ill"))
    extra = make_member(world["course"])
    db.session.flush()
    counts = services.review_counts(session)
    assert (counts.submitted, counts.late, counts.missing) == (2, 1, 1)   # missing: extra
    assert extra.id not in {r.user_id for r in db.session.scalars(select(Review))}
