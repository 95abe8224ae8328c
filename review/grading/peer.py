"""Peer evaluation of presentations: the rating window, one rating per student, agreement stats.

The window of a session opens at ``PaperSession.starts_at`` and closes
``grading.peer_window_minutes`` later. Inside it, any student of the course who is not one of
the slot's presenters (``review.signup.presenters``: who gave the talk, not who is in the group
now) may rate that presentation with the course's peer rubric, once (unique (slot, rater)), and
change the rating until the window closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import Course, PaperSession, PeerRating, Slot, User, db
from review.grading.results import (
    held_slots,
    peer_ratings,
    presentation_scores,
    staff_roles,
    combine,
)
from review.grading.scoring import ScoringError, krippendorff_alpha, rater_distances, score_total
from review.grading.services import (
    GradingRefused,
    course_definition,
    course_rubric,
    ensure_rubric_row,
    is_student_of,
    rubric_scope,
)
from review.signup.presenters import presenters_by_slot, slot_presenters


def peer_window(course: Course, session: PaperSession) -> tuple[datetime, datetime]:
    minutes = course_definition(course).grading.peer_window_minutes
    return session.starts_at, session.starts_at + timedelta(minutes=minutes)


def window_open(course: Course, session: PaperSession, now: datetime) -> bool:
    opens, closes = peer_window(course, session)
    return opens <= now < closes


def rateable_slots(course: Course, student: User, now: datetime) -> list[Slot]:
    """Held slots whose window is open now and that the student does not present in."""
    presenters = presenters_by_slot(course)
    return [slot for slot in held_slots(course)
            if window_open(course, slot.session, now)
            and student.id not in presenters.get(slot.id, ())]


def check_can_rate(course: Course, student: User, slot: Slot, now: datetime) -> None:
    if slot.session.course_id != course.id or slot.group_id is None:
        raise GradingRefused("There is no such presentation to rate in this course.")
    if not is_student_of(course, student.id):
        raise GradingRefused("Only students of the course rate presentations.")
    if student.id in slot_presenters(slot):
        raise GradingRefused("You present in this slot, so you cannot rate it.")
    opens, closes = peer_window(course, slot.session)
    if now < opens:
        raise GradingRefused("Rating opens when the session starts.")
    if now >= closes:
        raise GradingRefused("Rating of this presentation has closed.")


def my_rating(slot: Slot, student: User) -> PeerRating | None:
    return db.session.scalar(select(PeerRating).where(PeerRating.slot_id == slot.id,
                                                      PeerRating.rater_id == student.id))


def save_peer_rating(course: Course, student: User, slot: Slot, values: Mapping[str, Any],
                     now: datetime) -> PeerRating:
    """Create or replace the student's rating of the presentation while the window is open."""
    check_can_rate(course, student, slot, now)
    rubric = course_rubric(course, "peer")
    try:
        result = score_total(rubric, dict(values), require_complete=True)
    except ScoringError as exc:
        raise GradingRefused(f"Not saved: {exc}") from None
    row = ensure_rubric_row(rubric, rubric_scope(course, rubric))
    rating = my_rating(slot, student)
    if rating is None:
        rating = PeerRating(slot_id=slot.id, rater_id=student.id, rubric_id=row.id,
                            values=result.scores, total=result.total,
                            max_total=result.max_score, created_at=now, updated_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(rating)
        except IntegrityError:
            raise GradingRefused("You already rated this presentation (in another tab?); "
                                 "reload to change that rating.") from None
    else:
        rating.rubric_id = row.id
        rating.values = result.scores
        rating.total = result.total
        rating.max_total = result.max_score
        rating.updated_at = now
        db.session.flush()
    return rating


@dataclass(frozen=True)
class PeerSummary:
    """For the staff page: agreement between raters and each rater's distance from staff."""

    alpha: float | None
    rater_count: int
    item_count: int
    distances: list[tuple[int, str, float, int]]  # rater id, name, mean distance, items shared


def peer_summary(course: Course) -> PeerSummary:
    """Krippendorff's alpha over raters x presentations (percentages, interval level), and
    each rater's mean absolute distance from the combined staff percentage."""
    grading = course_definition(course).grading
    ratings = peer_ratings(course)
    slot_ids = sorted(ratings)
    by_rater: dict[int, dict[int, float]] = {}
    for slot_id, slot_ratings in ratings.items():
        for rating in slot_ratings:
            by_rater.setdefault(rating.rater_id, {})[slot_id] = rating.total / rating.max_total * 100
    raters = sorted(by_rater)
    matrix = [[by_rater[r].get(s) for s in slot_ids] for r in raters]
    alpha = krippendorff_alpha(matrix) if raters else None
    scores = presentation_scores(course)
    roles = staff_roles(course)
    staff: dict[int, float] = {}
    for slot_id, item_scores in scores.items():
        combined = combine(item_scores, roles, method=grading.combine_graders,
                           threshold=grading.disagreement_pct)
        if combined is not None:
            staff[slot_id] = combined.percentage
    distances = rater_distances(by_rater, staff)
    names = {user.id: user.full_name for user in db.session.scalars(
        select(User).where(User.id.in_(raters)))} if raters else {}
    rows = [(rater, names.get(rater, str(rater)), distance,
             sum(1 for item in by_rater[rater] if item in staff))
            for rater, distance in distances.items()]
    return PeerSummary(alpha=alpha, rater_count=len(raters), item_count=len(slot_ids),
                       distances=rows)


def peer_summary_for_slot(course: Course, slot: Slot) -> dict[str, Any]:
    """What a presenting student sees: count, aggregate and per-criterion medians (no raters)."""
    import statistics

    grading = course_definition(course).grading
    ratings = list(db.session.scalars(select(PeerRating).where(PeerRating.slot_id == slot.id)))
    if not ratings:
        return {"count": 0, "pct": None, "criteria": {}}
    from review.grading.results import peer_pct

    criteria: dict[str, list[float]] = {}
    for rating in ratings:
        for key, value in rating.values.items():
            criteria.setdefault(key, []).append(float(value))
    return {"count": len(ratings), "pct": peer_pct(ratings, grading.peer_aggregate),
            "criteria": {key: statistics.median(values) for key, values in criteria.items()}}
