"""The gradebook's fast database reads give exactly what the old ORM-entity reads gave.

``review_scores``, ``review_score_details``, ``participation_scores`` and ``review_statuses``
read plain columns instead of full ``Score``/``Review`` objects (bench/README.md: 2.3 s -> 0.2 s
for 1,000 students x 10 sessions). Each test here recomputes the result the old way -- full ORM
entities, ``combine`` per item, ``status_of_one`` per student and session -- and compares.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import joinedload

from models import (
    CourseRole,
    Enrollment,
    Membership,
    PaperSession,
    Review,
    ReviewExcuse,
    Rubric,
    Score,
    ScoreTarget,
    Slot,
    db,
)
from review.grading.results import (
    combine,
    combined_pct,
    participation_scores,
    review_score_details,
    review_scores,
    staff_roles,
)
from review.grading.scoring import ScoringError
from review.grading.services import course_definition
from review.reviews.status import review_statuses, status_of_one
from tests.factories import (
    course_definition_data,
    make_course,
    make_group,
    make_member,
    make_review,
    make_rubric_row,
)

NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)  # after every review deadline of the course


def _course(method: str, code: str = "speed"):
    data = course_definition_data(code)
    return make_course(code, grading={**data["grading"], "combine_graders": method,
                                      "disagreement_pct": 15},
                       reviews={"presenters_exempt": True})


def _score(course, grader, pct: float, row, **target) -> Score:
    kind = (ScoreTarget.review if "review_id" in target else ScoreTarget.participation)
    values = {"summary": round(pct / 25), "clarity": pct / 50}
    score = Score(course_id=course.id, rubric_id=row.id, grader_id=grader.id, target=kind,
                  total=pct / 100 * row.max_score, max_total=row.max_score, values=values,
                  **target)
    db.session.add(score)
    db.session.flush()
    return score


def _second_version(row) -> Rubric:
    """Another stored rubric of the same use with a higher version (the newest one names the
    combined result's rubric)."""
    newer = Rubric(key=f"{row.key}-2027", version=row.version + 4, content_hash="f" * 64,
                   title=row.title, applies_to=row.applies_to, max_score=row.max_score * 2,
                   definition=row.definition)
    db.session.add(newer)
    db.session.flush()
    return newer


def _graded_course(method: str) -> dict:
    """Reviews and participation graded by one grader, two agreeing or disagreeing graders,
    instructor + TA, and under two rubric versions."""
    course = _course(method)
    instructor = make_member(course, CourseRole.instructor)
    ta1, ta2 = make_member(course, CourseRole.ta), make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(6)]
    s3, s4, *_ = course.sessions
    review_row, part_row = make_rubric_row("review"), make_rubric_row("participation")
    review_v2 = _second_version(review_row)
    plans = [  # (grader, pct, rubric row) per review
        [(ta1, 80, review_row)],
        [(ta1, 70, review_row), (ta2, 75, review_row)],
        [(ta1, 40, review_row), (instructor, 90, review_row)],
        [(ta2, 100, review_v2), (ta1, 60, review_row)],
        [(instructor, 55, review_v2), (ta1, 65, review_row), (ta2, 95, review_v2)],
    ]
    for student, plan in zip(students, plans):
        review = make_review(s3, student)
        for grader, pct, row in plan:
            _score(course, grader, pct, row, review_id=review.id)
    make_review(s3, students[5])  # submitted, not graded: absent from the results
    for student, plan in zip(students, plans):
        for grader, pct, _row in plan:
            _score(course, grader, pct, part_row, session_id=s4.id, student_id=student.id)
    db.session.commit()
    return {"course": course, "students": students}


def _orm_scores(course, target: ScoreTarget) -> list[Score]:
    """The old read: full Score entities with their rubric joined."""
    return list(db.session.scalars(
        select(Score).where(Score.course_id == course.id, Score.target == target)
        .options(joinedload(Score.rubric))).unique())


