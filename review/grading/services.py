"""Grading rules: rubric versions, staff scores, adjustments, participation, release, regrades.

Rubrics in the database, and which rubric a course uses for what:

A loaded rubric file (``app.extensions["rubrics"]``) is copied into the ``rubric`` table the
first time something is scored with it. Rows are keyed by (scope, key, content_hash): an
unchanged file maps to the same row; an edited file (new content, new hash) gets a new row with
the next version number for that key. Scores keep the ``rubric_id`` they were given under, so old
scores are read against their own version and are never rescaled.

A course may bring its own rubrics (``rubrics_dir`` in its file): ``course import`` stores them
with ``scope`` = the course code, versioned the same way. ``course_rubric`` is the one answer to
"which rubric grades this for this course": the course's own (latest version) before the
deployment's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

import models
from models import Course, CourseRole, ScoreTarget, db, utcnow
from review.core.errors import DomainError
from review.courses.definition import CourseDefinition, stored_definition
from review.grading.scoring import ScoringError, score_total
from review.notifications import events as notify
from review.reviews.policy import format_local
from review.rubrics import Rubric
from review.signup.presenters import record_slot_presenters, slot_presenters

RubricUse = Literal["presentation", "review", "participation", "peer"]


class RubricMissing(DomainError):
    """The course names a rubric that is not loaded."""


def course_definition(course: Course) -> CourseDefinition:
    return stored_definition(course)


def loaded_rubrics() -> dict[str, Rubric]:
    return current_app.extensions.get("rubrics", {})


def rubric_id_for(course: Course, use: RubricUse, role_key: str | None = None) -> str:
    """The rubric id (file name) the course picked for this use."""
    choice = course_definition(course).rubrics
    if use == "presentation":
        if role_key is None:
            raise ValueError("a presentation rubric needs the role key")
        return course_definition(course).presentation_rubric(role_key)
    return {"review": choice.review, "participation": choice.participation,
            "peer": choice.peer}[use]


def course_local_rubrics(course: Course) -> dict[str, Rubric]:
    """The rubrics the course brought (``rubrics_dir``), by id, each at its latest version."""
    rows = db.session.scalars(
        select(models.Rubric).where(models.Rubric.scope == course.code)
        .order_by(models.Rubric.key, models.Rubric.version))
    return {row.key: stored_rubric(row) for row in rows}


def course_rubrics(course: Course) -> dict[str, Rubric]:
    """Every rubric the course can use, by id: its own before the deployment's."""
    return {**loaded_rubrics(), **course_local_rubrics(course)}


def rubric_scope(course: Course, rubric: Rubric) -> str:
    """Where ``rubric`` comes from: the course code when the course brought it, else ""."""
    own = course_local_rubrics(course).get(rubric.id)
    return course.code if own is not None and own.content_hash == rubric.content_hash else ""


def course_rubric(course: Course, use: RubricUse, role_key: str | None = None) -> Rubric:
    """The rubric the course uses (its own before the deployment's); RubricMissing names the
    course setting that is wrong."""
    rubric_id = rubric_id_for(course, use, role_key)
    available = course_rubrics(course)
    rubric = available.get(rubric_id)
    setting = f"rubrics.presentations.{role_key}" if use == "presentation" else f"rubrics.{use}"
    if rubric is None:
        known = ", ".join(sorted(available)) or "none"
        where = "the deployment's rubrics/ nor the course's rubrics_dir"
        if use == "presentation":
            raise RubricMissing(
                f"Role '{role_key}' of {course.code} has no rubric: it is graded with rubric "
                f"'{rubric_id}' ({setting}), which is in neither {where} (available: {known}). "
                f"Add {rubric_id}.yaml to one of them, or name an existing rubric under {setting}."
            )
        raise RubricMissing(
            f"The course {course.code} uses rubric {rubric_id!r} ({setting}), but no rubric "
            f"file has that id in {where} (available: {known})."
        )
    expected = "presentation" if use == "presentation" else use
    if rubric.applies_to != expected:
        raise RubricMissing(
            f"The course {course.code} uses rubric {rubric_id!r} for {use} ({setting}), but that "
            f"rubric applies to {rubric.applies_to}."
        )
    return rubric


