"""What needs the viewer now: the course home's list and "Your courses" at "/".

A second course in America/Chicago whose week-3 review window spans the end of daylight-saving
time (Sun 1 Nov 2026), walked with a controlled clock: before the window opens, while it is open
(with and without a draft), after submission, in the late window and after it closed. Staff
items follow grading and release, and respect what a TA may do.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from models import (
    Course,
    CourseRole,
    Enrollment,
    PaperSession,
    RegradeRequest,
    ReviewStatus,
    SlideDeck,
    Week,
    db,
)
from review.courses.due import DueKind, due_items
from review.courses.services import enroll
from review.grading.services import release_session, request_regrade, resolve_regrade
from review.reviews.services import excuse_student
from tests.factories import (
    grant_ta,
    hold_slot,
    make_course,
    make_group,
    make_member,
    make_review,
    make_staff_score,
)
from tests.querycount import count_queries

UTC = timezone.utc
ROOM = "Hall B 101"


def _at(monkeypatch: Any, moment: datetime) -> None:
    monkeypatch.setattr("review.courses.views.utcnow", lambda: moment)


def chicago_course(code: str = "chi-course", students: int = 4) -> dict[str, Any]:
    """Sessions in weeks 1 and 3 (Mon 19 Oct and Mon 2 Nov 2026, 08:30 local); reviews due the
    evening before at 23:59, late reviews 25% a day for at most 2 days."""
    course = make_course(
        code, timezone="America/Chicago", first_monday=date(2026, 10, 19), weeks=4,
        session_weeks=(1, 3),
        paper_sessions=[{"week": week, "title": f"Paper {week}", "room": ROOM}
                        for week in (1, 3)],
        reviews={"late_policy": {"mode": "penalty", "penalty_per_day_pct": 25,
                                 "max_days_late": 2}})
    people: dict[str, Any] = {
        "course": course,
        "instructor": make_member(course, CourseRole.instructor),
        "ta": make_member(course, CourseRole.ta),
        "students": [make_member(course, last_name=f"Student{n}") for n in range(students)],
    }
    people["group"] = make_group(course, people["students"][:2], name="Team Red")
    people["other_group"] = make_group(course, people["students"][2:4], name="Team Blue")
    db.session.flush()
    return people


def week_session(course: Any, week: int) -> PaperSession:
    return db.session.scalar(select(PaperSession).join(Week).where(
        PaperSession.course_id == course.id, Week.number == week))


@pytest.fixture
def chi(app) -> dict[str, Any]:
    people = chicago_course()
    db.session.commit()
    return people


def _due_section(html: str) -> str:
    match = re.search(r'<section[^>]*id="due".*?</section>', html, re.S)
    assert match, "the course home has no 'What needs you now' section"
    return match.group(0)


def _home(client: Any, code: str) -> str:
    response = client.get(f"/c/{code}/")
    assert response.status_code == 200
    return _due_section(response.get_data(as_text=True))


# ============================================================================ the course's facts


def test_the_test_course_spans_the_end_of_daylight_saving_time(chi) -> None:
    week3 = week_session(chi["course"], 3)
    # 23:59 CST (UTC-6) on Sun 1 Nov; the window opened at 08:30 CDT (UTC-5) on Mon 26 Oct.
    assert week3.review_deadline == datetime(2026, 11, 2, 5, 59, tzinfo=UTC)
    assert week3.review_opens_at == datetime(2026, 10, 26, 13, 30, tzinfo=UTC)
    assert week3.room == ROOM


# ============================================================================ student reviews


def test_no_review_item_before_the_window_opens(client, login, chi, monkeypatch) -> None:
    _at(monkeypatch, datetime(2026, 10, 26, 13, 0, tzinfo=UTC))
    login(chi["students"][0])
    section = _home(client, "chi-course")
    assert "Week 3 review" not in section
    assert "Nothing needs you right now" in section


def test_an_open_review_shows_its_local_deadline_with_the_weekday(client, login, chi,
                                                                  monkeypatch) -> None:
    _at(monkeypatch, datetime(2026, 10, 28, 15, 0, tzinfo=UTC))
    login(chi["students"][0])
    section = _home(client, "chi-course")
    # Shown in standard time although "now" is still daylight time.
    assert "Week 3 review due Sun 01 Nov 2026, 23:59 CST" in section
    assert "continue draft" not in section
    week3 = week_session(chi["course"], 3)
    assert f'href="/c/chi-course/reviews/{week3.id}/write"' in section
    assert "write review" in section


def test_continue_draft_shows_only_with_a_draft(client, login, chi, monkeypatch) -> None:
    week3 = week_session(chi["course"], 3)
    make_review(week3, chi["students"][0], submitted=False, released=False)
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 28, 15, 0, tzinfo=UTC))
    login(chi["students"][0])
    assert "continue draft" in _home(client, "chi-course")
    login(chi["students"][1])
    section = _home(client, "chi-course")
    assert "Week 3 review due" in section and "continue draft" not in section


def test_a_submitted_review_is_gone(client, login, chi, monkeypatch) -> None:
    make_review(week_session(chi["course"], 3), chi["students"][0], released=False)
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 28, 15, 0, tzinfo=UTC))
    login(chi["students"][0])
    assert "Week 3 review" not in _home(client, "chi-course")


def test_the_late_window_shows_the_penalty_and_the_limit_then_closes(client, login, chi,
                                                                    monkeypatch) -> None:
    login(chi["students"][0])
    _at(monkeypatch, datetime(2026, 11, 2, 12, 0, tzinfo=UTC))   # 6 hours late
    section = _home(client, "chi-course")
    assert "Week 3 review is overdue" in section
    assert "25% penalty" in section
    # At most 2 days late: until Tue 3 Nov 23:59 local.
    assert "accepted until Tue 03 Nov 2026, 23:59 CST" in section
    _at(monkeypatch, datetime(2026, 11, 4, 6, 30, tzinfo=UTC))   # 2 days and 31 minutes late
    assert "Week 3 review" not in _home(client, "chi-course")


def test_an_excused_student_is_not_asked(client, login, chi, monkeypatch) -> None:
    from review.reviews.services import excuse_student

    excuse_student(week_session(chi["course"], 3), chi["students"][0], "ill",
                   chi["instructor"])
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 28, 15, 0, tzinfo=UTC))
    login(chi["students"][0])
    assert "Week 3 review" not in _home(client, "chi-course")


# ============================================================================ presenting and rating


def test_the_groups_next_presentation_asks_for_slides_until_uploaded(client, login, chi,
                                                                    monkeypatch) -> None:
    slot = hold_slot(chi["course"], chi["group"], 3, "strengths")
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 28, 15, 0, tzinfo=UTC))
    login(chi["students"][0])
    section = _home(client, "chi-course")
    assert "Your group presents week 3 (Strengths) Mon 02 Nov 2026, 08:30 CST" in section
    assert f"room {ROOM}" in section
    assert 'href="/c/chi-course/sessions/3"' in section and "upload slides" in section
    login(chi["students"][2])      # the other group holds nothing
    assert "presents" not in _home(client, "chi-course")

    db.session.add(SlideDeck(slot_id=slot.id, version=1, url="https://example.org/s"))
    db.session.commit()
    login(chi["students"][0])
    section = _home(client, "chi-course")
    assert "Your group presents week 3" in section and "upload slides" not in section


def test_rating_shows_while_the_window_is_open_and_the_talks_are_not_rated(
        client, login, chi, monkeypatch) -> None:
    from models import PeerRating
    from tests.factories import make_rubric_row

    slot = hold_slot(chi["course"], chi["other_group"], 3, "overview")
    db.session.commit()
    week3 = week_session(chi["course"], 3)
    login(chi["students"][0])
    _at(monkeypatch, week3.starts_at + timedelta(minutes=30))
    section = _home(client, "chi-course")
    # The window is 120 minutes: it closes at 10:30 local.
    assert "Rate 1 talk of week 3 (rating closes Mon 02 Nov 2026, 10:30 CST)" in section
    assert 'href="/c/chi-course/peer"' in section
    login(chi["students"][2])      # a presenter does not rate their own talk
    assert "Rate" not in _home(client, "chi-course")

    row = make_rubric_row("peer")
    db.session.add(PeerRating(slot_id=slot.id, rater_id=chi["students"][0].id,
                              rubric_id=row.id, values={}, total=1, max_total=row.max_score))
    db.session.commit()
    login(chi["students"][0])
    assert "Rate" not in _home(client, "chi-course")
    db.session.delete(db.session.scalar(select(PeerRating)))
    db.session.commit()
    _at(monkeypatch, week3.starts_at + timedelta(minutes=121))
    assert "Rate" not in _home(client, "chi-course")


# ============================================================================ staff


def test_staff_items_follow_grading_and_release(client, login, chi, monkeypatch) -> None:
    course, instructor = chi["course"], chi["instructor"]
    week3 = week_session(course, 3)
    slot = hold_slot(course, chi["group"], 3, "overview")
    reviews = [make_review(week3, student, released=False) for student in chi["students"][:3]]
    db.session.commit()
    login(instructor)

    _at(monkeypatch, datetime(2026, 11, 1, 12, 0, tzinfo=UTC))   # before the deadline
    section = _home(client, "chi-course")
    assert "ungraded" not in section and "Week 3 feedback not released" not in section

    _at(monkeypatch, datetime(2026, 11, 2, 18, 0, tzinfo=UTC))   # session held
    section = _home(client, "chi-course")
    assert "3 reviews of week 3 ungraded" in section
    assert "1 presentation of week 3 ungraded" in section
    assert "Week 3 feedback not released" in section
    assert 'href="/c/chi-course/grading/reviews"' in section

    for review in reviews[:2]:
        make_staff_score(course, instructor, 80, rubric_key="review", review_id=review.id)
    db.session.commit()
    assert "1 review of week 3 ungraded" in _home(client, "chi-course")
    make_staff_score(course, instructor, 80, rubric_key="review", review_id=reviews[2].id)
    make_staff_score(course, instructor, 80, rubric_key="presentation-overview",
                     slot_id=slot.id)
    db.session.commit()
    section = _home(client, "chi-course")
    assert "ungraded" not in section and "Week 3 feedback not released" in section

    week3.feedback_released_at = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)
    db.session.commit()
    section = _home(client, "chi-course")
    assert "Week 3 feedback not released" not in section
    # Week 1 was held too, with nothing to grade, and is not released yet.
    assert "Week 1 feedback not released" in section


def test_open_regrade_requests_show_to_staff_who_may_answer_them(client, login, chi,
                                                                monkeypatch) -> None:
    course = chi["course"]
    slot = hold_slot(course, chi["group"], 1, "overview")
    db.session.add(RegradeRequest(course_id=course.id, user_id=chi["students"][0].id,
                                  slot_id=slot.id, reason="Look again"))
    week_session(course, 1).feedback_released_at = datetime(2026, 10, 20, tzinfo=UTC)
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 21, 12, 0, tzinfo=UTC))
    login(chi["instructor"])
    section = _home(client, "chi-course")
    assert "1 regrade request open" in section
    assert 'href="/c/chi-course/grading/regrades"' in section

    login(chi["ta"])               # a TA who may not answer regrades or release
    section = _home(client, "chi-course")
    assert "regrade" not in section
    grant_ta(course, "resolve_regrades")
    db.session.commit()
    assert "1 regrade request open" in _home(client, "chi-course")

    db.session.scalar(select(RegradeRequest)).status = "kept"
    db.session.commit()
    assert "regrade" not in _home(client, "chi-course")


def test_a_ta_who_cannot_release_is_not_told_to_release(client, login, chi,
                                                       monkeypatch) -> None:
    _at(monkeypatch, datetime(2026, 10, 21, 12, 0, tzinfo=UTC))   # week 1 held, not released
    login(chi["instructor"])
    assert "Week 1 feedback not released" in _home(client, "chi-course")
    login(chi["ta"])
    assert "not released" not in _home(client, "chi-course")
    grant_ta(chi["course"], "release")
    db.session.commit()
    assert "Week 1 feedback not released" in _home(client, "chi-course")


def test_items_are_ordered_by_urgency_then_time(chi) -> None:
    course = chi["course"]
    student = chi["students"][0]
    hold_slot(course, chi["group"], 3, "strengths")
    db.session.commit()
    enrollment_row = db.session.scalar(select(Enrollment).where(
        Enrollment.user_id == student.id))
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # review due in 18 h, talk in 26 h
    items = due_items(student, [(course, enrollment_row)], now)
    assert [item.kind for item in items] == [DueKind.review, DueKind.present]
    assert items[0].when == week_session(course, 3).review_deadline
    assert items[0].urgency <= items[1].urgency


# ============================================================================ "Your courses"


def _card(html: str, code: str) -> str:
    """The part of "/" about one course: from its card to the next card (or the end)."""
    start = html.index(f'id="course-{code}"')
    following = html.find('id="course-', start + 1)
    return html[start:following if following != -1 else len(html)]


def test_your_courses_lists_each_course_with_its_role_and_items(client, login, chi,
                                                               monkeypatch) -> None:
    """A TA in one course and a student in another sees both, each with its own items."""
    sydney = make_course("syd-course", timezone="Australia/Sydney",
                         first_monday=date(2026, 9, 28), weeks=6, session_weeks=(2, 4))
    ta = chi["ta"]
    enroll(sydney, ta, CourseRole.student, student_number="S-777")
    grant_ta(chi["course"], "release")
    db.session.commit()
    _at(monkeypatch, datetime(2026, 10, 21, 12, 0, tzinfo=UTC))
    login(ta)
    html = client.get("/").get_data(as_text=True)
    chi_part, syd_part = _card(html, "chi-course"), _card(html, "syd-course")
    assert ">ta<" in chi_part and "Week 1 feedback not released" in chi_part
    assert ">student<" in syd_part
    # Sydney week 4 (Mon 19 Oct): its review window opened on Mon 12 Oct and closed Sun 18 Oct;
    # the default reject policy has no late window. Week 2 long gone. Week 4's talk passed.
    assert "Nothing needs you right now" in syd_part
    _at(monkeypatch, datetime(2026, 10, 14, 0, 0, tzinfo=UTC))
    syd_part = _card(client.get("/").get_data(as_text=True), "syd-course")
    # 23:59 AEDT (UTC+11) on Sun 18 Oct.
    assert "Week 4 review due Sun 18 Oct 2026, 23:59 AEDT" in syd_part
    assert 'href="/c/syd-course/reviews/' in syd_part


# ============================================================================ query counts


def _home_queries(client, login, monkeypatch, students: int, *, staff: bool) -> int:
    people = chicago_course(f"size-{students}-{int(staff)}", students=students)
    course = people["course"]
    hold_slot(course, people["group"], 3, "strengths")
    hold_slot(course, people["other_group"], 3, "overview")
    week3 = week_session(course, 3)
    for student in people["students"]:
        make_review(week3, student, released=False)
    db.session.commit()
    _at(monkeypatch, week3.starts_at + timedelta(minutes=30))
    login(people["instructor"] if staff else people["students"][4])
    with count_queries() as counter:
        assert client.get(f"/c/{course.code}/").status_code == 200
    return counter.count


@pytest.mark.parametrize("staff", [False, True], ids=["student", "staff"])
def test_course_home_queries_do_not_grow_with_the_class(app, client, login, monkeypatch,
                                                        staff: bool) -> None:
    assert _home_queries(client, login, monkeypatch, 10, staff=staff) == \
        _home_queries(client, login, monkeypatch, 40, staff=staff)


def _index_queries(client, login, monkeypatch, courses: int) -> int:
    person = None
    for number in range(courses):
        people = chicago_course(f"many-{courses}-{number}", students=5 + 10 * number)
        hold_slot(people["course"], people["group"], 3, "strengths")
        if person is None:
            person = people["students"][4]    # in no group: rates the talks of week 3
        elif number % 2:
            enroll(people["course"], person, CourseRole.ta)
        else:
            enroll(people["course"], person, CourseRole.student, student_number=f"X{number}")
    db.session.commit()
    _at(monkeypatch, datetime(2026, 11, 2, 15, 0, tzinfo=UTC))
    login(person)
    with count_queries() as counter:
        html = client.get("/").get_data(as_text=True)
    assert html.count('class="course card"') == courses
    assert html.count("Rate 1 talk of week 3") == (courses + 1) // 2
    return counter.count


def test_your_courses_queries_do_not_grow_with_the_number_of_courses(app, client, login,
                                                                     monkeypatch) -> None:
    """Student in the first course, then TA and student by turns (staff items cost their own
    few queries, so both counts include a staff course)."""
    assert _index_queries(client, login, monkeypatch, 2) == \
        _index_queries(client, login, monkeypatch, 5)


def _many_sessions(code: str, students: int, sessions: int) -> dict[str, Any]:
    """``sessions`` held sessions (one a week), every student reviewed every one, two groups
    present in each; the clock is set within the last one's rating window."""
    course = make_course(code, timezone="America/Chicago", first_monday=date(2026, 9, 7),
                         weeks=sessions, session_weeks=tuple(range(1, sessions + 1)))
    people = {"course": course, "instructor": make_member(course, CourseRole.instructor),
              "students": [make_member(course) for _ in range(students)]}
    red = make_group(course, people["students"][:2])
    blue = make_group(course, people["students"][2:4])
    for week in range(1, sessions + 1):
        hold_slot(course, red, week, "overview")
        hold_slot(course, blue, week, "strengths")
        for student in people["students"]:
            make_review(week_session(course, week), student, released=False)
    db.session.commit()
    return people


