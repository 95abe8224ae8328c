"""Weekly paper reviews: writing, autosaving, submitting, late work, privacy, staff tools, digest.

The rules live here; views and commands call them and commit once. Every function flushes and
raises a ``ReviewError`` (a DomainError) with a message meant for the person who caused it.

A review has one working copy (``Review.content``). Before the first submit the working copy is a
draft that autosaves. Once submitted, ``Review.content`` always equals the latest submitted
version (``ReviewVersion``) and ``content_sha256`` is its hash: revisions before the deadline are
made by submitting again, so graders, the digest and the similarity check can read
``Review.content`` of a submitted review and get exactly what was submitted. Those two are
computed by a job after every submit (review.reviews.analysis).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Iterable, NamedTuple, Optional, TypeVar

from sqlalchemy import (JSON, Float, Insert, Integer, Select, String, Text, Update, and_, bindparam,
                        case, cast, func, insert, or_, select, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, joinedload, selectinload
from sqlalchemy.orm.exc import StaleDataError

from models import (
    AuditEntry,
    Course,
    CourseRole,
    Enrollment,
    LateDayEntry,
    PaperSession,
    ParticipationRecord,
    Review,
    ReviewAccess,
    ReviewExcuse,
    ReviewStatus,
    ReviewVersion,
    User,
    UTCDateTime,
    db,
)
from review.core.errors import DomainError
from review.courses.definition import ReviewRulesDef, stored_definition
from review.gradebook.revision import bump_grades_revision
from review.permissions import known_enrollment
from review.reviews.policy import LateAssessment, LatePolicy, assess_late, late_window_closes
from review.reviews.rendering import known_html, stored_rendering
from review.reviews.status import presenting_user_ids

# ---------------------------------------------------------------------------------- content

TEXT_SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary",
     "In one or two sentences: what problem does the paper tackle and what does it propose?"),
    ("strengths", "Strengths and takeaways",
     "What does the paper contribute, and what did you learn from it?"),
    ("weaknesses", "Weaknesses and limitations",
     "The fundamental limitations: assumptions, evaluation, scope. Not typos."),
    ("remedies", "How the limitations could be addressed",
     "For the weaknesses above: what experiment, method or change would fix or test them?"),
)
QUESTIONS_LABEL = "Discussion questions"
QUESTIONS_GUIDANCE = ("One to five questions you would like to discuss in class, each on its own. "
                      "Good questions have no one-word answer.")
MAX_QUESTIONS = 5
SECTION_LABELS = {key: label for key, label, _ in TEXT_SECTIONS} | {"questions": QUESTIONS_LABEL}

_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


@dataclass(frozen=True)
class ReviewContent:
    """The sections of a review as the student wrote them (whitespace trimmed)."""

    summary: str = ""
    strengths: str = ""
    weaknesses: str = ""
    remedies: str = ""
    questions: tuple[str, ...] = ()

    @classmethod
    def build(cls, *, summary: str = "", strengths: str = "", weaknesses: str = "",
              remedies: str = "", questions: Iterable[str] = ()) -> "ReviewContent":
        # Empty question boxes are not questions; the rest keep the student's order.
        kept = tuple(q.strip() for q in questions if q and q.strip())
        return cls(summary=(summary or "").strip(), strengths=(strengths or "").strip(),
                   weaknesses=(weaknesses or "").strip(), remedies=(remedies or "").strip(),
                   questions=kept)

    @classmethod
    def from_dict(cls, data: Optional[dict[str, Any]]) -> "ReviewContent":
        data = data or {}
        return cls.build(summary=data.get("summary", ""), strengths=data.get("strengths", ""),
                         weaknesses=data.get("weaknesses", ""), remedies=data.get("remedies", ""),
                         questions=data.get("questions") or ())

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "strengths": self.strengths,
                "weaknesses": self.weaknesses, "remedies": self.remedies,
                "questions": list(self.questions)}

    def sha256(self) -> str:
        """The receipt hash: SHA-256 of the canonical JSON (sorted keys, UTF-8, no spaces)."""
        return content_sha256(self.to_dict())

    def plain_text(self) -> str:
        parts = [getattr(self, key) for key, _, _ in TEXT_SECTIONS] + list(self.questions)
        return "\n\n".join(p for p in parts if p)

    def is_empty(self) -> bool:
        return not self.plain_text()


def content_sha256(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def count_sentences(text: str) -> int:
    text = text.strip()
    if not text:
        return 0
    ends = len(_SENTENCE_END.findall(text))
    # A last sentence without a full stop still counts.
    return ends + (0 if _SENTENCE_END.search(text[-1:] + " ") else 1)


@dataclass(frozen=True)
class ContentCheck:
    """Gentle checks: ``blocking`` stops a submit, ``advice`` is shown but never blocks."""

    blocking: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    empty_sections: list[str] = field(default_factory=list)


def check_content(content: ReviewContent) -> ContentCheck:
    empty = [key for key, _, _ in TEXT_SECTIONS if not getattr(content, key)]
    if not content.questions:
        empty.append("questions")
    blocking = []
    if empty:
        names = ", ".join(SECTION_LABELS[key] for key in empty)
        blocking.append(f"Fill in every section before submitting; empty: {names}.")
    advice = []
    sentences = count_sentences(content.summary)
    if sentences > 2:
        advice.append(f"The summary has {sentences} sentences; one or two are enough.")
    if not content.questions:
        advice.append("Add at least one discussion question.")
    return ContentCheck(blocking=blocking, advice=advice, empty_sections=empty)


def check_sizes(content: ReviewContent, rules: ReviewRulesDef) -> None:
    """Oversized text is refused outright (for drafts too), naming the field and the limit."""
    problems = []
    for key, label, _ in TEXT_SECTIONS:
        length = len(getattr(content, key))
        if length > rules.max_chars_per_section:
            problems.append(f"{label} has {length} characters; the limit is "
                            f"{rules.max_chars_per_section} per section.")
    for index, question in enumerate(content.questions, start=1):
        if len(question) > rules.max_chars_per_section:
            problems.append(f"Question {index} has {len(question)} characters; the limit is "
                            f"{rules.max_chars_per_section} per section.")
    if len(content.questions) > MAX_QUESTIONS:
        problems.append(f"{len(content.questions)} questions given; at most {MAX_QUESTIONS}.")
    total = len(content.plain_text())
    if total > rules.max_chars_total:
        problems.append(f"The review has {total} characters in all; the limit is "
                        f"{rules.max_chars_total}.")
    if problems:
        raise ReviewTooLong(" ".join(problems))


# ---------------------------------------------------------------------------------- errors


class ReviewError(DomainError):
    """A review rule said no."""


class ReviewNotOpen(ReviewError):
    pass


class ReviewClosed(ReviewError):
    pass


class ReviewTooLong(ReviewError):
    pass


class ReviewIncomplete(ReviewError):
    pass


class ReviewStale(ReviewError):
    """Another tab or window saved a newer copy (optimistic lock on Review.version)."""


class LateConfirmationNeeded(ReviewError):
    """Submitting now is late and has a cost; the student must confirm first."""

    def __init__(self, assessment: LateAssessment):
        self.assessment = assessment
        super().__init__(assessment.message + " Confirm to submit anyway.")


# ---------------------------------------------------------------------------------- rules


def rules_of(course: Course) -> ReviewRulesDef:
    return stored_definition(course).reviews


def late_policy_of(rules: ReviewRulesDef) -> LatePolicy:
    return LatePolicy(rules.late_policy.mode, rules.late_policy.penalty_per_day_pct,
                      rules.late_policy.grace_days, rules.late_policy.max_days_late,
                      rules.late_policy.min_score_pct)


def session_of_course(course: Course, session_id: int, *,
                      with_paper: bool = False) -> PaperSession | None:
    """The session if it belongs to this course (a session of another course is None -> 404);
    ``with_paper`` loads its week and paper in the same statement, for pages that show them."""
    return db.session.scalar(_session_statement(with_paper),
                             {"session_id": session_id, "course_id": course.id})


# The statements of every review write, built once with bound parameters: building one costs
# more CPU than SQLite takes to run it, and a built one keeps its cache key.


@cache
def _session_statement(with_paper: bool) -> Select[Any]:
    query = select(PaperSession).where(PaperSession.id == bindparam("session_id"),
                                       PaperSession.course_id == bindparam("course_id"))
    if with_paper:
        query = query.options(joinedload(PaperSession.week), joinedload(PaperSession.paper))
    return query


@cache
def _review_statement(lock: bool) -> Select[Any]:
    query = select(Review).where(Review.session_id == bindparam("session_id"),
                                 Review.user_id == bindparam("user_id"))
    return query.with_for_update() if lock else query


@cache
def _review_and_last_number_statement() -> Select[Any]:
    # A submit's locking read with the number of the last version (None before the first), so
    # a resubmit numbers its version without another statement.
    last = (select(func.max(ReviewVersion.number))
            .where(ReviewVersion.review_id == Review.id).correlate(Review).scalar_subquery())
    return (select(Review, last).where(Review.session_id == bindparam("session_id"),
                                       Review.user_id == bindparam("user_id"))
            .with_for_update(of=Review))


@cache
def _last_version_number_statement() -> Select[Any]:
    # The number alone: the form says "version N" without loading any version's row.
    return select(func.max(ReviewVersion.number)).where(
        ReviewVersion.review_id == bindparam("review_id"))


def last_version_number(review: Review) -> int | None:
    """The number of the review's last submitted version, None before the first."""
    return db.session.scalar(_last_version_number_statement(), {"review_id": review.id})


