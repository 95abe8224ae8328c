"""What needs a person now: the list at the top of a course home and on "Your courses".

``due_items(user, memberships, now)`` answers for any number of the user's courses at once, each
with the user's own role there (a TA in one course may be a student in another), in a fixed
number of queries whatever the class size or the number of courses and sessions.

Students are asked for:
    review    an open review not submitted yet: "due <local time>", "continue draft" with a draft
    late      the deadline passed, and a late review is still accepted and worth something
              (the penalty now, and until when)
    present   their group's next presentation, with "upload slides" until some are uploaded
    rate      talks they may rate whose peer-rating window is open and that they have not rated
Staff are told:
    grade_reviews        submitted reviews past their deadline without a score, per session
    grade_presentations  presentations of held sessions without a score, per session
    regrades             open regrade requests (only to staff who may answer them)
    release              held sessions whose feedback is not released (only to staff who may)

Nothing done shows: a submitted, excused or exempt review, a rated talk, a graded item, a
released session are gone. Times in the text are in the course timezone with the weekday;
``when`` is UTC. Items are ordered by urgency, then time.

What it costs (the list is on the two most visited pages): a student's own rows are read in one
statement (``student_facts``); the staff's ungraded counts are kept per grades revision
(``review.gradebook.loader.per_grades_revision``, the grading overview's cache: every score,
submitted review, excuse and release moves the revision on), counted for every session and
filtered by the clock here, so the cached counts do not depend on the time; open regrade
requests do not move the revision and are counted at each visit. A page that has loaded the
sessions already (the course home's schedule) passes them in.
"""

from __future__ import annotations

import enum
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import Integer, bindparam, case, func, literal_column, select, union_all
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    Course,
    CourseRole,
    Enrollment,
    Group,
    LateDayEntry,
    Membership,
    PaperSession,
    PeerRating,
    RegradeRequest,
    Review,
    ReviewExcuse,
    ReviewStatus,
    Score,
    SlideDeck,
    Slot,
    SlotPresenter,
    User,
    db,
)
from review.courses.definition import stored_definition
from review.gradebook.loader import per_grades_revision
from review.permissions import is_staff, staff_can
from review.reviews.policy import DAY, LatePolicy, assess_late, format_local, late_window_closes
from review.reviews.services import late_policy_of


class DueKind(str, enum.Enum):
    review = "review"
    late_review = "late_review"
    present = "present"
    rate = "rate"
    grade_reviews = "grade_reviews"
    grade_presentations = "grade_presentations"
    regrades = "regrades"
    release = "release"


class Urgency(enum.IntEnum):
    now = 0      # overdue, closing within a day, or someone is waiting
    soon = 1     # within two days
    later = 2


@dataclass(frozen=True)
class DueItem:
    kind: DueKind
    course: Course
    text: str
    when: datetime | None   # UTC: the deadline, the start, or when the window closes
    link: str
    action: str             # the link's words: "continue draft", "upload slides", ...
    urgency: Urgency


CourseRoleOf = tuple[Course, Enrollment]


def due_items(user: User, memberships: Sequence[CourseRoleOf], now: datetime,
              sessions: Sequence[PaperSession] | None = None) -> list[DueItem]:
    """Everything that needs ``user`` now in these courses (each with the user's enrollment).

    ``sessions``: every session of these courses with their slots (and the slots' roles)
    loaded, when the caller has them; read here otherwise."""
    if not memberships:
        return []
    if sessions is None:
        sessions = db.session.scalars(_sessions_statement(), {
            "course_ids": [course.id for course, _ in memberships]}).unique().all()
    by_course: dict[int, list[PaperSession]] = defaultdict(list)
    for session in sorted(sessions, key=lambda session: session.starts_at):
        by_course[session.course_id].append(session)
    students = [course for course, enrollment in memberships
                if enrollment.role == CourseRole.student]
    staff = [(course, enrollment) for course, enrollment in memberships if is_staff(enrollment)]
    items: list[DueItem] = []
    if students:
        items += _student_items(user, students, by_course, now)
    if staff:
        items += _staff_items(staff, by_course, now)
    far = now + timedelta(days=3650)
    return sorted(items, key=lambda item: (item.urgency, item.when or far, item.course.code,
                                           item.text))


