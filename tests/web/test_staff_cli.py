"""``flask staff ...`` and ``flask admin create``: staffing a course from the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from models import CourseRole, Enrollment, PasswordToken, User, db
from review.accounts.services import hash_password
from review.courses.services import find_course
from tests.factories import course_definition_data, make_member

BASE = ["--base-url", "https://review.example.edu"]


@pytest.fixture
def course(app, runner, tmp_path: Path):
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(course_definition_data(
        "cli-staff", timezone="Asia/Kolkata",
        staff=[{"email": "ada@example.edu", "first_name": "Ada", "last_name": "Lovelace",
                "role": "instructor"}])))
    result = runner.invoke(args=["course", "import", str(path)])
    assert result.exit_code == 0, result.output
    return find_course("cli-staff")


def user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def test_staff_add_writes_a_neutralised_link_and_staff_list_shows_it(runner, course,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["staff", "add", "cli-staff", "Sum@Example.edu", "--role", "ta",
                                 "--first-name", "=SUM(1+1)", "--last-name", "Kaya",
                                 "--links-out", str(out), *BASE])
    assert result.exit_code == 0, result.output
    assert "is now ta of cli-staff (new account, no password yet)" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["name"] == "'=SUM(1+1) Kaya"
    assert rows[0]["link"].startswith("https://review.example.edu/password/set/")
    listing = runner.invoke(args=["staff", "list", "cli-staff"])
    assert listing.output.splitlines() == [
        "ada@example.edu\tinstructor\tno password yet  (course file)",
        "sum@example.edu\tta\tno password yet"]


def test_staff_add_without_links_out_or_mail_prints_the_link(runner, course) -> None:
    result = runner.invoke(args=["staff", "add", "cli-staff", "bo@example.edu", "--role",
                                 "instructor", "--first-name", "Bo", "--last-name", "Li", *BASE])
    assert result.exit_code == 0, result.output
    assert "Set-password link for bo@example.edu" in result.output
    assert "https://review.example.edu/password/set/" in result.output


def test_staff_add_of_someone_with_a_password_needs_no_base_url(runner, course) -> None:
    someone = make_member(find_course("cli-staff"), CourseRole.ta, email="ta@example.edu")
    someone.password_hash = hash_password("long enough password")
    db.session.commit()
    result = runner.invoke(args=["staff", "add", "cli-staff", "ta@example.edu", "--role",
                                 "instructor"])
    assert result.exit_code == 0, result.output
    assert "is now instructor of cli-staff." in result.output
    assert db.session.scalar(select(func.count()).select_from(PasswordToken)) == 0


def test_staff_add_without_a_base_url_stops_before_anything_is_written(runner, course) -> None:
    result = runner.invoke(args=["staff", "add", "cli-staff", "new@example.edu", "--role", "ta",
                                 "--first-name", "N", "--last-name", "M"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "FLASK_PUBLIC_BASE_URL" in result.output
    assert user("new@example.edu") is None


def test_staff_remove_refuses_the_last_instructor_and_removes_a_ta(runner, course) -> None:
    result = runner.invoke(args=["staff", "remove", "cli-staff", "ada@example.edu"])
    assert result.exit_code == 1 and "is the last instructor of cli-staff" in result.output
    runner.invoke(args=["staff", "add", "cli-staff", "t@example.edu", "--role", "ta",
                        "--first-name", "T", "--last-name", "A", *BASE])
    result = runner.invoke(args=["staff", "remove", "cli-staff", "t@example.edu"])
    assert result.exit_code == 0 and "t@example.edu is no longer ta of cli-staff." in result.output
    result = runner.invoke(args=["staff", "remove", "cli-staff", "nobody@example.edu"])
    assert result.exit_code == 1 and "No account with the email" in result.output


def test_staff_links_covers_staff_from_the_course_file(runner, course, tmp_path: Path) -> None:
    out = tmp_path / "staff.csv"
    result = runner.invoke(args=["staff", "links", "cli-staff", "--out", str(out), *BASE])
    assert result.exit_code == 0, result.output
    assert [row["email"] for row in csv.DictReader(out.open(encoding="utf-8-sig"))] == [
        "ada@example.edu"]


def test_admin_create_makes_an_administrator_with_a_link(runner, tmp_path: Path) -> None:
    out = tmp_path / "admin.csv"
    result = runner.invoke(args=["admin", "create", "Root@Example.edu", "--first-name", "Ro",
                                 "--last-name", "Ot", "--links-out", str(out), *BASE])
    assert result.exit_code == 0, result.output
    assert "Ro Ot <root@example.edu> is a site administrator (new account" in result.output
    assert user("root@example.edu").is_admin
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["link"].startswith("https://review.example.edu/password/set/")


def test_admin_create_without_a_base_url_or_names_is_a_message(runner) -> None:
    result = runner.invoke(args=["admin", "create", "root@example.edu"])
    assert result.exit_code == 1 and "--base-url" in result.output
    result = runner.invoke(args=["admin", "create", "root@example.edu", *BASE])
    assert result.exit_code == 1 and "give a first and a last name" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert user("root@example.edu") is None
    assert db.session.scalar(select(func.count()).select_from(Enrollment)) == 0
