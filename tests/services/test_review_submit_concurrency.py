"""A double click, for real: the same review submitted by several requests at the same moment.

Each thread has its own app context and database session, as gunicorn workers would. Whatever
the interleaving, the student ends with one review and one submitted version; the losers fail
with the errors the view turns into "this exact text was already submitted".
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from models import PaperSession, Review, ReviewVersion, User, db
from review.reviews.services import ReviewContent, ReviewStale, submit_review
from tests.conftest import make_app
from tests.factories import make_course, make_member
from tests.services.test_claim_concurrency import database

THREADS = 8
CONTENT = ReviewContent.build(summary="The paper decouples weight decay from the gradient step.",
                              strengths="Clear experiments.", weaknesses="Few tasks.",
                              remedies="Try language models.", questions=["Why does it help?"])


@pytest.mark.parametrize("kind", ["sqlite-file", "postgresql"])
def test_simultaneous_submits_of_one_review_leave_one_version(kind: str, tmp_path) -> None:
    with database(kind, tmp_path) as url:
        _race(url)


def _race(url: str) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=url,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 2, "max_overflow": 2})
    with app.app_context():
        db.create_all()
        course = make_course("double-click", first_monday=date(2030, 9, 2))
        session_id = course.sessions[0].id
        student_id = make_member(course).id
        db.session.commit()
        moment = course.sessions[0].review_deadline - timedelta(hours=3)
        db.session.remove()

    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = [""] * THREADS

    def worker(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                result = submit_review(db.session.get(PaperSession, session_id),
                                       db.session.get(User, student_id), CONTENT, moment)
                db.session.commit()
                outcomes[index] = "created" if result.created else "same"
            except (IntegrityError, StaleDataError, ReviewStale, OperationalError) as exc:
                db.session.rollback()
                outcomes[index] = type(exc).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with app.app_context():
        reviews = db.session.scalar(select(func.count()).select_from(Review))
        versions = db.session.scalar(select(func.count()).select_from(ReviewVersion))
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    assert outcomes.count("created") == 1, outcomes
    assert "" not in outcomes, outcomes
    assert (reviews, versions) == (1, 1)
