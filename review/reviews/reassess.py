"""Late reviews under a changed deadline rule: re-evaluate what was already submitted.

When a course file changes its review deadlines or its late policy, every submitted review is
assessed again from its own ``submitted_at``, in each student's submission order so that the
grace-day pool is spent as it would have been. Each review whose late state changes is updated
(``days_late``, ``late_penalty_pct``, its grace-day ledger entry) and audited. A review the new
rule would refuse outright (too late, or late reviews no longer accepted) is never un-submitted:
it keeps its earlier penalty and grace days, takes its new number of days late, and is counted
apart so the report says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import AuditEntry, Course, LateDayEntry, PaperSession, Review, ReviewStatus, db
from review.reviews.policy import LatePolicy, assess_late


@dataclass
class LateReassessment:
    """How many submitted reviews changed, and how (see ``summary``)."""

    now_on_time: int = 0
    now_late: int = 0
    new_penalty: int = 0
    kept_refused: int = 0
    changed_review_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """E.g. "3 reviews are now on time, 1 is now late"; empty when nothing changed."""
        parts = []
        for count, singular, plural in (
            (self.now_on_time, "is now on time", "are now on time"),
            (self.now_late, "is now late", "are now late"),
            (self.new_penalty, "is late by a different amount", "are late by a different amount"),
            (self.kept_refused, "would now be refused, so it keeps its earlier penalty",
             "would now be refused, so they keep their earlier penalties"),
        ):
            if count:
                parts.append((count, singular if count == 1 else plural))
        words = [f"{count} {text}" for count, text in parts]
        if words:
            first_count = parts[0][0]
            words[0] = f"{first_count} review{'s' if first_count != 1 else ''} {parts[0][1]}"
        return ", ".join(words)


def reassess_late_reviews(course: Course, policy: LatePolicy, *,
                          reason: str) -> LateReassessment:
    """Re-evaluate every submitted review of the course under ``policy`` and the sessions'
    current deadlines; updates, audits and flushes what changed."""
    reviews = list(db.session.scalars(
        select(Review).join(PaperSession, Review.session_id == PaperSession.id)
        .where(PaperSession.course_id == course.id, Review.status == ReviewStatus.submitted,
               Review.submitted_at.is_not(None))
        .options(joinedload(Review.session))
        .order_by(Review.user_id, Review.submitted_at, Review.id)))
    entries = list(db.session.scalars(
        select(LateDayEntry).where(LateDayEntry.course_id == course.id)))
    # Entries a review spent are derived from it; any other entry (a staff refund, say) stands.
    spent_by_review: dict[int, list[LateDayEntry]] = defaultdict(list)
    other_entries: dict[int, list[LateDayEntry]] = defaultdict(list)
    for entry in entries:
        if entry.review_id is not None:
            spent_by_review[entry.review_id].append(entry)
        else:
            other_entries[entry.user_id].append(entry)

    result = LateReassessment()
    spent_so_far: dict[int, int] = defaultdict(int)
    for review in reviews:
        submitted_at: datetime = review.submitted_at  # type: ignore[assignment]
        own_entries = spent_by_review.get(review.id, [])
        old_grace = sum(entry.days for entry in own_entries)
        earlier_other = sum(entry.days for entry in other_entries[review.user_id]
                            if entry.created_at <= submitted_at)
        assessment = assess_late(policy, review.session.review_deadline, submitted_at,
                                 max(0, earlier_other + spent_so_far[review.user_id]))
        days = assessment.days_late
        if assessment.accepted:
            penalty, grace = assessment.penalty_pct, assessment.grace_days_to_use
        else:
            penalty, grace = review.late_penalty_pct, old_grace
        spent_so_far[review.user_id] += grace
        old = {"days_late": review.days_late, "late_penalty_pct": review.late_penalty_pct,
               "grace_days": old_grace}
        new = {"days_late": days, "late_penalty_pct": penalty, "grace_days": grace}
        if old == new:
            continue
        if not assessment.accepted:
            result.kept_refused += 1
        elif review.days_late > 0 and days == 0:
            result.now_on_time += 1
        elif review.days_late == 0 and days > 0:
            result.now_late += 1
        else:
            result.new_penalty += 1
        review.days_late, review.late_penalty_pct = days, penalty
        _set_grace_entry(review, own_entries, grace, submitted_at)
        result.changed_review_ids.append(review.id)
        db.session.add(AuditEntry(
            course_id=course.id, actor_id=None, category="reviews", action="late_reassessed",
            entity="review", entity_id=review.id, old=old, new=new, reason=reason))
    db.session.flush()
    return result


def _set_grace_entry(review: Review, entries: list[LateDayEntry], days: int,
                     submitted_at: datetime) -> None:
    """Leave exactly one ledger entry of ``days`` grace days for the review (none for 0)."""
    keep, *extra = entries or [None]
    for entry in extra:
        db.session.delete(entry)
    if days == 0:
        if keep is not None:
            db.session.delete(keep)
        return
    if keep is None:
        db.session.add(LateDayEntry(
            course_id=review.session.course_id, user_id=review.user_id, days=days,
            review_id=review.id, created_at=submitted_at,
            reason=f"Late review: {review.session.paper.title}"[:200]))
    else:
        keep.days = days