def check_course_rubrics(course: Course) -> list[str]:
    """Every problem with the course's rubric choices (empty when all are loaded and fit)."""
    problems = []
    for use in ("review", "participation", "peer"):
        try:
            course_rubric(course, use)  # type: ignore[arg-type]
        except RubricMissing as exc:
            problems.append(str(exc))
    for role in course.roles:
        try:
            course_rubric(course, "presentation", role.key)
        except RubricMissing as exc:
            problems.append(str(exc))
    return problems


def ensure_rubric_row(rubric: Rubric, scope: str = "") -> models.Rubric:
    """The database row of this rubric content in ``scope`` ("" for the deployment's, a course
    code for a course's own), inserted (next version for its key there) if new."""
    content_hash = rubric.content_hash

    def existing() -> models.Rubric | None:
        return db.session.scalar(
            select(models.Rubric).where(models.Rubric.scope == scope,
                                        models.Rubric.key == rubric.id,
                                        models.Rubric.content_hash == content_hash))

    row = existing()
    if row is not None:
        return row
    latest = db.session.scalar(
        select(func.max(models.Rubric.version)).where(models.Rubric.scope == scope,
                                                      models.Rubric.key == rubric.id)) or 0
    row = models.Rubric(scope=scope, key=rubric.id, version=latest + 1, content_hash=content_hash,
                        title=rubric.title, applies_to=rubric.applies_to,
                        max_score=rubric.max_score, definition=rubric.to_storage())
    try:
        # A savepoint, so that losing the race with another first use keeps the outer work.
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        row = existing()
        if row is None:
            raise DomainError(f"Could not store rubric {rubric.id!r}; try again.") from None
    return row


def rubric_as_shown(rubric: Rubric, role: models.PresentationRole | None) -> Rubric:
    """The rubric's text as graders and students read it: ``{minutes}`` is the role's time box
    (as the course has it now), so one rubric file serves courses with other slot lengths."""
    return rubric.rendered(**({"minutes": role.minutes} if role is not None else {}))


_STORED: dict[tuple[int, str], Rubric] = {}


def stored_rubric(row: models.Rubric) -> Rubric:
    """The rubric a stored row describes (its own version, not the file's current one)."""
    cache_key = (row.id, row.content_hash)
    if cache_key not in _STORED:
        _STORED[cache_key] = Rubric.from_storage(row.definition)
    return _STORED[cache_key]


# ============================================================================ errors


class GradingRefused(DomainError):
    """A grading action the rules do not allow (bad values, wrong item, wrong role)."""


class StaleScore(GradingRefused):
    """The score changed since the grader loaded it; ``current`` holds the saved score."""

    def __init__(self, current: models.Score) -> None:
        self.current = current
        who = current.grader.full_name if current.grader else "another grader"
        super().__init__(
            f"This score was changed by {who} after you opened it (now version "
            f"{current.version}, total {current.total:g}/{current.max_total:g}). Nothing was "
            "saved; the saved values are shown below. Re-apply your changes and save again."
        )


# ============================================================================ helpers


def enrollment_in(course: Course, user: models.User) -> models.Enrollment | None:
    return db.session.scalar(select(models.Enrollment).where(
        models.Enrollment.course_id == course.id, models.Enrollment.user_id == user.id))


def require_staff(course: Course, user: models.User) -> models.Enrollment:
    enrollment = enrollment_in(course, user)
    if enrollment is None or enrollment.role not in (CourseRole.instructor, CourseRole.ta):
        raise GradingRefused("Only the course's instructors and TAs may grade.")
    return enrollment


def require_instructor(course: Course, user: models.User) -> None:
    enrollment = enrollment_in(course, user)
    if enrollment is None or enrollment.role != CourseRole.instructor:
        raise GradingRefused("Only an instructor of the course may do that.")