@cache
def _receipt_statement() -> Select[Any]:
    versions = (select(func.max(ReviewVersion.number))
                .where(ReviewVersion.review_id == Review.id).correlate(Review).scalar_subquery())
    return (select(Review, ReviewVersion, versions)
            .join(ReviewVersion, and_(ReviewVersion.review_id == Review.id,
                                      ReviewVersion.number == func.coalesce(
                                          bindparam("number", type_=Integer), versions)))
            # A receipt shows the version's hash, not its text.
            .options(defer(ReviewVersion.content), defer(Review.content),
                     defer(Review.revision), defer(Review.rendered))
            .where(Review.session_id == bindparam("session_id"),
                   Review.user_id == bindparam("user_id")))


def receipt_of(session: PaperSession, user: User,
               number: Optional[int]) -> tuple[Review, ReviewVersion, int] | None:
    """The student's review, its version ``number`` (the last when None) and how many versions
    there are, in one statement; None when there is no such version."""
    row = db.session.execute(_receipt_statement(), {"session_id": session.id, "user_id": user.id,
                                                    "number": number}).first()
    return None if row is None else (row[0], row[1], row[2])


def is_student(course: Course, user: User) -> bool:
    known = known_enrollment(course, user)  # the route's own check already loaded it
    if known is not None:
        return known.role == CourseRole.student
    return db.session.scalar(select(Enrollment.id).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id,
        Enrollment.role == CourseRole.student)) is not None