@functools.cache
def _sessions_statement():  # type: ignore[no-untyped-def]
    """The sessions of some courses with what the list reads of them (weeks, slots, roles),
    built once."""
    return (select(PaperSession).where(PaperSession.course_id.in_(
        bindparam("course_ids", expanding=True)))
        .options(joinedload(PaperSession.week),
                 joinedload(PaperSession.slots).joinedload(Slot.role)))


def _in_role_order(session: PaperSession) -> list[Slot]:
    return sorted(session.slots, key=lambda slot: slot.role.position)


# ============================================================================ students


@dataclass(frozen=True)
class StudentFacts:
    """What one student has done in their courses' sessions, loaded once for all of them."""

    review_status: dict[int, ReviewStatus]   # session id -> their review's status
    excused: set[int]                        # session ids
    presented: dict[int, int]                # slot id -> session id of slots they present
    grace_used: dict[int, int]               # course id -> grace days used
    group_ids: set[int]                      # their current groups (not dissolved)
    with_slides: set[int] = field(default_factory=set)   # their groups' slots with slides
    rated: set[int] = field(default_factory=set)         # slots they rated

    def owes_review(self, course: Course, session: PaperSession) -> bool:
        """Not submitted, not excused, and not exempt as a presenter of the session."""
        if self.review_status.get(session.id) == ReviewStatus.submitted:
            return False
        if session.id in self.excused:
            return False
        exempt = stored_definition(course).reviews.presenters_exempt
        return not (exempt and session.id in self.presented.values())


class _Fact(enum.IntEnum):
    """The first column of ``student_facts``'s rows: what the other two are."""

    review = 0       # session id, status (_STATUS_CODES)
    excused = 1      # session id, 0
    presents = 2     # slot id, session id
    grace = 3        # course id, days used
    group = 4        # group id, course id
    slides = 5       # slot id, 0
    rated = 6        # slot id, 0


_STATUS_CODES = {status: number for number, status in enumerate(ReviewStatus)}


def _tagged(fact: _Fact, first, second):  # type: ignore[no-untyped-def]
    """A select of (fact, first, second), all integers, for one UNION ALL."""
    return select(literal_column(str(int(fact)), Integer).label("fact"),
                  first.label("first"), second.label("second"))


@functools.cache
def _facts_statement():  # type: ignore[no-untyped-def]
    """``student_facts``'s statement, built once: building it and its cache key each time cost
    more CPU than running it (its values are bound parameters)."""
    user_id = bindparam("user_id")
    session_ids = bindparam("session_ids", expanding=True)
    course_ids = bindparam("course_ids", expanding=True)
    zero = literal_column("0", Integer)
    # A presenter is the record once taken, else a current member of the holding group
    # (review.signup.presenters).
    my_groups = (select(Membership.group_id).join(Group, Group.id == Membership.group_id)
                 .where(Membership.user_id == user_id, Membership.course_id.in_(course_ids),
                        Group.dissolved_at.is_(None)))
    status_code = case(*((Review.status == status, number)
                         for status, number in _STATUS_CODES.items()), else_=-1)
    return union_all(
        _tagged(_Fact.review, Review.session_id, status_code)
        .where(Review.user_id == user_id, Review.session_id.in_(session_ids)),
        _tagged(_Fact.excused, ReviewExcuse.session_id, zero)
        .where(ReviewExcuse.user_id == user_id, ReviewExcuse.session_id.in_(session_ids)),
        _tagged(_Fact.presents, SlotPresenter.slot_id, Slot.session_id)
        .join(Slot, SlotPresenter.slot_id == Slot.id)
        .where(SlotPresenter.user_id == user_id, Slot.session_id.in_(session_ids)),
        _tagged(_Fact.presents, Slot.id, Slot.session_id)
        .join(Membership, Membership.group_id == Slot.group_id)
        .where(Membership.user_id == user_id, Slot.session_id.in_(session_ids),
               Slot.presenters_recorded_at.is_(None)),
        _tagged(_Fact.grace, LateDayEntry.course_id, func.sum(LateDayEntry.days))
        .where(LateDayEntry.user_id == user_id, LateDayEntry.course_id.in_(course_ids))
        .group_by(LateDayEntry.course_id),
        _tagged(_Fact.group, Membership.group_id, Membership.course_id)
        .join(Group, Group.id == Membership.group_id)
        .where(Membership.user_id == user_id, Membership.course_id.in_(course_ids),
               Group.dissolved_at.is_(None)),
        _tagged(_Fact.slides, SlideDeck.slot_id, zero).distinct()
        .join(Slot, SlideDeck.slot_id == Slot.id)
        .where(Slot.session_id.in_(session_ids), Slot.group_id.in_(my_groups)),
        _tagged(_Fact.rated, PeerRating.slot_id, zero)
        .join(Slot, PeerRating.slot_id == Slot.id)
        .where(PeerRating.rater_id == user_id, Slot.session_id.in_(session_ids)),
    )