def is_student_of(course: Course, user_id: int) -> bool:
    return db.session.scalar(select(models.Enrollment.id).where(
        models.Enrollment.course_id == course.id, models.Enrollment.user_id == user_id,
        models.Enrollment.role == CourseRole.student)) is not None


def slot_of_course(course: Course, slot_id: int) -> models.Slot:
    slot = db.session.get(models.Slot, slot_id)
    if slot is None or slot.session.course_id != course.id:
        raise GradingRefused(f"There is no presentation {slot_id} in {course.code}.")
    return slot


def held_slot_of_course(course: Course, slot_id: int) -> models.Slot:
    slot = slot_of_course(course, slot_id)
    if slot.group_id is None:
        raise GradingRefused("Nobody holds that presentation slot, so there is nothing to grade.")
    return slot


def review_of_course(course: Course, review_id: int) -> models.Review:
    review = db.session.get(models.Review, review_id)
    if review is None or review.session.course_id != course.id:
        raise GradingRefused(f"There is no review {review_id} in {course.code}.")
    return review


def session_of_course(course: Course, session_id: int) -> models.PaperSession:
    session = db.session.get(models.PaperSession, session_id)
    if session is None or session.course_id != course.id:
        raise GradingRefused(f"There is no paper session {session_id} in {course.code}.")
    return session


def audit(course: Course, actor: models.User | None, action: str, entity: str,
          entity_id: int | None, old: dict[str, Any] | None, new: dict[str, Any] | None,
          reason: str = "") -> models.AuditEntry:
    entry = models.AuditEntry(course_id=course.id, actor_id=actor.id if actor else None,
                              category="grade", action=action, entity=entity,
                              entity_id=entity_id, old=old, new=new, reason=reason)
    db.session.add(entry)
    return entry


def _snapshot(score: models.Score) -> dict[str, Any]:
    return {"values": dict(score.values or {}), "comments": dict(score.comments or {}),
            "overall_comment": score.overall_comment, "total": score.total,
            "max_total": score.max_total, "rubric_id": score.rubric_id,
            "version": score.version}


# ============================================================================ staff scores


@dataclass(frozen=True)
class ScoreItem:
    """What a score is of: exactly one of a held slot, a submitted review, a (session, student)."""

    target: ScoreTarget
    slot: models.Slot | None = None
    review: models.Review | None = None
    session: models.PaperSession | None = None
    student_id: int | None = None

    @property
    def use(self) -> RubricUse:
        return self.target.value  # type: ignore[return-value]

    @property
    def role_key(self) -> str | None:
        return self.slot.role.key if self.slot is not None else None

    def where(self) -> Any:
        if self.target == ScoreTarget.presentation:
            assert self.slot is not None
            return models.Score.slot_id == self.slot.id
        if self.target == ScoreTarget.review:
            assert self.review is not None
            return models.Score.review_id == self.review.id
        assert self.session is not None
        return (models.Score.session_id == self.session.id) & (
            models.Score.student_id == self.student_id)

    def columns(self) -> dict[str, Any]:
        if self.target == ScoreTarget.presentation:
            return {"slot_id": self.slot.id}  # type: ignore[union-attr]
        if self.target == ScoreTarget.review:
            return {"review_id": self.review.id}  # type: ignore[union-attr]
        return {"session_id": self.session.id, "student_id": self.student_id}  # type: ignore[union-attr]


def presentation_item(course: Course, slot_id: int) -> ScoreItem:
    return ScoreItem(ScoreTarget.presentation, slot=held_slot_of_course(course, slot_id))


def review_item(course: Course, review_id: int) -> ScoreItem:
    review = review_of_course(course, review_id)
    if review.status != models.ReviewStatus.submitted:
        raise GradingRefused("That review was not submitted; unsubmitted reviews get zero by "
                             "rule and are not graded by hand.")
    return ScoreItem(ScoreTarget.review, review=review)