def _old_details(course, target: ScoreTarget, key) -> dict:
    grading = course_definition(course).grading
    roles = staff_roles(course)
    grouped: dict = {}
    for score in _orm_scores(course, target):
        grouped.setdefault(key(score), []).append(score)
    return {item: combine(scores, roles, method=grading.combine_graders,
                          threshold=grading.disagreement_pct)
            for item, scores in grouped.items()}


@pytest.mark.parametrize("method", ["mean", "instructor_override"])
def test_review_scores_and_details_match_the_orm_read(app: Flask, method: str) -> None:
    course = _graded_course(method)["course"]
    expected = _old_details(course, ScoreTarget.review, lambda s: s.review_id)
    assert len(expected) == 5
    details = review_score_details(course)
    assert details == expected  # percentage, criteria, newest rubric key, spread, flags
    assert review_scores(course) == {rid: c.percentage for rid, c in expected.items()}
    assert any(c.disagreement for c in details.values())
    assert any(c.grader_count == 3 for c in details.values())
    assert {c.rubric_key for c in details.values()} == {"review", "review-2027"}


@pytest.mark.parametrize("method", ["mean", "instructor_override"])
def test_participation_scores_match_the_orm_read(app: Flask, method: str) -> None:
    course = _graded_course(method)["course"]
    expected = _old_details(course, ScoreTarget.participation,
                            lambda s: (s.session_id, s.student_id))
    assert participation_scores(course) == {k: c.percentage for k, c in expected.items()}


def test_instructor_override_changes_the_combined_percentage(app: Flask) -> None:
    """The two methods really differ on this data, so the comparisons above can fail."""
    mean = review_scores(_graded_course("mean")["course"])
    db.session.remove()
    db.drop_all()
    db.create_all()
    override = review_scores(_graded_course("instructor_override")["course"])
    assert sorted(mean.values()) != sorted(override.values())
    assert 90.0 in override.values() and 65.0 in mean.values()


def test_combined_pct_single_grader_shortcut_keeps_the_checks() -> None:
    roles = {1: CourseRole.instructor}
    assert combined_pct([(1, 3.0, 4.0)], roles, method="mean", threshold=20) == 75.0
    assert combined_pct([(1, 5.0, 4.0)], roles, method="mean", threshold=20) == 100.0
    assert combined_pct([(1, 0.0, 0.0)], roles, method="mean", threshold=20) == 0.0
    with pytest.raises(ScoringError, match="unknown method"):
        combined_pct([(1, 3.0, 4.0)], roles, method="median", threshold=20)
    with pytest.raises(ScoringError, match="threshold"):
        combined_pct([(1, 3.0, 4.0)], roles, method="mean", threshold=-1)
    with pytest.raises(ScoringError, match="between 0 and 100"):
        combined_pct([(1, -1.0, 4.0)], roles, method="mean", threshold=20)
    with pytest.raises(ScoringError, match="more than once"):
        combined_pct([(1, 3.0, 4.0), (1, 2.0, 4.0)], roles, method="mean", threshold=20)


def test_scores_are_read_without_entities_or_rubric_json(app: Flask) -> None:
    course = _graded_course("mean")["course"]
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        review_scores(course)
        participation_scores(course)
        review_score_details(course)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    joined = " ".join(statements)
    # The rubric JSON was decoded once per score row when the rubric was joined to each score.
    assert not re.search(r"rubric(_\d+)?\.definition", joined)
    assert "score.comments" not in joined and "score.overall_comment" not in joined
    # The details still name the rubric version (its two columns joined to the scores).
    assert "JOIN rubric" in joined and "rubric.version" in joined