def is_staff_of(course: Course, user: User) -> bool:
    known = known_enrollment(course, user)  # the route's own check already loaded it
    if known is not None:
        return known.role in (CourseRole.instructor, CourseRole.ta)
    return db.session.scalar(select(Enrollment.id).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id,
        Enrollment.role.in_([CourseRole.instructor, CourseRole.ta]))) is not None


def review_of(session: PaperSession, user: User, *, lock: bool = False) -> Review | None:
    return db.session.scalar(_review_statement(lock),
                             {"session_id": session.id, "user_id": user.id})


def grace_days_used(course: Course, user: User) -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(LateDayEntry.days), 0)).where(
        LateDayEntry.course_id == course.id, LateDayEntry.user_id == user.id)) or 0)


def late_assessment(session: PaperSession, user: User, now: datetime) -> LateAssessment:
    rules = rules_of(session.course)
    # Work on time spends no grace days, so the ledger is read only for late work.
    used = grace_days_used(session.course, user) if now > session.review_deadline else 0
    return assess_late(late_policy_of(rules), session.review_deadline, now, used)


def is_excused(session: PaperSession, user: User) -> bool:
    return db.session.scalar(_excuse_statement(),
                             {"session_id": session.id, "user_id": user.id}) is not None


@cache
def _excuse_statement() -> Select[Any]:
    # Built once, as the write statements above are: the review form asks on every load.
    return select(ReviewExcuse.id).where(ReviewExcuse.session_id == bindparam("session_id"),
                                         ReviewExcuse.user_id == bindparam("user_id"))


def is_presenter(session: PaperSession, user: User) -> bool:
    return user.id in presenting_user_ids([session.id])[session.id]


def _require_student_and_open(session: PaperSession, user: User, now: datetime) -> None:
    if not is_student(session.course, user):
        raise ReviewError("Only students of this course write reviews.")
    if now < session.review_opens_at:
        raise ReviewNotOpen("Reviews for this paper open on "
                            f"{_local(session.review_opens_at, session.course)}.")


def _check_version(review: Review, expected_version: Optional[int]) -> None:
    if expected_version is not None and expected_version != review.version:
        raise ReviewStale(
            "This review was saved from another tab or window "
            f"(at {_local(review.saved_at, review.session.course)}) after you opened this page. "
            "Nothing was saved from this page: reload it to see the latest text, then "
            "make your change again.")


def _local(moment: datetime, course: Course) -> str:
    from review.reviews.policy import format_local

    return format_local(moment, course.timezone)


