"""The class session itself: the run sheet with its timer, the question queue, slides, report.

A paper session runs as segments: the course file's roles in order (each with its minutes, held
by a group) and then the discussion (``discussion_minutes``; none when that is 0). ``LiveRun``
holds the clock of the current segment; each finished segment leaves a ``LiveSegment`` with its
planned and measured seconds, so overtime is recorded per presentation.

Every control request names the segment it expects (``expected_segment``) and the run row is
version-checked on write: of two "next" taps on one segment (a double tap, a stale phone, two
workers at once), one moves the run sheet and the other is refused as stale, so no segment is
ever skipped. Staff may start and control any session's run sheet at any time (rehearsals,
moved sessions); the presenters of the current segment control it while it is theirs.

Questions: the reviews' digest (identical and near-identical copies collapsed into one entry)
is imported into ``LiveQuestion`` rows, students add questions live and upvote (one vote per
student per question, a unique constraint); staff mark a question raised or answered, which
writes the participation record at once.

After class, presenters and staff rate how helpful each review was for the discussion (a 1-5
scale and tags); the reviewer sees the ratings without names once the review's feedback is
released, and graders see them beside the review rubric.

Functions take ``now``; none commits.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from models import (Course, CourseRole, Enrollment, LiveQuestion, LiveRun, LiveSegment,
                    PaperSession, ParticipationRecord, PeerRating, QuestionVote, Review,
                    ReviewExcuse, ReviewRating, ReviewStatus, SlideDeck, Slot, User, db)
from review.core.errors import DomainError
from review.live.storage import SlideStore
from review.grading.services import add_manual_participation
from review.reviews import services as review_services
from review.reviews.analysis import session_digest
from review.signup.presenters import presenters_by_session, slot_presenters

MAX_EXTENSION_MINUTES = 30
MAX_QUESTION_CHARS = 500
QUESTION_STATUSES = ("raised", "answered")


class LiveError(DomainError):
    """A run sheet or question queue rule said no."""


class StaleSegment(LiveError):
    """The request expected a segment that is no longer the current one."""


# ============================================================================ segments


@dataclass(frozen=True)
class Segment:
    """One time box of a paper session: a role's presentation, or the discussion."""

    position: int
    label: str
    planned_seconds: int
    slot: Optional[Slot]          # None for the discussion

    @property
    def is_discussion(self) -> bool:
        return self.slot is None


def segments_of(session: PaperSession) -> list[Segment]:
    """The course file's roles in order, each with its slot, then the discussion."""
    course = session.course
    slots = {slot.role_id: slot for slot in session.slots}
    segments = [Segment(index, role.name, role.minutes * 60, slots.get(role.id))
                for index, role in enumerate(course.roles) if role.id in slots]
    if course.discussion_minutes > 0:
        segments.append(Segment(len(segments), "Discussion", course.discussion_minutes * 60, None))
    return segments


def session_id_by_week(course: Course, week: int) -> Optional[int]:
    from models import Week

    return db.session.scalar(
        select(PaperSession.id).join(Week, Week.id == PaperSession.week_id)
        .where(PaperSession.course_id == course.id, Week.number == week))


def session_by_week(course: Course, week: int) -> Optional[PaperSession]:
    from models import Week

    return db.session.scalar(
        select(PaperSession).join(Week, Week.id == PaperSession.week_id)
        .where(PaperSession.course_id == course.id, Week.number == week)
        .options(selectinload(PaperSession.slots).selectinload(Slot.group),
                 selectinload(PaperSession.paper), selectinload(PaperSession.week)))


def run_of(session: PaperSession) -> Optional[LiveRun]:
    return db.session.scalar(select(LiveRun).where(LiveRun.session_id == session.id))


# ============================================================================ the clock


def _elapsed(started: datetime, paused_at: Optional[datetime], paused_seconds: int,
             now: datetime) -> int:
    return max(0, int(((paused_at or now) - started).total_seconds()) - paused_seconds)


def elapsed_seconds(run: LiveRun, now: datetime) -> int:
    """Seconds the current segment has run, pauses excluded."""
    return _elapsed(run.segment_started_at, run.paused_at, run.paused_seconds, now)


