"""Grading pages: permissions, the score form (no-JS), conflicts, the queue, feedback, peers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from models import CourseRole, PeerRating, RegradeRequest, Score, db, utcnow
from review.grading import services
from tests.factories import (enrollment, grant_ta, hold_slot, make_course, make_group, make_member,
                             make_submitted_review)


@pytest.fixture
def world(app: Flask) -> dict:
    course = make_course("web-a")
    other = make_course("web-b")
    instructor = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    a, b, c = (make_member(course) for _ in range(3))
    slot = hold_slot(course, make_group(course, [a, b]), 3, "overview")
    review = make_submitted_review(course, c, 3)
    outsider = make_member(other)
    db.session.commit()
    return {"course": course, "instructor": instructor, "ta": ta, "a": a, "b": b, "c": c,
            "slot": slot, "review": review, "outsider": outsider}


def full(app: Flask, rubric_id: str, **changes: float) -> dict[str, str]:
    rubric = app.extensions["rubrics"][rubric_id]
    data = {f"score-{c.id}": f"{c.points:g}" for c in rubric.criteria}
    data.update({f"score-{k}": f"{v:g}" for k, v in changes.items()})
    return data


def test_staff_pages_refuse_students_and_outsiders(client: FlaskClient, login,
                                                   world: dict) -> None:
    slot, review = world["slot"], world["review"]
    urls = ["/c/web-a/grading", f"/c/web-a/grading/presentations/{slot.id}",
            f"/c/web-a/grading/reviews/{review.id}", "/c/web-a/grading/flagged",
            "/c/web-a/grading/peer", "/c/web-a/grading/regrades", "/c/web-a/grading/audit"]
    login(world["a"])
    for url in urls:
        assert client.get(url).status_code == 403, url
    response = client.post(f"/c/web-a/grading/presentations/{slot.id}",
                           data=full(client.application, "presentation-overview"))
    assert response.status_code == 403
    assert db.session.scalar(select(Score.id)) is None
    login(world["outsider"])
    for url in urls + ["/c/web-a/feedback"]:
        assert client.get(url).status_code == 404, url
    login(world["ta"])
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_grading_a_presentation_without_js(app: Flask, client: FlaskClient, login,
                                           world: dict) -> None:
    login(world["ta"])
    url = f"/c/web-a/grading/presentations/{world['slot'].id}"
    page = client.get(url).get_data(as_text=True)
    assert 'type="radio"' in page and 'name="version" value="0"' in page
    data = full(app, "presentation-overview", method=2)
    data.update({"version": "0", "comment-method": "Too fast.", "overall_comment": "Solid."})
    response = client.post(url, data=data)
    assert response.status_code == 302
    score = db.session.scalars(select(Score)).one()
    assert score.values["method"] == 2 and score.comments == {"method": "Too fast."}
    # Out of range: refused with the criterion named, nothing changed.
    data = full(app, "presentation-overview", method=50)
    data["version"] = str(score.version)
    response = client.post(url, data=data)
    assert response.status_code == 422
    assert "criterion &#39;method&#39;: score must be between 0 and" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(Score)).one().values["method"] == 2


def test_concurrent_edit_is_refused_and_shows_saved_values(app: Flask, client: FlaskClient,
                                                           login, world: dict) -> None:
    login(world["ta"])
    url = f"/c/web-a/grading/presentations/{world['slot'].id}"
    client.post(url, data={**full(app, "presentation-overview"), "version": "0"})
    # Tab 1 and tab 2 loaded version 1; tab 1 saves method=1, then tab 2 saves method=3.
    client.post(url, data={**full(app, "presentation-overview", method=1), "version": "1"})
    response = client.post(url, data={**full(app, "presentation-overview", method=3),
                                      "version": "1"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Saved meanwhile (version 2)" in page and "method: 1" in page
    db.session.expire_all()
    assert db.session.scalars(select(Score)).one().values["method"] == 1


def test_review_queue_save_and_next(app: Flask, client: FlaskClient, login, world: dict) -> None:
    second = make_submitted_review(world["course"], world["a"], 4)
    db.session.commit()
    login(world["ta"])
    response = client.get("/c/web-a/grading/reviews")
    assert response.headers["Location"].endswith(f"/grading/reviews/{world['review'].id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 of 2 graded" in page and "<strong>short</strong>" in page
    response = client.post(f"/c/web-a/grading/reviews/{world['review'].id}",
                           data={**full(app, "review"), "version": "0", "save_next": "1"})
    assert response.headers["Location"].endswith(f"/grading/reviews/{second.id}")
    assert "1 of 2 graded" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_overview_kept_per_grades_revision_shows_a_new_grade_at_once(
        app: Flask, client: FlaskClient, login, world: dict) -> None:
    # The overview's slot grades and queue counts are kept per grades revision; saving a score
    # moves the revision on, so the next view shows it.
    login(world["ta"])
    before = client.get("/c/web-a/grading").get_data(as_text=True)
    assert "ungraded" in before and "0 of 1 submitted reviews graded" in before
    url = f"/c/web-a/grading/presentations/{world['slot'].id}"
    assert client.post(url, data={**full(app, "presentation-overview"), "version": "0"}
                       ).status_code == 302
    assert client.post(f"/c/web-a/grading/reviews/{world['review'].id}",
                       data={**full(app, "review"), "version": "0"}).status_code == 302
    after = client.get("/c/web-a/grading").get_data(as_text=True)
    assert "ungraded" not in after and "Review grade" in after
    assert "1 of 1 submitted reviews graded" in after


def test_review_queue_of_one_section(app: Flask, client: FlaskClient, login, world: dict) -> None:
    course = world["course"]
    second = make_submitted_review(course, world["a"], 4)
    enrollment(course, world["c"]).section = "S1"
    enrollment(course, world["a"]).section = "S2"
    db.session.commit()
    login(world["ta"])
    overview = client.get("/c/web-a/grading").get_data(as_text=True)
    assert 'name="section"' in overview and '<option value="S2">S2</option>' in overview
    response = client.get("/c/web-a/grading/reviews?section=S2")
    assert response.headers["Location"].endswith(f"/grading/reviews/{second.id}?section=S2")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 of 1 graded" in page and "section S2" in page
    response = client.post(f"/c/web-a/grading/reviews/{second.id}?section=S2",
                           data={**full(app, "review"), "version": "0", "save_next": "1"})
    assert response.headers["Location"].endswith("/grading/reviews?section=S2")
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "All 1 submitted reviews of section S2 past their deadline are graded" in done


def test_students_see_only_their_released_feedback(app: Flask, client: FlaskClient, login,
                                                   world: dict) -> None:
    course, review = world["course"], world["review"]
    rubric = app.extensions["rubrics"]["review"]
    services.save_score(course, world["ta"], services.review_item(course, review.id),
                        values={c.id: c.points for c in rubric.criteria},
                        comments={"summary": "Crisp summary."})
    db.session.commit()
    url = f"/c/web-a/feedback/reviews/{review.id}"
    login(world["c"])
    assert client.get(url).status_code == 404  # not released yet
    assert "Nothing released yet" in client.get("/c/web-a/feedback").get_data(as_text=True)
    # The week's presentation is not graded yet: releasing anyway is a confirmed choice.
    services.release_session(course, world["ta"], review.session, utcnow(), confirmed=True)
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "Crisp summary." in page and "100.0%" in page
    assert world["ta"].full_name not in page  # graders are not named to students
    login(world["a"])
    assert client.get(url).status_code == 404
    assert client.post(f"{url}/regrade", data={"reason": "Not mine but asking"}).status_code == 404
    login(world["c"])
    response = client.post(f"{url}/regrade", data={"reason": "Please re-check the ideas part."})
    assert response.status_code == 302
    assert db.session.scalars(select(RegradeRequest)).one().user_id == world["c"].id
    grant_ta(course, "resolve_regrades")
    db.session.commit()
    login(world["ta"])
    regrade = db.session.scalars(select(RegradeRequest)).one()
    client.post(f"/c/web-a/grading/regrades/{regrade.id}",
                data={"outcome": "kept", "reply": "It stands."})
    db.session.expire_all()
    assert db.session.get(RegradeRequest, regrade.id).status == "kept"


def test_peer_rating_page_and_staff_agreement(app: Flask, client: FlaskClient, login,
                                              world: dict) -> None:
    slot = world["slot"]
    slot.session.starts_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    login(world["a"])  # a presenter
    response = client.get(f"/c/web-a/peer/{slot.id}")
    assert response.status_code == 302
    assert db.session.scalar(select(PeerRating.id)) is None
    login(world["c"])
    assert f"/c/web-a/peer/{slot.id}" in client.get("/c/web-a/peer").get_data(as_text=True)
    response = client.post(f"/c/web-a/peer/{slot.id}",
                           data={"score-clarity": "4", "score-insight": "3", "score-time": "2"})
    assert response.status_code == 302
    assert db.session.scalars(select(PeerRating)).one().total == 9
    login(world["ta"])
    page = client.get("/c/web-a/grading/peer").get_data(as_text=True)
    assert "Krippendorff" in page


def test_grading_overview_query_count_does_not_grow(app: Flask, client: FlaskClient,
                                                    login) -> None:
    def build(code: str, groups: int) -> tuple:
        course = make_course(code)
        ta = make_member(course, CourseRole.ta)
        for index in range(groups):
            group = make_group(course, [make_member(course) for _ in range(3)])
            hold_slot(course, group, 3 + index % 4, ("overview", "strengths", "weaknesses")[index // 4])
        db.session.commit()
        return course, ta

    counts = []
    for code, groups in (("q-small", 2), ("q-large", 10)):
        course, ta = build(code, groups)
        login(ta)
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"/c/{code}/grading").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_manual_participation_points_are_listed_by_student_name(client: FlaskClient, login,
                                                               world: dict) -> None:
    session = world["course"].sessions[0]
    login(world["instructor"])
    response = client.post(f"/c/web-a/grading/participation/{session.id}/manual",
                           data={"user_id": str(world["c"].id), "points": "2",
                                 "note": "Answered the presenters"})
    assert response.status_code == 302
    page = client.get(f"/c/web-a/grading/participation/{session.id}").get_data(as_text=True)
    assert f"{world['c'].full_name}: 2 — Answered the presenters" in page
