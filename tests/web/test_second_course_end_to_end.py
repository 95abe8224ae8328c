"""A second course, written here from scratch, goes from `course import` to a TA grading its fourth
role on the web: four roles with their own minutes, its own rubric directory, staff in the file,
a 20:00 deadline with a capped late penalty, Chicago time across the end of daylight saving,
and a roster from a Turkish Excel (semicolons, Windows-1254) with sections and LMS usernames.
Nothing here is the demo course, and no deployment rubric is edited."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from models import (Course, CourseRole, Enrollment, PaperSession, Rubric, Score, Slot, User, Week,
                    db)
from review.core.errors import DomainError
from review.reviews import services as reviews
from review.reviews.services import ReviewContent
from tests.factories import make_group

CODE = "ling-seminar-f26"
ROLES = [{"key": "context", "name": "Context", "minutes": 15},
         {"key": "claims", "name": "Claims", "minutes": 7},
         {"key": "critique", "name": "Critique", "minutes": 7},
         {"key": "rebuttal", "name": "Rebuttal", "minutes": 6}]


def _rubric(rubric_id: str, role: str) -> dict:
    return {
        "id": rubric_id, "version": 1, "title": f"{role.title()} talk", "applies_to": "presentation",
        "role": role, "description": "A {minutes}-minute talk of the seminar.",
        "criteria": [
            {"id": "argument", "title": "Argument", "description": "Is the case made?",
             "points": 6, "levels": [
                 {"score": 6, "label": "Convincing", "descriptor": "Every step is supported."},
                 {"score": 3, "label": "Partly", "descriptor": "Some steps are asserted."},
                 {"score": 0, "label": "Absent", "descriptor": "No argument."}]},
            {"id": "time", "title": "Time box", "description": "Stays within {minutes} minutes.",
             "points": 2, "levels": [
                 {"score": 2, "label": "On time", "descriptor": "Within {minutes} minutes."},
                 {"score": 0, "label": "Over", "descriptor": "Runs past {minutes} minutes."}]}]}


def _course_file(tmp_path: Path) -> Path:
    rubric_dir = tmp_path / "rubrics"
    rubric_dir.mkdir()
    for role in ROLES:
        rubric_id = f"seminar-{role['key']}"
        (rubric_dir / f"{rubric_id}.yaml").write_text(
            yaml.safe_dump(_rubric(rubric_id, role["key"]), sort_keys=False), encoding="utf-8")
    mondays = [datetime(2026, 10, 5) + timedelta(weeks=n) for n in range(6)]
    data = {
        "code": CODE, "title": "Seminar in Computational Linguistics", "term": "Fall 2026",
        "timezone": "America/Chicago", "session_time": "16:00", "discussion_minutes": 5,
        "weeks": [{"number": n + 1, "date": day.date().isoformat(), "topic": f"Topic {n + 1}"}
                  for n, day in enumerate(mondays)],
        # Week 3 before the end of daylight saving (1 November 2026), week 5 after it; both on a
        # Thursday evening that the file names itself, in a room of their own.
        "paper_sessions": [
            {"week": 3, "date": "2026-10-22", "time": "18:30", "room": "Hall 2",
             "title": "Parsing as search", "url": "https://example.org/parsing"},
            {"week": 5, "date": "2026-11-05", "time": "18:30", "room": "Hall 3",
             "title": "Grammar induction", "url": "https://example.org/induction"}],
        "roles": ROLES,
        "rubrics_dir": "rubrics",
        "rubrics": {"presentations": {r["key"]: f"seminar-{r['key']}" for r in ROLES}},
        "grading": {"components": [
            {"key": "talks", "label": "Talks", "weight": 40, "kind": "presentations"},
            {"key": "reviews", "label": "Reviews", "weight": 40, "kind": "reviews"},
            {"key": "participation", "label": "Participation", "weight": 20,
             "kind": "participation"}],
            "letters": [{"letter": "P", "min": 50}, {"letter": "F", "min": 0}]},
        "reviews": {"deadline_days_before": 1, "deadline_time": "20:00",
                    "late_policy": {"mode": "penalty", "penalty_per_day_pct": 10,
                                    "max_days_late": 3}},
        "groups": {"min_size": 3, "max_size": 4, "lock": "manual"},
        "staff": [
            {"email": "lead@uni.example", "first_name": "Lena", "last_name": "Lead",
             "role": "instructor"},
            {"email": "helper@uni.example", "first_name": "Hugo", "last_name": "Helper",
             "role": "ta"}],
    }
    path = tmp_path / f"{CODE}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _turkish_excel_roster(tmp_path: Path) -> Path:
    """What Excel in a Turkish locale saves as 'CSV': semicolons, Windows-1254."""
    rows = [["student_id", "first_name", "last_name", "email", "section", "username"]]
    names = [("Çağrı", "Işık"), ("Şule", "Öztürk"), ("Gökhan", "Ağaoğlu"), ("İpek", "Doğan"),
             ("Ümit", "Kılıç"), ("Ayşe", "Yılmaz")]
    for n, (first, last) in enumerate(names, start=1):
        rows.append([f"2026{n:03d}", first, last, f"s{n}@uni.example", f"S{1 + n % 2}",
                     f"lms{n:03d}"])
    text = io.StringIO()
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows(rows)
    path = tmp_path / "roster.csv"
    path.write_bytes(text.getvalue().encode("cp1254"))
    return path


@pytest.fixture
def imported(runner, tmp_path: Path) -> Course:
    result = runner.invoke(args=["course", "import", str(_course_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "lead@uni.example" in result.output and "helper@uni.example" in result.output
    roster = runner.invoke(args=["roster", "import", CODE, str(_turkish_excel_roster(tmp_path)),
                                 "--links-out", str(tmp_path / "links.csv"),
                                 "--base-url", "https://seminar.uni.example"])
    assert roster.exit_code == 0, roster.output
    return db.session.scalar(select(Course).where(Course.code == CODE))


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _slot(course: Course, week: int, role_key: str) -> Slot:
    return next(slot for slot in db.session.scalars(
        select(Slot).join(PaperSession).join(Week).where(
            PaperSession.course_id == course.id, Week.number == week))
        if slot.role.key == role_key)


def test_the_course_file_sets_sessions_in_local_time_across_the_clock_change(imported) -> None:
    starts = {session.week.number: session.starts_at for session in imported.sessions}
    # 18:30 in Chicago is 23:30 UTC in October (CDT) and 00:30 UTC the next day in November (CST).
    assert starts[3] == datetime(2026, 10, 22, 23, 30, tzinfo=timezone.utc)
    assert starts[5] == datetime(2026, 11, 6, 0, 30, tzinfo=timezone.utc)
    deadlines = {session.week.number: session.review_deadline for session in imported.sessions}
    assert deadlines[3] == datetime(2026, 10, 22, 1, 0, tzinfo=timezone.utc)   # 21 Oct 20:00 CDT
    assert deadlines[5] == datetime(2026, 11, 5, 2, 0, tzinfo=timezone.utc)    # 4 Nov 20:00 CST
    assert sorted(session.room for session in imported.sessions) == ["Hall 2", "Hall 3"]


def test_staff_come_from_the_file_and_the_roster_keeps_sections_and_usernames(imported) -> None:
    roles = dict(db.session.execute(
        select(User.email, Enrollment.role).join(Enrollment)
        .where(Enrollment.course_id == imported.id)).tuples().all())
    assert roles["lead@uni.example"] == CourseRole.instructor
    assert roles["helper@uni.example"] == CourseRole.ta
    students = db.session.scalars(select(Enrollment).where(
        Enrollment.course_id == imported.id, Enrollment.role == CourseRole.student)).all()
    assert len(students) == 6
    names = {e.user.first_name + " " + e.user.last_name for e in students}
    assert "Çağrı Işık" in names and "İpek Doğan" in names
    assert {e.section for e in students} == {"S1", "S2"}
    assert {e.username for e in students} == {f"lms{n:03d}" for n in range(1, 7)}


def test_a_ta_grades_the_fourth_role_with_the_courses_own_rubric(imported, client, login) -> None:
    course = imported
    students = [_user(f"s{n}@uni.example") for n in range(1, 7)]
    group = make_group(course, students[:3], name="Syntax")
    slot = _slot(course, 3, "rebuttal")
    slot.group_id = group.id
    db.session.commit()

    login(_user("helper@uni.example"))
    url = f"/c/{CODE}/grading/presentations/{slot.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Stays within 6 minutes." in page and "Within 6 minutes." in page
    assert "14 minutes" not in page and "{minutes}" not in page

    response = client.post(url, data={"score-argument": "3", "score-time": "2", "version": "0"})
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    score = db.session.scalar(select(Score).where(Score.slot_id == slot.id))
    assert score is not None and score.total == 5 and score.max_total == 8
    rubric = db.session.get(Rubric, score.rubric_id)
    assert (rubric.key, rubric.scope) == ("seminar-rebuttal", CODE)
    # The grade belongs to the three presenters.
    assert {p.user_id for p in db.session.get(Slot, slot.id).presenters} == {
        s.id for s in students[:3]}

    # What TAs may do beyond grading is the course's choice: this file grants nothing.
    release = client.post(f"{url}/release", data={"action": "release"})
    assert release.status_code == 403

    export = client.get(f"/c/{CODE}/gradebook/export/canvas")
    assert export.status_code == 200
    text = export.get_data(as_text=True)
    assert "lms001" in text and "S2" in text


def test_a_review_past_the_courses_late_limit_is_refused_naming_it(imported) -> None:
    session = next(s for s in imported.sessions if s.week.number == 5)
    student = _user("s4@uni.example")
    content = ReviewContent.build(summary="It induces grammars. From raw text.",
                                  strengths="Clear.", weaknesses="Small data.",
                                  remedies="More data.", questions=["Why this prior?"])
    four_days_late = session.review_deadline + timedelta(days=3, hours=1)
    with pytest.raises(DomainError, match="at most 3 days late"):
        reviews.submit_review(session, student, content, four_days_late, confirm_late=True)
    three_days_late = session.review_deadline + timedelta(days=2, hours=23)
    result = reviews.submit_review(session, student, content, three_days_late, confirm_late=True)
    db.session.commit()
    assert result.review.days_late == 3 and result.review.late_penalty_pct == 30