def participation_item(course: Course, session_id: int, student_id: int) -> ScoreItem:
    session = session_of_course(course, session_id)
    if not is_student_of(course, student_id):
        raise GradingRefused(f"User {student_id} is not a student of {course.code}.")
    return ScoreItem(ScoreTarget.participation, session=session, student_id=student_id)


def scores_of(item: ScoreItem) -> list[models.Score]:
    return list(db.session.scalars(
        select(models.Score).where(item.where()).options(
            joinedload(models.Score.grader), joinedload(models.Score.rubric))
        .order_by(models.Score.id)).unique())


def own_score(item: ScoreItem, grader: models.User, *, lock: bool = False) -> models.Score | None:
    query = select(models.Score).where(item.where(), models.Score.grader_id == grader.id)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query)


def rubric_for_item(course: Course, item: ScoreItem, existing: models.Score | None) -> tuple[Rubric, models.Rubric | None]:
    """The rubric to show and validate against: the existing score's own version, else current."""
    if existing is not None:
        return stored_rubric(existing.rubric), existing.rubric
    return course_rubric(course, item.use, item.role_key), None


def parse_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Form strings to numbers; a non-number is kept as text so the scorer names it."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            values[key] = value
    return values


def save_score(course: Course, grader: models.User, item: ScoreItem, *,
               values: Mapping[str, Any], comments: Mapping[str, str] | None = None,
               overall_comment: str = "", loaded_version: int | None = None,
               reason: str = "", now: datetime | None = None) -> models.Score:
    """Create or update the grader's score of the item (complete rubric required), audited.

    ``loaded_version`` is the Score.version the grader's form was built from (None or 0 for a
    new score). If the saved score has moved on, StaleScore is raised and nothing is saved.
    """
    require_staff(course, grader)
    now = now or utcnow()
    existing = own_score(item, grader, lock=True)
    if existing is not None and (loaded_version or 0) != existing.version:
        raise StaleScore(existing)
    if existing is None and loaded_version:
        raise GradingRefused("The score you were editing no longer exists; reload the page.")
    rubric, row = rubric_for_item(course, item, existing)
    try:
        result = score_total(rubric, dict(values), require_complete=True)
    except ScoringError as exc:
        raise GradingRefused(f"Not saved: {exc}") from None
    comments = {key: text.strip() for key, text in (comments or {}).items() if text and text.strip()}
    unknown = [key for key in comments if key not in rubric.criterion_ids]
    if unknown:
        raise GradingRefused(f"Not saved: comment for unknown criterion {', '.join(unknown)!s}.")
    if row is None:
        row = ensure_rubric_row(rubric, rubric_scope(course, rubric))
    old = _snapshot(existing) if existing is not None else None
    if item.slot is not None:
        # A talk graded before its session starts is credited to who holds it now.
        record_slot_presenters(item.slot, now)
    if existing is None:
        score = models.Score(course_id=course.id, rubric_id=row.id, grader_id=grader.id,
                             target=item.target, values=result.scores, comments=comments,
                             overall_comment=overall_comment.strip(), total=result.total,
                             max_total=result.max_score, created_at=now, updated_at=now,
                             **item.columns())
        try:
            with db.session.begin_nested():
                db.session.add(score)
        except IntegrityError:
            current = own_score(item, grader)
            if current is not None:
                raise StaleScore(current) from None
            raise GradingRefused("The score could not be saved; reload and try again.") from None
    else:
        score = existing
        score.values = result.scores
        score.comments = comments
        score.overall_comment = overall_comment.strip()
        score.total = result.total
        score.max_total = result.max_score
        score.updated_at = now
        try:
            db.session.flush()
        except StaleDataError:
            # Another save won between our read and our write (the row lock makes this rare);
            # the view rolls back and reloads, showing the other save.
            raise GradingRefused("Someone saved this score at the same moment; nothing of yours "
                                 "was saved. Reload the page to see their values.") from None
    new = _snapshot(score)
    if old is not None:
        new["version"] = score.version
    action = "score.create" if old is None else "score.update"
    if item_released(item) and _changes_what_students_see(old, new):
        # The student already read the released feedback; tell them it changed, and when.
        score.updated_after_release_at = now
        action = "score.create_after_release" if old is None else "score.update_after_release"
    audit(course, grader, action, "score", score.id, old, new, reason)
    return score