def remaining_seconds(run: LiveRun, segment: Segment, now: datetime) -> int:
    """Negative once the time box is over (the view counts overtime up from there)."""
    return segment.planned_seconds + run.extension_seconds - elapsed_seconds(run, now)


def is_finished(run: LiveRun, segments: list[Segment]) -> bool:
    return run.segment >= len(segments)


def current_segment(run: Optional[LiveRun], segments: list[Segment]) -> Optional[Segment]:
    if run is None or is_finished(run, segments):
        return None
    return segments[run.segment]


# ============================================================================ who controls


def is_staff(course: Course, user: User) -> bool:
    return review_services.is_staff_of(course, user)


def can_control(user: User, run: Optional[LiveRun], session: PaperSession) -> bool:
    """Staff always; the presenters of the current segment while it runs."""
    if is_staff(session.course, user):
        return True
    if run is None:
        return False
    segment = current_segment(run, segments_of(session))
    return segment is not None and segment.slot is not None and user.id in slot_presenters(segment.slot)


def is_session_presenter(session: PaperSession, user: User) -> bool:
    return user.id in presenters_by_session([session.id]).get(session.id, set())


# ============================================================================ actions


def start(session: PaperSession, actor: User, now: datetime) -> LiveRun:
    if not is_staff(session.course, actor):
        raise LiveError("Only staff start the run sheet.")
    if not segments_of(session):
        raise LiveError("This session has no segments: the course file lists no roles and no "
                        "discussion time.")
    if run_of(session) is not None:
        raise StaleSegment("The run sheet has already started.")
    run = LiveRun(session_id=session.id, segment=0, started_at=now, started_by_id=actor.id,
                  segment_started_at=now)
    db.session.add(run)
    _flush_or_stale("The run sheet has just been started by someone else.")
    sync_digest_questions(session)
    return run


def _controlled(session: PaperSession, actor: User, expected_segment: int) -> tuple[LiveRun, list[Segment]]:
    run = run_of(session)
    if run is None:
        raise LiveError("The run sheet has not started yet.")
    segments = segments_of(session)
    if not can_control(actor, run, session):
        raise LiveError("Only staff and the presenters of the current segment control the timer.")
    if expected_segment != run.segment:
        raise StaleSegment(_stale_message(run, segments))
    if is_finished(run, segments):
        raise LiveError("The run sheet is finished.")
    return run, segments


def _stale_message(run: LiveRun, segments: list[Segment]) -> str:
    if is_finished(run, segments):
        return "Nothing changed: the run sheet has already finished."
    return (f"Nothing changed: the session had already moved on to "
            f"{segments[run.segment].label}. Check the timer and try again.")


def _flush_or_stale(message: str) -> None:
    try:
        db.session.flush()
    except (StaleDataError, IntegrityError):
        raise StaleSegment(message) from None


def advance(session: PaperSession, actor: User, expected_segment: int, now: datetime) -> LiveRun:
    """End the current segment (recording its measured time) and start the next one."""
    run, segments = _controlled(session, actor, expected_segment)
    segment = segments[run.segment]
    db.session.add(LiveSegment(run_id=run.id, position=segment.position,
                               slot_id=segment.slot.id if segment.slot else None,
                               label=segment.label, planned_seconds=segment.planned_seconds,
                               extension_seconds=run.extension_seconds,
                               actual_seconds=elapsed_seconds(run, now),
                               started_at=run.segment_started_at, ended_at=now))
    run.segment += 1
    run.segment_started_at = now
    run.paused_at = None
    run.paused_seconds = 0
    run.extension_seconds = 0
    if run.segment >= len(segments):
        run.finished_at = now
    _flush_or_stale(_stale_message(run, segments))
    return run


def pause(session: PaperSession, actor: User, expected_segment: int, now: datetime) -> LiveRun:
    run, segments = _controlled(session, actor, expected_segment)
    if run.paused_at is not None:
        raise StaleSegment("The timer is already paused.")
    run.paused_at = now
    _flush_or_stale("Nothing changed: someone else controlled the timer at the same moment.")
    return run


