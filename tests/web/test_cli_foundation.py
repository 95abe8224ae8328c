"""The foundation's commands: course import, roster import and links, demo seed."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml
from sqlalchemy import func, select

from models import Course, CourseRole, Enrollment, PaperSession, Week, db
from tests.factories import course_definition_data

PROJECT = Path(__file__).resolve().parents[2]


def test_course_import_creates_then_reports_nothing_to_change(runner, tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(course_definition_data("cli-course")))
    first = runner.invoke(args=["course", "import", str(path)])
    second = runner.invoke(args=["course", "import", str(path)])
    assert first.exit_code == 0 and "Created course cli-course." in first.output
    assert second.exit_code == 0 and "already up to date" in second.output


def test_course_import_of_a_bad_file_exits_non_zero_naming_the_field(runner, tmp_path) -> None:
    data = course_definition_data("cli-course")
    data["roles"][0]["minutes"] = -3
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(args=["course", "import", str(path)])
    assert result.exit_code == 1
    assert "roles[0].minutes: Input should be greater than 0 (got -3)" in result.output
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0


def test_roster_import_and_links(runner, tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(course_definition_data("cli-course")))
    runner.invoke(args=["course", "import", str(path)])
    links = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "import", "cli-course", str(PROJECT / "demo" / "roster.csv"),
                                 "--links-out", str(links),
                                 "--base-url", "https://review.example.edu"])
    assert result.exit_code == 0, result.output
    assert "30 new account(s)" in result.output
    rows = list(csv.DictReader(links.open(encoding="utf-8-sig")))
    assert len(rows) == 30
    assert rows[0]["link"].startswith("https://review.example.edu/password/set/")
    again = runner.invoke(args=["roster", "import", "cli-course", str(PROJECT / "demo" / "roster.csv")])
    assert "0 new account(s), 0 existing account(s) enrolled, 0 updated, 30 unchanged." in again.output


def test_roster_import_for_an_unknown_course_fails_clearly(runner) -> None:
    result = runner.invoke(args=["roster", "import", "nope", str(PROJECT / "demo" / "roster.csv")])
    assert result.exit_code == 1 and "No course with the code 'nope'." in result.output


def test_demo_seed_shifts_the_term_so_the_day_falls_in_week_8(runner, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    result = runner.invoke(args=["demo", "seed", "--as-of", "2026-11-26"])
    assert result.exit_code == 0, result.output
    assert "instructor@example.edu" in result.output and "ta@example.edu" in result.output
    week8 = db.session.scalar(select(Week).where(Week.number == 8))
    assert week8.starts_on <= date(2026, 11, 26) < week8.starts_on + timedelta(days=7)
    assert week8.starts_on.weekday() == 0  # still a Monday
    students = db.session.scalar(select(func.count()).select_from(Enrollment)
                                 .where(Enrollment.role == CourseRole.student))
    assert students == 30
    assert db.session.scalar(select(func.count()).select_from(PaperSession)) == 10
    again = runner.invoke(args=["demo", "seed", "--with-activity"])
    assert again.exit_code == 0 and "already there; nothing changed" in again.output
    assert "instructor@example.edu" in again.output and "Added a lively term" not in again.output


def test_demo_seed_keep_dates_keeps_fall_2023(runner, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    result = runner.invoke(args=["demo", "seed", "--keep-dates"])
    assert result.exit_code == 0
    first = db.session.scalar(select(Week).where(Week.number == 1))
    assert first.starts_on == date(2023, 10, 2)
    assert "password: the value of DEMO_PASSWORD" in result.output


def test_a_random_demo_password_is_made_once_and_remembered(tmp_path: Path) -> None:
    from review.courses.demo import remembered_demo_password

    first = remembered_demo_password(tmp_path / "instance")
    assert len(first) >= 12
    assert remembered_demo_password(tmp_path / "instance") == first
    assert (tmp_path / "instance" / "demo-password").stat().st_mode & 0o077 == 0


def test_demo_logins_work_with_the_demo_password(runner, client, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    runner.invoke(args=["demo", "seed"])
    for email in ("instructor@example.edu", "aaslan17@example.edu"):
        client.post("/logout")
        response = client.post("/login", data={"email": email, "password": "demo-password"})
        assert response.status_code == 302, email
        page = client.get("/c/comp541-fall2023/")
        assert page.status_code == 200
        assert "Decoupled Weight Decay Regularization" in page.get_data(as_text=True)
        assert "Winter Break" in page.get_data(as_text=True)


def test_the_demo_staff_carry_placeholder_names_not_a_real_persons(runner, monkeypatch) -> None:
    from sqlalchemy import select

    from models import User, db

    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    runner.invoke(args=["demo", "seed"])
    names = dict(db.session.execute(select(User.email, User.last_name).where(
        User.email.in_(["instructor@example.edu", "ta@example.edu"]))).tuples().all())
    assert names == {"instructor@example.edu": "Instructor", "ta@example.edu": "Assistant"}


def test_make_runs_demo_seed_works_within_a_day_of_a_review_window_opening(runner,
                                                                           monkeypatch) -> None:
    # `make run` seeds with no --as-of at the real clock. At 05:40 UTC on a Monday the demo's
    # newest window had opened 70 minutes before (08:30 in Istanbul), and drafts dated up to
    # 30 hours back were refused as "not open yet": make run failed for a day and a half a week.
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    monkeypatch.setattr("review.cli.utcnow",
                        lambda: datetime(2026, 12, 7, 5, 40, tzinfo=timezone.utc))
    result = runner.invoke(args=["demo", "seed", "--with-activity"])
    assert result.exit_code == 0, result.output
    assert "so 2026-12-07 is in week 8" in result.output
    assert "15 drafts" in result.output


def test_demo_seed_with_activity_fills_a_lively_term(runner, client, monkeypatch) -> None:
    from models import GradeItem, Review, ReviewStatus, Score, Slot

    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    # The activity is seeded up to the clock; fixed here so the term is the same on any day
    # (tests/services/test_demo_activity_clock.py tries the clock at each edge of a session).
    monkeypatch.setattr("review.cli.utcnow", lambda: datetime(2026, 11, 26, 12, tzinfo=timezone.utc))
    result = runner.invoke(args=["demo", "seed", "--as-of", "2026-11-26", "--with-activity"])
    assert result.exit_code == 0, result.output
    assert "Added a lively term: 10 groups, 30 presentation slots assigned" in result.output
    held = db.session.scalar(select(func.count()).select_from(Slot).where(Slot.group_id.is_not(None)))
    assert held == 30
    submitted = db.session.scalar(select(func.count()).select_from(Review)
                                  .where(Review.status == ReviewStatus.submitted))
    assert submitted > 60
    assert db.session.scalar(select(func.count()).select_from(Score)) > 50
    assert db.session.scalar(select(func.count()).select_from(GradeItem)) > 60
    client.post("/login", data={"email": "instructor@example.edu", "password": "demo-password"})
    for page in ("/c/comp541-fall2023/", "/c/comp541-fall2023/signup",
                 "/c/comp541-fall2023/gradebook", "/c/comp541-fall2023/reviews/matrix",
                 "/c/comp541-fall2023/grading"):
        assert client.get(page).status_code == 200, page
