"""Review rules against the database: windows, DST deadlines, late policies, versions, locking,
statuses, privacy, similarity flags and the question digest."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select

from models import (
    CourseRole,
    LateDayEntry,
    ParticipationRecord,
    Review,
    ReviewVersion,
    Slot,
    db,
)
from review.reviews import analysis, services
from review.reviews.services import ReviewContent
from review.reviews.status import ReviewState, owes_review, review_statuses
from tests.factories import make_course, make_group, make_member

UTC = timezone.utc

GOOD = ReviewContent.build(
    summary="The paper proposes a sparse attention scheme. It scales to long inputs.",
    strengths="A clear ablation of the window size.",
    weaknesses="Only evaluated on English text.",
    remedies="Evaluate on a multilingual benchmark.",
    questions=["Would the method work for images?", ""])


def _course(**reviews: Any):
    return make_course("rev-course", reviews=reviews) if reviews else make_course("rev-course")


def test_deadline_is_2359_local_the_evening_before_and_window_a_week_earlier(app) -> None:
    course = _course()
    session = course.sessions[0]  # Monday 21 Sep 2026, Istanbul (UTC+3)
    assert session.review_deadline == datetime(2026, 9, 20, 20, 59, tzinfo=UTC)
    # Opens a week before the session, at the session's local time (08:30 +03).
    assert session.review_opens_at == datetime(2026, 9, 14, 5, 30, tzinfo=UTC)


def test_deadline_across_the_autumn_dst_change_keeps_local_2359(app) -> None:
    # Berlin leaves summer time on Sun 25 Oct 2026; the session is Mon 26 Oct.
    course = make_course("dst-course", timezone="Europe/Berlin", session_weeks=(8,),
                         reviews={"late_policy": {"mode": "penalty", "penalty_per_day_pct": 10}})
    session = course.sessions[0]
    assert session.review_deadline == datetime(2026, 10, 25, 22, 59, tzinfo=UTC)  # 23:59 CET
    assert session.review_opens_at == datetime(2026, 10, 19, 6, 30, tzinfo=UTC)  # 08:30 CEST
    student = make_member(course)
    on_time = services.submit_review(session, student, GOOD, datetime(2026, 10, 25, 22, 59, tzinfo=UTC))
    assert on_time.review.days_late == 0
    other = make_member(course)
    with pytest.raises(services.LateConfirmationNeeded) as info:
        services.submit_review(session, other, GOOD, datetime(2026, 10, 25, 23, 0, tzinfo=UTC))
    assert info.value.assessment.days_late == 1 and info.value.assessment.penalty_pct == 10


def test_window_not_open_yet_refuses_drafts(app) -> None:
    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    with pytest.raises(services.ReviewNotOpen, match="open on"):
        services.save_draft(session, student, GOOD, session.review_opens_at - timedelta(minutes=1))


def test_submit_records_hash_time_and_versions_and_is_idempotent(app) -> None:
    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(days=1)
    draft = services.save_draft(session, student, GOOD, now)
    first = services.submit_review(session, student, GOOD, now + timedelta(minutes=1),
                                   expected_version=draft.version)
    canonical = json.dumps(GOOD.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert first.created and first.number == 1
    assert first.review.content_sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    assert first.review.submitted_at == now + timedelta(minutes=1)
    # Double click: same content again -> the same version, nothing new.
    again = services.submit_review(session, student, GOOD, now + timedelta(minutes=1, seconds=1),
                                   expected_version=draft.version)
    assert not again.created and again.number == first.number
    revised = ReviewContent.build(**{**GOOD.to_dict(), "remedies": "Try Turkish and Finnish."})
    second = services.submit_review(session, student, revised, now + timedelta(hours=1),
                                    expected_version=first.review.version)
    assert second.number == 2
    assert db.session.scalar(select(ReviewVersion).where(ReviewVersion.number == 1)).content == GOOD.to_dict()
    assert second.review.content == revised.to_dict()
    # After the deadline the submitted review stands.
    with pytest.raises(services.ReviewClosed, match="can no longer be changed"):
        services.submit_review(session, student, GOOD, session.review_deadline + timedelta(minutes=5))
    assert db.session.query(ReviewVersion).count() == 2


def test_edits_after_submit_autosave_without_touching_the_submitted_version(app) -> None:
    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(days=1)
    submitted = services.submit_review(session, student, GOOD, now).review
    edited = ReviewContent.build(**{**GOOD.to_dict(), "weaknesses": "Only English; no theory."})
    saved = services.save_draft(session, student, edited, now + timedelta(minutes=5),
                                expected_version=submitted.version)
    assert saved.revision == edited.to_dict()
    assert saved.content == GOOD.to_dict() and saved.content_sha256 == GOOD.sha256()
    assert saved.status.value == "submitted" and len(saved.versions) == 1
    # Typing the submitted text back clears the pending revision.
    back = services.save_draft(session, student, GOOD, now + timedelta(minutes=6),
                               expected_version=saved.version)
    assert back.revision is None
    latest = services.save_draft(session, student, edited, now + timedelta(minutes=7),
                                 expected_version=back.version)
    resubmitted = services.submit_review(session, student, edited, now + timedelta(minutes=8),
                                         expected_version=latest.version)
    assert resubmitted.number == 2 and resubmitted.review.revision is None
    with pytest.raises(services.ReviewClosed, match="can no longer be changed"):
        services.save_draft(session, student, GOOD, session.review_deadline + timedelta(minutes=1))


def test_empty_sections_block_submit_and_name_them_but_length_advice_does_not(app) -> None:
    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(hours=2)
    missing = ReviewContent.build(summary="One. Two. Three sentences.", strengths="s",
                                  weaknesses="", remedies="r")
    with pytest.raises(services.ReviewIncomplete) as info:
        services.submit_review(session, student, missing, now)
    assert "Weaknesses and limitations" in str(info.value) and "Discussion questions" in str(info.value)
    check = services.check_content(missing)
    assert any("3 sentences" in a for a in check.advice)
    long_summary = ReviewContent.build(**{**GOOD.to_dict(), "summary": "One. Two. Three."})
    assert services.submit_review(session, student, long_summary, now).created


def test_oversized_text_is_refused_with_the_limit_stated(app) -> None:
    course = _course(max_chars_per_section=100, max_chars_total=250)
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(hours=2)
    with pytest.raises(services.ReviewTooLong, match="Strengths and takeaways has 101 characters; the limit is 100"):
        services.save_draft(session, student, ReviewContent.build(strengths="x" * 101), now)
    with pytest.raises(services.ReviewTooLong, match="the limit is 250"):
        services.save_draft(session, student, ReviewContent.build(
            summary="a" * 90, strengths="b" * 90, weaknesses="c" * 90), now)
    assert db.session.query(Review).count() == 0


def test_late_reject_policy_refuses_and_saves_nothing(app) -> None:
    course = _course(late_policy={"mode": "reject"})
    session = course.sessions[0]
    student = make_member(course)
    with pytest.raises(services.ReviewClosed, match="not accepted"):
        services.submit_review(session, student, GOOD, session.review_deadline + timedelta(seconds=1))
    with pytest.raises(services.ReviewClosed):
        services.save_draft(session, student, GOOD, session.review_deadline + timedelta(seconds=1))
    assert db.session.query(Review).count() == 0


def test_late_penalty_needs_confirmation_then_records_cost(app) -> None:
    course = _course(late_policy={"mode": "penalty", "penalty_per_day_pct": 10})
    session = course.sessions[0]
    student = make_member(course)
    late = session.review_deadline + timedelta(days=1, hours=1)
    with pytest.raises(services.LateConfirmationNeeded, match="2 days late: a 20% penalty"):
        services.submit_review(session, student, GOOD, late)
    result = services.submit_review(session, student, GOOD, late, confirm_late=True)
    assert (result.review.days_late, result.review.late_penalty_pct) == (2, 20.0)
    status = review_statuses(course, late)[(student.id, session.id)]
    assert status.state == ReviewState.late and status.late_penalty_pct == 20.0


def test_grace_days_are_spent_from_the_pool_and_recorded(app) -> None:
    course = _course(late_policy={"mode": "grace_days", "grace_days": 2, "penalty_per_day_pct": 0})
    first, second = course.sessions[0], course.sessions[1]
    student = make_member(course)
    result = services.submit_review(first, student, GOOD, first.review_deadline + timedelta(hours=30),
                                    confirm_late=True)
    assert result.review.late_penalty_pct == 0 and result.review.days_late == 2
    entry = db.session.scalar(select(LateDayEntry))
    assert (entry.days, entry.review_id, entry.user_id) == (2, result.review.id, student.id)
    # The pool is empty now and no per-day penalty is configured: not accepted.
    with pytest.raises(services.ReviewClosed, match="no grace days left"):
        services.submit_review(second, student, GOOD, second.review_deadline + timedelta(hours=1),
                               confirm_late=True)


def test_two_tabs_optimistic_lock_gives_a_clear_answer(app) -> None:
    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(days=1)
    review = services.save_draft(session, student, ReviewContent.build(summary="tab A"), now)
    opened_version = review.version
    services.save_draft(session, student, ReviewContent.build(summary="tab A, more"), now,
                        expected_version=opened_version)
    with pytest.raises(services.ReviewStale, match="another tab"):
        services.save_draft(session, student, ReviewContent.build(summary="tab B"), now,
                            expected_version=opened_version)
    assert db.session.get(Review, review.id).content["summary"] == "tab A, more"


def test_statuses_cover_every_student_and_session_with_exempt_and_excused(app) -> None:
    course = _course(presenters_exempt=True)
    first, second = course.sessions[0], course.sessions[1]
    staff = make_member(course, CourseRole.instructor)
    presenter, excused, writer, absent = (make_member(course) for _ in range(4))
    group = make_group(course, [presenter])
    slot = db.session.scalar(select(Slot).where(Slot.session_id == first.id))
    slot.group_id = group.id
    services.excuse_student(first, excused, "Ill (doctor's note)", staff)
    before = first.review_deadline - timedelta(hours=3)
    services.submit_review(first, writer, GOOD, before)
    services.save_draft(first, absent, ReviewContent.build(summary="started"), before)
    db.session.flush()
    after = first.review_deadline + timedelta(minutes=1)
    statuses = review_statuses(course, after)
    assert len(statuses) == 4 * len(course.sessions)
    states = {user.id: statuses[(user.id, first.id)].state
              for user in (presenter, excused, writer, absent)}
    assert states == {presenter.id: ReviewState.exempt, excused.id: ReviewState.excused,
                      writer.id: ReviewState.on_time, absent.id: ReviewState.draft}
    assert statuses[(writer.id, second.id)].state == ReviewState.not_due
    assert review_statuses(course, second.review_deadline + timedelta(seconds=1))[
        (writer.id, second.id)].state == ReviewState.missing
    assert not owes_review(statuses[(presenter.id, first.id)])
    assert owes_review(statuses[(absent.id, first.id)])
    assert statuses[(absent.id, second.id)].state == ReviewState.not_due
    with pytest.raises(services.ReviewError, match="already excused"):
        services.excuse_student(first, excused, "again", staff)


def _count_queries(action) -> int:
    count = 0

    def counter(*args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return count


def test_review_statuses_uses_a_fixed_number_of_queries(app) -> None:
    course = _course(presenters_exempt=True)
    session = course.sessions[0]
    now = session.review_deadline - timedelta(hours=1)
    for _ in range(3):
        services.submit_review(session, make_member(course), GOOD, now)
    db.session.commit()
    small = _count_queries(lambda: review_statuses(course, now))
    for _ in range(12):
        services.submit_review(session, make_member(course), GOOD, now)
    db.session.commit()
    assert _count_queries(lambda: review_statuses(course, now)) == small


def test_privacy_before_and_after_release(app) -> None:
    course = _course()
    session = course.sessions[0]
    author, classmate = make_member(course), make_member(course)
    ta = make_member(course, CourseRole.ta)
    outsider = make_member(make_course("other-course"))
    now = session.review_deadline - timedelta(hours=1)
    review = services.submit_review(session, author, GOOD, now).review
    assert services.can_read_review(review, author, now)
    assert services.can_read_review(review, ta, now)
    assert not services.can_read_review(review, classmate, now)
    with pytest.raises(services.ReviewError, match="only after the deadline"):
        services.release_reviews(session, ta, now)
    later = session.review_deadline + timedelta(hours=1)
    assert not services.can_read_review(review, classmate, later)
    services.release_reviews(session, ta, later)
    assert services.can_read_review(review, classmate, later)
    assert not services.can_read_review(review, outsider, later)


def test_similarity_flags_planted_near_duplicates_only(app) -> None:
    course = _course()
    session = course.sessions[0]
    now = session.review_deadline - timedelta(hours=1)
    original = ReviewContent.build(
        summary="The authors replace dense attention with a learned sparse routing that picks a "
                "few keys per query, and claim linear memory in the sequence length.",
        strengths="The routing is differentiable end to end and the ablation over the number of "
                  "selected keys is convincing on three long document benchmarks.",
        weaknesses="The comparison omits recent linear attention baselines and all experiments "
                   "use a single random seed, so the small gains may be noise.",
        remedies="Add the missing baselines and report mean and deviation over five seeds.",
        questions=["Does routing collapse onto a few popular keys during training?"])
    copy = ReviewContent.build(**{**original.to_dict(),
                                  "summary": "In short, the authors replace dense attention with a "
                                             "learned sparse routing that picks a few keys per "
                                             "query, and they claim linear memory in the sequence length."})
    independent = ReviewContent.build(
        summary="A study of protein folding with graph networks.",
        strengths="I learned how residue contacts become edges.",
        weaknesses="No wet-lab validation of any predicted structure.",
        remedies="Partner with a lab to test two structures.",
        questions=["How are disulfide bridges handled?"])
    a, b, c = make_member(course), make_member(course), make_member(course)
    for student, content in ((a, original), (b, copy), (c, independent)):
        services.submit_review(session, student, content, now)
    # The commit queues the check; the immediate backend runs it there and then.
    db.session.commit()
    threshold, rows = analysis.similarity_report(
        session, analysis.analysis_of(session, analysis.SIMILARITY))
    assert threshold == 0.5
    assert len(rows) == 1
    pair = {rows[0].first.user_id, rows[0].second.user_id}
    assert pair == {a.id, b.id} and rows[0].passages >= 1 and "<mark>" in str(rows[0].first_html)


def test_digest_groups_questions_biggest_first_and_marks_raised(app) -> None:
    course = _course()
    session = course.sessions[0]
    staff = make_member(course, CourseRole.instructor)
    now = session.review_deadline - timedelta(hours=1)
    questions = [
        ["Would the sparse attention method work for image transformers?",
         "Why was the learning rate schedule not tuned?"],
        ["Could this sparse attention method apply to image transformers too?"],
        ["Does sparse attention work for vision transformers on images?"],
        ["What about the carbon footprint of training?"],
    ]
    students = []
    for qs in questions:
        student = make_member(course)
        students.append(student)
        services.submit_review(session, student, ReviewContent.build(
            **{**GOOD.to_dict(), "questions": qs}), now)
    db.session.commit()
    clusters = analysis.session_digest(session)
    assert sum(c.count for c in clusters) == 5
    assert clusters[0].count == 3
    assert {i.review.user_id for i in clusters[0].items} == {s.id for s in students[:3]}
    item = clusters[0].items[1]
    record = services.mark_question_raised(session, item.review.id, item.index, None, staff)
    assert (record.kind, record.user_id, record.recorded_by_id) == ("question", item.review.user_id, staff.id)
    with pytest.raises(services.ReviewError, match="already marked"):
        services.mark_question_raised(session, item.review.id, item.index, None, staff)
    with pytest.raises(services.ReviewError, match="does not exist"):
        services.mark_question_raised(session, item.review.id, 4, None, staff)
    assert analysis.session_digest(session)[0].items[1].raised is not None
    services.unmark_question_raised(session, item.review.id, item.index)
    assert db.session.query(ParticipationRecord).count() == 0


def test_digest_visibility(app) -> None:
    course = _course()
    session = course.sessions[0]
    presenter, other = make_member(course), make_member(course)
    ta = make_member(course, CourseRole.ta)
    group = make_group(course, [presenter])
    db.session.scalar(select(Slot).where(Slot.session_id == session.id)).group_id = group.id
    db.session.flush()
    before, after = session.review_deadline - timedelta(hours=1), session.review_deadline + timedelta(hours=1)
    assert services.can_see_digest(session, ta, before) == (True, True)
    assert services.can_see_digest(session, presenter, before) == (False, False)
    assert services.can_see_digest(session, presenter, after) == (True, False)
    assert services.can_see_digest(session, other, after) == (False, False)


def test_a_draft_before_the_deadline_is_labelled_as_a_draft(app) -> None:
    course = _course()
    session = course.sessions[0]
    writer, idle = make_member(course), make_member(course)
    now = session.review_deadline - timedelta(days=1)
    services.save_draft(session, writer, GOOD, now)
    statuses = review_statuses(course, now)
    assert statuses[(writer.id, session.id)].label == "draft (not due yet)"
    assert statuses[(idle.id, session.id)].label == "not due yet"


def test_a_resubmit_renders_only_the_sections_it_changed_and_stores_the_same_html(
        app, monkeypatch) -> None:
    from review.reviews import rendering

    course = _course()
    session = course.sessions[0]
    student = make_member(course)
    now = session.review_deadline - timedelta(days=1)
    rendered: list[str] = []
    real = rendering.render_markdown
    monkeypatch.setattr(rendering, "render_markdown",
                        lambda text: rendered.append(text) or real(text))
    first = services.submit_review(session, student, GOOD, now)
    assert len(rendered) == 5  # four sections and the question (the empty one is dropped)
    rendered.clear()
    revised = ReviewContent.build(**{**GOOD.to_dict(), "remedies": "Try *Turkish* and $x^2$.",
                                     "questions": ["Would the method work for images?",
                                                   "And for audio?"]})
    second = services.submit_review(session, student, revised, now + timedelta(hours=1),
                                    expected_version=first.review.version)
    assert rendered == ["Try *Turkish* and $x^2$.", "And for audio?"]
    assert second.review.rendered["html"] == rendering.render_content(revised.to_dict())
    assert rendering.usable_rendering(second.review.rendered, second.review.content_sha256)

    # HTML from an older renderer is not reused: everything is made again.
    monkeypatch.setattr(rendering, "RENDERER_VERSION", rendering.RENDERER_VERSION + 1)
    rendered.clear()
    third = services.submit_review(session, student, GOOD, now + timedelta(hours=2),
                                   expected_version=second.review.version)
    assert len(rendered) == 5
    assert third.review.rendered["renderer"] == rendering.RENDERER_VERSION