@pytest.mark.parametrize("page", ["home", "index"])
@pytest.mark.parametrize("staff", [False, True], ids=["student", "staff"])
def test_statements_flat_in_class_size_and_sessions(app, client, login, monkeypatch,
                                                     page: str, staff: bool) -> None:
    """Pinned. The course home: the user with the course, the schedule (weeks, sessions, papers,
    slots, holders), the roles, then for a student their group and their own rows (one
    statement: reviews, excuses, talks, late days, groups, slides, ratings), for staff the open
    regrade requests (the ungraded counts are kept per grades revision). "Your courses": the
    user, their courses, the sessions with slots, then the student's rows or the regrades."""
    counts = []
    for students, sessions in ((6, 2), (30, 7)):
        people = _many_sessions(f"flat-{page}-{int(staff)}-{students}", students, sessions)
        course = people["course"]
        _at(monkeypatch, week_session(course, sessions).starts_at + timedelta(minutes=20))
        login(people["instructor"] if staff else people["students"][5])
        path = f"/c/{course.code}/" if page == "home" else "/"
        # As in a request of its own: nothing loaded by the test or the last request.
        db.session.expunge_all()
        with count_queries() as first:     # the staff's counts are kept from here on
            client.get(path)
        db.session.expunge_all()
        with count_queries() as counter:
            html = client.get(path).get_data(as_text=True)
        assert first.count == counter.count + staff
        if staff:
            assert f"{students} reviews of week {sessions} ungraded" in html
        else:
            assert f"Rate 2 talks of week {sessions}" in html
        counts.append(counter.count)
    assert counts[0] == counts[1] == {"home": 5 - staff, "index": 4}[page]