def _save_revision(session: PaperSession, review: Review, content: ReviewContent, now: datetime,
                   expected_version: Optional[int]) -> Review:
    if now > session.review_deadline:
        raise ReviewClosed("The deadline has passed (" + _local(session.review_deadline,
                           session.course) + "), so the submitted review can no longer be "
                           "changed; nothing was saved.")
    _check_version(review, expected_version)
    revision = None if ReviewContent.from_dict(review.content) == content else content.to_dict()
    if review.revision == revision:
        return review
    review.revision = revision
    review.saved_at = now
    db.session.flush()
    return review


def save_draft(session: PaperSession, user: User, content: ReviewContent, now: datetime, *,
               expected_version: Optional[int] = None) -> Review:
    """Save the working copy (autosave and the Save button).

    Edits of a submitted review go to ``Review.revision``: the submitted text stays on record,
    and what was typed since survives a closed browser until it is submitted again.
    """
    _require_student_and_open(session, user, now)
    check_sizes(content, rules_of(session.course))
    return _save_checked_draft(session, user, content, now, expected_version)


def _save_checked_draft(session: PaperSession, user: User, content: ReviewContent, now: datetime,
                        expected_version: Optional[int]) -> Review:
    review = review_of(session, user, lock=True)
    if review is not None and review.status == ReviewStatus.submitted:
        return _save_revision(session, review, content, now, expected_version)
    if now > session.review_deadline and not late_assessment(session, user, now).accepted:
        raise ReviewClosed("The deadline has passed (" + _local(session.review_deadline,
                           session.course) + ") and late reviews are not accepted; nothing "
                           "was saved.")
    if review is None:
        review = Review(session_id=session.id, user_id=user.id, status=ReviewStatus.draft,
                        content=content.to_dict(), saved_at=now)
        db.session.add(review)
        db.session.flush()
        return review
    _check_version(review, expected_version)
    if ReviewContent.from_dict(review.content) == content:
        return review  # nothing changed: no write, no new version number
    review.content = content.to_dict()
    review.saved_at = now
    db.session.flush()
    return review


@dataclass(frozen=True)
class DraftSaved:
    version: int
    saved_at: datetime


def autosave_draft(session: PaperSession, user: User, content: ReviewContent, now: datetime, *,
                   expected_version: Optional[int] = None) -> DraftSaved:
    """``save_draft`` for the autosave, its common case (a changed draft or working copy,
    before the deadline, at the version the page expects) in one UPDATE instead of a locking
    read and a write.

    Every other case (the first save, late work, a stale version, nothing changed, a working
    copy back to the submitted text) matches no row and takes ``save_draft``'s path, which
    finds and says why. The UPDATE goes around the ORM, so call this only in a request that has
    not loaded the review."""
    _require_student_and_open(session, user, now)
    check_sizes(content, rules_of(session.course))
    if now <= session.review_deadline:
        version = _draft_update(session, user, content, now, expected_version)
        if version is not None:
            return DraftSaved(version, now)
    review = _save_checked_draft(session, user, content, now, expected_version)
    return DraftSaved(review.version, review.saved_at)


def autosave_draft_before_loading(course: Course, user: User, session_id: int,
                                  content: ReviewContent, now: datetime, *,
                                  expected_version: Optional[int] = None) -> Optional[DraftSaved]:
    """The autosave's common case without loading the session: one UPDATE whose own WHERE
    checks that the session is this course's and open for writing (opened, deadline not
    passed). None, with nothing written, for every other case, including a session of another
    course: then ``autosave_draft`` with the loaded session finds and says why."""
    if not is_student(course, user):
        return None
    try:
        check_sizes(content, rules_of(course))
    except ReviewTooLong:
        return None
    version = db.session.connection().execute(
        _draft_update_statement(expected_version is not None, checks_session=True), {
            "of_session": session_id, "of_user": user.id, "of_course": course.id, "now": now,
            "new_content": content.to_dict(), "new_saved_at": now,
            "expected_version": expected_version}).scalar()
    return DraftSaved(version, now) if version is not None else None


def _draft_update(session: PaperSession, user: User, content: ReviewContent, now: datetime,
                  expected_version: Optional[int]) -> Optional[int]:
    new = content.to_dict()
    return db.session.connection().execute(_draft_update_statement(expected_version is not None), {
        "of_session": session.id, "of_user": user.id, "new_content": new, "new_saved_at": now,
        "expected_version": expected_version}).scalar()


