"""The review matrix and the reading view at scale: their SQL statements do not grow with the
number of students, sessions or reviews (issue 14), and what they show stays the same while
they read less (the page's statuses only, the columns shown only)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from models import CourseRole, PaperSession, db
from review.reviews import services
from review.reviews.services import ReviewContent
from tests.factories import hold_slot, make_course, make_group, make_member
from tests.querycount import count_queries


def _content(n: int) -> ReviewContent:
    return ReviewContent.build(summary=f"Summary **{n}**", strengths="s", weaknesses="w",
                               remedies="r", questions=[f"Question {n}?"])


def _term(code: str, *, sessions: int, students: int) -> dict[str, Any]:
    """A course in its own timezone across the autumn DST change, with every kind of cell:
    on-time and late reviews, a draft, a missing one, an excuse, an exempt presenter, and a
    student who read the class's reviews before submitting their own (late)."""
    course = make_course(code, timezone="America/New_York", first_monday=date(2026, 10, 5),
                         weeks=sessions + 2, session_weeks=tuple(range(1, sessions + 1)),
                         reviews={"presenters_exempt": True,
                                  "late_policy": {"mode": "penalty", "penalty_per_day_pct": 10}})
    staff = make_member(course, CourseRole.ta)
    people = [make_member(course) for _ in range(students)]
    reader, drafter, idle, excused = people[:4]
    presenter = make_member(course)  # holds a slot of every session: exempt there
    group = make_group(course, [presenter])
    for session in course.sessions:
        hold_slot(course, group, session.week.number)
        before = session.review_deadline - timedelta(hours=3)
        for n, student in enumerate(people[4:]):
            services.submit_review(session, student, _content(n), before)
        services.save_draft(session, drafter, _content(-1), before)
        services.excuse_student(session, excused, "Ill", staff)
        services.release_reviews(session, staff, session.review_deadline + timedelta(minutes=1))
        services.record_class_read(session, reader, session.review_deadline + timedelta(hours=1))
        services.submit_review(session, reader, _content(-2),
                               session.review_deadline + timedelta(days=1), confirm_late=True)
    db.session.commit()
    last = max(s.review_deadline for s in course.sessions)
    return {"course": course, "staff": staff, "people": people, "reader": reader,
            "idle": idle, "session": course.sessions[-1], "after": last + timedelta(days=3)}


def _at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr("review.reviews.views._now", lambda: moment)


def _counts(client, login, term: dict[str, Any]) -> dict[str, int]:
    code, session = term["course"].code, term["session"]
    pages = {"matrix": f"/c/{code}/reviews/matrix",
             "matrix page 2": f"/c/{code}/reviews/matrix?page=2&sort=missing",
             "matrix filtered": f"/c/{code}/reviews/matrix?state=late&session={session.id}&q=a",
             "reading (staff)": f"/c/{code}/reviews/{session.id}/all",
             "reading page 2 (staff)": f"/c/{code}/reviews/{session.id}/all?page=2"}
    counts = {}
    login(term["staff"])
    for name, url in pages.items():
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        counts[name] = counter.count
    login(term["reader"])  # anonymous release, already recorded as read
    for page in (1, 2):
        with count_queries() as counter:
            assert client.get(f"/c/{code}/reviews/{session.id}/all?page={page}").status_code == 200
        counts[f"reading page {page} (student)"] = counter.count
    return counts


def test_query_counts_do_not_grow_with_students_sessions_or_reviews(
        client, login, app, monkeypatch) -> None:
    monkeypatch.setattr("review.reviews.exports.MATRIX_PAGE_SIZE", 8)
    monkeypatch.setattr("review.reviews.views.READING_PAGE_SIZE", 3)
    small = _term("scale-small", sessions=2, students=10)
    large = _term("scale-large", sessions=6, students=40)
    _at(monkeypatch, max(small["after"], large["after"]))
    assert _counts(client, login, small) == _counts(client, login, large)


def _table(html: str) -> str:
    return html.split('id="matrix"', 1)[1].split("</table>", 1)[0]


def _row_states(html: str, last_name: str) -> list[str]:
    row = re.search(rf"<tr><th scope=\"row\">{last_name}, .*?</tr>", html, re.S)
    assert row is not None, f"{last_name} is not in the matrix"
    return re.findall(r'class="state state-(\w+)"', row.group(0))