def resume(session: PaperSession, actor: User, expected_segment: int, now: datetime) -> LiveRun:
    run, segments = _controlled(session, actor, expected_segment)
    if run.paused_at is None:
        raise StaleSegment("The timer is already running.")
    run.paused_seconds += max(0, int((now - run.paused_at).total_seconds()))
    run.paused_at = None
    _flush_or_stale("Nothing changed: someone else controlled the timer at the same moment.")
    return run


def extend(session: PaperSession, actor: User, expected_segment: int, minutes: int,
           now: datetime) -> LiveRun:
    if not 1 <= minutes <= MAX_EXTENSION_MINUTES:
        raise LiveError(f"Extend by 1 to {MAX_EXTENSION_MINUTES} minutes (got {minutes}).")
    run, segments = _controlled(session, actor, expected_segment)
    run.extension_seconds += minutes * 60
    _flush_or_stale("Nothing changed: someone else controlled the timer at the same moment.")
    return run


def recorded_segments(run: Optional[LiveRun]) -> list[LiveSegment]:
    if run is None:
        return []
    return list(db.session.scalars(select(LiveSegment).where(LiveSegment.run_id == run.id)
                                   .order_by(LiveSegment.position)))


def measured_minutes_by_slot(slot_ids: list[int]) -> dict[int, LiveSegment]:
    """The recorded presentation segment of each slot (for the grader's time criterion)."""
    if not slot_ids:
        return {}
    return {segment.slot_id: segment for segment in db.session.scalars(
        select(LiveSegment).where(LiveSegment.slot_id.in_(slot_ids)))}


# ============================================================================ questions


def sync_digest_questions(session: PaperSession) -> int:
    """Import new entries of the reviews' digest into the queue; returns how many were new.

    The digest is the stored one (review.reviews.analysis): questions submitted after its last
    update come with a later import.

    An entry already in the queue (any of its copies) keeps its row and votes; only its count
    of askers is brought up to date."""
    existing = {(q.review_id, q.question_index): q for q in db.session.scalars(
        select(LiveQuestion).where(LiveQuestion.session_id == session.id,
                                   LiveQuestion.review_id.is_not(None)))}
    added = 0
    for cluster in session_digest(session):
        for entry in cluster.entries:
            keys = [(item.review.id, item.index) for item in entry.items]
            known = next((existing[key] for key in keys if key in existing), None)
            if known is not None:
                if known.asked_count != entry.count:
                    known.asked_count = entry.count
                    known.version += 1
                continue
            first = entry.representative
            db.session.add(LiveQuestion(session_id=session.id, text=first.text,
                                        author_id=first.review.user_id, review_id=first.review.id,
                                        question_index=first.index, asked_count=entry.count))
            added += 1
    db.session.flush()
    return added


@dataclass(frozen=True)
class QueueItem:
    question: LiveQuestion
    votes: int
    voted: bool


def question_queue(session: PaperSession, user: Optional[User] = None) -> list[QueueItem]:
    """Open questions by votes (then by how many asked), then the handled ones."""
    votes = dict(db.session.execute(
        select(QuestionVote.question_id, func.count(QuestionVote.id))
        .join(LiveQuestion, LiveQuestion.id == QuestionVote.question_id)
        .where(LiveQuestion.session_id == session.id)
        .group_by(QuestionVote.question_id)).tuples().all())
    mine: set[int] = set()
    if user is not None:
        mine = set(db.session.scalars(
            select(QuestionVote.question_id).join(LiveQuestion)
            .where(LiveQuestion.session_id == session.id, QuestionVote.user_id == user.id)))
    questions = db.session.scalars(
        select(LiveQuestion).where(LiveQuestion.session_id == session.id)
        .options(joinedload(LiveQuestion.author), joinedload(LiveQuestion.credited)))
    items = [QueueItem(q, votes.get(q.id, 0), q.id in mine) for q in questions]
    items.sort(key=lambda item: (item.question.status != "open", -item.votes,
                                 -item.question.asked_count, item.question.id))
    return items


def question_of(session: PaperSession, question_id: int) -> Optional[LiveQuestion]:
    return db.session.scalar(select(LiveQuestion).where(
        LiveQuestion.id == question_id, LiveQuestion.session_id == session.id))


