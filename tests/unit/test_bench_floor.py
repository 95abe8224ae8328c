"""The benchmark's signed-in floor (bench/ceiling/floor.py) bounds what a review submit can cost
on this stack; it only bounds it if it does what a submit must: refuse a stranger, a forged form,
a cookie from before sign-out and an empty field, and record every submit as a version."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bench.ceiling import floor


@pytest.fixture
def floor_app(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'floor.sqlite'}"
    floor.init(url)
    return floor.create_app(url)


def submission(token: str, summary: str = "A summary.") -> dict[str, str]:
    return {"csrf_token": token, "summary": summary, "strengths": "Clear.",
            "weaknesses": "One seed.", "remedies": "More seeds.", "questions": "Why?"}


def test_the_floor_records_each_submit_as_a_version_of_the_signed_in_users_review(
        floor_app) -> None:
    client = floor_app.test_client()
    token = client.get("/floor/sign-in/7").get_data(as_text=True)
    for summary in ("First.", "Second."):
        reply = client.post("/floor/submit", data=submission(token, summary))
        assert reply.status_code == 303
    with floor_app.app_context():
        review = floor.db.session.scalars(
            select(floor.FloorReview).where(floor.FloorReview.user_id == 7)).one()
        assert (review.summary, review.version) == ("Second.", 2)
        versions = floor.db.session.scalars(
            select(floor.FloorVersion.summary).where(floor.FloorVersion.review_id == review.id)
            .order_by(floor.FloorVersion.number)).all()
        assert versions == ["First.", "Second."]


def test_the_floor_refuses_a_stranger_a_forged_form_an_empty_field_and_a_stale_cookie(
        floor_app) -> None:
    stranger = floor_app.test_client()
    assert stranger.post("/floor/submit", data=submission("x")).status_code in (400, 401)

    client = floor_app.test_client()
    token = client.get("/floor/sign-in/3").get_data(as_text=True)
    assert client.post("/floor/submit", data=submission("forged")).status_code == 400
    assert client.post("/floor/submit", data=submission(token, summary="")).status_code == 400
    with floor_app.app_context():
        # What sign-out does in the application: the user's session token rotates.
        floor.db.session.execute(update(floor.FloorUser).where(floor.FloorUser.id == 3)
                                 .values(session_token="rotated"))
        floor.db.session.commit()
    assert client.post("/floor/submit", data=submission(token)).status_code == 401
    with floor_app.app_context():
        assert floor.db.session.scalar(select(func.count(floor.FloorVersion.id))) == 0