def student_facts(user: User, courses: Sequence[Course],
                  sessions: Sequence[PaperSession]) -> StudentFacts:
    """One statement, whatever the number of courses, sessions and classmates (none without
    courses): each kind of row is one branch of a UNION ALL, told apart by its first column."""
    if not courses:
        return StudentFacts({}, set(), {}, {}, set())
    rows = db.session.execute(_facts_statement(), {
        "user_id": user.id, "session_ids": [session.id for session in sessions],
        "course_ids": [course.id for course in courses]}).tuples()
    statuses = list(ReviewStatus)
    facts = StudentFacts({}, set(), {}, {}, set())
    for fact, first, second in rows:
        if fact == _Fact.review:
            facts.review_status[first] = statuses[second]
        elif fact == _Fact.excused:
            facts.excused.add(first)
        elif fact == _Fact.presents:
            facts.presented[first] = second
        elif fact == _Fact.grace:
            facts.grace_used[first] = int(second)
        elif fact == _Fact.group:
            facts.group_ids.add(first)
        elif fact == _Fact.slides:
            facts.with_slides.add(first)
        else:
            facts.rated.add(first)
    return facts


def _student_items(user: User, courses: list[Course], by_course: dict[int, list[PaperSession]],
                   now: datetime) -> list[DueItem]:
    facts = student_facts(user, courses, [s for c in courses for s in by_course[c.id]])
    items: list[DueItem] = []
    next_talks: list[tuple[Course, PaperSession, Slot]] = []
    rating: list[tuple[Course, PaperSession, list[Slot], datetime]] = []
    for course in courses:
        window = timedelta(minutes=stored_definition(course).grading.peer_window_minutes)
        upcoming = None
        for session in by_course[course.id]:
            review = _review_item(course, session, facts, now)
            if review is not None:
                items.append(review)
            slots = _in_role_order(session)
            mine = [slot for slot in slots if slot.group_id in facts.group_ids]
            if mine and upcoming is None and session.starts_at > now:
                upcoming = (course, session, mine[0])
            if session.starts_at <= now < session.starts_at + window:
                others = [slot for slot in slots if slot.group_id is not None
                          and slot.id not in facts.presented]
                if others:
                    rating.append((course, session, others, session.starts_at + window))
        if upcoming is not None:
            next_talks.append(upcoming)
    items += _presentation_items(next_talks, facts, now)
    items += _rating_items(rating, facts)
    return items