def _require_student(session: PaperSession, user: User, doing: str) -> None:
    if not review_services.is_student(session.course, user):
        raise LiveError(f"Only students of the course {doing}.")


def toggle_vote(session: PaperSession, question: LiveQuestion, user: User) -> bool:
    """Add the student's vote, or take it back; returns whether the student now votes for it."""
    _require_student(session, user, "vote for questions")
    if question.session_id != session.id:
        raise LiveError("That question is not in this session's queue.")
    _bump(question)
    vote = db.session.scalar(select(QuestionVote).where(
        QuestionVote.question_id == question.id, QuestionVote.user_id == user.id))
    if vote is not None:
        db.session.delete(vote)
        db.session.flush()
        return False
    try:
        # A double tap racing itself: the unique constraint keeps one vote, the other is a no-op.
        with db.session.begin_nested():
            db.session.add(QuestionVote(question_id=question.id, user_id=user.id))
    except IntegrityError:
        pass
    return True


def _bump(question: LiveQuestion) -> None:
    db.session.execute(update(LiveQuestion).where(LiveQuestion.id == question.id)
                       .values(version=LiveQuestion.version + 1)
                       .execution_options(synchronize_session=False))


def add_question(session: PaperSession, user: User, text: str, now: datetime) -> LiveQuestion:
    _require_student(session, user, "add questions")
    text = " ".join(text.split())
    if len(text) < 3:
        raise LiveError("Write the question (at least 3 characters).")
    if len(text) > MAX_QUESTION_CHARS:
        raise LiveError(f"A question is at most {MAX_QUESTION_CHARS} characters "
                        f"(this one has {len(text)}).")
    question = LiveQuestion(session_id=session.id, text=text, author_id=user.id, created_at=now)
    db.session.add(question)
    db.session.flush()
    return question


def mark_question(session: PaperSession, question: LiveQuestion, actor: User, status: str,
                  credited_id: Optional[int], now: datetime) -> ParticipationRecord:
    """Staff: the question was raised (by its asker unless another student is named) or
    answered (by the named student); the participation record is written now."""
    if status not in QUESTION_STATUSES:
        raise LiveError(f"Mark a question as raised or answered (got {status!r}).")
    if question.status != "open":
        raise LiveError(f"That question is already marked {question.status}.")
    course = session.course
    if status == "answered" and credited_id is None:
        raise LiveError("Choose the student who answered.")
    student_id = credited_id or question.author_id
    if student_id is None:
        raise LiveError("Choose the student who raised the question.")
    if not review_services.is_student(course, db.session.get(User, student_id) or actor):
        raise LiveError("The person credited must be a student of this course.")
    if status == "raised" and question.review_id is not None:
        record = review_services.mark_question_raised(session, question.review_id,
                                                      question.question_index or 0,
                                                      student_id, actor)
    else:
        verb = "Raised" if status == "raised" else "Answered"
        record = add_manual_participation(course, actor, session, student_id, 1.0,
                                          f"{verb} in class: {question.text}"[:1000])
    question.status = status
    question.version += 1
    question.credited_id = student_id
    question.participation_id = record.id
    question.handled_at = now
    db.session.flush()
    return record


# ============================================================================ state for views


SHARED_STATE_SECONDS = 30.0


def state_fingerprint(session_id: int) -> tuple[Any, ...]:
    """What the live state depends on, from two small reads: the run row, and a count and a
    sum of versions over the questions (every vote, mark and re-count bumps a version)."""
    run = db.session.execute(select(LiveRun.id, LiveRun.version, LiveRun.segment)
                             .where(LiveRun.session_id == session_id)).first()
    questions = db.session.execute(
        select(func.count(LiveQuestion.id), func.coalesce(func.sum(LiveQuestion.version), 0))
        .where(LiveQuestion.session_id == session_id)).one()
    return (tuple(run) if run else None, tuple(questions))


