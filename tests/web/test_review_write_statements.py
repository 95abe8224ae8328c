"""The review write path's SQL statements, pinned: the deadline rush is 300 students autosaving and
submitting at once, and every statement per request is CPU on a busy worker (issue 14).

Each counted request starts from an empty database session, as a fresh request in a worker does
(the tests' shared app context would otherwise answer from objects still loaded).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Course, Review, ReviewVersion, db
from tests.factories import make_course, make_member
from tests.querycount import count_queries

FORM = {"summary": "Decoupled weight decay.", "strengths": "Clear.", "weaknesses": "Few tasks.",
        "remedies": "More tasks.", "questions-0": "Why does it help?", "submit": "Submit review"}


@pytest.fixture
def app_config(tmp_path) -> dict[str, Any]:
    # The embedded queue, as in production: the jobs a submit queues (the similarity check and
    # the question digest) wait for the worker instead of running inside the counted request.
    return {"JOBS_BACKEND": "sqlite", "JOBS_SQLITE_PATH": str(tmp_path / "jobs.sqlite")}


@pytest.fixture
def writing(app, client, login, monkeypatch) -> dict[str, Any]:
    # Not the demo course: another timezone, and weeks around its DST change (Auckland moves to
    # daylight time on 2026-09-27).
    course = make_course("write-count", timezone="Pacific/Auckland",
                         first_monday=date(2026, 9, 14))
    session = course.sessions[1]
    student = make_member(course)
    db.session.commit()
    moment = session.review_deadline - timedelta(hours=2)
    monkeypatch.setattr("review.reviews.views._now", lambda: moment)
    login(student)
    base = f"/c/write-count/reviews/{session.id}"
    return {"autosave": f"{base}/autosave", "write": f"{base}/write",
            "session_id": session.id, "user_id": student.id}


def _counted(send) -> tuple[Any, int]:
    db.session.expunge_all()
    with count_queries() as counter:
        response = send()
    return response, counter.count


def test_an_autosave_of_a_changed_draft_is_two_statements(client, writing) -> None:
    first = client.post(writing["autosave"], json={"summary": "first words"})
    assert first.status_code == 200
    response, statements = _counted(lambda: client.post(writing["autosave"], json={
        "summary": "more words", "version": first.json["version"]}))
    assert response.status_code == 200 and response.json["version"] == first.json["version"] + 1
    # The user with the course and the enrollment; the UPDATE ... RETURNING, which checks that
    # the session is this course's and open for writing in its own WHERE.
    assert statements == 2
    assert db.session.scalar(select(Review.content))["summary"] == "more words"


def test_an_unchanged_autosave_writes_nothing_and_keeps_the_version(client, writing) -> None:
    first = client.post(writing["autosave"], json={"summary": "same words"})
    again = client.post(writing["autosave"], json={"summary": "same words",
                                                   "version": first.json["version"]})
    assert again.status_code == 200 and again.json["version"] == first.json["version"]
    # So a second tab that loaded that version can still save without a false conflict.
    other_tab = client.post(writing["autosave"], json={"summary": "other tab",
                                                       "version": first.json["version"]})
    assert other_tab.status_code == 200


def _submitted(client, writing) -> int:
    """Submit FORM; the review's version afterwards (what the next autosave expects)."""
    assert client.post(writing["write"], data=FORM).status_code == 302
    return db.session.scalar(select(Review.version))


def _stored_review() -> Review:
    """The review as the database holds it now, not as this session last loaded it."""
    review = db.session.scalar(select(Review))
    db.session.refresh(review)
    return review


def test_an_autosave_after_submitting_keeps_the_submitted_text(client, writing) -> None:
    version = _submitted(client, writing)
    response = client.post(writing["autosave"], json={**FORM, "questions": ["Why?"],
                                                      "version": version})
    assert response.status_code == 200
    review = _stored_review()
    assert review.content["questions"] == ["Why does it help?"]
    assert review.revision["questions"] == ["Why?"]