def _statuses_course():
    course = _course("mean", code="states")
    students = [make_member(course) for _ in range(5)]
    s3, s4, s5, s6 = course.sessions
    make_review(s3, students[0])  # on time
    make_review(s3, students[1], days_late=2, penalty_pct=20)  # late
    make_review(s3, students[2], submitted=False)  # draft past the deadline
    make_review(s4, students[0], submitted=False)  # draft, excused below
    db.session.add(ReviewExcuse(session_id=s4.id, user_id=students[0].id, reason="ill"))
    db.session.add(ReviewExcuse(session_id=s4.id, user_id=students[1].id, reason="ill"))
    group = make_group(course, [students[3], students[2]])
    slot = db.session.scalar(select(Slot).where(Slot.session_id == s5.id))
    slot.group_id = group.id  # students[3] and [2] present in week 5: exempt
    make_review(s5, students[3])
    make_review(s6, students[4], submitted=False)  # a draft of a session not due yet
    db.session.commit()
    return course, students


def _old_statuses(course, now):
    sessions = list(db.session.scalars(select(PaperSession).where(
        PaperSession.course_id == course.id)))
    reviews = {(r.user_id, r.session_id): r for r in db.session.scalars(
        select(Review).where(Review.session_id.in_([s.id for s in sessions])))}
    excused = set(db.session.execute(select(ReviewExcuse.user_id, ReviewExcuse.session_id))
                  .tuples())
    exempt_pairs = {(m.user_id, slot.session_id)
                    for slot in db.session.scalars(select(Slot).where(Slot.group_id.is_not(None)))
                    for m in db.session.scalars(select(Membership).where(
                        Membership.group_id == slot.group_id))}
    students = db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student))
    return {(uid, s.id): status_of_one(reviews.get((uid, s.id)), s, now,
                                       excused=(uid, s.id) in excused,
                                       exempt=(uid, s.id) in exempt_pairs)
            for uid in students for s in sessions}


def test_review_statuses_match_status_of_one(app: Flask) -> None:
    course, students = _statuses_course()
    s3, s4, s5, s6 = course.sessions
    now = s5.review_deadline + timedelta(seconds=1)  # weeks 3-5 due, week 6 not yet
    statuses = review_statuses(course, now)
    assert statuses == _old_statuses(course, now)
    states = {key: status.state.value for key, status in statuses.items()}
    assert set(states.values()) == {"on_time", "late", "draft", "missing", "excused", "exempt",
                                    "not_due"}
    assert states[(students[4].id, s6.id)] == "not_due"
    assert states[(students[2].id, s5.id)] == "exempt"  # without a review
    assert statuses[(students[3].id, s5.id)].review_id is not None  # exempt, with a review
    assert statuses[(students[4].id, s6.id)].review_id is not None
    assert statuses[(students[1].id, s3.id)].late_penalty_pct == 20
    assert statuses[(students[1].id, s3.id)].submitted_at is not None
    assert review_statuses(course, NOW) == _old_statuses(course, NOW)


@pytest.mark.parametrize("method", ["mean", "instructor_override"])
def test_one_students_results_are_the_course_results_of_that_student(app: Flask,
                                                                      method: str) -> None:
    # The student pages ask for one student; the answer must be that student's part of the
    # course-wide answer, read with the student filter in the queries.
    from review.grading.results import presentation_results
    from review.signup.presenters import presenters_by_slot

    world = _graded_course(method)
    course, students = world["course"], world["students"]
    teacher = make_member(course, CourseRole.instructor)
    slot = db.session.scalars(select(Slot).where(
        Slot.session_id == course.sessions[0].id)).first()
    slot.group_id = make_group(course, students[:2]).id
    db.session.flush()
    db.session.add(Score(course_id=course.id, rubric_id=make_rubric_row("presentation-overview").id,
                         grader_id=teacher.id, target=ScoreTarget.presentation,
                         slot_id=slot.id, total=7, max_total=10, values={}))
    db.session.commit()
    assert presenters_by_slot(course)[slot.id]
    everyone_details = review_score_details(course)
    everyone_pcts = review_scores(course)
    everyone_participation = participation_scores(course)
    everyone_statuses = review_statuses(course, NOW)
    everyone_presentations = presentation_results(course)
    reviews_of = {r.id: r.user_id for r in db.session.scalars(select(Review))}
    for student in students:
        uid = student.id
        assert review_score_details(course, user_id=uid) == {
            rid: c for rid, c in everyone_details.items() if reviews_of[rid] == uid}
        assert review_scores(course, user_id=uid) == {
            rid: p for rid, p in everyone_pcts.items() if reviews_of[rid] == uid}
        assert participation_scores(course, user_id=uid) == {
            key: p for key, p in everyone_participation.items() if key[1] == uid}
        assert review_statuses(course, NOW, user_id=uid) == {
            key: s for key, s in everyone_statuses.items() if key[0] == uid}
        assert presentation_results(course, user_id=uid) == [
            r for r in everyone_presentations if r.user_id == uid]
    assert any(presentation_results(course, user_id=s.id) for s in students)