def state_etag(fingerprint: tuple[Any, ...], user: User, now: datetime, *, staff: bool) -> str:
    """The ETag of one member's live state, so an unchanged state is answered 304 without
    building it. It leaves out the ticking clock (the page counts down itself); students' tags
    change each minute too, as the peer-rating link closes with its window."""
    minute = None if staff else int(now.timestamp() // 60)
    parts = [user.id, staff, fingerprint, minute]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def state(session_id: int, load_session: Callable[[], PaperSession], user: User, now: datetime,
          *, staff: bool, fingerprint: tuple[Any, ...],
          peer_url: Optional[Callable[[int], str]] = None) -> dict[str, Any]:
    """The live view's state for one member. Every phone polls it about once a second and
    during the discussion every vote changes it, so the part that is the same for everyone is
    built once per change in each worker process (kept with the fingerprint it was built
    under, and at most SHARED_STATE_SECONDS) and only the member's own part is read per poll."""
    cache: dict[int, tuple[tuple[Any, ...], float, dict[str, Any]]] = (
        current_app.extensions.setdefault("live_state", {}))
    cached = cache.get(session_id)
    if cached and cached[0] == fingerprint and time.monotonic() - cached[1] < SHARED_STATE_SECONDS:
        shared = cached[2]
    else:
        shared = _shared_state(load_session(), now)
        cache[session_id] = (fingerprint, time.monotonic(), shared)
    return _personal_state(shared, session_id, user, now, staff=staff, peer_url=peer_url)


def _shared_state(session: PaperSession, now: datetime) -> dict[str, Any]:
    run = run_of(session)
    segments = segments_of(session)
    current = current_segment(run, segments)
    group_names = {s.id: (s.group.display_name if s.group else None) for s in session.slots}
    presenter_ids = slot_presenters(current.slot) if current and current.slot else []
    return {
        "segment": run.segment if run else None,
        "segments": len(segments),
        "role": current.label if current else None,
        "group": group_names.get(current.slot.id) if current and current.slot else None,
        "presenters": _names(presenter_ids),
        "started_at": run.segment_started_at.isoformat() if run and current else None,
        "planned_seconds": current.planned_seconds if current else None,
        "extension_seconds": run.extension_seconds if run else 0,
        "paused": bool(run and run.paused_at is not None),
        "finished": bool(run and current is None),
        "next": _next_label(run, segments, group_names),
        "version": run.version if run else 0,
        "questions": [_question_json(item) for item in question_queue(session)],
        # Read per member, not sent as they are:
        "_presenter_ids": presenter_ids,
        "_clock": ((run.segment_started_at, run.paused_at, run.paused_seconds,
                    run.extension_seconds, current.planned_seconds) if run and current else None),
        "_peer": _peer_window(session, run),
    }


def _personal_state(shared: dict[str, Any], session_id: int, user: User, now: datetime, *,
                    staff: bool, peer_url: Optional[Callable[[int], str]]) -> dict[str, Any]:
    data = {key: value for key, value in shared.items() if not key.startswith("_")}
    remaining = None
    if shared["_clock"] is not None:
        started, paused_at, paused_seconds, extension, planned = shared["_clock"]
        remaining = planned + extension - _elapsed(started, paused_at, paused_seconds, now)
    data["remaining_seconds"] = remaining
    data["can_control"] = staff or (remaining is not None and user.id in shared["_presenter_ids"])
    mine = set(db.session.scalars(
        select(QuestionVote.question_id).join(LiveQuestion)
        .where(LiveQuestion.session_id == session_id, QuestionVote.user_id == user.id)))
    data["questions"] = [{**{k: v for k, v in question.items()
                             if staff or k not in ("asker", "credited")},
                          "voted": question["id"] in mine} for question in shared["questions"]]
    peer = shared["_peer"]
    data["peer_rating_url"] = None
    if (peer and peer_url and not staff and user.id not in peer["presenter_ids"]
            and peer["opens"] <= now < peer["closes"]):
        data["peer_rating_url"] = peer_url(peer["slot_id"])
    return data


def _peer_window(session: PaperSession, run: Optional[LiveRun]) -> Optional[dict[str, Any]]:
    """The presentation that last ended, with its peer-rating window and presenters."""
    from review.grading import peer

    if run is None:
        return None
    ended = db.session.scalar(
        select(LiveSegment).where(LiveSegment.run_id == run.id, LiveSegment.slot_id.is_not(None))
        .order_by(LiveSegment.position.desc()).limit(1))
    slot = next((s for s in session.slots if ended and s.id == ended.slot_id), None)
    if slot is None or slot.group_id is None:
        return None
    opens, closes = peer.peer_window(session.course, session)
    return {"slot_id": slot.id, "opens": opens, "closes": closes,
            "presenter_ids": set(slot_presenters(slot))}


def _names(user_ids: list[int]) -> list[str]:
    if not user_ids:
        return []
    return sorted(user.full_name for user in db.session.scalars(
        select(User).where(User.id.in_(user_ids))))


def _next_label(run: Optional[LiveRun], segments: list[Segment],
                group_names: dict[int, Optional[str]]) -> Optional[str]:
    position = run.segment + 1 if run else 0
    if position >= len(segments):
        return None
    segment = segments[position]
    group = group_names.get(segment.slot.id) if segment.slot else None
    return f"{segment.label} ({group})" if group else segment.label


def _question_json(item: QueueItem) -> dict[str, Any]:
    question = item.question
    return {"id": question.id, "text": question.text, "votes": item.votes,
            "asked": question.asked_count, "status": question.status,
            "asker": question.author.full_name if question.author else None,
            "credited": question.credited.full_name if question.credited else None}


# ============================================================================ slides

PDF_MAGIC = b"%PDF-"
DEFAULT_SLIDES_MAX_BYTES = 20 * 1024 * 1024


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def can_upload_slides(slot: Slot, user: User) -> bool:
    return is_staff(slot.session.course, user) or user.id in slot_presenters(slot)


def can_download_slides(slot: Slot, user: User, now: datetime) -> bool:
    """Staff and the slot's presenters any time; the class once the session has started
    (by the calendar, or by staff starting its run sheet early)."""
    if can_upload_slides(slot, user):
        return True
    session = slot.session
    started = now >= session.starts_at or run_of(session) is not None
    return started and review_services.is_student(session.course, user)


def save_slides(slot: Slot, actor: User, *, filename: str, data: Optional[bytes], url: str,
                store: SlideStore, max_bytes: int, now: datetime) -> SlideDeck:
    """A new version of the slot's slides: a PDF (checked by its first bytes, size-limited,
    stored under a random name) or an http(s) link. The file is stored before its row is
    flushed and removed again if the row fails; the caller removes it if its commit fails."""
    if not can_upload_slides(slot, actor):
        raise LiveError("Only the presenters of this slot and staff upload its slides.")
    url = url.strip()
    if data and url:
        raise LiveError("Give either a PDF file or a link, not both.")
    if not data and not url:
        raise LiveError("Choose a PDF file or give a link to the slides.")
    version = (db.session.scalar(select(func.max(SlideDeck.version))
                                 .where(SlideDeck.slot_id == slot.id)) or 0) + 1
    if url:
        if not url.lower().startswith(("http://", "https://")) or len(url) > 500:
            raise LiveError(f"The link must start with http:// or https:// (got {url[:60]!r}).")
        deck = SlideDeck(slot_id=slot.id, version=version, url=url, uploaded_by_id=actor.id,
                         uploaded_at=now)
    else:
        assert data is not None
        if len(data) > max_bytes:
            raise LiveError(f"The slides are larger than the limit of {_megabytes(max_bytes)} "
                            f"({_megabytes(len(data))}).")
        if not data.startswith(PDF_MAGIC):
            raise LiveError(f"{filename or 'The file'} is not a PDF; upload the slides as a PDF "
                            "or give a link.")
        stored = secrets.token_hex(16) + ".pdf"
        store.put(stored, data)
        deck = SlideDeck(slot_id=slot.id, version=version, stored_name=stored,
                         original_name=(filename or "slides.pdf")[:255], size_bytes=len(data),
                         uploaded_by_id=actor.id, uploaded_at=now)
    db.session.add(deck)
    try:
        db.session.flush()
    except IntegrityError:
        if deck.stored_name:
            store.delete(deck.stored_name)
        raise LiveError("Another version was uploaded at the same moment; try again.") from None
    return deck


def latest_slides(session: PaperSession) -> dict[int, SlideDeck]:
    """The newest version of each slot's slides."""
    latest: dict[int, SlideDeck] = {}
    for deck in db.session.scalars(
            select(SlideDeck).join(Slot, Slot.id == SlideDeck.slot_id)
            .where(Slot.session_id == session.id).order_by(SlideDeck.version)):
        latest[deck.slot_id] = deck
    return latest


def slide_versions(session: PaperSession) -> dict[int, int]:
    return dict(db.session.execute(
        select(SlideDeck.slot_id, func.count(SlideDeck.id)).join(Slot, Slot.id == SlideDeck.slot_id)
        .where(Slot.session_id == session.id).group_by(SlideDeck.slot_id)).tuples().all())


def deck_of(session: PaperSession, deck_id: int) -> Optional[SlideDeck]:
    return db.session.scalar(select(SlideDeck).join(Slot, Slot.id == SlideDeck.slot_id)
                             .where(SlideDeck.id == deck_id, Slot.session_id == session.id))


# ============================================================================ before and after


@dataclass(frozen=True)
class ReviewCounts:
    submitted: int
    late: int
    missing: int


def review_counts(session: PaperSession) -> ReviewCounts:
    """Submitted (late among them) and missing reviews of the students expected to review:
    the class minus this session's presenters and excused students."""
    course = session.course
    students = set(db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)))
    excused = set(db.session.scalars(select(ReviewExcuse.user_id).where(
        ReviewExcuse.session_id == session.id)))
    presenters = presenters_by_session([session.id]).get(session.id, set())
    submitted = {user_id: days_late for user_id, days_late in db.session.execute(
        select(Review.user_id, Review.days_late).where(
            Review.session_id == session.id, Review.status == ReviewStatus.submitted))}
    expected = students - excused - presenters
    return ReviewCounts(submitted=len(submitted),
                        late=sum(1 for days in submitted.values() if days > 0),
                        missing=len(expected - set(submitted)))


