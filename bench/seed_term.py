"""A full term in one course, for the benchmarks: 300 students, 100 groups, 10 past sessions.

    .venv/bin/python bench/seed_term.py DATABASE_URL [--students 300] [--sessions 10]

Creates the schema (``db.create_all()``) on an empty database and fills it with bulk inserts:
the students (one shared password, hashed once), an instructor and a TA, groups of three, every
slot of the past sessions held and graded by two graders, a submitted review (real Markdown with
math, rendered at submit as the application does) for ~92% of students x past sessions, a staff
score for each, participation scores, peer ratings (20 raters per slot), external grades, and one
more session whose review window is open now (the deadline rush writes to it). Prints a JSON line
with what the load generator needs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from models import (  # noqa: E402
    CourseRole,
    Enrollment,
    GradeItem,
    Group,
    Membership,
    PeerRating,
    Review,
    ReviewStatus,
    ReviewVersion,
    Score,
    ScoreTarget,
    Slot,
    User,
    db,
)

PASSWORD = "bench-password-1"
CODE = "bench-term"
STUDENT_EMAIL = "s{}@bench.edu"
INSTRUCTOR_EMAIL = "instructor@bench.edu"
TA_EMAIL = "ta@bench.edu"

PARAGRAPHS = [
    "The paper proposes **sparse attention** with $O(n \\sqrt{n})$ memory and shows it matches "
    "dense attention on long-range tasks.",
    "The ablations are *clear*: removing the local window costs 2.1 points, the strided part 0.8.",
    "- Single seed for the main table\n- No wall-clock comparison\n- Baselines tuned less",
    "Run five seeds and report $\\mu \\pm \\sigma$; add a [wall-clock table](https://example.org/t).",
    "How does the pattern behave for images, where locality is two-dimensional?",
    "| model | ppl |\n| --- | --- |\n| dense | 18.2 |\n| sparse | 18.4 |",
]


def _content(rng: random.Random) -> dict:
    def text(k: int) -> str:
        return "\n\n".join(rng.sample(PARAGRAPHS, k))

    return {"summary": text(2), "strengths": text(2), "weaknesses": text(2), "remedies": text(1),
            "questions": [rng.choice(PARAGRAPHS[4:5]) + f" ({n})" for n in range(2)]}


def _first_monday(today: date, past_sessions: int) -> date:
    # The last past session is this week's Monday (its review deadline, the day before, has
    # passed); the open session is two weeks on, its window opened 15 days before it, at the
    # session time: so on a Monday too, before that time, it is already open (with 14 days the
    # bench could not seed on Mondays until the session time).
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(weeks=past_sessions - 1)


def seed_term(students: int = 300, sessions: int = 10, seed: int = 541,
              now: Optional[datetime] = None) -> dict:
    from flask import current_app

    from review.accounts.services import hash_password
    from review.courses.definition import CourseDefinition
    from review.courses.services import apply_course_definition
    from review.grading.services import ensure_rubric_row
    from review.reviews.rendering import stored_rendering
    from review.reviews.services import content_sha256
    from tests.factories import course_definition_data

    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    data = course_definition_data(
        CODE, first_monday=_first_monday(now.date(), sessions), weeks=sessions + 3,
        session_weeks=(*range(1, sessions + 1), sessions + 2), timezone="UTC",
        reviews={"opens_days_before": 15, "deadline_days_before": 1})
    course, _ = apply_course_definition(CourseDefinition.model_validate(data))
    db.session.flush()
    rows = {key: ensure_rubric_row(r) for key, r in current_app.extensions["rubrics"].items()}
    password = hash_password(PASSWORD)

    db.session.execute(insert(User), [
        {"email": INSTRUCTOR_EMAIL, "first_name": "Ina", "last_name": "Structor",
         "password_hash": password, "session_token": "t-instructor"},
        {"email": TA_EMAIL, "first_name": "Tara", "last_name": "Assistant",
         "password_hash": password, "session_token": "t-ta"},
        *({"email": STUDENT_EMAIL.format(i), "first_name": f"First{i}",
           "last_name": f"Last{i:04d}", "password_hash": password, "session_token": f"t-{i}"}
          for i in range(students))])
    by_email = dict(list(db.session.execute(select(User.email, User.id)).tuples()))
    instructor, ta = by_email[INSTRUCTOR_EMAIL], by_email[TA_EMAIL]
    user_ids = [by_email[STUDENT_EMAIL.format(i)] for i in range(students)]
    db.session.execute(insert(Enrollment), [
        {"course_id": course.id, "user_id": instructor, "role": CourseRole.instructor},
        {"course_id": course.id, "user_id": ta, "role": CourseRole.ta},
        *({"course_id": course.id, "user_id": uid, "role": CourseRole.student,
           "student_number": str(100000 + n), "section": f"S{n % 3 + 1}"}
          for n, uid in enumerate(user_ids))])

    past = [s for s in course.sessions if s.review_deadline < now]
    open_session = next(s for s in course.sessions if s.review_opens_at <= now < s.review_deadline)

    # Groups of three; the past sessions' slots are held in turn and graded by both graders.
    groups = []
    for number, start in enumerate(range(0, students, 3)):
        group = Group(course_id=course.id, name=f"Group {number}", join_code=f"bench{number:04d}")
        db.session.add(group)
        groups.append((group, user_ids[start:start + 3]))
    db.session.flush()
    db.session.execute(insert(Membership), [
        {"course_id": course.id, "group_id": group.id, "user_id": uid}
        for group, members in groups for uid in members])
    slots = list(db.session.scalars(select(Slot).where(
        Slot.session_id.in_([s.id for s in past])).order_by(Slot.session_id, Slot.role_id)))
    held = []
    for (group, members), slot in zip(groups, slots):
        slot.group_id = group.id
        held.append((slot, members))
    db.session.flush()
    role_keys = {slot.id: slot.role.key for slot, _ in held}
    presentation_scores = []
    for slot, _members in held:
        row = rows[f"presentation-{role_keys[slot.id]}"]
        for grader in (instructor, ta):
            presentation_scores.append(
                {"course_id": course.id, "rubric_id": row.id, "grader_id": grader,
                 "target": ScoreTarget.presentation, "slot_id": slot.id,
                 "total": round(rng.uniform(0.55, 1.0) * row.max_score, 1),
                 "max_total": row.max_score})
    db.session.execute(insert(Score), presentation_scores)
    peer = rows["peer"]
    ratings = []
    for slot, members in held:
        raters = rng.sample([u for u in user_ids if u not in members], 20)
        ratings += [{"slot_id": slot.id, "rater_id": rater, "rubric_id": peer.id,
                     "total": round(rng.uniform(0.5, 1.0) * peer.max_score, 1),
                     "max_total": peer.max_score} for rater in raters]
    db.session.execute(insert(PeerRating), ratings)

    reviews, versions = [], []
    for session in past:
        for uid in user_ids:
            if rng.random() < 0.08:
                continue  # missing
            content = _content(rng)
            digest = content_sha256(content)
            moment = session.review_deadline - timedelta(hours=rng.randint(1, 60))
            reviews.append({"session_id": session.id, "user_id": uid,
                            "status": ReviewStatus.submitted, "content": content,
                            "content_sha256": digest, "submitted_at": moment, "saved_at": moment,
                            "rendered": stored_rendering(content, digest),
                            "feedback_released_at": now})
    db.session.execute(insert(Review), reviews)
    review_ids = {(s, u): rid for rid, s, u in db.session.execute(
        select(Review.id, Review.session_id, Review.user_id)).tuples()}
    for review in reviews:
        versions.append({"review_id": review_ids[(review["session_id"], review["user_id"])],
                         "number": 1, "content": review["content"],
                         "content_sha256": review["content_sha256"],
                         "submitted_at": review["submitted_at"]})
    db.session.execute(insert(ReviewVersion), versions)
    review_row, part_row = rows["review"], rows["participation"]
    db.session.execute(insert(Score), [
        {"course_id": course.id, "rubric_id": review_row.id, "grader_id": ta,
         "target": ScoreTarget.review, "review_id": rid,
         "total": round(rng.uniform(0.4, 1.0) * review_row.max_score, 1),
         "max_total": review_row.max_score} for rid in review_ids.values()])
    db.session.execute(insert(Score), [
        {"course_id": course.id, "rubric_id": part_row.id, "grader_id": instructor,
         "target": ScoreTarget.participation, "session_id": s.id, "student_id": uid,
         "total": round(rng.uniform(0, 1) * part_row.max_score, 1),
         "max_total": part_row.max_score} for s in past for uid in user_ids])
    db.session.execute(insert(GradeItem), [
        {"course_id": course.id, "user_id": uid, "component": "midterm",
         "score": round(rng.uniform(30, 100), 1)} for uid in user_ids])
    db.session.commit()
    return {"code": CODE, "password": PASSWORD, "instructor": INSTRUCTOR_EMAIL,
            "students": [STUDENT_EMAIL.format(i) for i in range(students)],
            "past_session": past[-1].id, "open_session": open_session.id,
            "reviews": len(reviews), "groups": len(groups), "slots": len(held),
            "peer_ratings": len(ratings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.create_all()
        print(json.dumps(seed_term(args.students, args.sessions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