def test_review_queue_counts_are_the_queues_sizes(app: Flask) -> None:
    from review.grading.services import review_queue, review_queue_counts

    course = _graded_course("mean")["course"]
    queue = review_queue(course, NOW)
    assert review_queue_counts(course, NOW) == (len(queue.order), queue.graded_count) == (6, 5)
    before_deadlines = course.sessions[0].review_deadline - timedelta(days=1)
    assert review_queue_counts(course, before_deadlines) == (0, 0)


def test_presenters_found_by_the_database_are_the_recorded_and_current_ones(app: Flask) -> None:
    # presentation_results finds a student's slots with EXISTS queries; they must follow the
    # presenters' rule: the record once taken (a leaver keeps the talk, a joiner does not get
    # it), else the holder's current members. The overview lists each presented slot once.
    from models import MemberAdjustment, Membership
    from review.grading.results import presentation_results, slot_results
    from review.signup.presenters import presenters_by_slot, record_slot_presenters

    course = _course("mean", code="presenters")
    teacher = make_member(course, CourseRole.instructor)
    ana, ben, cem, dua = (make_member(course) for _ in range(4))
    recorded_slot, current_slot, empty_slot = db.session.scalars(
        select(Slot).where(Slot.session_id.in_([s.id for s in course.sessions]))
        .order_by(Slot.id)).all()[:3]
    recorded_group = make_group(course, [ana, ben])
    recorded_slot.group_id = recorded_group.id
    current_slot.group_id = make_group(course, [cem]).id
    empty_slot.group_id = make_group(course, []).id
    db.session.flush()
    record_slot_presenters(recorded_slot, NOW)
    # After the record: Ben leaves, Dua joins, the group is dissolved.
    db.session.execute(Membership.__table__.delete().where(Membership.user_id == ben.id))
    db.session.add(Membership(course_id=course.id, group_id=recorded_group.id, user_id=dua.id))
    recorded_group.dissolved_at = NOW
    row = make_rubric_row("presentation-overview")
    for slot, total in ((recorded_slot, 8), (current_slot, 6)):
        db.session.add(Score(course_id=course.id, rubric_id=row.id, grader_id=teacher.id,
                             target=ScoreTarget.presentation, slot_id=slot.id, total=total,
                             max_total=10, values={}))
    db.session.add(MemberAdjustment(slot_id=recorded_slot.id, user_id=ben.id, delta_pct=-5,
                                    reason="absent", created_by_id=teacher.id))
    db.session.commit()

    everyone = presentation_results(course)
    assert {(r.slot_id, r.user_id) for r in everyone} == {
        (slot_id, uid) for slot_id, users in presenters_by_slot(course).items() for uid in users}
    assert {(r.slot_id, r.user_id) for r in everyone} == {
        (recorded_slot.id, ana.id), (recorded_slot.id, ben.id), (current_slot.id, cem.id)}
    for student in (ana, ben, cem, dua):
        assert presentation_results(course, user_id=student.id) == [
            r for r in everyone if r.user_id == student.id]
    finals = {r.user_id: r.final_pct for r in everyone}
    assert finals[ana.id] - finals[ben.id] == pytest.approx(5)
    overview = slot_results(course)
    assert [s.slot_id for s in overview] == list(dict.fromkeys(r.slot_id for r in everyone))
    assert overview[[s.slot_id for s in overview].index(recorded_slot.id)].group_name.endswith(
        "(dissolved)")
