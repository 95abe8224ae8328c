"""Grading results for the gradebook and the staff pages: what each item is worth, in percent.

Every function here runs a fixed number of queries whatever the class size (the eager loads
are spelled out), and does the arithmetic with ``review.grading.scoring``.

How several graders' scores of one item combine: ``CourseDefinition.grading.combine_graders``
(``mean`` of all graders, or ``instructor_override``: the instructors' mean wins when an
instructor scored). A spread between graders above ``grading.disagreement_pct`` percentage points
flags the item. A percentage is always the score's total over the ``max_total`` of the rubric
version it was given under, so editing a rubric file never rescales old scores.

Participation (``participation_scores``): a staff Score of the participation rubric wins.
Without one, the grade is derived from ParticipationRecords: the number of questions marked as
raised plus the manual points (rounded down to a whole count) become the count criterion
(``questions-raised``) through ``score_from_count``, and the percentage is that score over the
criterion's points -- the judged criteria (quality, engagement) are not guessed. A student with
neither a score nor a record in a session is absent from the result.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import joinedload

from models import (
    Course,
    CourseRole,
    Enrollment,
    Group,
    MemberAdjustment,
    Membership,
    Paper,
    PaperSession,
    ParticipationRecord,
    PeerRating,
    PresentationRole,
    Review,
    Rubric,
    Score,
    ScoreTarget,
    Slot,
    SlotPresenter,
    Week,
    db,
)
from review.grading.scoring import (
    Adjustment,
    CombinedScore,
    GraderScore,
    aggregate_peer,
    combine_grader_scores,
    individual_adjustment,
    presentation_grade,
    score_from_count,
)
from review.grading.services import course_definition, course_rubrics, stored_rubric
from review.signup.presenters import presenters_by_slot

COUNT_CRITERION = "questions-raised"
K = TypeVar("K")


@dataclass(frozen=True)
class PresentationResult:
    slot_id: int
    user_id: int
    group_name: str
    session_id: int
    week: int
    paper: str
    role_key: str
    role_name: str
    staff_pct: float | None
    peer_pct: float | None
    final_pct: float | None
    criteria: dict[str, float]
    rubric_key: str
    released: bool
    disagreement: bool


@dataclass(frozen=True)
class Combined:
    """Several graders' scores of one item, combined by the course's rule."""

    percentage: float
    criteria: dict[str, float]  # criterion id -> mean points of the deciding graders
    rubric_key: str
    disagreement: bool
    spread: float
    grader_count: int
    detail: CombinedScore


class RubricRef(NamedTuple):
    """The two columns of a stored rubric version that combining needs."""

    key: str
    version: int


class ScoreRow(NamedTuple):
    """A score read with plain column selects: what :func:`combine` needs, no ORM object.

    It has the attributes ``combine`` and ``score_pct`` read from a ``Score`` (``grader_id``,
    ``total``, ``max_total``, ``values``, ``rubric.key``, ``rubric.version``), so both accept
    either. Reading 20,000 of these is ~10x cheaper than loading ``Score`` entities with their
    rubric joined (which decoded the rubric's JSON definition once per score row).
    """

    grader_id: int
    total: float
    max_total: float
    values: dict[str, Any] | None
    rubric: RubricRef


def score_pct(score: Score | ScoreRow) -> float:
    return score.total / score.max_total * 100 if score.max_total else 0.0


def staff_roles(course: Course) -> dict[int, CourseRole]:
    """user id -> role of the course's staff (one query)."""
    rows = db.session.execute(
        select(Enrollment.user_id, Enrollment.role).where(
            Enrollment.course_id == course.id,
            Enrollment.role.in_([CourseRole.instructor, CourseRole.ta]))).tuples()
    return {user_id: role for user_id, role in rows}


def combine(scores: Sequence[Score] | Sequence[ScoreRow], roles: dict[int, CourseRole], *,
            method: str, threshold: float) -> Combined | None:
    """Combine the graders' scores of one item; None when nobody graded it."""
    if not scores:
        return None
    graders = [GraderScore(grader=score.grader_id, percentage=min(100.0, score_pct(score)),
                           is_instructor=roles.get(score.grader_id) == CourseRole.instructor)
               for score in scores]
    detail = combine_grader_scores(graders, method, threshold)  # type: ignore[arg-type]
    deciding = [score for score in scores if score.grader_id in set(detail.decided_by)]
    by_criterion: dict[str, list[float]] = defaultdict(list)
    for score in deciding:
        for key, value in (score.values or {}).items():
            by_criterion[key].append(float(value))
    criteria = {key: statistics.fmean(values) for key, values in by_criterion.items()}
    newest = max(deciding, key=lambda score: score.rubric.version)
    return Combined(percentage=detail.percentage, criteria=criteria,
                    rubric_key=newest.rubric.key, disagreement=detail.disagreement,
                    spread=detail.spread, grader_count=detail.grader_count, detail=detail)


def combined_pct(scores: Sequence[tuple[int, float, float]], roles: dict[int, CourseRole], *,
                 method: str, threshold: float) -> float:
    """Only the percentage of :func:`combine` for ``(grader_id, total, max_total)`` tuples.

    The same rule, checks and errors (``combine_grader_scores`` decides); a single grader's
    score, the usual case, skips building the per-grader objects when it is valid, since the
    mean of one value is that value.
    """
    return combined_pcts({None: scores}, roles, method=method, threshold=threshold)[None]


def combined_pcts(grouped: Mapping[K, Sequence[tuple[int, float, float]]],
                  roles: dict[int, CourseRole], *, method: str, threshold: float
                  ) -> dict[K, float]:
    """:func:`combined_pct` of every item of ``grouped``, the rule's settings checked once."""
    settings_valid = method in _METHODS and _valid_threshold(threshold)
    out: dict[K, float] = {}
    for item, scores in grouped.items():
        if settings_valid and len(scores) == 1:
            _grader, total, max_total = scores[0]
            pct = min(100.0, total / max_total * 100 if max_total else 0.0)
            if isinstance(pct, float) and 0 <= pct <= 100:  # a NaN fails the range test
                out[item] = pct
                continue
        graders = [GraderScore(grader=grader_id,
                               percentage=min(100.0, total / max_total * 100 if max_total else 0.0),
                               is_instructor=roles.get(grader_id) == CourseRole.instructor)
                   for grader_id, total, max_total in scores]
        out[item] = combine_grader_scores(graders, method, threshold).percentage  # type: ignore[arg-type]
    return out


_METHODS = ("mean", "instructor_override")


def _valid_threshold(threshold: object) -> bool:
    return (isinstance(threshold, int | float) and not isinstance(threshold, bool)
            and math.isfinite(threshold) and threshold >= 0)


def held_slots(course: Course) -> list[Slot]:
    """The course's slots a group holds, with session, week, paper, role and group loaded."""
    return list(db.session.scalars(
        select(Slot).join(PaperSession, Slot.session_id == PaperSession.id)
        .where(PaperSession.course_id == course.id, Slot.group_id.is_not(None))
        .options(joinedload(Slot.session).joinedload(PaperSession.week),
                 joinedload(Slot.session).joinedload(PaperSession.paper),
                 joinedload(Slot.role), joinedload(Slot.group))
        .order_by(PaperSession.starts_at, Slot.role_id)).unique())


def presentation_scores(course: Course, slot_ids: Collection[int] | None = None
                        ) -> dict[int, list[ScoreRow]]:
    """slot id -> staff scores as plain rows (what :func:`combine` reads), of ``slot_ids`` if
    given; no Score entities, no rubric JSON decoded."""
    query = _score_rows(Score.slot_id).where(Score.course_id == course.id,
                                             Score.target == ScoreTarget.presentation)
    if slot_ids is not None:
        query = query.where(Score.slot_id.in_(slot_ids))
    grouped: dict[int, list[ScoreRow]] = defaultdict(list)
    for slot_id, grader_id, total, max_total, values, key, version in db.session.execute(
            query).tuples():
        grouped[slot_id].append(  # type: ignore[index]
            ScoreRow(grader_id, total, max_total, values, RubricRef(key, version)))
    return grouped


def _score_rows(item: Any) -> Any:
    """SELECT of (item, grader, total, max_total, values, rubric key, rubric version): the
    rubric's two columns joined, its JSON definition not read."""
    return (select(item, Score.grader_id, Score.total, Score.max_total, Score.values, Rubric.key,
                   Rubric.version).join(Rubric, Score.rubric_id == Rubric.id))


class PeerRow(NamedTuple):
    """The columns of a PeerRating the results read (no entity, no values JSON)."""

    rater_id: int
    total: float
    max_total: float


def peer_ratings(course: Course, slot_ids: Collection[int] | None = None
                 ) -> dict[int, list[PeerRow]]:
    """slot id -> peer ratings of that presentation, of ``slot_ids`` if given."""
    query = (select(PeerRating.slot_id, PeerRating.rater_id, PeerRating.total,
                    PeerRating.max_total)
             .join(Slot, PeerRating.slot_id == Slot.id)
             .join(PaperSession, Slot.session_id == PaperSession.id)
             .where(PaperSession.course_id == course.id))
    if slot_ids is not None:
        query = query.where(PeerRating.slot_id.in_(slot_ids))
    grouped: dict[int, list[PeerRow]] = defaultdict(list)
    for slot_id, rater_id, total, max_total in db.session.execute(query).tuples():
        grouped[slot_id].append(PeerRow(rater_id, total, max_total))
    return grouped


def peer_pct(ratings: Sequence[PeerRating] | Sequence[PeerRow], method: str) -> float | None:
    values = [rating.total / rating.max_total * 100 for rating in ratings if rating.max_total]
    return aggregate_peer(values, method)  # type: ignore[arg-type]


class SlotRow(NamedTuple):
    """A held slot as the results read it: plain columns, no Slot entity or relations."""

    id: int
    session_id: int
    week: int
    paper: str
    role_key: str
    role_name: str
    group_name: str
    released: bool


@dataclass(frozen=True)
class SlotResult:
    """A held slot's grade before any member's adjustment (the grading overview's row)."""

    slot_id: int
    session_id: int
    week: int
    paper: str
    role_key: str
    role_name: str
    group_name: str
    staff_pct: float | None
    peer_pct: float | None
    group_pct: float | None
    criteria: dict[str, float]
    rubric_key: str
    released: bool
    disagreement: bool


def presented_slots(course: Course, presenter: int | None) -> list[SlotRow]:
    """The course's held slots that someone presented (``presenter``: that student), in
    session then role order, in one query.

    Who presented is ``review.signup.presenters``' rule: the record once taken, else the
    holder's current members; here it is an EXISTS per slot instead of the presenter lists.
    """
    recorded = select(SlotPresenter.id).where(SlotPresenter.slot_id == Slot.id)
    members = select(Membership.id).where(Membership.group_id == Slot.group_id)
    if presenter is not None:
        recorded = recorded.where(SlotPresenter.user_id == presenter)
        members = members.where(Membership.user_id == presenter)
    query = (select(Slot.id, Slot.session_id, Week.number, Paper.title, PresentationRole.key,
                    PresentationRole.name, Group.name, Group.dissolved_at,
                    Slot.feedback_released_at, PaperSession.feedback_released_at)
             .join(PaperSession, Slot.session_id == PaperSession.id)
             .join(Week, PaperSession.week_id == Week.id)
             .join(Paper, PaperSession.paper_id == Paper.id)
             .join(PresentationRole, Slot.role_id == PresentationRole.id)
             .join(Group, Slot.group_id == Group.id)
             .where(PaperSession.course_id == course.id,
                    or_(and_(Slot.presenters_recorded_at.is_not(None), recorded.exists()),
                        and_(Slot.presenters_recorded_at.is_(None), members.exists())))
             .order_by(PaperSession.starts_at, Slot.role_id))
    return [SlotRow(slot_id, session_id, week, paper, role_key, role_name,
                    Group.display_name_of(group, dissolved_at),
                    own_release is not None or session_release is not None)
            for (slot_id, session_id, week, paper, role_key, role_name, group, dissolved_at,
                 own_release, session_release) in db.session.execute(query).tuples()]


def _slot_results(course: Course, slots: list[SlotRow]) -> list[SlotResult]:
    """Each slot's staff grades combined, its peer percentage and the group's grade."""
    definition = course_definition(course)
    if not slots:
        return []
    slot_ids = [slot.id for slot in slots]
    scores = presentation_scores(course, slot_ids)
    roles = staff_roles(course)
    peers = peer_ratings(course, slot_ids)
    return [slot_result(slot, scores.get(slot.id, []), peers.get(slot.id, []), roles, definition)
            for slot in slots]


def slot_result(slot: SlotRow, scores: Sequence[Score] | Sequence[ScoreRow],
                peers: Sequence[PeerRating] | Sequence[PeerRow], roles: dict[int, CourseRole],
                definition: Any) -> SlotResult:
    """One slot's result from rows already read: its staff scores combined by the course's rule,
    its peer percentage and the group's grade (``definition``: the course's CourseDefinition)."""
    grading = definition.grading
    combined = combine(scores, roles, method=grading.combine_graders,
                       threshold=grading.disagreement_pct)
    peer = peer_pct(peers, grading.peer_aggregate)
    staff = combined.percentage if combined else None
    return SlotResult(
        slot_id=slot.id, session_id=slot.session_id, week=slot.week, paper=slot.paper,
        role_key=slot.role_key, role_name=slot.role_name, group_name=slot.group_name,
        staff_pct=staff, peer_pct=peer,
        group_pct=(presentation_grade(staff, peer, grading.peer_weight)
                   if staff is not None else None),
        criteria=dict(combined.criteria) if combined else {},
        rubric_key=(combined.rubric_key if combined
                    else definition.presentation_rubric(slot.role_key)),
        released=slot.released,
        disagreement=combined.disagreement if combined else False)


def slot_results(course: Course) -> list[SlotResult]:
    """One result per held slot that someone presented (no per-member adjustment)."""
    return _slot_results(course, presented_slots(course, None))


def presentation_results(course: Course, *, user_id: int | None = None
                         ) -> list[PresentationResult]:
    """One result per (held slot x presenter of that slot); ``user_id``: that student's only.

    The presenters are the record taken when the session was held or first graded, else the
    holder's current members (``review.signup.presenters``): a student who left or joined a
    group afterwards neither loses nor gains that talk. With ``user_id`` only that student's
    slots are read (found by the database), and their scores, peer ratings and adjustments.
    """
    slots = presented_slots(course, user_id)
    if user_id is None:
        presenters = presenters_by_slot(course)
    else:
        presenters = {slot.id: [user_id] for slot in slots}
    adjustments: dict[tuple[int, int], float] = {}
    if slots:
        adjustment_query = (
            select(MemberAdjustment.slot_id, MemberAdjustment.user_id, MemberAdjustment.delta_pct)
            .join(Slot, MemberAdjustment.slot_id == Slot.id)
            .join(PaperSession, Slot.session_id == PaperSession.id)
            .where(PaperSession.course_id == course.id))
        if user_id is not None:
            adjustment_query = adjustment_query.where(MemberAdjustment.user_id == user_id)
        adjustments = {(slot_id, uid): delta for slot_id, uid, delta
                       in db.session.execute(adjustment_query).tuples()}
    return [member_result(slot, presenter, adjustments.get((slot.slot_id, presenter)))
            for slot in _slot_results(course, slots)
            for presenter in presenters.get(slot.slot_id, [])]


def member_result(slot: SlotResult, user_id: int, delta: float | None) -> PresentationResult:
    """A presenter's result of a slot: the group's grade with their adjustment (``delta``
    percentage points, None: none)."""
    final = None
    if slot.group_pct is not None:
        final = individual_adjustment(
            slot.group_pct, Adjustment("delta", delta) if delta is not None else None)
    return PresentationResult(
        slot_id=slot.slot_id, user_id=user_id, group_name=slot.group_name,
        session_id=slot.session_id, week=slot.week, paper=slot.paper,
        role_key=slot.role_key, role_name=slot.role_name, staff_pct=slot.staff_pct,
        peer_pct=slot.peer_pct, final_pct=final, criteria=dict(slot.criteria),
        rubric_key=slot.rubric_key, released=slot.released, disagreement=slot.disagreement)


def review_score_details(course: Course, *, user_id: int | None = None) -> dict[int, Combined]:
    """review id -> combined staff score, graded reviews only (of one student's reviews if
    ``user_id`` is given)."""
    grading = course_definition(course).grading
    grouped: dict[int, list[ScoreRow]] = defaultdict(list)
    query = _score_rows(Score.review_id).where(Score.course_id == course.id,
                                               Score.target == ScoreTarget.review)
    if user_id is not None:
        query = query.where(Score.review_id.in_(select(Review.id).where(Review.user_id == user_id)))
    for review_id, grader_id, total, max_total, values, key, version in db.session.execute(
            query).tuples():
        grouped[review_id].append(  # type: ignore[index]
            ScoreRow(grader_id, total, max_total, values, RubricRef(key, version)))
    roles = staff_roles(course)
    out: dict[int, Combined] = {}
    for review_id, item_scores in grouped.items():
        combined = combine(item_scores, roles, method=grading.combine_graders,
                           threshold=grading.disagreement_pct)
        if combined is not None:
            out[review_id] = combined
    return out


def review_scores(course: Course, *, user_id: int | None = None) -> dict[int, float]:
    """review id -> combined staff percentage, graded reviews only (no zeros are stored).

    The percentage of :func:`review_score_details` without the criteria: three numeric columns
    per score, no JSON decoded. ``user_id``: that student's reviews only.
    """
    grading = course_definition(course).grading
    grouped: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    query = (select(Score.review_id, Score.grader_id, Score.total, Score.max_total)
             .where(Score.course_id == course.id, Score.target == ScoreTarget.review))
    if user_id is not None:
        query = query.where(Score.review_id.in_(select(Review.id).where(Review.user_id == user_id)))
    for review_id, grader_id, total, max_total in db.session.execute(query).tuples():
        grouped[review_id].append((grader_id, total, max_total))  # type: ignore[index]
    return combined_pcts(grouped, staff_roles(course), method=grading.combine_graders,
                         threshold=grading.disagreement_pct)


def derived_participation_pct(questions: int, manual_points: float, course: Course) -> float | None:
    """The participation percentage from records alone (see the module docstring)."""
    rubric = course_rubrics(course).get(course_definition(course).rubrics.participation)
    if rubric is None or COUNT_CRITERION not in rubric.criterion_ids:
        return None
    criterion = rubric.criterion(COUNT_CRITERION)
    count = max(0, questions + math.floor(manual_points))
    return score_from_count(criterion, count) / criterion.points * 100


def participation_counts(course: Course, *, user_id: int | None = None
                         ) -> dict[tuple[int, int], tuple[int, float]]:
    """(session id, user id) -> (questions raised, manual points) from ParticipationRecords."""
    query = (select(ParticipationRecord.session_id, ParticipationRecord.user_id,
                    ParticipationRecord.kind, ParticipationRecord.points)
             .join(PaperSession, ParticipationRecord.session_id == PaperSession.id)
             .where(PaperSession.course_id == course.id))
    if user_id is not None:
        query = query.where(ParticipationRecord.user_id == user_id)
    return tally_participation(((session_id, user_id), kind, points)
                               for session_id, user_id, kind, points
                               in db.session.execute(query).tuples())


def tally_participation(records: Iterable[tuple[K, str, float]]) -> dict[K, tuple[int, float]]:
    """key -> (questions raised, manual points) of ``(key, kind, points)`` record rows."""
    counts: dict[K, tuple[int, float]] = {}
    for key, kind, points in records:
        questions, manual = counts.get(key, (0, 0.0))
        if kind == "question":
            questions += 1
        else:
            manual += points
        counts[key] = (questions, manual)
    return counts


def participation_scores(course: Course, *, user_id: int | None = None
                         ) -> dict[tuple[int, int], float]:
    """(session id, user id) -> participation percentage: a staff Score if any, else records.
    ``user_id``: that student's only."""
    grading = course_definition(course).grading
    out = derived_participation(course, participation_counts(course, user_id=user_id))
    grouped: dict[tuple[int, int], list[tuple[int, float, float]]] = defaultdict(list)
    query = (select(Score.session_id, Score.student_id, Score.grader_id, Score.total,
                    Score.max_total)
             .where(Score.course_id == course.id, Score.target == ScoreTarget.participation))
    if user_id is not None:
        # Through the course's sessions, so the (session, student, grader) index serves it.
        query = query.where(Score.student_id == user_id, Score.session_id.in_(
            select(PaperSession.id).where(PaperSession.course_id == course.id)))
    for session_id, student_id, grader_id, total, max_total in db.session.execute(
            query).tuples():
        grouped[(session_id, student_id)].append(  # type: ignore[index]
            (grader_id, total, max_total))
    out.update(combined_pcts(grouped, staff_roles(course), method=grading.combine_graders,
                             threshold=grading.disagreement_pct))
    return out


def participation_deriver(course: Course):  # type: ignore[no-untyped-def]
    """:func:`derived_participation_pct` with the course's rubric looked up once."""
    rubric = course_rubrics(course).get(course_definition(course).rubrics.participation)
    if rubric is None or COUNT_CRITERION not in rubric.criterion_ids:
        return lambda questions, manual_points: None
    criterion = rubric.criterion(COUNT_CRITERION)

    def derive(questions: int, manual_points: float) -> float | None:
        count = max(0, questions + math.floor(manual_points))
        return score_from_count(criterion, count) / criterion.points * 100

    return derive


def derived_participation(course: Course, counts: Mapping[K, tuple[int, float]]
                          ) -> dict[K, float]:
    """The count criterion's percentage for each key whose records give one."""
    out: dict[K, float] = {}
    if counts:
        derive = participation_deriver(course)
        for key, (questions, manual) in counts.items():
            derived = derive(questions, manual)
            if derived is not None:
                out[key] = derived
    return out


__all__ = [
    "PresentationResult", "presentation_results", "SlotResult", "slot_results", "slot_result",
    "member_result", "presented_slots", "SlotRow", "PeerRow", "tally_participation",
    "participation_deriver", "derived_participation",
    "review_scores", "participation_scores", "Combined", "combine", "combined_pct",
    "combined_pcts", "ScoreRow", "RubricRef", "score_pct", "stored_rubric",
]