@dataclass(frozen=True)
class SessionReport:
    segments: list[LiveSegment]
    planned: list[Segment]
    handled: list[LiveQuestion]
    participation: list[tuple[User, float, int]]   # student, points, records
    peer_rates: list[tuple[Slot, int, int]]         # slot, ratings, eligible raters


def session_report(session: PaperSession) -> SessionReport:
    run = run_of(session)
    handled = list(db.session.scalars(
        select(LiveQuestion).where(LiveQuestion.session_id == session.id,
                                   LiveQuestion.status != "open")
        .options(selectinload(LiveQuestion.credited), selectinload(LiveQuestion.author))
        .order_by(LiveQuestion.handled_at, LiveQuestion.id)))
    participation = [(user, float(points or 0), int(count)) for user, points, count in
                     db.session.execute(
                         select(User, func.sum(ParticipationRecord.points),
                                func.count(ParticipationRecord.id))
                         .join(ParticipationRecord, ParticipationRecord.user_id == User.id)
                         .where(ParticipationRecord.session_id == session.id)
                         .group_by(User.id).order_by(User.last_name, User.first_name))]
    students = db.session.scalar(select(func.count(Enrollment.id)).where(
        Enrollment.course_id == session.course_id, Enrollment.role == CourseRole.student)) or 0
    ratings = dict(db.session.execute(
        select(PeerRating.slot_id, func.count(PeerRating.id)).join(Slot)
        .where(Slot.session_id == session.id).group_by(PeerRating.slot_id)).tuples().all())
    from review.signup.presenters import presenters_by_slot

    presenters = presenters_by_slot(session.course)
    peer_rates = [(slot, ratings.get(slot.id, 0), max(0, students - len(presenters.get(slot.id, []))))
                  for slot in sorted(session.slots, key=lambda s: s.role.position)
                  if slot.group_id is not None]
    return SessionReport(recorded_segments(run), segments_of(session), handled, participation,
                         peer_rates)


