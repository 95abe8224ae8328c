"""Review pages: writing without JS, autosave JSON, receipts, late confirmation, permissions,
privacy, XSS sanitization, staff matrix (query count), downloads, CLI export, digest."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import openpyxl
import pytest
from sqlalchemy import event, select

from models import CourseRole, ParticipationRecord, Review, ReviewVersion, Slot, db
from review.reviews import services
from review.reviews.services import ReviewContent
from tests.factories import enrollment, grant_ta, make_course, make_group, make_member

FORM = {
    "summary": "We study **sparse** attention with $O(n)$ memory.",
    "strengths": "Clear ablations.",
    "weaknesses": "Single seed.",
    "remedies": "Five seeds.",
    "questions-0": "Does it work for images?",
    "questions-1": "",
    "questions-2": "", "questions-3": "", "questions-4": "",
}


def _at(monkeypatch, moment) -> None:
    monkeypatch.setattr("review.reviews.views._now", lambda: moment)


@pytest.fixture
def world(app) -> dict[str, Any]:
    course = make_course("rev-web", reviews={"late_policy": {"mode": "penalty",
                                                             "penalty_per_day_pct": 10}})
    other = make_course("rev-other")
    people = {"course": course, "session": course.sessions[0], "other_session": other.sessions[0],
              "student": make_member(course), "classmate": make_member(course),
              "ta": make_member(course, CourseRole.ta),
              "instructor": make_member(course, CourseRole.instructor),
              "outsider": make_member(other)}
    db.session.commit()
    return people


def _url(world: dict, name: str, **kw: Any) -> str:
    return f"/c/rev-web/reviews/{world['session'].id}/{name}"


def test_write_save_and_submit_without_javascript(client, login, world, monkeypatch) -> None:
    session = world["session"]
    _at(monkeypatch, session.review_deadline - timedelta(days=1))
    login(world["student"])
    page = client.get(_url(world, "write"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for label in ("Summary", "Strengths and takeaways", "Weaknesses and limitations",
                  "How the limitations could be addressed", "Discussion questions"):
        assert label in html
    assert html.count('name="questions-') == 5
    assert "left" in html  # countdown
    saved = client.post(_url(world, "write"), data={**FORM, "save": "Save draft"})
    assert saved.status_code == 302
    review = db.session.scalar(select(Review))
    assert review.status.value == "draft" and review.content["summary"].startswith("We study")
    preview = client.post(_url(world, "write"), data={**FORM, "preview": "Preview"})
    assert "<strong>sparse</strong>" in preview.get_data(as_text=True)
    assert "<math" in preview.get_data(as_text=True)
    done = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review",
                                                   "version": str(review.version)})
    assert done.status_code == 302 and "/receipt" in done.headers["Location"]
    receipt = client.get(done.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    review = db.session.scalar(select(Review))
    assert review.content_sha256 in receipt and "Version</dt><dd>1 of 1" in receipt
    assert "(+03)" in receipt or "+03" in receipt


def test_a_submit_is_confirmed_on_its_receipt_without_writing_the_session_cookie(
        client, login, world, monkeypatch) -> None:
    _at(monkeypatch, world["session"].review_deadline - timedelta(hours=1))
    login(world["student"])
    client.get(_url(world, "write"))
    done = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"})
    assert done.status_code == 302
    # Nothing in the cookie to sign again, here or when the receipt is read.
    assert not [h for h in done.headers.getlist("Set-Cookie") if h.startswith("session=")]
    receipt = client.get(done.headers["Location"])
    assert "Review submitted (version 1)." in receipt.get_data(as_text=True)
    assert not [h for h in receipt.headers.getlist("Set-Cookie") if h.startswith("session=")]
    # Opened later (from "My reviews"), the receipt is a record, not a confirmation.
    later = client.get(_url(world, "receipt")).get_data(as_text=True)
    assert "Review submitted" not in later and "Version</dt><dd>1 of 1" in later
    # The same text again: nothing new, and the receipt says so (a message of its own).
    again = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"})
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "already submitted; nothing new was recorded" in shown
    assert "Review submitted" not in shown


def test_double_click_submit_keeps_one_version(client, login, world, monkeypatch) -> None:
    _at(monkeypatch, world["session"].review_deadline - timedelta(hours=1))
    login(world["student"])
    for _ in range(2):
        response = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"})
        assert response.status_code == 302
    assert db.session.query(ReviewVersion).count() == 1


def test_incomplete_submit_names_the_empty_sections(client, login, world, monkeypatch) -> None:
    _at(monkeypatch, world["session"].review_deadline - timedelta(hours=1))
    login(world["student"])
    response = client.post(_url(world, "write"), data={**FORM, "remedies": "", "questions-0": "",
                                                       "submit": "Submit review"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "How the limitations could be addressed" in html and "empty:" in html
    assert db.session.query(Review).count() == 0


def test_late_submit_shows_the_cost_and_needs_confirmation(client, login, world, monkeypatch) -> None:
    _at(monkeypatch, world["session"].review_deadline + timedelta(hours=3))
    login(world["student"])
    page = client.get(_url(world, "write")).get_data(as_text=True)
    assert "1 day late: a 10% penalty applies" in page
    first = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"})
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "Submit late?" in html and re.search(r'name="confirm_late"[^>]*value="yes"', html)
    assert db.session.query(Review).count() == 0
    second = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review",
                                                     "confirm_late": "yes"})
    assert second.status_code == 302
    review = db.session.scalar(select(Review))
    assert (review.days_late, review.late_penalty_pct) == (1, 10.0)


def test_stale_tab_after_deadline_gets_a_clear_answer(client, login, world, monkeypatch) -> None:
    session = world["session"]
    services.submit_review(session, world["student"], ReviewContent.build(
        summary="s", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
        session.review_deadline - timedelta(hours=2))
    db.session.commit()
    _at(monkeypatch, session.review_deadline + timedelta(minutes=1))
    login(world["student"])
    response = client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"})
    assert response.status_code == 422
    assert "can no longer be changed" in response.get_data(as_text=True)
    assert db.session.query(ReviewVersion).count() == 1


def test_autosave_json_and_two_tab_conflict(client, login, world, monkeypatch) -> None:
    _at(monkeypatch, world["session"].review_deadline - timedelta(days=1))
    login(world["student"])
    first = client.post(_url(world, "autosave"), json={"summary": "hello", "questions": []})
    assert first.status_code == 200 and first.json["ok"]
    version = first.json["version"]
    second = client.post(_url(world, "autosave"), json={"summary": "hello again", "version": version})
    assert second.status_code == 200
    stale = client.post(_url(world, "autosave"), json={"summary": "other tab", "version": version})
    assert stale.status_code == 409 and "another tab" in stale.json["error"]
    assert db.session.scalar(select(Review)).content["summary"] == "hello again"
    too_long = client.post(_url(world, "autosave"), json={"summary": "x" * 6000,
                                                          "version": second.json["version"]})
    assert too_long.status_code == 422 and "the limit is 5000" in too_long.json["error"]
    assert client.post(_url(world, "autosave"), json={"summary": 5}).status_code == 400


def test_session_of_another_course_is_404(client, login, world, monkeypatch) -> None:
    login(world["student"])
    other_id = world["other_session"].id
    assert client.get(f"/c/rev-web/reviews/{other_id}/write").status_code == 404
    assert client.post(f"/c/rev-web/reviews/{other_id}/autosave", json={}).status_code == 404
    # The routes whose session comes with the user (one statement) find it only in this course.
    _at(monkeypatch, world["session"].review_deadline - timedelta(days=1))
    submitted = client.post(f"/c/rev-web/reviews/{other_id}/write",
                            data={**FORM, "submit": "Submit review"})
    assert submitted.status_code == 404
    assert db.session.scalar(select(Review)) is None
    login(world["instructor"])
    for name in ("all", "similarity", "digest"):
        assert client.get(f"/c/rev-web/reviews/{other_id}/{name}").status_code == 404, name
    assert client.post(f"/c/rev-web/reviews/{other_id}/release").status_code == 404
    assert client.post(f"/c/rev-web/reviews/{other_id}/digest/raised").status_code == 404
    login(world["outsider"])
    assert client.get(_url(world, "write")).status_code == 404
    assert client.post(_url(world, "write"), data={**FORM, "submit": "Submit review"}
                       ).status_code == 404


def test_staff_pages_refuse_students(client, login, world) -> None:
    login(world["student"])
    for url in ("/c/rev-web/reviews/matrix", "/c/rev-web/reviews/matrix.csv",
                _url(world, "similarity")):
        assert client.get(url).status_code == 403, url
    assert client.get(_url(world, "digest")).status_code == 403
    assert client.get(_url(world, "all")).status_code == 403
    login(world["ta"])
    for url in ("/c/rev-web/reviews/matrix", _url(world, "similarity"), _url(world, "digest"),
                _url(world, "all")):
        assert client.get(url).status_code == 200, url
    assert client.post(_url(world, "release")).status_code == 403


XSS = ("<script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)> "
       "![p](https://evil.example/pixel.png) $\\href{javascript:alert(4)}{x}$")


def test_review_page_is_sanitized_against_xss(client, login, world, monkeypatch) -> None:
    session = world["session"]
    review = services.submit_review(session, world["student"], ReviewContent.build(
        summary=XSS, strengths=XSS, weaknesses="w", remedies="r", questions=[XSS]),
        session.review_deadline - timedelta(hours=1)).review
    db.session.commit()
    login(world["ta"])
    for url in (f"/c/rev-web/reviews/r/{review.id}", _url(world, "all")):
        html = client.get(url).get_data(as_text=True)
        body = html.split("<main>", 1)[1]
        assert "<script>alert" not in body
        assert not re.search(r"(href|src)\s*=\s*[\"']?\s*javascript:", body)
        assert not re.search(r"<[^>]+\son\w+=", body)
        assert "<img" not in body
        assert "&lt;script&gt;" in body
    preview = client.post("/c/rev-web/reviews/preview", json={"text": XSS})
    assert "<script" not in preview.json["html"]
    assert not re.search(r"href=[\"']?javascript:", preview.json["html"])


def test_reading_views_show_the_html_stored_at_submit(client, login, world, monkeypatch) -> None:
    session = world["session"]
    review = services.submit_review(session, world["student"], ReviewContent.build(
        summary="**sparse**", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
        session.review_deadline - timedelta(hours=1)).review
    db.session.commit()
    assert review.rendered["html"]["summary"] == "<p><strong>sparse</strong></p>\n"
    # The pages show what was stored (a marker here), without rendering the Markdown again...
    review.rendered = {**review.rendered, "html": {**review.rendered["html"],
                                                   "summary": "<p>stored copy</p>"}}
    db.session.commit()
    rendered_now = []
    monkeypatch.setattr("review.reviews.views._render_sections",
                        lambda content: rendered_now.append(content) or {})
    login(world["ta"])
    for url in (f"/c/rev-web/reviews/r/{review.id}", _url(world, "all")):
        assert "<p>stored copy</p>" in client.get(url).get_data(as_text=True)
    assert rendered_now == []
    # ...and render again once the renderer changed.
    monkeypatch.undo()
    monkeypatch.setattr("review.reviews.rendering.RENDERER_VERSION", 999)
    html = client.get(_url(world, "all")).get_data(as_text=True)
    assert "stored copy" not in html and "<strong>sparse</strong>" in html


def test_privacy_before_and_after_release(client, login, world, monkeypatch) -> None:
    session = world["session"]
    review = services.submit_review(session, world["student"], ReviewContent.build(
        summary="mine", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
        session.review_deadline - timedelta(hours=1)).review
    # The classmate has submitted too (one who owes a review may not read the class's yet).
    services.submit_review(session, world["classmate"], ReviewContent.build(
        summary="theirs", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
        session.review_deadline - timedelta(hours=1))
    db.session.commit()
    _at(monkeypatch, session.review_deadline + timedelta(hours=1))
    login(world["classmate"])
    assert client.get(f"/c/rev-web/reviews/r/{review.id}").status_code == 404
    login(world["student"])
    assert client.get(f"/c/rev-web/reviews/r/{review.id}").status_code == 200
    login(world["instructor"])
    assert client.post(_url(world, "release")).status_code == 302
    login(world["classmate"])
    page = client.get(f"/c/rev-web/reviews/r/{review.id}").get_data(as_text=True)
    assert "mine" in page and "anonymous classmate" in page
    assert world["student"].last_name not in page
    reading = client.get(_url(world, "all")).get_data(as_text=True)
    assert "mine" in reading and world["student"].last_name not in reading
    assert "Submitted versions" not in page  # history is for the author and staff


def test_digest_names_for_staff_nameless_for_presenters(client, login, world, monkeypatch) -> None:
    session = world["session"]
    presenter = make_member(world["course"])
    group = make_group(world["course"], [presenter])
    db.session.scalar(select(Slot).where(Slot.session_id == session.id)).group_id = group.id
    services.submit_review(session, world["student"], ReviewContent.build(
        summary="s", strengths="s", weaknesses="w", remedies="r",
        questions=["Why only one seed?"]), session.review_deadline - timedelta(hours=1))
    db.session.commit()
    _at(monkeypatch, session.review_deadline + timedelta(hours=1))
    login(presenter)
    page = client.get(_url(world, "digest")).get_data(as_text=True)
    assert "Why only one seed?" in page and world["student"].last_name not in page
    assert "Mark raised" not in page
    login(world["ta"])
    page = client.get(_url(world, "digest")).get_data(as_text=True)
    assert world["student"].last_name in page and "Mark raised" in page
    review = db.session.scalar(select(Review))
    response = client.post(_url(world, "digest/raised"), data={
        "review_id": review.id, "question_index": 0, "raised_by_id": 0})
    assert response.status_code == 302
    record = db.session.scalar(select(ParticipationRecord))
    assert (record.kind, record.user_id, record.recorded_by_id) == (
        "question", world["student"].id, world["ta"].id)


def _queries(client, url: str) -> int:
    count = 0

    def counter(*args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return count


def _populate(world: dict, n: int) -> None:
    session = world["session"]
    for _ in range(n):
        services.submit_review(session, make_member(world["course"]), ReviewContent.build(
            summary="s", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
            session.review_deadline - timedelta(hours=1))
    db.session.commit()


def test_matrix_query_count_does_not_grow_with_class_size(client, login, world) -> None:
    login(world["ta"])
    _populate(world, 3)
    small = _queries(client, "/c/rev-web/reviews/matrix")
    small_reading = _queries(client, _url(world, "all"))
    _populate(world, 15)
    assert _queries(client, "/c/rev-web/reviews/matrix") == small
    assert _queries(client, _url(world, "all")) == small_reading


def test_matrix_filters_sort_and_downloads(client, login, world, monkeypatch) -> None:
    session = world["session"]
    world["classmate"].first_name = "=HYPERLINK(\"http://x\")"
    services.submit_review(session, world["student"], ReviewContent.build(
        summary="=1+1", strengths="s", weaknesses="w", remedies="r", questions=["q?"]),
        session.review_deadline - timedelta(hours=1))
    db.session.commit()
    login(world["ta"])
    page = client.get(f"/c/rev-web/reviews/matrix?state=on_time&session={session.id}")
    table = page.get_data(as_text=True).split('id="matrix"', 1)[1].split("</table>", 1)[0]
    assert world["student"].last_name in table and world["classmate"].last_name not in table
    csv_text = client.get("/c/rev-web/reviews/matrix.csv").get_data(as_text=True)
    assert "on_time" in csv_text and "'=HYPERLINK" in csv_text
    xlsx = client.get("/c/rev-web/reviews/matrix.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book.sheetnames == ["Matrix", "Reviews"]
    values = [c.value for row in book["Reviews"].iter_rows() for c in row]
    assert "'=1+1" in values


def test_matrix_filters_by_section_without_more_queries(client, login, world) -> None:
    enrollment(world["course"], world["student"]).section = "S1"
    enrollment(world["course"], world["classmate"]).section = "S2"
    db.session.commit()
    login(world["ta"])
    client.get("/c/rev-web/reviews/matrix")  # the class's states, kept until the next change
    everyone = _queries(client, "/c/rev-web/reviews/matrix")
    page = client.get("/c/rev-web/reviews/matrix?section=S2").get_data(as_text=True)
    assert '<option value="S2" selected>S2</option>' in page
    table = page.split('id="matrix"', 1)[1].split("</table>", 1)[0]
    assert world["classmate"].last_name in table and world["student"].last_name not in table
    assert _queries(client, "/c/rev-web/reviews/matrix?section=S2") == everyone


def test_excuse_from_the_matrix(client, login, world) -> None:
    grant_ta(world["session"].course, "excuse_reviews")
    db.session.commit()
    login(world["ta"])
    response = client.post("/c/rev-web/reviews/excuse", data={
        "student_id": world["student"].id, "session_id": world["session"].id, "reason": "Ill"})
    assert response.status_code == 302
    from models import ReviewExcuse
    assert db.session.scalar(select(ReviewExcuse)).reason == "Ill"
    login(world["student"])
    assert client.post("/c/rev-web/reviews/excuse", data={
        "student_id": world["student"].id, "session_id": world["session"].id,
        "reason": "x"}).status_code == 403


def test_cli_export_writes_both_sheets(app, runner, world, tmp_path) -> None:
    out = tmp_path / "reviews.xlsx"
    result = runner.invoke(args=["reviews", "export", "rev-web", "--out", str(out)])
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Matrix", "Reviews"]
    assert book["Matrix"].max_row == 3  # header + two students
    bad = runner.invoke(args=["reviews", "export", "no-such", "--out", str(out)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_matrix_pages_the_students_and_counts_them_all(client, login, world, monkeypatch) -> None:
    monkeypatch.setattr("review.reviews.exports.MATRIX_PAGE_SIZE", 4)
    _populate(world, 5)  # 7 students in all: pages of 4 and 3
    login(world["ta"])
    first = client.get("/c/rev-web/reviews/matrix?sort=name").get_data(as_text=True)
    second = client.get("/c/rev-web/reviews/matrix?sort=name&page=2").get_data(as_text=True)

    def rows(html: str) -> list[str]:
        body = html.split('id="matrix"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
        return re.findall(r'<th scope="row">([^<]+)', body)

    assert len(rows(first)) == 4 and len(rows(second)) == 3
    assert not set(rows(first)) & set(rows(second))
    assert "7 student(s)" in first and "Page 1 of 2" in first
    assert "page=2" in first and "sort=name" in first
    on_time = re.search(r"<th>On time</th>((?:<td>\d+</td>)+)", first) or re.search(
        r"<th>on time</th>((?:<td>\d+</td>)+)", first)
    assert on_time and "<td>5</td>" in on_time.group(1)  # all five, not the page's share
    assert _queries(client, "/c/rev-web/reviews/matrix?page=2") == _queries(
        client, "/c/rev-web/reviews/matrix")


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_a_review_post_without_the_pages_csrf_token_is_refused_and_saves_nothing(
        client, login, world, monkeypatch) -> None:
    # The review form carries no token field of its own: CSRFProtect checks every POST, and the
    # page writes csrf_token() itself.
    _at(monkeypatch, world["session"].review_deadline - timedelta(days=1))
    login(world["student"])
    page = client.get(_url(world, "write")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    for data in ({**FORM, "submit": "Submit review"}, {**FORM, "save": "Save draft"},
                 {**FORM, "submit": "Submit review", "csrf_token": "forged"}):
        response = client.post(_url(world, "write"), data=data)
        assert response.status_code == 400 and b"The form expired" in response.data
    assert db.session.scalar(select(Review).where(Review.user_id == world["student"].id)) is None
    accepted = client.post(_url(world, "write"),
                           data={**FORM, "submit": "Submit review", "csrf_token": token})
    assert accepted.status_code == 302
    assert db.session.scalar(select(Review.status).where(
        Review.user_id == world["student"].id)).value == "submitted"