@cache
def _draft_update_statement(expected: bool, checks_session: bool = False) -> Any:
    # A Core statement: the ORM's version counter is advanced by hand, and it moves no grades
    # revision (review.gradebook.revision: a draft's text is not a grade input). It writes
    # where ``_save_checked_draft`` would: a draft's own text, or a submitted review's working
    # copy (``revision``), the submitted text left alone. The stored JSON is compared as text
    # with the new one serialised the same way: equal text is an unchanged draft or working
    # copy (no write, no new version), and a working copy equal to the submitted text is left to
    # the full path, which clears it. Text that differs only in form (key order) is written,
    # never lost.
    table = Review.__table__
    new_content = bindparam("new_content", type_=JSON)
    new_text = cast(new_content, Text)
    is_draft = table.c.status == ReviewStatus.draft
    statement = (update(table)
                 .where(table.c.session_id == bindparam("of_session"),
                        table.c.user_id == bindparam("of_user"),
                        cast(table.c.content, Text) != new_text,
                        or_(is_draft,
                            and_(table.c.status == ReviewStatus.submitted,
                                 or_(table.c.revision.is_(None),
                                     cast(table.c.revision, Text) != new_text))))
                 .values(content=case((is_draft, new_content), else_=table.c.content),
                         revision=case((is_draft, table.c.revision), else_=new_content),
                         saved_at=bindparam("new_saved_at", type_=UTCDateTime),
                         version=table.c.version + 1)
                 .returning(table.c.version))
    if expected:
        statement = statement.where(table.c.version == bindparam("expected_version"))
    if checks_session:
        sessions = PaperSession.__table__
        now = bindparam("now", type_=UTCDateTime)
        statement = statement.where(
            select(sessions.c.id).where(sessions.c.id == bindparam("of_session"),
                                        sessions.c.course_id == bindparam("of_course"),
                                        sessions.c.review_opens_at <= now,
                                        sessions.c.review_deadline >= now).exists())
    return statement


@dataclass(frozen=True)
class SubmitResult:
    review_id: int
    number: int  # the version recorded, or the one already on record for the same text
    created: bool  # False when the same content was already submitted (double click)

    @property
    def review(self) -> Review:
        """The review as written (loaded on first use: the submit itself does not need it)."""
        return db.session.get_one(Review, self.review_id)


def submit_review(session: PaperSession, user: User, content: ReviewContent, now: datetime, *,
                  expected_version: Optional[int] = None, confirm_late: bool = False) -> SubmitResult:
    """Submit (or resubmit before the deadline) a review; records time, hash and a version.

    The review's row and its new version are written with two Core statements rather than the
    ORM's unit of work (about a sixth of a submit's CPU in the deadline rush, issue 14), so the
    grades revision is moved on here by hand and ``review`` is expired: its next read loads what
    was written."""
    _require_student_and_open(session, user, now)
    rules = rules_of(session.course)
    check_sizes(content, rules)
    check = check_content(content)
    if check.blocking:
        raise ReviewIncomplete(" ".join(check.blocking))
    digest = content.sha256()
    row = db.session.execute(_review_and_last_number_statement(),
                             {"session_id": session.id, "user_id": user.id}).first()
    review, last_number = (row[0], row[1]) if row is not None else (None, None)
    if (review is not None and review.status == ReviewStatus.submitted
            and last_number is not None and review.content_sha256 == digest):
        # The same text again (a double click, a resent form): one version, same receipt.
        return SubmitResult(review.id, last_number, created=False)
    if review is not None:
        _check_version(review, expected_version)
        if review.status == ReviewStatus.submitted and now > session.review_deadline:
            raise ReviewClosed(
                "The deadline has passed (" + _local(session.review_deadline, session.course)
                + "), so the submitted review can no longer be changed. Your submitted version "
                f"{last_number or 1} stands; nothing was saved from this page.")
    assessment = late_assessment(session, user, now)
    if not assessment.accepted:
        raise ReviewClosed(assessment.message + " Nothing was submitted.")
    if assessment.days_late and not confirm_late:
        raise LateConfirmationNeeded(assessment)
    submitted = content.to_dict()
    values = {"content": submitted, "now": now, "digest": digest,
              # Rendered once here rather than on every reading of it; the HTML already made of
              # the sections a resubmit kept as they were is reused.
              "rendered": stored_rendering(submitted, digest, known_html(
                  review.content, review.rendered, review.content_sha256) if review else None),
              "days_late": assessment.days_late, "penalty": assessment.penalty_pct}
    connection = db.session.connection()
    if review is None:
        # A concurrent first submit of the same review hits the unique (session, user) pair.
        review_id = connection.execute(_submitted_review_insert(), {
            **values, "session_id": session.id, "user_id": user.id}).scalar_one()
    else:
        review_id = review.id
        written = connection.execute(_submitted_review_update(), {
            **values, "review_id": review.id, "loaded_version": review.version})
        if written.rowcount != 1:
            # What the ORM's version counter would say: written by another request meanwhile.
            raise StaleDataError("The review was written by another request during the submit.")
    number = (last_number or 0) + 1
    connection.execute(_version_insert(), {**values, "review_id": review_id, "number": number})
    bump_grades_revision(db.session, {session.course_id})
    if review is not None:
        db.session.expire(review)
    if assessment.grace_days_to_use:
        db.session.add(LateDayEntry(course_id=session.course_id, user_id=user.id,
                                    days=assessment.grace_days_to_use, review_id=review_id,
                                    reason=f"Late review: {session.paper.title}"[:200]))
        db.session.flush()
    # Imported here: the analysis module reads this one's content model.
    from review.reviews.analysis import reanalyse_after_commit

    reanalyse_after_commit(session.id)
    return SubmitResult(review_id, number, created=True)


