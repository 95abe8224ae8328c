"""The similarity check and the question digest of a session: computed by a job, read from storage.

Both run scikit-learn over every submitted review of a session, which costs seconds of CPU and
a few hundred MB the first time; a page must not pay that. So a job computes them
(``analyse_session``) and stores the result in ``SessionAnalysis`` with a fingerprint of what it
was computed from (``source_hash``: the submitted reviews' ids and content hashes, and the
settings that matter). Pages read the stored result:

- When the current fingerprint differs, the page shows the stored result as being updated, with
  its time, and keeps only the parts whose reviews have not changed since; it asks for a job
  (coalesced: at most one waits per session and kind), unless the last one failed for good.
- Submitting a review asks for both jobs after the commit, so results are usually current
  before anyone looks.
- A job whose result is already current does nothing, so a burst of requests costs one run.
- A job that raises is retried with back-off; after the last try the row records the reason,
  the page says so, and the outbox lists it with a "run again" button.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from flask import current_app
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from models import (
    PaperSession,
    ParticipationRecord,
    Review,
    ReviewStatus,
    SessionAnalysis,
    db,
    utcnow,
)
from review.jobs import after_commit, enqueue_once, job_started, jobs
from review.reviews.digest import Question, cluster_questions
from review.reviews.services import ReviewContent, rules_of, submitted_reviews
from review.reviews.similarity import TextSpan, find_similar_reviews, highlight_spans

SIMILARITY = "similarity"
DIGEST = "digest"
KINDS = (SIMILARITY, DIGEST)
# Part of every fingerprint: raising it makes every stored result stale after a deploy that
# changes what a result holds or how it is computed.
FORMAT = 1


# ---------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Analysis:
    """What a page knows about one stored result."""

    kind: str
    payload: Optional[dict[str, Any]]
    computed_at: Optional[datetime]
    # The stored result was computed from the reviews as they are now.
    current: bool
    # Why the last job failed after its retries ("" when it did not), and when.
    error: str
    failed_at: Optional[datetime]

    @property
    def updating(self) -> bool:
        return not self.current and not self.error


def source_hash(session: PaperSession, kind: str) -> str:
    """The fingerprint of everything ``kind``'s result depends on: one small query."""
    rows = db.session.execute(
        select(Review.id, Review.content_sha256)
        .where(Review.session_id == session.id, Review.status == ReviewStatus.submitted)
        .order_by(Review.id)).all()
    parts: list[Any] = [kind, FORMAT, [[review_id, sha] for review_id, sha in rows]]
    if kind == SIMILARITY:
        parts.append(rules_of(session.course).similarity_threshold)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _row(session_id: int, kind: str) -> Optional[SessionAnalysis]:
    # populate_existing: with the immediate backend (tests) the job has just written the row
    # in a session of its own.
    return db.session.scalar(
        select(SessionAnalysis).where(SessionAnalysis.session_id == session_id,
                                      SessionAnalysis.kind == kind)
        .execution_options(populate_existing=True))


def analysis_of(session: PaperSession, kind: str) -> Analysis:
    """The stored result for a page; when it is out of date, a job is asked to update it
    (unless the last one failed for good: staff run that again from the outbox)."""
    current_hash = source_hash(session, kind)
    row = _row(session.id, kind)
    if (row is None or row.source_hash != current_hash) and not (row and row.error):
        if request_analysis(session.id, kind):
            row = _row(session.id, kind)
    if row is None:
        return Analysis(kind, None, None, False, "", None)
    return Analysis(kind, row.payload, row.computed_at, row.source_hash == current_hash,
                    row.error, row.failed_at)


# ---------------------------------------------------------------------------------- requests


def _pending_key(session_id: int, kind: str) -> str:
    return f"pending:analyse_session:{session_id}:{kind}"


def request_analysis(session_id: int, kind: str) -> bool:
    """Queue the job for one result unless one is already waiting; True if queued."""
    return enqueue_once(jobs().analyse_session, _pending_key(session_id, kind), session_id, kind)