def test_the_kept_class_states_follow_every_change(client, login, app, monkeypatch) -> None:
    """The matrix keeps every cell's state between visits (per grades revision); each kind of
    change that decides a state shows on the next visit, and so does the clock."""
    course = make_course("scale-kept", timezone="America/New_York", first_monday=date(2026, 10, 5),
                         weeks=6, session_weeks=(4, 5), reviews={"presenters_exempt": True})
    first, second = course.sessions
    staff = make_member(course, CourseRole.instructor)
    writer, presenter, idle = (make_member(course, last_name=name)
                               for name in ("Writer", "Presenter", "Idle"))
    group = make_group(course, [presenter])
    db.session.commit()
    url = "/c/scale-kept/reviews/matrix"
    login(staff)
    _at(monkeypatch, first.review_deadline - timedelta(hours=1))
    page = client.get(url).get_data(as_text=True)
    assert _row_states(page, writer.last_name) == ["not_due", "not_due"]
    with count_queries() as counter:
        again = client.get(url).get_data(as_text=True)
    assert _table(again) == _table(page)  # the same table (the CSRF token may differ)
    kept = counter.count

    # A submitted review (the ORM flush moves the revision on).
    services.submit_review(first, writer, _content(1), first.review_deadline - timedelta(hours=2))
    db.session.commit()
    assert _row_states(client.get(url).get_data(as_text=True), writer.last_name)[0] == "on_time"
    # An excuse, through the page's own form.
    assert client.post("/c/scale-kept/reviews/excuse", data={
        "student_id": idle.id, "session_id": second.id, "reason": "Ill"}).status_code == 302
    assert _row_states(client.get(url).get_data(as_text=True), idle.last_name)[1] == "excused"
    # A slot taken by the presenter's group: exempt in that session.
    hold_slot(course, group, 5)
    db.session.commit()
    assert _row_states(client.get(url).get_data(as_text=True),
                       presenter.last_name) == ["not_due", "exempt"]
    # A renamed student and a new one.
    idle.last_name = "Renamed"
    newcomer = make_member(course, last_name="Newcomer")
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert _row_states(page, "Renamed") == ["not_due", "excused"]
    assert _row_states(page, newcomer.last_name) == ["not_due", "not_due"]
    # The clock alone: the first deadline passes (the two sessions straddle the end of summer
    # time in New York, 1 Nov 2026).
    _at(monkeypatch, first.review_deadline + timedelta(minutes=1))
    page = client.get(url).get_data(as_text=True)
    assert _row_states(page, newcomer.last_name) == ["missing", "not_due"]
    assert _row_states(page, writer.last_name) == ["on_time", "not_due"]
    with count_queries() as counter:
        client.get(url)
    assert counter.count == kept


def _articles(html: str) -> list[tuple[str, str]]:
    """(number, heading) of each review shown, in order."""
    return re.findall(r'<article class="review reading" id="r(\d+)"[^>]*>\s*<h2>([^<\n]+)', html)