def _changes_what_students_see(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    if old is None:
        return True  # another grader's score changes the combined result
    shown = ("values", "comments", "overall_comment", "total", "max_total")
    return any(old[key] != new[key] for key in shown)


# ============================================================================ review queue


@dataclass(frozen=True)
class ReviewQueue:
    """The reviews to grade: submitted, past their deadline (before it the student may still
    revise), oldest session first; ``graded`` are those with a score by any grader, which is
    what the overview counts."""

    order: list[int]
    graded: frozenset[int]

    @property
    def graded_count(self) -> int:
        return sum(1 for review_id in self.order if review_id in self.graded)

    def next_ungraded(self, after: int | None = None) -> int | None:
        """The first ungraded review after ``after`` in queue order, wrapping to the start."""
        start = self.order.index(after) + 1 if after in self.order else 0
        for review_id in self.order[start:] + self.order[:start]:
            if review_id not in self.graded and review_id != after:
                return review_id
        return None


def review_queue(course: Course, now: datetime, section: str | None = None) -> ReviewQueue:
    """The course's queue; with ``section``, only reviews by students of that section."""
    query = (select(models.Review.id)
             .join(models.PaperSession, models.Review.session_id == models.PaperSession.id)
             .where(models.PaperSession.course_id == course.id,
                    models.PaperSession.review_deadline < now,
                    models.Review.status == models.ReviewStatus.submitted)
             .order_by(models.PaperSession.starts_at, models.Review.id))
    if section:
        query = query.join(models.Enrollment,
                           (models.Enrollment.user_id == models.Review.user_id)
                           & (models.Enrollment.course_id == course.id)).where(
            models.Enrollment.section == section)
    order = list(db.session.scalars(query))
    graded = frozenset(db.session.scalars(select(models.Score.review_id).where(
        models.Score.course_id == course.id, models.Score.target == ScoreTarget.review)))
    return ReviewQueue(order, graded)


def review_queue_counts(course: Course, now: datetime) -> tuple[int, int]:
    """(reviews in the queue, of which graded): :func:`review_queue`'s sizes, counted by the
    database instead of listing ~3,000 ids to count them (the grading overview)."""
    graded = (select(models.Score.id).where(models.Score.review_id == models.Review.id,
                                            models.Score.target == ScoreTarget.review)
              .exists())
    total, graded_count = db.session.execute(
        select(func.count(models.Review.id), func.count(models.Review.id).filter(graded))
        .join(models.PaperSession, models.Review.session_id == models.PaperSession.id)
        .where(models.PaperSession.course_id == course.id,
               models.PaperSession.review_deadline < now,
               models.Review.status == models.ReviewStatus.submitted)).one()
    return int(total), int(graded_count)


# ============================================================================ adjustments


def adjust_member(course: Course, actor: models.User, slot: models.Slot, user_id: int,
                  delta_pct: float, reason: str) -> models.MemberAdjustment | None:
    """Set (or with delta 0, remove) one group member's adjustment; instructors only, audited."""
    require_instructor(course, actor)
    if slot.session.course_id != course.id or slot.group_id is None:
        raise GradingRefused("That presentation is not held in this course.")
    if user_id not in slot_presenters(slot):
        raise GradingRefused("That student did not present this slot; adjustments are for its "
                             "presenters.")
    if not reason.strip():
        raise GradingRefused("An adjustment needs a reason.")
    if not -100 <= delta_pct <= 100:
        raise GradingRefused(f"The adjustment must be between -100 and 100 points (got {delta_pct:g}).")
    existing = db.session.scalar(select(models.MemberAdjustment).where(
        models.MemberAdjustment.slot_id == slot.id, models.MemberAdjustment.user_id == user_id))
    old = {"delta_pct": existing.delta_pct, "reason": existing.reason} if existing else None
    if delta_pct == 0:
        if existing is not None:
            db.session.delete(existing)
        adjustment = None
    elif existing is None:
        adjustment = models.MemberAdjustment(slot_id=slot.id, user_id=user_id, delta_pct=delta_pct,
                                             reason=reason.strip(), created_by_id=actor.id)
        db.session.add(adjustment)
    else:
        adjustment = existing
        adjustment.delta_pct = delta_pct
        adjustment.reason = reason.strip()
        adjustment.created_by_id = actor.id
    db.session.flush()
    audit(course, actor, "adjustment.set" if adjustment else "adjustment.remove",
          "member_adjustment", slot.id, old,
          {"user_id": user_id, "delta_pct": delta_pct} if adjustment else None, reason.strip())
    return adjustment


# ============================================================================ participation


def add_manual_participation(course: Course, actor: models.User, session: models.PaperSession,
                             student_id: int, points: float, note: str) -> models.ParticipationRecord:
    require_staff(course, actor)
    if session.course_id != course.id:
        raise GradingRefused("That session is not in this course.")
    if not is_student_of(course, student_id):
        raise GradingRefused(f"User {student_id} is not a student of {course.code}.")
    if not note.strip():
        raise GradingRefused("Manual participation points need a note saying what they are for.")
    if not 0 < points <= 10:
        raise GradingRefused(f"Manual points must be more than 0 and at most 10 (got {points:g}).")
    record = models.ParticipationRecord(session_id=session.id, user_id=student_id, kind="manual",
                                        points=points, note=note.strip(), recorded_by_id=actor.id)
    db.session.add(record)
    db.session.flush()
    audit(course, actor, "participation.manual", "participation_record", record.id, None,
          {"session_id": session.id, "user_id": student_id, "points": points}, note.strip())
    return record


# ============================================================================ release


class ReleaseNeedsConfirmation(GradingRefused):
    """Releasing now would show students a session not held yet, or ungraded items; the
    warnings name them, and the release goes ahead only once confirmed."""

    def __init__(self, warnings: list[str]) -> None:
        self.warnings = warnings
        super().__init__(" ".join(warnings) + " Confirm to release anyway.")


#: How many ungraded items a release warning names before it says "and N more".
NAMED_IN_WARNING = 10


def release_warnings(course: Course, session: models.PaperSession, now: datetime) -> list[str]:
    """What is odd about releasing this session's feedback now: it has not been held, or some
    of its submitted reviews or held presentations have no score yet (a fixed number of
    queries)."""
    week = session.week.number
    warnings = []
    if now < session.starts_at:
        warnings.append(f"week {week} has not been held (it starts "
                        f"{format_local(session.starts_at, course.timezone)}).")
    reviews = [f"the review by {name}" for name in db.session.scalars(
        select(models.User.first_name + " " + models.User.last_name)
        .join(models.Review, models.Review.user_id == models.User.id)
        .where(models.Review.session_id == session.id,
               models.Review.status == models.ReviewStatus.submitted,
               ~select(models.Score.id).where(models.Score.review_id == models.Review.id).exists())
        .order_by(models.User.last_name, models.User.first_name))]
    presentations = [f"{role} by {group}" for role, group in db.session.execute(
        select(models.PresentationRole.name, models.Group.name)
        .join(models.Slot, models.Slot.role_id == models.PresentationRole.id)
        .join(models.Group, models.Group.id == models.Slot.group_id)
        .where(models.Slot.session_id == session.id,
               ~select(models.Score.id).where(models.Score.slot_id == models.Slot.id).exists())
        .order_by(models.PresentationRole.id)).tuples()]
    if reviews or presentations:
        counts = " and ".join(part for part in (
            _count(len(reviews), "review"), _count(len(presentations), "presentation")) if part)
        names = reviews + presentations
        listed = ", ".join(names[:NAMED_IN_WARNING])
        if len(names) > NAMED_IN_WARNING:
            listed += f" and {len(names) - NAMED_IN_WARNING} more"
        verb = "is" if len(names) == 1 else "are"
        warnings.append(f"{counts} {verb} ungraded: {listed}.")
    return warnings


def _count(number: int, noun: str) -> str:
    if not number:
        return ""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def release_session(course: Course, actor: models.User, session: models.PaperSession,
                    now: datetime, *, release: bool = True, confirmed: bool = False) -> None:
    """Release (or withdraw) the feedback of a whole session: its presentations, reviews and
    participation. A release that ``release_warnings`` has something to say about raises
    ReleaseNeedsConfirmation unless ``confirmed``."""
    require_staff(course, actor)
    if session.course_id != course.id:
        raise GradingRefused("That session is not in this course.")
    if release and not confirmed:
        warnings = release_warnings(course, session, now)
        if warnings:
            raise ReleaseNeedsConfirmation(warnings)
    old = session.feedback_released_at
    session.feedback_released_at = now if release else None
    db.session.flush()
    audit(course, actor, "release.session" if release else "withdraw.session", "paper_session",
          session.id, {"released_at": old.isoformat() if old else None},
          {"released_at": now.isoformat() if release else None})
    if release and old is None:
        notify.session_feedback_released(course, session)


def release_item(course: Course, actor: models.User, item: ScoreItem, now: datetime, *,
                 release: bool = True) -> None:
    """Release (or withdraw) one presentation's or one review's feedback."""
    require_staff(course, actor)
    target = item.slot if item.target == ScoreTarget.presentation else item.review
    if target is None:
        raise GradingRefused("Only presentations and reviews are released one by one.")
    old = target.feedback_released_at
    target.feedback_released_at = now if release else None
    db.session.flush()
    audit(course, actor, "release.item" if release else "withdraw.item", item.target.value,
          target.id, {"released_at": old.isoformat() if old else None},
          {"released_at": now.isoformat() if release else None})
    if release and old is None:
        notify.item_feedback_released(course, slot=item.slot, review=item.review)


def item_released(item: ScoreItem) -> bool:
    """Whether students already see this item's feedback."""
    if item.slot is not None:
        return slot_released(item.slot)
    if item.review is not None:
        return review_released(item.review)
    return item.session is not None and item.session.feedback_released_at is not None


def updated_after_release(course: Course, *, slot_ids: list[int], review_ids: list[int]
                          ) -> tuple[dict[int, datetime], dict[int, datetime]]:
    """(slot id -> latest change after release, review id -> latest change after release) for
    the given items (one query)."""
    slots: dict[int, datetime] = {}
    reviews: dict[int, datetime] = {}
    if not slot_ids and not review_ids:
        return slots, reviews
    rows = db.session.execute(
        select(models.Score.slot_id, models.Score.review_id,
               models.Score.updated_after_release_at)
        .where(models.Score.course_id == course.id,
               models.Score.updated_after_release_at.is_not(None),
               models.Score.slot_id.in_(slot_ids) | models.Score.review_id.in_(review_ids)))
    for slot_id, review_id, at in rows:
        target, key = (slots, slot_id) if slot_id is not None else (reviews, review_id)
        target[key] = max(at, target.get(key, at))
    return slots, reviews


def slot_released(slot: models.Slot) -> bool:
    return slot.feedback_released_at is not None or slot.session.feedback_released_at is not None


def review_released(review: models.Review) -> bool:
    return (review.feedback_released_at is not None
            or review.session.feedback_released_at is not None)


@dataclass(frozen=True)
class ReleasedReview:
    """A student's submitted review whose feedback is released (:func:`review_released`)."""

    id: int
    week: int


def released_reviews(course: Course, user_id: int) -> list[ReleasedReview]:
    """One student's released reviews in session order: plain rows, the release rule in the
    query (no Review entities with their content decoded)."""
    rows = db.session.execute(
        select(models.Review.id, models.Week.number)
        .join(models.PaperSession, models.Review.session_id == models.PaperSession.id)
        .join(models.Week, models.PaperSession.week_id == models.Week.id)
        .where(models.Review.user_id == user_id, models.PaperSession.course_id == course.id,
               models.Review.status == models.ReviewStatus.submitted,
               models.Review.feedback_released_at.is_not(None)
               | models.PaperSession.feedback_released_at.is_not(None))
        .order_by(models.PaperSession.starts_at)).tuples()
    return [ReleasedReview(review_id, week) for review_id, week in rows]


# ============================================================================ regrades


def student_slot(course: Course, student: models.User, slot_id: int) -> models.Slot:
    """A presentation of the student's group whose feedback is released (else GradingRefused)."""
    slot = slot_of_course(course, slot_id)
    if student.id not in slot_presenters(slot) or not slot_released(slot):
        raise GradingRefused("There is no released feedback of yours for that presentation.")
    return slot


def student_review(course: Course, student: models.User, review_id: int) -> models.Review:
    review = review_of_course(course, review_id)
    if review.user_id != student.id or not review_released(review):
        raise GradingRefused("There is no released feedback of yours for that review.")
    return review


def request_regrade(course: Course, student: models.User, *, reason: str,
                    slot: models.Slot | None = None, review: models.Review | None = None,
                    now: datetime | None = None) -> models.RegradeRequest:
    """The student's one request for this item; the item must be theirs, released and graded."""
    if (slot is None) == (review is None):
        raise GradingRefused("A regrade request is about one presentation or one review.")
    if not is_student_of(course, student.id):
        raise GradingRefused("Only students of the course can ask for a regrade.")
    if slot is not None:
        student_slot(course, student, slot.id)
        graded = db.session.scalar(select(models.Score.id).where(models.Score.slot_id == slot.id))
    else:
        student_review(course, student, review.id)  # type: ignore[union-attr]
        graded = db.session.scalar(select(models.Score.id).where(
            models.Score.review_id == review.id))  # type: ignore[union-attr]
    if graded is None:
        raise GradingRefused("That item has no grade yet, so there is nothing to regrade.")
    reason = reason.strip()
    if len(reason) < 10:
        raise GradingRefused("Say why you ask for a regrade (at least 10 characters).")
    where = (models.RegradeRequest.slot_id == slot.id if slot is not None
             else models.RegradeRequest.review_id == review.id)  # type: ignore[union-attr]
    if db.session.scalar(select(models.RegradeRequest.id).where(
            models.RegradeRequest.user_id == student.id, where)) is not None:
        raise GradingRefused("You already asked for a regrade of this item; one request per item.")
    request = models.RegradeRequest(course_id=course.id, user_id=student.id,
                                    slot_id=slot.id if slot else None,
                                    review_id=review.id if review else None, reason=reason,
                                    created_at=now or utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(request)
    except IntegrityError:
        raise GradingRefused("You already asked for a regrade of this item; one request per item.") from None
    audit(course, student, "regrade.request", "regrade_request", request.id, None,
          {"slot_id": request.slot_id, "review_id": request.review_id}, reason)
    return request


def resolve_regrade(course: Course, actor: models.User, request: models.RegradeRequest, *,
                    outcome: str, reply: str, now: datetime | None = None) -> models.RegradeRequest:
    """Close a request as 'changed' (the grade was changed) or 'kept', with a reply; audited."""
    require_staff(course, actor)
    if request.course_id != course.id:
        raise GradingRefused("That regrade request is not in this course.")
    if request.status != "open":
        raise GradingRefused(f"That request was already resolved ({request.status}).")
    if outcome not in ("changed", "kept"):
        raise GradingRefused(f"Resolve as 'changed' or 'kept' (got {outcome!r}).")
    if not reply.strip():
        raise GradingRefused("Write a reply to the student.")
    request.status = outcome
    request.reply = reply.strip()
    request.resolved_by_id = actor.id
    request.resolved_at = now or utcnow()
    db.session.flush()
    audit(course, actor, "regrade.resolve", "regrade_request", request.id, {"status": "open"},
          {"status": outcome}, reply.strip())
    notify.regrade_answered(course, request)
    return request