def _submitted_columns(table: Any) -> dict[str, Any]:
    # What a submit writes into the review's row, named by the bound parameters of
    # ``submit_review``; the working copy (``revision``) is cleared: it is what was submitted.
    now = bindparam("now", type_=UTCDateTime)
    return {"status": ReviewStatus.submitted, "content": bindparam("content", type_=JSON),
            "revision": None, "saved_at": now, "submitted_at": now,
            "content_sha256": bindparam("digest", type_=String),
            "rendered": bindparam("rendered", type_=JSON),
            "days_late": bindparam("days_late", type_=Integer),
            "late_penalty_pct": bindparam("penalty", type_=Float)}


@cache
def _submitted_review_update() -> Update:
    # Built once; the ORM's version counter is checked (the version read under the lock) and
    # advanced by hand, as the ORM would.
    table = Review.__table__
    return (update(table).where(table.c.id == bindparam("review_id"),
                                table.c.version == bindparam("loaded_version"))
            .values(**_submitted_columns(table), version=table.c.version + 1))


@cache
def _submitted_review_insert() -> Insert:
    # A first submit with no draft saved before it.
    table = Review.__table__
    return (insert(table).values(**_submitted_columns(table),
                                 session_id=bindparam("session_id", type_=Integer),
                                 user_id=bindparam("user_id", type_=Integer), version=1)
            .returning(table.c.id))


@cache
def _version_insert() -> Insert:
    table = ReviewVersion.__table__
    return insert(table).values(review_id=bindparam("review_id", type_=Integer),
                                number=bindparam("number", type_=Integer),
                                content=bindparam("content", type_=JSON),
                                content_sha256=bindparam("digest", type_=String),
                                submitted_at=bindparam("now", type_=UTCDateTime))


# ---------------------------------------------------------------------------------- privacy


def can_read_review(review: Review, user: User, now: datetime) -> bool:
    """Own review always; staff once submitted; classmates when the class reviews are open to
    them (``class_reviews_access``).

    Drafts are the student's alone: they are not graded (an unsubmitted review counts as zero),
    so staff have no reason to read them, and students may think freely in them.
    """
    if review.user_id == user.id:
        return True
    if review.status != ReviewStatus.submitted:
        return False
    if is_staff_of(review.session.course, user):
        return True
    return class_reviews_access(review.session, user, now).allowed


@dataclass(frozen=True)
class ClassReviewsAccess:
    """Whether a user may read a session's class reviews now; ``message`` says why not."""

    allowed: bool
    message: str = ""


def class_reviews_access(session: PaperSession, user: User, now: datetime) -> ClassReviewsAccess:
    """Staff always. A student once the reviews are released AND they no longer gain by reading:
    they submitted their own review, they do not owe one (excused, or an exempt presenter), or
    their late window has closed (``late_window_closes``: with the reject policy at the
    deadline, otherwise once a late review is refused or worth nothing). Under a policy that
    accepts late reviews at a cost below 100% forever, that means: once they submit.
    """
    course = session.course
    if is_staff_of(course, user):
        return ClassReviewsAccess(True)
    if not is_student(course, user):
        return ClassReviewsAccess(False, "Only students of this course read its reviews.")
    own_status = db.session.scalar(select(Review.status).where(
        Review.session_id == session.id, Review.user_id == user.id))
    exempt = rules_of(course).presenters_exempt and is_presenter(session, user)
    return class_reviews_open_to(
        session, now, submitted=own_status == ReviewStatus.submitted,
        excused=is_excused(session, user), exempt=exempt,
        grace_days_used_so_far=grace_days_used(course, user))


