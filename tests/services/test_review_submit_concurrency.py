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
from review.reviews.services import ReviewContent, ReviewStale, autosave_draft, submit_review
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


@pytest.mark.parametrize("kind", ["sqlite-file", "postgresql"])
def test_simultaneous_autosaves_from_tabs_at_one_version_keep_exactly_one(kind: str,
                                                                          tmp_path) -> None:
    with database(kind, tmp_path) as url:
        _autosave_race(url)


def _autosave_race(url: str) -> None:
    # The autosave's single UPDATE ... WHERE version = the page's: whichever interleaving, one
    # tab's text is saved at the next version and every other tab is told its copy is stale.
    app = make_app(SQLALCHEMY_DATABASE_URI=url,
                   SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS + 2, "max_overflow": 2})
    with app.app_context():
        db.create_all()
        course = make_course("tab-race", first_monday=date(2030, 9, 2))
        session, student = course.sessions[0], make_member(course)
        moment = session.review_deadline - timedelta(hours=3)
        opened = autosave_draft(session, student, ReviewContent.build(summary="opened"),
                                moment).version
        session_id, student_id = session.id, student.id
        db.session.commit()
        db.session.remove()

    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = [""] * THREADS

    def worker(index: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                autosave_draft(db.session.get(PaperSession, session_id),
                               db.session.get(User, student_id),
                               ReviewContent.build(summary=f"tab {index}"), moment,
                               expected_version=opened)
                db.session.commit()
                outcomes[index] = f"tab {index}"
            except (ReviewStale, StaleDataError, OperationalError) as exc:
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
        review = db.session.scalar(select(Review))
        saved = (review.content["summary"], review.version)
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    winners = [o for o in outcomes if o.startswith("tab ")]
    assert len(winners) == 1 and "" not in outcomes, outcomes
    assert saved == (winners[0], opened + 1)
