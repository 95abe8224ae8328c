"""A lively term for the demo course: groups, a published assignment, reviews and grades.

Everything goes through the capabilities' own services (auto-forming groups, the optimal
assignment, review submission with the late policy, rubric scores, releases, grade import), with
the clock set to each event's moment, so the demo shows what real use would leave behind. The
random choices are seeded: the same day gives the same term.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from models import (Course, CourseRole, Enrollment, GroupPreference, GroupUnavailability,
                    PaperSession, Review, ReviewStatus, Slot, User, db)
from review.assignment.services import publish_run, run_assignment
from review.gradebook.services import apply_import, plan_from_records
from review.grading.peer import save_peer_rating
from review.grading.services import (add_manual_participation, course_rubric, presentation_item,
                                     release_session, review_item, save_score)
from review.groups.services import apply_auto_form, course_groups, plan_auto_form
from review.reviews.services import (LateConfirmationNeeded, ReviewContent, mark_question_raised,
                                     release_reviews, save_draft, submit_review)
from review.rubrics import Rubric
from review.signup.calendar import session_minutes
from review.signup.presenters import slot_presenters

SEED = 541


@dataclass
class ActivitySummary:
    groups: int = 0
    slots: int = 0
    reviews: int = 0
    drafts: int = 0
    scores: int = 0
    peer_ratings: int = 0

    def __str__(self) -> str:
        return (f"Added a lively term: {self.groups} groups, {self.slots} presentation slots "
                f"assigned, {self.reviews} submitted reviews, {self.drafts} drafts, "
                f"{self.scores} rubric scores, {self.peer_ratings} peer ratings.")


_OPENINGS = [
    "The paper {verb} {idea}.",
    "This work {verb} {idea}, and shows it on standard benchmarks.",
    "The authors {verb} {idea}.",
]
_VERBS = ["proposes", "argues for", "introduces", "studies"]
_STRENGTHS = [
    "The ablations isolate the contribution of each component.",
    "The method is simple and the code is public, so the results are easy to reproduce.",
    "The experiments cover several datasets and model sizes.",
    "I learned how a small change in the training recipe can move results a lot.",
    "The writing is clear and the figures explain the main idea well.",
]
_WEAKNESSES = [
    "The comparison with baselines uses different compute budgets.",
    "There is little theory on why the method works.",
    "Only image classification is evaluated; other tasks may behave differently.",
    "The hyperparameter search for the baselines is not described.",
    "Variance across random seeds is not reported.",
]
_REMEDIES = [
    "Report results over several seeds with confidence intervals.",
    "Compare against baselines tuned with the same budget.",
    "Evaluate on detection or segmentation as well.",
    "Add a small theoretical analysis on a linear model.",
]
_QUESTIONS = [
    "Would the method still help with a much larger dataset?",
    "How sensitive are the results to the learning rate schedule?",
    "Does the improvement hold with a much larger dataset?",
    "Why did the authors not compare against a tuned baseline?",
    "How would this change for language models instead of vision models?",
    "Is the gain worth the extra compute?",
    "How sensitive is the method to the learning rate?",
]


def _review_text(rng: random.Random, paper: str) -> ReviewContent:
    idea = f"the ideas behind “{paper}”"
    return ReviewContent.build(
        summary=rng.choice(_OPENINGS).format(verb=rng.choice(_VERBS), idea=idea),
        strengths=" ".join(rng.sample(_STRENGTHS, 2)),
        weaknesses=" ".join(rng.sample(_WEAKNESSES, 2)),
        remedies=rng.choice(_REMEDIES),
        questions=rng.sample(_QUESTIONS, rng.randint(1, 3)),
    )


def _levels(rng: random.Random, rubric: Rubric, strong: float) -> dict[str, float]:
    """A plausible level per criterion: mostly the top two levels, sometimes lower."""
    values = {}
    for criterion in rubric.criteria:
        scores = sorted((level.score for level in criterion.levels), reverse=True)
        index = 0 if rng.random() < strong else min(len(scores) - 1, rng.choice([1, 1, 2]))
        values[criterion.id] = scores[index]
    return values


def seed_activity(course: Course, *, now: datetime) -> ActivitySummary:
    """Fill the demo course with a term's worth of work up to ``now``; flushes, never commits."""
    rng = random.Random(SEED)
    summary = ActivitySummary()
    instructor, ta = _staff(course)
    students = list(db.session.scalars(
        select(User).join(Enrollment).where(Enrollment.course_id == course.id,
                                            Enrollment.role == CourseRole.student)
        .order_by(User.id)))
    sessions = list(db.session.scalars(
        select(PaperSession).where(PaperSession.course_id == course.id)
        .order_by(PaperSession.starts_at)))

    plan = plan_auto_form(course)
    apply_auto_form(course, instructor, plan.fingerprint, now=now - timedelta(weeks=5))
    groups = course_groups(course)
    summary.groups = len(groups)
    _preferences(rng, groups, sessions)
    run = run_assignment(course, instructor, now - timedelta(weeks=5))
    summary.slots = publish_run(run, instructor, now - timedelta(weeks=5))

    # Only what could have happened by ``now``: reviews inside their window, grades and peer
    # ratings for meetings already held, releases after the deadline; never a moment past now.
    past = [s for s in sessions if s.review_deadline < now]
    open_now = [s for s in sessions if s.review_opens_at <= now < s.review_deadline]
    held = [s for s in past
            if s.starts_at + timedelta(minutes=session_minutes(course, s)) <= now]
    for session in past:
        for student in students:
            roll = rng.random()
            if roll < 0.08:
                continue  # missing: zero by rule
            late = roll > 0.95 and session.review_deadline + timedelta(hours=20) <= now
            moment = (session.review_deadline + timedelta(hours=20) if late
                      else max(session.review_opens_at,
                               session.review_deadline - timedelta(hours=rng.randint(2, 60))))
            content = _review_text(rng, session.paper.title)
            try:
                submit_review(session, student, content, moment, confirm_late=late)
            except LateConfirmationNeeded:
                continue
            summary.reviews += 1
    for session in open_now:
        for student in students[: len(students) // 2]:
            moment = max(session.review_opens_at, now - timedelta(hours=rng.randint(1, 30)))
            save_draft(session, student, _review_text(rng, session.paper.title), moment)
            summary.drafts += 1
    db.session.flush()

    review_rubric = course_rubric(course, "review")
    for index, session in enumerate(held):
        graded_at = min(session.starts_at + timedelta(days=2), now)
        for slot in db.session.scalars(select(Slot).where(Slot.session_id == session.id,
                                                          Slot.group_id.is_not(None))):
            rubric = course_rubric(course, "presentation", slot.role.key)
            for grader in (instructor, ta):
                save_score(course, grader, presentation_item(course, slot.id),
                           values=_levels(rng, rubric, 0.6),
                           overall_comment="Clear structure; keep an eye on the time box.",
                           now=graded_at)
                summary.scores += 1
            summary.peer_ratings += _peer_ratings(rng, course, slot, students)
        reviews = list(db.session.scalars(select(Review).where(
            Review.session_id == session.id, Review.status == ReviewStatus.submitted)))
        # The newest session is still being graded: about half its reviews have a score.
        newest = index == len(held) - 1
        to_grade = reviews[: len(reviews) // 2] if newest else reviews
        for review in to_grade:
            save_score(course, ta, review_item(course, review.id),
                       values=_levels(rng, review_rubric, 0.7), now=graded_at)
            summary.scores += 1
        for review in reviews[:6]:
            mark_question_raised(session, review.id, 0, review.user_id, instructor)
        add_manual_participation(course, instructor, session, rng.choice(students).id, 1,
                                 "Good answer to the presenters' question")
        if not newest:
            release_session(course, instructor, session,
                            min(graded_at + timedelta(days=1), now), confirmed=True)
    for session in past:
        released_at = session.review_deadline + timedelta(hours=1)
        if released_at <= now:
            release_reviews(session, instructor, released_at)

    _external_grades(rng, course, students, instructor)
    db.session.flush()
    return summary


def _staff(course: Course) -> tuple[User, User]:
    by_role = {role: user for user, role in db.session.execute(
        select(User, Enrollment.role).join(Enrollment).where(
            Enrollment.course_id == course.id,
            Enrollment.role.in_([CourseRole.instructor, CourseRole.ta])))}
    return by_role[CourseRole.instructor], by_role[CourseRole.ta]


def _preferences(rng: random.Random, groups: list, sessions: list[PaperSession]) -> None:
    """Each group ranks four to all sessions and, now and then, marks a week it cannot make."""
    for group in groups:
        order = sessions[:]
        rng.shuffle(order)
        ranked = order[: rng.randint(4, len(order))]
        for rank, session in enumerate(ranked, start=1):
            db.session.add(GroupPreference(group_id=group.id, session_id=session.id, rank=rank))
        if rng.random() < 0.3 and len(ranked) < len(order):
            db.session.add(GroupUnavailability(group_id=group.id, session_id=order[-1].id))
    db.session.flush()


def _peer_ratings(rng: random.Random, course: Course, slot: Slot, students: list[User]) -> int:
    presenters = set(slot_presenters(slot))
    rubric = course_rubric(course, "peer")
    moment = slot.session.starts_at + timedelta(minutes=45)
    raters = [s for s in rng.sample(students, 8) if s.id not in presenters]
    for rater in raters:
        save_peer_rating(course, rater, slot, _levels(rng, rubric, 0.5), moment)
    return len(raters)


def _external_grades(rng: random.Random, course: Course, students: list[User],
                     instructor: User) -> None:
    """The quiz and the first two assignments are graded; the midterm is not yet."""
    numbers = {user_id: number for user_id, number in db.session.execute(
        select(Enrollment.user_id, Enrollment.student_number)
        .where(Enrollment.course_id == course.id))}
    records = []
    for student in students:
        row = {"student_id": numbers[student.id], "quiz": str(rng.randint(60, 100)),
               "assignment1": str(rng.randint(55, 100)), "assignment2": ""}
        if rng.random() > 0.1:
            row["assignment2"] = str(rng.randint(50, 100))
        records.append(row)
    apply_import(course, plan_from_records(course, records), instructor)