# ============================================================================ kept staff counts


def _fresh(app: Any, client: Any, code: str) -> str:
    """The list computed without what the process kept."""
    app.extensions.pop("grades_revision_cache", None)
    return _home(client, code)


def test_kept_staff_counts_follow_every_change_at_once(app, client, login, chi,
                                                       monkeypatch) -> None:
    """A grade, a submitted review, an excuse, a release, a regrade request and its answer:
    the next visit shows each, and equals a list computed from scratch."""
    course, instructor, students = chi["course"], chi["instructor"], chi["students"]
    week3 = week_session(course, 3)
    slot = hold_slot(course, chi["group"], 3, "overview")
    reviews = [make_review(week3, student, released=False) for student in students[:2]]
    draft = make_review(week3, students[2], submitted=False)
    db.session.commit()
    now = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)   # week 3 held
    _at(monkeypatch, now)
    login(instructor)

    def shows(*expected: str, absent: tuple[str, ...] = ()) -> None:
        section = _home(client, "chi-course")
        for text in expected:
            assert text in section
        for text in absent:
            assert text not in section
        assert section == _fresh(app, client, "chi-course")
        _home(client, "chi-course")   # kept again for the next step

    shows("2 reviews of week 3 ungraded", "1 presentation of week 3 ungraded")
    make_staff_score(course, instructor, 80, rubric_key="review", review_id=reviews[0].id)
    db.session.commit()
    shows("1 review of week 3 ungraded")
    draft.status = ReviewStatus.submitted                   # a late submission
    draft.submitted_at = now
    db.session.commit()
    shows("2 reviews of week 3 ungraded")
    revision = course.grades_revision
    excuse_student(week3, students[3], "Ill, with a note", instructor)
    db.session.commit()
    assert course.grades_revision > revision
    shows("2 reviews of week 3 ungraded")
    make_staff_score(course, instructor, 75, rubric_key="presentation-overview", slot_id=slot.id)
    db.session.commit()
    shows("2 reviews of week 3 ungraded", absent=("presentation",))
    release_session(course, instructor, week3, now, confirmed=True)
    db.session.commit()
    shows(absent=("Week 3 feedback not released",))
    request = request_regrade(course, students[0], reason="Please look at slide 4 again",
                              slot=slot, now=now)
    db.session.commit()
    shows("1 regrade request open")
    resolve_regrade(course, instructor, request, outcome="kept", reply="The grade stands.",
                    now=now)
    db.session.commit()
    shows(absent=("regrade",))