def _review_item(course: Course, session: PaperSession, facts: StudentFacts,
                 now: datetime) -> DueItem | None:
    if now < session.review_opens_at or not facts.owes_review(course, session):
        return None
    week = session.week.number
    deadline = session.review_deadline
    draft = facts.review_status.get(session.id) == ReviewStatus.draft
    link = url_for("reviews.edit", course_code=course.code, session_id=session.id)
    action = "continue draft" if draft else "write review"
    due = format_local(deadline, course.timezone)
    if now <= deadline:
        return DueItem(DueKind.review, course, f"Week {week} review due {due}", deadline, link,
                       action, _urgency(deadline - now))
    rules = stored_definition(course).reviews
    policy = late_policy_of(rules)
    grace = facts.grace_used.get(course.id, 0)
    assessment = assess_late(policy, deadline, now, grace)
    if not assessment.accepted or assessment.penalty_pct >= 100:
        return None
    until = late_reviews_until(policy, deadline, grace)
    text = f"Week {week} review is overdue (was due {due}). {assessment.message}"
    if until is not None:
        text += f" Late reviews are accepted until {format_local(until, course.timezone)}."
    return DueItem(DueKind.late_review, course, text, until or deadline, link, action,
                   Urgency.now)


def late_reviews_until(policy: LatePolicy, deadline: datetime, grace_used: int) -> datetime | None:
    """The last instant a late review is accepted and worth something: the policy's late window,
    shortened by its day limit (``late_window_closes`` reads the penalties, not the limit)."""
    closes = late_window_closes(policy, deadline, grace_used)
    if policy.max_days_late is None:
        return closes
    limit = deadline + policy.max_days_late * DAY
    return limit if closes is None else min(closes, limit)


def _presentation_items(talks: list[tuple[Course, PaperSession, Slot]], facts: StudentFacts,
                        now: datetime) -> list[DueItem]:
    items = []
    for course, session, slot in talks:
        week = session.week.number
        text = (f"Your group presents week {week} ({slot.role.name}) "
                f"{format_local(session.starts_at, course.timezone)}")
        if session.room:
            text += f", room {session.room}"
        ready = slot.id in facts.with_slides
        items.append(DueItem(
            DueKind.present, course, text, session.starts_at,
            url_for("live.session_page", course_code=course.code, week=week),
            "session page" if ready else "upload slides",
            Urgency.later if ready else _urgency(session.starts_at - now)))
    return items


def _rating_items(windows: list[tuple[Course, PaperSession, list[Slot], datetime]],
                  facts: StudentFacts) -> list[DueItem]:
    items = []
    for course, session, slots, closes in windows:
        left = sum(1 for slot in slots if slot.id not in facts.rated)
        if not left:
            continue
        text = (f"Rate {_count(left, 'talk')} of week {session.week.number} "
                f"(rating closes {format_local(closes, course.timezone)})")
        items.append(DueItem(DueKind.rate, course, text, closes,
                             url_for("grading.peer_list", course_code=course.code),
                             "rate talks", Urgency.now))
    return items


# ============================================================================ staff


@dataclass(frozen=True)
class Ungraded:
    """A course's ungraded work per session, whatever the time (the caller applies the clock):
    submitted reviews without a score, and held slots without a score."""

    reviews: dict[int, int]   # session id -> count
    talks: dict[int, int]     # session id -> count


def ungraded_by_session(course_ids: Sequence[int]) -> dict[int, Ungraded]:
    """course id -> :class:`Ungraded` (every course named, even without ungraded work), in one
    statement whatever the number of courses, sessions, students or reviews."""
    reviews = (select(literal_column("0", Integer).label("kind"), PaperSession.course_id,
                      Review.session_id, func.count(Review.id))
               .join(PaperSession, Review.session_id == PaperSession.id)
               .where(PaperSession.course_id.in_(course_ids),
                      Review.status == ReviewStatus.submitted,
                      ~select(Score.id).where(Score.review_id == Review.id).exists())
               .group_by(PaperSession.course_id, Review.session_id))
    talks = (select(literal_column("1", Integer).label("kind"), PaperSession.course_id,
                    Slot.session_id, func.count(Slot.id))
             .join(PaperSession, Slot.session_id == PaperSession.id)
             .where(PaperSession.course_id.in_(course_ids), Slot.group_id.is_not(None),
                    ~select(Score.id).where(Score.slot_id == Slot.id).exists())
             .group_by(PaperSession.course_id, Slot.session_id))
    result = {course_id: Ungraded({}, {}) for course_id in course_ids}
    for kind, course_id, session_id, count in db.session.execute(union_all(reviews, talks)):
        counts = result[course_id].talks if kind else result[course_id].reviews
        counts[session_id] = int(count)
    return result