def class_reviews_open_to(session: PaperSession, now: datetime, *, submitted: bool,
                          excused: bool, exempt: bool,
                          grace_days_used_so_far: int) -> ClassReviewsAccess:
    """The student rule of ``class_reviews_access`` from facts already loaded (no query)."""
    course = session.course
    week = session.week.number
    if session.reviews_released_at is None or now < session.reviews_released_at:
        return ClassReviewsAccess(False, f"The reviews of week {week} are not released to the "
                                         "class yet.")
    if submitted or excused or exempt:
        return ClassReviewsAccess(True)
    closes = late_window_closes(late_policy_of(rules_of(course)), session.review_deadline,
                                grace_days_used_so_far)
    if closes is not None and now > closes:
        return ClassReviewsAccess(True)
    until = (f", or once late reviews close ({_local(closes, course)})" if closes is not None
             else "; late reviews are still accepted, so submitting is the way in")
    return ClassReviewsAccess(False, f"You can read your classmates' reviews of week {week} once "
                                     f"you have submitted your own review{until}.")


def record_class_read(session: PaperSession, user: User, now: datetime) -> bool:
    """Remember the first time a student opened classmates' reviews of the session; whether
    this was it (there is something to commit)."""
    if db.session.scalar(select(ReviewAccess.id).where(
            ReviewAccess.session_id == session.id, ReviewAccess.user_id == user.id)) is not None:
        return False
    try:
        # A savepoint: a second tab recording the same first read keeps the outer work.
        with db.session.begin_nested():
            db.session.add(ReviewAccess(session_id=session.id, user_id=user.id,
                                        first_read_at=now))
    except IntegrityError:
        return False
    return True


_Ranked = TypeVar("_Ranked", Review, "ReadingEntry")


def anonymous_order(reviews: Iterable[_Ranked], session: PaperSession, key: str
                    ) -> list[_Ranked]:
    """The order of "Review 1..N" in an anonymous release: a keyed hash of (session, review),
    so it is the same on every visit, differs between sessions, and says nothing about who
    wrote which (never by name or by time of submission)."""
    secret = key.encode("utf-8")

    def rank(review: _Ranked) -> str:
        return hmac.new(secret, f"{session.id}:{review.id}".encode(), hashlib.sha256).hexdigest()

    return sorted(reviews, key=rank)


def release_reviews(session: PaperSession, actor: User, now: datetime) -> None:
    if now <= session.review_deadline:
        raise ReviewError("Reviews can be released to the class only after the deadline ("
                          + _local(session.review_deadline, session.course) + ").")
    if session.reviews_released_at is not None:
        return
    session.reviews_released_at = now
    db.session.add(AuditEntry(course_id=session.course_id, actor_id=actor.id, category="reviews",
                              action="release", entity="paper_session", entity_id=session.id,
                              new={"mode": rules_of(session.course).release_mode}))
    db.session.flush()


def withdraw_release(session: PaperSession, actor: User) -> None:
    if session.reviews_released_at is None:
        return
    session.reviews_released_at = None
    db.session.add(AuditEntry(course_id=session.course_id, actor_id=actor.id, category="reviews",
                              action="withdraw_release", entity="paper_session",
                              entity_id=session.id))
    db.session.flush()


# ---------------------------------------------------------------------------------- excuses


def excuse_student(session: PaperSession, student: User, reason: str, actor: User) -> ReviewExcuse:
    reason = (reason or "").strip()
    if not reason:
        raise ReviewError("Give a reason for the excuse.")
    if not is_student(session.course, student):
        raise ReviewError(f"{student.full_name} is not a student of this course.")
    existing = db.session.scalar(select(ReviewExcuse).where(
        ReviewExcuse.session_id == session.id, ReviewExcuse.user_id == student.id))
    if existing is not None:
        raise ReviewError(f"{student.full_name} is already excused from week "
                          f"{session.week.number} ({existing.reason}).")
    excuse = ReviewExcuse(session_id=session.id, user_id=student.id, reason=reason,
                          excused_by_id=actor.id)
    db.session.add(excuse)
    db.session.add(AuditEntry(course_id=session.course_id, actor_id=actor.id, category="reviews",
                              action="excuse", entity="review_excuse", entity_id=student.id,
                              new={"session_id": session.id, "user_id": student.id},
                              reason=reason))
    db.session.flush()
    return excuse


def remove_excuse(session: PaperSession, student: User, actor: User) -> None:
    excuse = db.session.scalar(select(ReviewExcuse).where(
        ReviewExcuse.session_id == session.id, ReviewExcuse.user_id == student.id))
    if excuse is None:
        raise ReviewError(f"{student.full_name} is not excused from that week.")
    db.session.add(AuditEntry(course_id=session.course_id, actor_id=actor.id, category="reviews",
                              action="unexcuse", entity="review_excuse", entity_id=student.id,
                              old={"session_id": session.id, "reason": excuse.reason}))
    db.session.delete(excuse)
    db.session.flush()