def report_rows(session: PaperSession, report: SessionReport) -> list[list[Any]]:
    """The report as spreadsheet rows (one table with a section column)."""
    rows: list[list[Any]] = [["section", "item", "who", "planned_min", "actual_min",
                              "overtime_min", "value"]]
    for segment in report.segments:
        rows.append(["segment", segment.label, "", round(segment.planned_seconds / 60, 1),
                     round(segment.actual_seconds / 60, 1),
                     round(segment.overtime_seconds / 60, 1), ""])
    for question in report.handled:
        rows.append(["question", question.text, question.credited.full_name if question.credited
                     else "", "", "", "", question.status])
    for user, points, count in report.participation:
        rows.append(["participation", f"{count} record(s)", user.full_name, "", "", "", points])
    for slot, rated, eligible in report.peer_rates:
        rate = f"{rated}/{eligible}" + (f" ({100 * rated / eligible:.0f}%)" if eligible else "")
        rows.append(["peer_rating", slot.role.name, slot.group.display_name if slot.group else "",
                     "", "", "", rate])
    return rows


# ============================================================================ feedback on reviews

HELPFULNESS_SCALE = {1: "not helpful", 2: "a little helpful", 3: "helpful", 4: "very helpful",
                     5: "shaped the discussion"}
HELPFULNESS_TAGS = {"insightful-weakness": "insightful weakness", "good-question": "good question",
                    "clear-summary": "clear summary", "too-vague": "too vague",
                    "off-topic": "off topic"}


