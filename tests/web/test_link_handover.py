"""Set-password links handed over safely: commands need the site's address before they write
anything, every links CSV neutralises formula-like names, and a failed mail never loses what
was saved."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from models import CourseRole, Enrollment, OutboxMessage, OutboxStatus, PasswordToken, User, db
from tests.factories import course_definition_data, make_course, make_member

FORMULA_ROSTER = ("student_id,first_name,last_name,email\n"
                  "1,=SUM(1+1),Aslan,ayse@example.edu\n"
                  "2,Emre,@Kurt,emre@example.edu\n")


def import_course(runner, tmp_path: Path, code: str = "links-course") -> None:
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(course_definition_data(code, timezone="Asia/Tokyo")))
    assert runner.invoke(args=["course", "import", str(path)]).exit_code == 0


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def closed_port() -> int:
    """A localhost port nothing listens on: SMTP there fails as a down mail server does."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- commands need a base URL


def test_roster_import_without_a_base_url_stops_before_writing(runner, tmp_path: Path) -> None:
    import_course(runner, tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text(FORMULA_ROSTER)
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "import", "links-course", str(roster),
                                 "--links-out", str(out)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "FLASK_PUBLIC_BASE_URL" in result.output and "--base-url" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() and count(User) == 0


def test_roster_links_without_a_base_url_stops_before_writing(runner, tmp_path: Path) -> None:
    import_course(runner, tmp_path)
    make_member(make_course("other-course"))
    db.session.commit()
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "links", "links-course", "--out", str(out)])
    assert result.exit_code == 1 and "--base-url" in result.output
    assert not out.exists() and count(PasswordToken) == 0


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": "https://review.example.edu/"}])
def test_the_configured_public_base_url_is_enough(runner, tmp_path: Path) -> None:
    import_course(runner, tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text(FORMULA_ROSTER)
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "import", "links-course", str(roster),
                                 "--links-out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["link"].startswith("https://review.example.edu/password/set/")


# ---------------------------------------------------------------- CSVs neutralise names


def test_roster_import_links_csv_neutralises_formula_names(runner, tmp_path: Path) -> None:
    import_course(runner, tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text(FORMULA_ROSTER)
    out = tmp_path / "links.csv"
    result = runner.invoke(args=["roster", "import", "links-course", str(roster),
                                 "--links-out", str(out), "--base-url", "https://x.edu"])
    assert result.exit_code == 0, result.output
    names = sorted(row["name"] for row in csv.DictReader(out.open(encoding="utf-8-sig")))
    assert names == ["'=SUM(1+1) Aslan", "Emre @Kurt"]
    again = tmp_path / "again.csv"
    result = runner.invoke(args=["roster", "links", "links-course", "--out", str(again),
                                 "--base-url", "https://x.edu"])
    assert result.exit_code == 0, result.output
    assert "'=SUM(1+1) Aslan" in again.read_text(encoding="utf-8-sig")


# ---------------------------------------------------------------- mail that fails


mail_down = pytest.mark.parametrize(
    "app_config", [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": closed_port()}], ids=["mail down"])


def failed_tries() -> dict[str, str]:
    """Per address, the outbox's reason for a mail that did not go out (yet)."""
    db.session.expire_all()
    return {m.to: m.last_error for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.status != OutboxStatus.sent))}


@mail_down
def test_a_roster_import_whose_mail_fails_is_kept_and_offers_the_links(client, login) -> None:
    course = make_course("mail-course", timezone="America/Lima")
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    response = client.post(f"/c/{course.code}/roster",
                           data={"file": (io.BytesIO(FORMULA_ROSTER.encode()), "roster.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Roster imported" in response.text and "nothing was half-saved" not in response.text
    # The page only queued the mails; the outbox shows why they have not gone out.
    assert "Queued 2 set-password mail(s)" in response.text
    assert failed_tries() == {"ayse@example.edu": "the mail server refused the connection",
                              "emre@example.edu": "the mail server refused the connection"}
    assert db.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.role == CourseRole.student)) == 2
    new_ids = {str(u.id) for u in db.session.scalars(
        select(User).where(User.email.in_(["ayse@example.edu", "emre@example.edu"])))}
    ids = ",".join(sorted(new_ids))
    download = client.post(f"/c/{course.code}/staff/links.csv", data={"user_ids": ids})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert sorted(row["name"] for row in rows) == ["'=SUM(1+1) Aslan", "Emre @Kurt"]
    assert all("/password/set/" in row["link"] for row in rows)


@mail_down
def test_a_staff_add_whose_mail_fails_is_kept_and_offers_the_link(client, login) -> None:
    course = make_course("mail-course", timezone="America/Lima")
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    response = client.post(f"/c/{course.code}/staff", data={
        "email": "grace@example.edu", "role": "ta", "first_name": "Grace",
        "last_name": "Hopper"})
    assert response.status_code == 200
    assert "Queued 1 set-password mail(s)" in response.text
    assert failed_tries() == {"grace@example.edu": "the mail server refused the connection"}
    grace = db.session.scalar(select(User).where(User.email == "grace@example.edu"))
    assert db.session.scalar(select(Enrollment.role).where(
        Enrollment.course_id == course.id, Enrollment.user_id == grace.id)) == CourseRole.ta
    download = client.post(f"/c/{course.code}/staff/links.csv", data={"user_ids": str(grace.id)})
    assert download.status_code == 200 and "grace@example.edu" in download.data.decode()


def test_the_links_download_refuses_people_outside_the_course(client, login) -> None:
    course = make_course("mail-course")
    instructor = make_member(course, CourseRole.instructor)
    stranger = make_member(make_course("other-course"))
    db.session.commit()
    login(instructor)
    response = client.post(f"/c/{course.code}/staff/links.csv",
                           data={"user_ids": str(stranger.id)}, follow_redirects=True)
    assert "None of those people needs a link" in response.text
    assert count(PasswordToken) == 0


@mail_down
def test_a_password_reset_whose_mail_fails_answers_as_usual(client) -> None:
    make_member(make_course("mail-course"), email="ayse@example.edu")
    db.session.commit()
    response = client.post("/password/forgot", data={"email": "ayse@example.edu"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert "If that address has an account" in response.text