def reanalyse_after_commit(session_id: int) -> None:
    """Queue both jobs once the caller's transaction commits (the reviews changed)."""
    after_commit(lambda: [request_analysis(session_id, kind) for kind in KINDS])


def run_again(row: SessionAnalysis) -> None:
    """Staff's "run again" for a result that failed; the job is queued after the commit."""
    row.error = ""
    row.failed_at = None
    session_id, kind = row.session_id, row.kind
    after_commit(lambda: request_analysis(session_id, kind))


def failed_analyses(course_id: Optional[int], limit: int) -> list[SessionAnalysis]:
    """Results whose last job failed for good, newest first (every course's when None)."""
    query = (select(SessionAnalysis).where(SessionAnalysis.error != "")
             .options(selectinload(SessionAnalysis.session).selectinload(PaperSession.week),
                      selectinload(SessionAnalysis.session).selectinload(PaperSession.course))
             .order_by(SessionAnalysis.failed_at.desc(), SessionAnalysis.id.desc()).limit(limit))
    if course_id is not None:
        query = query.join(PaperSession).where(PaperSession.course_id == course_id)
    return list(db.session.scalars(query))


# ---------------------------------------------------------------------------------- the job


def analyse_session(session_id: int, kind: str, attempt: int = 1) -> None:
    """The job: bring one stored result up to date, or record why not and retry with back-off."""
    job_started(_pending_key(session_id, kind))
    session = db.session.get(PaperSession, session_id)
    if session is None or kind not in KINDS:
        return
    current_hash = source_hash(session, kind)
    row = _row(session_id, kind)
    if row is not None and row.source_hash == current_hash and row.payload is not None:
        return
    try:
        payload = COMPUTE[kind](session)
    except Exception as exc:  # any failure: staff must see it, and the worker must go on
        db.session.rollback()
        _record_failure(session_id, kind, attempt, f"{type(exc).__name__}: {exc}"[:500])
        return
    row = row or SessionAnalysis(session_id=session_id, kind=kind)
    row.source_hash, row.payload, row.computed_at = current_hash, payload, utcnow()
    row.error, row.failed_at = "", None
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        # Another worker stored this result at the same moment: theirs is as good.
        db.session.rollback()


def _record_failure(session_id: int, kind: str, attempt: int, reason: str) -> None:
    config = current_app.config
    if attempt < int(config["JOBS_ANALYSIS_ATTEMPTS"]):
        delay = float(config["JOBS_ANALYSIS_RETRY_DELAY"]) * 2 ** (attempt - 1)
        current_app.logger.info("The %s of session %s failed (try %s), retrying in %g s: %s",
                                kind, session_id, attempt, delay, reason)
        jobs().analyse_session.schedule(args=(session_id, kind, attempt + 1), delay=delay)
        return
    current_app.logger.warning("The %s of session %s failed for good: %s", kind, session_id,
                               reason)
    row = _row(session_id, kind) or SessionAnalysis(session_id=session_id, kind=kind)
    row.error, row.failed_at = reason, utcnow()
    db.session.add(row)
    db.session.commit()


def _compute_similarity(session: PaperSession) -> dict[str, Any]:
    threshold = rules_of(session.course).similarity_threshold
    reviews = submitted_reviews(session)
    texts = [(r.id, ReviewContent.from_dict(r.content).plain_text()) for r in reviews]
    pairs = find_similar_reviews(texts, threshold=threshold)
    return {"threshold": threshold, "reviews": _fingerprints(reviews),
            "pairs": [{"first": p.first_key, "second": p.second_key, "score": p.score,
                       "first_spans": [[s.start, s.end] for s in p.first_spans],
                       "second_spans": [[s.start, s.end] for s in p.second_spans]}
                      for p in pairs]}


def _compute_digest(session: PaperSession) -> dict[str, Any]:
    reviews = submitted_reviews(session)
    questions = [Question(key=(review.id, index), author_key=review.user_id, text=text)
                 for review in reviews
                 for index, text in enumerate(ReviewContent.from_dict(review.content).questions)]
    clusters = cluster_questions(questions) if questions else []
    return {"reviews": _fingerprints(reviews),
            "clusters": [{"representative": list(c.representative.key),
                          "members": [list(q.key) for q in c.members],
                          "entries": [[list(q.key) for q in e.members] for e in c.entries]}
                         for c in clusters]}