def can_rate_reviews(session: PaperSession, user: User, now: datetime) -> bool:
    """Staff any time; the session's presenters once the review deadline has passed."""
    if is_staff(session.course, user):
        return True
    return now > session.review_deadline and is_session_presenter(session, user)


def rate_review(session: PaperSession, review: Review, rater: User, helpfulness: int,
                tags: list[str], now: datetime) -> ReviewRating:
    """Save (or change) the rater's rating of one submitted review of the session."""
    if not can_rate_reviews(session, rater, now):
        raise LiveError("Staff and this session's presenters rate its reviews, once the review "
                        "deadline has passed.")
    if review.session_id != session.id or review.status != ReviewStatus.submitted:
        raise LiveError("That review is not a submitted review of this session.")
    if review.user_id == rater.id:
        raise LiveError("You cannot rate your own review.")
    if helpfulness not in HELPFULNESS_SCALE:
        raise LiveError(f"Helpfulness is 1 to 5 (got {helpfulness}).")
    unknown = [tag for tag in tags if tag not in HELPFULNESS_TAGS]
    if unknown:
        raise LiveError(f"Unknown tag {unknown[0][:40]!r}; choose from the listed tags.")
    rating = db.session.scalar(select(ReviewRating).where(
        ReviewRating.review_id == review.id, ReviewRating.rater_id == rater.id))
    if rating is None:
        rating = ReviewRating(review_id=review.id, rater_id=rater.id, created_at=now,
                              helpfulness=helpfulness)
        db.session.add(rating)
    rating.helpfulness = helpfulness
    rating.tags = sorted(set(tags))
    rating.updated_at = now
    try:
        db.session.flush()
    except IntegrityError:
        raise LiveError("You rated this review in another tab at the same moment; reload and "
                        "try again.") from None
    return rating


@dataclass(frozen=True)
class Helpfulness:
    """The ratings of one review, without who gave them."""

    count: int
    average: float
    tags: list[tuple[str, int]]     # label, how many raters chose it; most chosen first


def helpfulness_of(review_ids: list[int]) -> dict[int, Helpfulness]:
    ratings: dict[int, list[ReviewRating]] = {}
    if review_ids:
        for rating in db.session.scalars(select(ReviewRating)
                                         .where(ReviewRating.review_id.in_(review_ids))):
            ratings.setdefault(rating.review_id, []).append(rating)
    summary = {}
    for review_id, rows in ratings.items():
        counts: dict[str, int] = {}
        for row in rows:
            for tag in row.tags:
                if tag in HELPFULNESS_TAGS:
                    counts[HELPFULNESS_TAGS[tag]] = counts.get(HELPFULNESS_TAGS[tag], 0) + 1
        summary[review_id] = Helpfulness(
            count=len(rows), average=sum(r.helpfulness for r in rows) / len(rows),
            tags=sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return summary


def my_review_ratings(session: PaperSession, rater: User) -> dict[int, ReviewRating]:
    return {rating.review_id: rating for rating in db.session.scalars(
        select(ReviewRating).join(Review, Review.id == ReviewRating.review_id)
        .where(Review.session_id == session.id, ReviewRating.rater_id == rater.id))}