@pytest.mark.parametrize("mode", ["anonymous", "named"])
def test_reading_view_pages_keep_one_numbering_and_link_across_pages(
        client, login, app, monkeypatch, mode) -> None:
    monkeypatch.setattr("review.reviews.views.READING_PAGE_SIZE", 2)
    course = make_course(f"scale-read-{mode}", timezone="Asia/Kolkata",
                         reviews={"release_mode": mode})
    session = course.sessions[0]
    staff = make_member(course, CourseRole.instructor)
    writers = [make_member(course) for _ in range(5)]
    for n, writer in enumerate(writers):
        services.submit_review(session, writer, _content(n),
                               session.review_deadline - timedelta(hours=1))
    services.release_reviews(session, staff, session.review_deadline + timedelta(minutes=1))
    db.session.commit()
    _at(monkeypatch, session.review_deadline + timedelta(hours=1))
    url = f"/c/{course.code}/reviews/{session.id}/all"

    for reader in (staff, writers[2]):
        login(reader)
        pages = [client.get(f"{url}?page={p}").get_data(as_text=True) for p in (1, 2, 3)]
        shown = [_articles(html) for html in pages]
        assert [[number for number, _ in page] for page in shown] == [["1", "2"], ["3", "4"], ["5"]]
        # Each review once over the pages, and the same order on a second visit.
        summaries = [re.findall(r"Summary <strong>(\d+)</strong>", html) for html in pages]
        assert sorted(s for page in summaries for s in page) == ["0", "1", "2", "3", "4"]
        assert re.findall(r"Summary <strong>(\d+)</strong>",
                          client.get(f"{url}?page=2").get_data(as_text=True)) == summaries[1]
        if mode == "anonymous" and reader is not staff:
            assert [heading.strip() for _, heading in shown[1]] == ["Review 3", "Review 4"]
            assert writers[0].last_name not in "".join(pages)
        else:
            assert all(writers[int(s)].last_name in pages[p]
                       for p, page in enumerate(summaries) for s in page)
        # The index lists all five, with the page of those not on this one.
        index = pages[1].split('aria-label="Reviews">', 1)[1].split("</nav>", 1)[0]
        assert re.findall(r'href="([^"]*)"', index) == [
            "?page=1#r1", "?page=1#r2", "#r3", "#r4", "?page=3#r5"]
        # Next/previous at the page's ends go on to the neighbouring page (j/k follow them).
        assert 'href="?page=1#r2" rel="prev"' in pages[1]
        assert 'href="#r4" rel="next"' in pages[1] and 'href="?page=3#r5" rel="next"' in pages[1]
        assert 'rel="next"' not in pages[2] and pages[0].count('rel="prev"') == 1  # r2's
        assert "5 submitted review(s), 2 on this page" in pages[0]
    # A page past the end shows the last one.
    assert _articles(client.get(f"{url}?page=99").get_data(as_text=True))[0][0] == "5"


def test_a_repeat_visit_to_the_class_reviews_commits_nothing_and_reloads_nothing(
        client, login, app, monkeypatch) -> None:
    """The first read is recorded once; later visits have nothing to commit, and a commit would
    expire the course, session, paper, week and user the page shows (each reloaded)."""
    term = _term("scale-repeat", sessions=1, students=6)
    _at(monkeypatch, term["after"])
    login(term["reader"])
    url = f"/c/scale-repeat/reviews/{term['session'].id}/all"
    with count_queries() as counter:
        assert client.get(url).status_code == 200
    # Every table a SELECT reads, joined ones included (the route loads the user, the course,
    # the enrollment and the session in one statement).
    selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    tables = [re.search(r'\bFROM "?(\w+)', s).group(1) for s in selects]
    joined = [table for s in selects for table in re.findall(r'\b(?:FROM|JOIN) "?(\w+)', s)]
    assert re.findall(r'\b(?:FROM|JOIN) "?(\w+)', selects[0]) == [
        "user", "course", "enrollment", "paper_session"], selects[0]
    assert joined.count("course") == 1 and tables.count("paper_session") == 0, joined
    assert joined.count("enrollment") == 1, joined  # the route's own lookup serves the rule
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in counter.statements)


def test_the_excuse_form_lists_the_page_and_accepts_anyone_in_the_class(
        client, login, app, monkeypatch) -> None:
    monkeypatch.setattr("review.reviews.exports.MATRIX_PAGE_SIZE", 2)
    course = make_course("scale-excuse", timezone="Pacific/Auckland")
    staff = make_member(course, CourseRole.instructor)
    first, second, third = (make_member(course, last_name=name) for name in ("Ant", "Bee", "Cat"))
    outsider = make_member(make_course("scale-excuse-other"))
    db.session.commit()
    login(staff)
    page = client.get("/c/scale-excuse/reviews/matrix").get_data(as_text=True)
    options = page.split('<select id="student_id"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\d+)"', options) == [str(first.id), str(second.id)]
    session = course.sessions[1]
    for student, expected in ((third, 302), (outsider, 302)):
        assert client.post("/c/scale-excuse/reviews/excuse", data={
            "student_id": student.id, "session_id": session.id,
            "reason": "Ill"}).status_code == expected
    page = client.get("/c/scale-excuse/reviews/matrix?q=Cat").get_data(as_text=True)
    assert _row_states(page, third.last_name)[1] == "excused"
    from models import ReviewExcuse
    assert [e.user_id for e in db.session.scalars(select(ReviewExcuse))] == [third.id]