def test_an_autosave_of_a_submitted_review_is_two_statements(client, writing) -> None:
    # Students revise after submitting, right up to the deadline: their autosaves take the same
    # one-UPDATE path as a draft's, into the working copy, the submitted text left alone.
    version = _submitted(client, writing)
    edited = {**FORM, "questions": ["Why?"]}
    response, statements = _counted(lambda: client.post(writing["autosave"], json={
        **edited, "version": version}))
    assert response.status_code == 200 and response.json["version"] == version + 1
    assert statements == 2
    response, statements = _counted(lambda: client.post(writing["autosave"], json={
        **edited, "questions": ["Why not?"], "version": version + 1}))
    assert response.status_code == 200 and response.json["version"] == version + 2
    assert statements == 2
    review = _stored_review()
    assert review.status.value == "submitted"
    assert review.content["questions"] == ["Why does it help?"]
    assert review.revision["questions"] == ["Why not?"]
    assert [v.number for v in db.session.scalars(select(ReviewVersion))] == [1]


def test_an_autosave_back_to_the_submitted_text_clears_the_working_copy(client, writing) -> None:
    version = _submitted(client, writing)
    edited = client.post(writing["autosave"], json={**FORM, "questions": ["Why?"],
                                                    "version": version})
    assert edited.status_code == 200
    back = client.post(writing["autosave"], json={**FORM, "questions": ["Why does it help?"],
                                                  "version": edited.json["version"]})
    assert back.status_code == 200
    review = _stored_review()
    assert review.revision is None
    # The same working copy again is no write and keeps the version, so another tab still saves.
    again = client.post(writing["autosave"], json={**FORM, "questions": ["Why?"],
                                                   "version": back.json["version"]})
    same = client.post(writing["autosave"], json={**FORM, "questions": ["Why?"],
                                                  "version": again.json["version"]})
    assert same.status_code == 200 and same.json["version"] == again.json["version"]


def test_a_stale_tab_cannot_overwrite_the_working_copy_of_a_submitted_review(client,
                                                                            writing) -> None:
    version = _submitted(client, writing)
    newer = client.post(writing["autosave"], json={**FORM, "questions": ["Newer?"],
                                                   "version": version})
    assert newer.status_code == 200
    stale = client.post(writing["autosave"], json={**FORM, "questions": ["Stale?"],
                                                   "version": version})
    assert stale.status_code == 409
    review = _stored_review()
    assert review.revision["questions"] == ["Newer?"]


def test_submitting_a_draft_is_five_statements_and_moves_the_grades_revision(client,
                                                                              writing) -> None:
    draft = client.post(writing["autosave"], json={"summary": "draft"})
    revision = db.session.scalar(select(Course.grades_revision))
    response, statements = _counted(lambda: client.post(writing["write"], data={
        **FORM, "version": str(draft.json["version"])}))
    assert response.status_code == 302
    # The user with the course, the enrollment and the session; the review, locked; the grades
    # revision; the review's UPDATE; the version's INSERT. No late-day ledger (on time) and no
    # count of versions (a draft has none).
    assert statements == 5
    assert db.session.scalar(select(Course.grades_revision)) == revision + 1
    assert [v.number for v in db.session.scalars(select(ReviewVersion))] == [1]


def test_a_first_submit_with_no_draft_is_five_statements_and_records_everything(
        client, writing) -> None:
    revision = db.session.scalar(select(Course.grades_revision))
    response, statements = _counted(lambda: client.post(writing["write"], data=FORM))
    assert response.status_code == 302 and "version=1&" in response.headers["Location"]
    # The user with the course, the enrollment and the session; the review, locked (none yet);
    # the review's INSERT; the version's INSERT; the grades revision, moved on once.
    assert statements == 5
    assert db.session.scalar(select(Course.grades_revision)) == revision + 1
    review = _stored_review()
    assert (review.status.value, review.version, review.revision) == ("submitted", 1, None)
    assert review.content["summary"] == FORM["summary"] and review.content_sha256
    assert review.submitted_at is not None and review.saved_at == review.submitted_at
    assert (review.days_late, review.late_penalty_pct) == (0, 0.0)
    assert review.rendered["sha256"] == review.content_sha256
    assert review.rendered["html"]["questions"] == ["<p>Why does it help?</p>\n"]
    [version] = db.session.scalars(select(ReviewVersion))
    assert (version.review_id, version.number, version.content_sha256) == (
        review.id, 1, review.content_sha256)
    assert version.content == review.content and version.submitted_at == review.submitted_at


def test_the_same_text_submitted_again_is_two_statements_and_records_nothing(
        client, writing) -> None:
    assert client.post(writing["write"], data=FORM).status_code == 302
    revision = db.session.scalar(select(Course.grades_revision))
    response, statements = _counted(lambda: client.post(writing["write"], data=FORM))
    assert response.status_code == 302 and response.headers["Location"].endswith("version=1")
    # The user with the course, the enrollment and the session; the review, locked, with its
    # last version's number, which is all the receipt's link needs.
    assert statements == 2
    assert db.session.scalar(select(Course.grades_revision)) == revision
    assert db.session.scalar(select(func.count(ReviewVersion.id))) == 1


