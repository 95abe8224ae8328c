"""The class session pages: live view and its JSON (ETag), controls as plain forms, questions,
slides (limits, type, access before/after the start), session page, report, grading time."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import (CourseRole, LiveQuestion, ParticipationRecord, QuestionVote,
                    SlideDeck, db)
from review.live import services
from tests.factories import hold_slot, make_course, make_group, make_member

ROLES = [{"key": "context", "name": "Context", "minutes": 5},
         {"key": "method", "name": "Method", "minutes": 12},
         {"key": "critique", "name": "Critique", "minutes": 6},
         {"key": "replication", "name": "Replication", "minutes": 3}]
RUBRICS = {"presentations": {role["key"]: "presentation-overview" for role in ROLES}}
PDF = b"%PDF-1.7\n" + b"0" * 2000


@pytest.fixture
def app_config(tmp_path) -> dict:
    return {"SLIDES_DIR": str(tmp_path / "slides"), "SLIDES_MAX_BYTES": 4096}


@pytest.fixture
def world(app, monkeypatch) -> dict:
    course = make_course("live-web", roles=ROLES, discussion_minutes=7, rubrics=RUBRICS,
                         timezone="Australia/Adelaide")
    other = make_course("live-other")
    staff = make_member(course, CourseRole.ta)
    students = [make_member(course) for _ in range(6)]
    groups = [make_group(course, students[0:2]), make_group(course, students[2:4])]
    session = course.sessions[0]
    week = session.week.number
    slots = [hold_slot(course, groups[0], week, "context"),
             hold_slot(course, groups[1], week, "method")]
    db.session.commit()
    clock = {"now": session.starts_at - timedelta(hours=1)}
    monkeypatch.setattr("review.live.views._now", lambda: clock["now"])
    base = f"/c/live-web/sessions/{week}"
    return {"course": course, "session": session, "staff": staff, "students": students,
            "slots": slots, "clock": clock, "base": base, "week": week,
            "outsider": make_member(other)}


def _control(client, world, action: str, expected: int, **extra) -> object:
    return client.post(world["base"] + "/live/control",
                       data={"action": action, "expected_segment": expected, **extra})


def test_the_projector_view_and_plain_form_controls_work_without_javascript(
        client, login, world) -> None:
    clock = world["clock"]
    login(world["staff"])
    page = client.get(world["base"] + "/live").get_data(as_text=True)
    assert "has not started yet" in page and "Start the run sheet" in page
    assert client.post(world["base"] + "/live/start").status_code == 302
    page = client.get(world["base"] + "/live").get_data(as_text=True)
    assert "Context" in page and "5:00" in page and "Method" in page   # now and next
    assert world["students"][0].last_name in page                      # presenters
    assert 'name="expected_segment"' in page and 'value="0"' in page
    clock["now"] += timedelta(minutes=6)
    page = client.get(world["base"] + "/live").get_data(as_text=True)
    assert "+1:00" in page and "overtime" in page
    # A double "next" from one stale page moves once, and says why the second did nothing.
    assert _control(client, world, "next", 0).status_code == 302
    response = _control(client, world, "next", 0)
    assert response.status_code == 302
    with client.session_transaction() as flask_session:
        messages = [text for _, text in flask_session["_flashes"]]
    assert any("already moved on to Method" in text for text in messages)
    assert services.run_of(world["session"]).segment == 1


def test_live_json_for_every_member_with_etag_and_304(client, login, world) -> None:
    clock = world["clock"]
    login(world["students"][5])
    before = client.get(world["base"] + "/live.json")
    assert before.status_code == 200 and before.json["segment"] is None
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    login(world["students"][5])
    first = client.get(world["base"] + "/live.json")
    data = first.json
    assert (data["segment"], data["role"], data["remaining_seconds"], data["paused"]) == (
        0, "Context", 300, False)
    assert data["group"] and data["started_at"] and data["questions"] == []
    etag = first.headers["ETag"]
    clock["now"] += timedelta(seconds=30)
    # Only the clock moved: 304, and the client counts down itself.
    unchanged = client.get(world["base"] + "/live.json", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.data == b""
    # A classmate's vote changes everyone's queue, so the tag changes too.
    question = services.add_question(world["session"], world["students"][4], "Why?", clock["now"])
    db.session.commit()
    assert client.get(world["base"] + "/live.json",
                      headers={"If-None-Match": etag}).status_code == 200
    etag = client.get(world["base"] + "/live.json").headers["ETag"]
    login(world["students"][4])
    client.post(world["base"] + "/questions/vote", data={"question_id": question.id})
    login(world["students"][5])
    voted = client.get(world["base"] + "/live.json", headers={"If-None-Match": etag})
    assert voted.status_code == 200 and voted.json["questions"][0]["votes"] == 1
    etag = voted.headers["ETag"]
    login(world["staff"])
    _control(client, world, "pause", 0)
    login(world["students"][5])
    changed = client.get(world["base"] + "/live.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["paused"] is True
    assert changed.json["remaining_seconds"] == 270
    login(world["outsider"])
    assert client.get(world["base"] + "/live.json").status_code == 404


def test_presenters_control_their_segment_and_the_audience_cannot(client, login, world) -> None:
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    login(world["students"][5])
    assert _control(client, world, "next", 0).status_code == 302
    assert services.run_of(world["session"]).segment == 0
    login(world["students"][2])                 # presents the second segment, not this one
    _control(client, world, "next", 0)
    assert services.run_of(world["session"]).segment == 0
    login(world["students"][0])
    _control(client, world, "extend", 0, minutes=2)
    _control(client, world, "next", 0)
    db.session.expire_all()
    assert services.run_of(world["session"]).segment == 1
    # Students cannot start a run sheet (a staff route).
    assert client.post("/c/live-web/sessions/4/live/start").status_code == 403


def test_when_a_presentation_ends_its_peer_rating_link_shows_to_the_audience(
        client, login, world) -> None:
    world["clock"]["now"] = world["session"].starts_at + timedelta(minutes=1)
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    login(world["students"][5])
    assert client.get(world["base"] + "/live.json").json["peer_rating_url"] is None
    login(world["staff"])
    _control(client, world, "next", 0)
    login(world["students"][5])
    url = client.get(world["base"] + "/live.json").json["peer_rating_url"]
    assert url == f"/c/live-web/peer/{world['slots'][0].id}"
    login(world["students"][0])                 # a presenter does not rate their own talk
    assert client.get(world["base"] + "/live.json").json["peer_rating_url"] is None


def test_students_add_and_vote_staff_mark_raised_with_participation(client, login, world) -> None:
    students = world["students"]
    login(students[4])
    client.post(world["base"] + "/questions", data={"text": "Does it work on small data?"})
    client.post(world["base"] + "/questions", data={"text": "Is the code public?"})
    first, second = db.session.scalars(select(LiveQuestion).order_by(LiveQuestion.id)).all()
    login(students[5])
    response = client.post(world["base"] + "/questions/vote", data={"question_id": second.id},
                           headers={"Accept": "application/json"})
    assert response.json["ok"] is True
    queue = client.get(world["base"] + "/live.json").json["questions"]
    assert [(q["id"], q["votes"], q["voted"]) for q in queue] == [(second.id, 1, True),
                                                                 (first.id, 0, False)]
    assert "asker" not in queue[0]
    client.post(world["base"] + "/questions/vote", data={"question_id": second.id})
    assert db.session.scalars(select(QuestionVote)).all() == []
    login(world["staff"])
    queue = client.get(world["base"] + "/live.json").json["questions"]
    assert queue[0]["asker"] == students[4].full_name
    client.post(world["base"] + "/questions/mark",
                data={"question_id": first.id, "status": "raised", "credited_id": 0})
    record = db.session.scalar(select(ParticipationRecord))
    assert (record.user_id, record.recorded_by_id) == (students[4].id, world["staff"].id)
    page = client.get(world["base"] + "/report").get_data(as_text=True)
    assert "Does it work on small data?" in page and students[4].full_name in page


def test_slides_pdf_only_size_limited_and_downloadable_after_the_start(
        client, login, world, tmp_path) -> None:
    slot = world["slots"][0]
    presenter, audience = world["students"][0], world["students"][5]

    def upload(content: bytes, name: str = "talk.pdf", **extra):
        return client.post(world["base"] + "/slides", data={
            "slide_slot": slot.id, "file": (io.BytesIO(content), name), **extra},
            content_type="multipart/form-data", follow_redirects=True).get_data(as_text=True)

    login(presenter)
    assert "is not a PDF" in upload(b"\x89PNG\r\n\x1a\n" + b"0" * 100, "talk.pdf")
    assert "larger than the limit of" in upload(b"%PDF-" + b"0" * 5000)
    assert "larger than the limit of" in upload(b"%PDF-" + b"0" * 100_000)
    assert db.session.scalars(select(SlideDeck)).all() == []
    assert "version 1" in upload(PDF)
    assert "version 2" in upload(PDF + b"v2")
    decks = db.session.scalars(select(SlideDeck).order_by(SlideDeck.version)).all()
    stored = list((tmp_path / "slides").iterdir())
    assert len(stored) == 2 and all(d.stored_name in {p.name for p in stored} for d in decks)
    assert "talk.pdf" not in {p.name for p in stored}
    login(audience)
    assert "Only the presenters" in upload(PDF)
    latest = f"{world['base']}/slides/{decks[1].id}"
    assert client.get(latest).status_code == 302          # before the start: not yet
    assert latest not in client.get(world["base"] + "/live").get_data(as_text=True)
    world["clock"]["now"] = world["session"].starts_at + timedelta(minutes=1)
    download = client.get(latest)
    assert download.status_code == 200 and download.data == PDF + b"v2"
    assert latest in client.get(world["base"] + "/live").get_data(as_text=True)
    world["clock"]["now"] = world["session"].starts_at - timedelta(days=1)
    login(presenter)
    assert client.get(latest).status_code == 200           # presenters any time
    login(world["staff"])
    assert client.get(latest).status_code == 200           # staff any time
    page = client.get(world["base"]).get_data(as_text=True)
    assert "version 2 of 2" in page
    link = client.post(world["base"] + "/slides", data={
        "slide_slot": slot.id, "url": "javascript:alert(1)"}, follow_redirects=True)
    assert "must start with http" in link.get_data(as_text=True)


def test_the_session_page_is_for_staff_and_presenters(client, login, world) -> None:
    login(world["students"][5])
    assert client.get(world["base"]).status_code == 403
    login(world["students"][2])
    page = client.get(world["base"]).get_data(as_text=True)
    assert "Context" in page and "Method" in page and "missing" in page
    assert world["students"][0].full_name in page


def test_report_csv_neutralises_cells_and_records_planned_and_actual(client, login, world) -> None:
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    world["clock"]["now"] += timedelta(minutes=7)
    _control(client, world, "next", 0)
    login(world["students"][4])
    client.post(world["base"] + "/questions", data={"text": "=HYPERLINK(\"x\")"})
    question = db.session.scalar(select(LiveQuestion))
    login(world["staff"])
    client.post(world["base"] + "/questions/mark", data={
        "question_id": question.id, "status": "answered", "credited_id": world["students"][1].id})
    rows = list(csv.reader(io.StringIO(client.get(world["base"] + "/report.csv").get_data(
        as_text=True))))
    assert ["segment", "Context", "", "5.0", "7.0", "2.0", ""] in rows
    assert any(row[0] == "question" and row[1].startswith("'=") for row in rows)
    assert any(row[0] == "participation" and row[2] == world["students"][1].full_name
               for row in rows)


def test_the_grading_page_shows_the_measured_minutes(client, login, world) -> None:
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    world["clock"]["now"] += timedelta(minutes=6, seconds=30)
    _control(client, world, "next", 0)
    page = client.get(f"/c/live-web/grading/presentations/{world['slots'][0].id}")
    assert "Measured time: 6.5 min of 5 planned" in page.get_data(as_text=True)


def _add_people_and_questions(world, count: int) -> None:
    course, session = world["course"], world["session"]
    for n in range(count):
        student = make_member(course)
        question = services.add_question(session, student, f"Question {n}?", world["clock"]["now"])
        db.session.add(QuestionVote(question_id=question.id, user_id=world["students"][5].id))
    db.session.commit()


@pytest.mark.parametrize("who", ["staff", "student"])
def test_live_json_and_pages_make_the_same_number_of_queries_for_a_bigger_class(
        client, login, world, who) -> None:
    from tests.querycount import count_queries

    login(world["staff"])
    client.post(world["base"] + "/live/start")
    world["clock"]["now"] += timedelta(minutes=9)
    _control(client, world, "next", 0)      # a presentation ended: the peer link is looked up
    login(world["staff"] if who == "staff" else world["students"][5])
    counts = []
    for extra in (2, 20):
        _add_people_and_questions(world, extra)
        db.session.expire_all()
        with count_queries() as counter:
            for url in ("/live.json", "/live", "/report", ""):
                if who == "student" and url in ("/report", ""):
                    continue
                assert client.get(world["base"] + url).status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1]


def _submitted_review(world, student, questions=("Why?",)):
    from review.reviews import services as review_services
    from review.reviews.services import ReviewContent

    session = world["session"]
    return review_services.submit_review(session, student, ReviewContent.build(
        summary="A summary.", strengths="s", weaknesses="One seed only.", remedies="r",
        questions=list(questions)), session.review_deadline - timedelta(hours=1))


def test_presenters_and_staff_rate_reviews_and_the_reviewer_sees_them_without_names(
        client, login, world) -> None:
    from models import Review, ReviewRating

    reviewer, presenter, audience = world["students"][5], world["students"][0], world["students"][4]
    _submitted_review(world, reviewer)
    db.session.commit()
    review = db.session.scalar(select(Review))
    url = world["base"] + "/review-ratings"
    login(presenter)
    world["clock"]["now"] = world["session"].review_deadline - timedelta(hours=1)
    assert client.get(url).status_code == 403            # before the deadline: not yet
    world["clock"]["now"] = world["session"].review_deadline + timedelta(hours=2)
    page = client.get(url).get_data(as_text=True)
    assert "One seed only." in page and reviewer.last_name not in page   # anonymous to presenters
    client.post(url, data={"review_id": review.id, "helpfulness": 5,
                           "tags": ["insightful-weakness", "good-question"]})
    client.post(url, data={"review_id": review.id, "helpfulness": 4, "tags": ["good-question"]})
    assert [(r.helpfulness, r.tags) for r in db.session.scalars(select(ReviewRating))] == [
        (4, ["good-question"])]                           # changed, not added
    response = client.post(url, data={"review_id": review.id, "helpfulness": 4,
                                      "tags": ["made-up"]}, follow_redirects=True)
    assert "not a valid choice" in response.get_data(as_text=True)
    login(audience)
    assert client.get(url).status_code == 403
    login(world["staff"])
    client.post(url, data={"review_id": review.id, "helpfulness": 2, "tags": ["too-vague"]})
    grading = client.get(f"/c/live-web/grading/reviews/{review.id}").get_data(as_text=True)
    assert "2 rating(s), average 3.0 of 5" in grading and "good question ×1" in grading
    review.feedback_released_at = world["clock"]["now"]
    db.session.commit()
    login(reviewer)
    feedback = client.get(f"/c/live-web/feedback/reviews/{review.id}").get_data(as_text=True)
    assert "How helpful your review was" in feedback and "average 3.0 of 5" in feedback
    assert presenter.last_name not in feedback and world["staff"].last_name not in feedback


def test_the_projector_view_shows_no_names_and_no_controls_to_the_room(client, login, world) -> None:
    login(world["students"][4])
    client.post(world["base"] + "/questions", data={"text": "Does it transfer?"})
    login(world["staff"])
    client.post(world["base"] + "/live/start")
    staff_page = client.get(world["base"] + "/live").get_data(as_text=True)
    assert world["students"][4].full_name in staff_page and "Next segment" in staff_page
    projector = client.get(world["base"] + "/live?view=projector").get_data(as_text=True)
    assert "Does it transfer?" in projector
    assert world["students"][4].full_name not in projector and "Next segment" not in projector