def _kept_ungraded(courses: Sequence[Course], by_course: dict[int, list[PaperSession]],
                   now: datetime) -> dict[int, Ungraded]:
    """``ungraded_by_session`` kept per grades revision of each course (a score, a submitted or
    withdrawn review, a held slot's holder all move it on). A miss counts every course of the
    page at once, so the page's statements stay fixed however many courses missed."""
    counted: dict[int, Ungraded] = {}

    def count(course_id: int) -> Ungraded:
        if not counted:
            counted.update(ungraded_by_session([course.id for course in courses]))
        return counted[course_id]

    for course in courses:
        # The revision's key names the course's sessions past their deadline: the sessions at
        # hand are all of the course's, so they spare per_grades_revision a query for them.
        set_committed_value(course, "sessions", by_course[course.id])
    return {course.id: per_grades_revision(course, now, "due_ungraded",
                                           lambda course_id=course.id: count(course_id))
            for course in courses}


def _staff_items(memberships: list[CourseRoleOf], by_course: dict[int, list[PaperSession]],
                 now: datetime) -> list[DueItem]:
    ungraded = _kept_ungraded([course for course, _ in memberships], by_course, now)
    # Not a grade input (the revision does not move): counted at each visit, a small indexed
    # table.
    answering = [course.id for course, enrollment in memberships
                 if staff_can(course, enrollment, "resolve_regrades")]
    regrades = {course_id: (count, oldest) for course_id, count, oldest in db.session.execute(
        select(RegradeRequest.course_id, func.count(RegradeRequest.id),
               func.min(RegradeRequest.created_at))
        .where(RegradeRequest.course_id.in_(answering), RegradeRequest.status == "open")
        .group_by(RegradeRequest.course_id)).tuples()} if answering else {}

    items: list[DueItem] = []
    for course, enrollment in memberships:
        code = course.code
        grading = url_for("grading.index", course_code=code)
        releases = staff_can(course, enrollment, "release")
        counts = ungraded[course.id]
        if course.id in regrades:
            count, oldest = regrades[course.id]
            items.append(DueItem(DueKind.regrades, course, f"{_count(count, 'regrade request')} open",
                                 oldest, url_for("grading.regrades", course_code=code), "answer",
                                 Urgency.now))
        for session in by_course[course.id]:
            week = session.week.number
            # Reviews are graded once their deadline passed, talks once held.
            reviews = counts.reviews.get(session.id) if session.review_deadline < now else None
            talks = counts.talks.get(session.id) if session.starts_at <= now else None
            if reviews:
                text = f"{_count(reviews, 'review')} of week {week} ungraded"
                items.append(DueItem(DueKind.grade_reviews, course, text, session.review_deadline,
                                     url_for("grading.review_queue", course_code=code),
                                     "grade reviews", Urgency.soon))
            if talks:
                text = f"{_count(talks, 'presentation')} of week {week} ungraded"
                items.append(DueItem(
                    DueKind.grade_presentations, course, text, session.starts_at, grading,
                    "grade presentations", Urgency.soon))
            if releases and session.starts_at <= now and session.feedback_released_at is None:
                items.append(DueItem(DueKind.release, course,
                                     f"Week {week} feedback not released", session.starts_at,
                                     grading, "release", Urgency.later))
    return items


# ============================================================================ helpers


def _urgency(left: timedelta) -> Urgency:
    if left <= DAY:
        return Urgency.now
    if left <= 2 * DAY:
        return Urgency.soon
    return Urgency.later


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