def test_kept_staff_counts_are_per_course(app, client, login, chi, monkeypatch) -> None:
    """Two courses of one instructor, kept side by side: each page and card shows its own."""
    other = chicago_course("chi-other")
    enroll(other["course"], chi["instructor"], CourseRole.instructor)
    for student in chi["students"][:1]:
        make_review(week_session(chi["course"], 3), student, released=False)
    reviews = [make_review(week_session(other["course"], 3), student, released=False)
               for student in other["students"][:3]]
    db.session.commit()
    _at(monkeypatch, datetime(2026, 11, 2, 18, 0, tzinfo=UTC))
    login(chi["instructor"])

    def check(mine: str, theirs: str) -> None:
        html = client.get("/").get_data(as_text=True)
        assert mine in _card(html, "chi-course") and theirs not in _card(html, "chi-course")
        assert theirs in _card(html, "chi-other") and mine not in _card(html, "chi-other")
        assert mine in _home(client, "chi-course") and theirs not in _home(client, "chi-course")
        assert theirs in _home(client, "chi-other") and mine not in _home(client, "chi-other")

    check("1 review of week 3 ungraded", "3 reviews of week 3 ungraded")   # "/" counted both
    app.extensions.pop("grades_revision_cache", None)
    assert "3 reviews of week 3 ungraded" in _home(client, "chi-other")   # one kept first
    check("1 review of week 3 ungraded", "3 reviews of week 3 ungraded")
    make_staff_score(other["course"], chi["instructor"], 80, rubric_key="review",
                     review_id=reviews[0].id)
    db.session.commit()
    check("1 review of week 3 ungraded", "2 reviews of week 3 ungraded")