# ---------------------------------------------------------------------------------- staff views


def students_of(course: Course) -> list[tuple[User, Enrollment]]:
    return list(db.session.execute(
        select(User, Enrollment).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)
        .order_by(User.last_name, User.first_name, User.id)).tuples())


def sessions_of(course: Course) -> list[PaperSession]:
    return list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id == course.id)
        .options(selectinload(PaperSession.week), selectinload(PaperSession.paper))
        .order_by(PaperSession.starts_at)))


def submitted_reviews(session: PaperSession) -> list[Review]:
    """Every submitted review of a session, by author name, with authors loaded."""
    return list(db.session.scalars(
        select(Review).join(User, User.id == Review.user_id)
        .where(Review.session_id == session.id, Review.status == ReviewStatus.submitted)
        .options(selectinload(Review.user))
        .order_by(User.last_name, User.first_name, User.id)))


class ReadingEntry(NamedTuple):
    """A submitted review in the reading view's list, with its author's full name (shown when
    named)."""

    id: int
    author: str


class ReadingRow(NamedTuple):
    """What the reading view shows of one submitted review: plain columns, not its source text
    or working copy (the HTML stored at submit is what is shown)."""

    id: int
    submitted_at: Optional[datetime]
    days_late: int
    content_sha256: Optional[str]
    rendered: Optional[dict[str, Any]]


def reading_entries(session: PaperSession) -> list[ReadingEntry]:
    """Every submitted review of a session, by author name (one query, no review text)."""
    rows = db.session.execute(
        select(Review.id, User.first_name, User.last_name)
        .join(User, User.id == Review.user_id)
        .where(Review.session_id == session.id, Review.status == ReviewStatus.submitted)
        .order_by(User.last_name, User.first_name, User.id)).tuples()
    return [ReadingEntry(review_id, f"{first} {last}") for review_id, first, last in rows]


def reading_rows(review_ids: list[int]) -> dict[int, ReadingRow]:
    """What the reading view shows of these reviews (one query; none when there are none)."""
    if not review_ids:
        return {}
    return {row[0]: ReadingRow(*row) for row in db.session.execute(
        select(Review.id, Review.submitted_at, Review.days_late, Review.content_sha256,
               Review.rendered).where(Review.id.in_(review_ids)))}


def review_contents(review_ids: list[int]) -> dict[int, ReviewContent]:
    """The submitted text of these reviews (one query; none when there are none)."""
    if not review_ids:
        return {}
    return {review_id: ReviewContent.from_dict(content) for review_id, content in
            db.session.execute(select(Review.id, Review.content)
                               .where(Review.id.in_(review_ids))).tuples()}


# ---------------------------------------------------------------------------------- digest


def can_see_digest(session: PaperSession, user: User, now: datetime) -> tuple[bool, bool]:
    """(may see, may see names): staff always with names; presenters after the deadline, nameless."""
    if is_staff_of(session.course, user):
        return True, True
    if now > session.review_deadline and is_presenter(session, user):
        return True, False
    return False, False


def mark_question_raised(session: PaperSession, review_id: int, question_index: int,
                         raised_by_id: Optional[int], actor: User) -> ParticipationRecord:
    review = db.session.get(Review, review_id)
    if review is None or review.session_id != session.id or review.status != ReviewStatus.submitted:
        raise ReviewError("That question is not in this session's digest.")
    questions = ReviewContent.from_dict(review.content).questions
    if not 0 <= question_index < len(questions):
        raise ReviewError(f"Question {question_index + 1} does not exist in that review.")
    raiser = raised_by_id or review.user_id
    if not is_student(session.course, db.session.get(User, raiser) or actor):
        raise ReviewError("The person who raised the question must be a student of this course.")
    existing = db.session.scalar(select(ParticipationRecord).where(
        ParticipationRecord.review_id == review_id,
        ParticipationRecord.question_index == question_index))
    if existing is not None:
        raise ReviewError("That question is already marked as raised.")
    record = ParticipationRecord(session_id=session.id, user_id=raiser, kind="question",
                                 review_id=review_id, question_index=question_index,
                                 note=questions[question_index][:500], recorded_by_id=actor.id)
    db.session.add(record)
    db.session.flush()
    return record


def unmark_question_raised(session: PaperSession, review_id: int, question_index: int) -> None:
    record = db.session.scalar(select(ParticipationRecord).where(
        ParticipationRecord.session_id == session.id, ParticipationRecord.kind == "question",
        ParticipationRecord.review_id == review_id,
        ParticipationRecord.question_index == question_index))
    if record is None:
        raise ReviewError("That question is not marked as raised.")
    db.session.delete(record)
    db.session.flush()