def test_a_resubmit_numbers_its_version_after_the_last(client, writing) -> None:
    before = _submitted(client, writing)
    response, statements = _counted(lambda: client.post(writing["write"], data={
        **FORM, "remedies": "Language models too."}))
    # As a first submit's five: the locking read of the review also brings the last version's
    # number, so the next one is numbered without counting the versions in another statement.
    assert response.status_code == 302 and statements == 5
    review = _stored_review()
    # The version counter moves on, so a tab opened before the resubmit cannot overwrite it.
    assert review.content["remedies"] == "Language models too." and review.version == before + 1
    assert "Language models too." in review.rendered["html"]["remedies"]
    assert [v.number for v in db.session.scalars(
        select(ReviewVersion).order_by(ReviewVersion.number))] == [1, 2]


def test_the_form_and_the_receipt_load_the_paper_with_the_session(client, writing) -> None:
    form, statements = _counted(lambda: client.get(writing["write"]))
    # The user with the course and the enrollment; the session with its week and paper; the
    # review; whether the student is excused.
    assert form.status_code == 200 and statements == 4
    assert client.post(writing["write"], data=FORM).status_code == 302
    receipt, statements = _counted(lambda: client.get(writing["write"][:-len("write")] + "receipt"))
    # The user with the course and the enrollment; the session with its week and paper; the
    # review with its versions.
    assert receipt.status_code == 200 and statements == 3
    assert "Version</dt><dd>1 of 1" in receipt.get_data(as_text=True)


def _selects_version_text(statements: list[str]) -> bool:
    # The versions' own table or its alias in a join (review_version_1): its JSON text column.
    return any(s.lstrip().upper().startswith("SELECT")
               and re.search(r"\breview_version(_\d+)?\.content\b", s) for s in statements)


def test_a_resubmit_reads_no_earlier_version_text(client, writing) -> None:
    # A student who revises before the deadline may have many versions; the next one needs only
    # the last one's number, not every earlier text decoded again.
    for n in range(4):
        assert client.post(writing["write"], data={**FORM, "remedies": f"Try {n}."}).status_code == 302
    db.session.expunge_all()
    with count_queries() as counter:
        response = client.post(writing["write"], data={**FORM, "remedies": "Try once more."})
    assert response.status_code == 302
    assert not _selects_version_text(counter.statements)
    assert [v.number for v in db.session.scalars(
        select(ReviewVersion).order_by(ReviewVersion.number))] == [1, 2, 3, 4, 5]
    # The same text again (a double click) records nothing and answers with the same receipt.
    db.session.expunge_all()
    with count_queries() as counter:
        again = client.post(writing["write"], data={**FORM, "remedies": "Try once more."})
    assert again.status_code == 302 and again.headers["Location"].endswith("version=5")
    assert not _selects_version_text(counter.statements)
    assert db.session.scalar(select(func.count(ReviewVersion.id))) == 5


def test_the_receipt_reads_only_the_version_it_shows(client, writing) -> None:
    for n in range(3):
        assert client.post(writing["write"], data={**FORM, "remedies": f"Try {n}."}).status_code == 302
    receipt = writing["write"][:-len("write")] + "receipt"
    for query, shown in (("", "3 of 3"), ("?version=2", "2 of 3"), ("?version=1", "1 of 3")):
        db.session.expunge_all()
        with count_queries() as counter:
            page = client.get(receipt + query)
        assert page.status_code == 200 and f"Version</dt><dd>{shown}" in page.get_data(as_text=True)
        assert not _selects_version_text(counter.statements) and counter.count == 3
    assert client.get(receipt + "?version=4").status_code == 404


def test_the_form_of_a_revised_review_names_its_last_version_without_reading_the_texts(
        client, writing) -> None:
    for n in range(3):
        assert client.post(writing["write"], data={**FORM, "remedies": f"Try {n}."}).status_code == 302
    db.session.expunge_all()
    with count_queries() as counter:
        form = client.get(writing["write"])
    assert form.status_code == 200 and "(version 3)" in form.get_data(as_text=True)
    assert not _selects_version_text(counter.statements)
    # The four of a first visit and the last version's number.
    assert counter.count == 5