COMPUTE: dict[str, Callable[[PaperSession], dict[str, Any]]] = {
    SIMILARITY: _compute_similarity, DIGEST: _compute_digest}


def _fingerprints(reviews: list[Review]) -> dict[str, Optional[str]]:
    """The content hash of every review a result was computed from (JSON keys are strings)."""
    return {str(review.id): review.content_sha256 for review in reviews}


def _unchanged(review: Review, payload: dict[str, Any]) -> bool:
    """Whether ``review`` is as the result saw it: spans and question indexes still fit."""
    return payload["reviews"].get(str(review.id)) == review.content_sha256


# ---------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class SimilarityRow:
    first: Review
    second: Review
    score: float
    first_html: Markup
    second_html: Markup
    passages: int


def similarity_report(session: PaperSession, analysis: Analysis) -> tuple[float, list[SimilarityRow]]:
    """The flagged pairs of the stored result whose reviews have not changed since."""
    payload = analysis.payload
    if payload is None:
        return rules_of(session.course).similarity_threshold, []
    flagged = {key for pair in payload["pairs"] for key in (pair["first"], pair["second"])}
    # Only the flagged reviews are loaded: the page costs the same for 10 or 300 reviews.
    reviews = {r.id: r for r in db.session.scalars(
        select(Review).where(Review.id.in_(flagged), Review.session_id == session.id,
                             Review.status == ReviewStatus.submitted)
        .options(selectinload(Review.user))) if _unchanged(r, payload)}
    rows = []
    for pair in payload["pairs"]:
        first, second = reviews.get(pair["first"]), reviews.get(pair["second"])
        if first is None or second is None:
            continue
        rows.append(SimilarityRow(
            first, second, pair["score"], _highlighted(first, pair["first_spans"]),
            _highlighted(second, pair["second_spans"]), len(pair["first_spans"])))
    return payload["threshold"], rows


def _highlighted(review: Review, spans: list[list[int]]) -> Markup:
    text = ReviewContent.from_dict(review.content).plain_text()
    return highlight_spans(text, [TextSpan(start, end) for start, end in spans])


@dataclass(frozen=True)
class DigestItem:
    review: Review
    index: int
    text: str
    raised: Optional[ParticipationRecord]


@dataclass(frozen=True)
class DigestEntry:
    """Copies of one question: shown, and marked raised, once."""

    representative: DigestItem
    items: list[DigestItem]

    @property
    def count(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class DigestCluster:
    representative: DigestItem
    items: list[DigestItem]
    entries: list[DigestEntry]

    @property
    def count(self) -> int:
        return len(self.items)


def session_digest(session: PaperSession, analysis: Optional[Analysis] = None) -> list[DigestCluster]:
    """The stored digest, biggest group first, with the questions of reviews changed since it
    was computed left out (they come back with the next result)."""
    payload = (analysis or analysis_of(session, DIGEST)).payload
    if payload is None:
        return []
    raised = {(p.review_id, p.question_index): p for p in db.session.scalars(
        select(ParticipationRecord).where(ParticipationRecord.session_id == session.id,
                                          ParticipationRecord.kind == "question"))}
    items: dict[tuple[int, int], DigestItem] = {}
    for review in submitted_reviews(session):
        if not _unchanged(review, payload):
            continue
        for index, text in enumerate(ReviewContent.from_dict(review.content).questions):
            items[(review.id, index)] = DigestItem(review, index, text, raised.get((review.id, index)))

    def present(keys: list[list[int]]) -> list[DigestItem]:
        return [items[(review_id, index)] for review_id, index in keys if (review_id, index) in items]

    clusters = []
    for cluster in payload["clusters"]:
        entries = [DigestEntry(found[0], found) for found in map(present, cluster["entries"]) if found]
        if not entries:
            continue
        members = present(cluster["members"])
        representative = items.get(tuple(cluster["representative"]), members[0])
        clusters.append(DigestCluster(representative, members, entries))
    return clusters
