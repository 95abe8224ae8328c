"""Course staff from the course file: enrolled on import, removed when they leave the file, and
staff added by hand left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from models import AuditEntry, CourseRole, Enrollment, Score, User, db
from review.courses.definition import CourseDefinition, CourseFileError, load_course_file
from review.courses.services import apply_course_definition, find_course
from review.courses.staff import StaffRefused, add_staff, remove_staff, staff_of
from tests.factories import course_definition_data, make_member, make_staff_score, make_user

ADA = {"email": "Ada@Example.edu", "first_name": "Ada", "last_name": "Lovelace",
       "role": "instructor"}
ALAN = {"email": "alan@example.edu", "first_name": "Alan", "last_name": "Turing", "role": "ta"}


def second_course(**overrides) -> dict:
    """A course unlike the demo: another timezone, two roles of other lengths."""
    return course_definition_data(
        "seminar-spring2027", timezone="America/Chicago", weeks=6, session_weeks=(2, 3),
        roles=[{"key": "lead", "name": "Lead", "minutes": 20},
               {"key": "critic", "name": "Critic", "minutes": 5}],
        rubrics={"presentations": {"lead": "presentation-overview",
                                   "critic": "presentation-weaknesses"}}, **overrides)


def apply(data: dict) -> tuple:
    course, changes = apply_course_definition(CourseDefinition.model_validate(data))
    db.session.commit()
    return course, changes


def roles(course) -> dict[str, tuple[str, bool]]:
    return {user.email: (enrollment.role.value, enrollment.from_course_file)
            for enrollment, user in staff_of(course)}


def test_importing_a_second_course_with_staff_lets_its_instructor_in(app, runner, login, client,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "seminar.yaml"
    path.write_text(yaml.safe_dump(second_course(staff=[ADA, ALAN])), encoding="utf-8")
    result = runner.invoke(args=["course", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "added instructor ada@example.edu (new account, no password yet)" in result.output
    assert "added ta alan@example.edu" in result.output
    ada = db.session.scalar(select(User).where(User.email == "ada@example.edu"))
    assert ada.password_hash is None
    login(ada)
    assert client.get("/c/seminar-spring2027/roster").status_code == 200
    assert client.get("/c/seminar-spring2027/staff").status_code == 200


def test_re_import_is_idempotent_and_says_nothing_changed(app) -> None:
    data = second_course(staff=[ADA, ALAN])
    apply(data)
    course, changes = apply(data)
    assert changes.changed == []
    assert roles(course) == {"ada@example.edu": ("instructor", True),
                             "alan@example.edu": ("ta", True)}


def test_a_role_change_in_the_file_is_applied_and_reported(app) -> None:
    apply(second_course(staff=[ADA, ALAN]))
    course, changes = apply(second_course(staff=[ADA, {**ALAN, "role": "instructor"}]))
    assert changes.changed == ["changed alan@example.edu from ta to instructor"]
    assert roles(course)["alan@example.edu"] == ("instructor", True)


def test_leaving_the_file_ends_the_staff_role_but_keeps_the_grading(app) -> None:
    course, _ = apply(second_course(staff=[ADA, ALAN]))
    alan = db.session.scalar(select(User).where(User.email == "alan@example.edu"))
    from tests.factories import hold_slot, make_group
    students = [make_member(course) for _ in range(2)]
    slot = hold_slot(course, make_group(course, students), 2, "lead")
    score = make_staff_score(course, alan, 75, rubric_key="presentation-overview",
                             slot_id=slot.id)
    db.session.commit()
    course, changes = apply(second_course(staff=[ADA]))
    assert changes.changed == ["removed ta alan@example.edu (no longer in the file; their "
                               "grading stays)"]
    assert "alan@example.edu" not in roles(course)
    assert db.session.get(Score, score.id).grader_id == alan.id


def test_staff_added_by_hand_survive_a_re_import_that_never_listed_them(app) -> None:
    course, _ = apply(second_course(staff=[ADA]))
    add_staff(course, "grace@example.edu", CourseRole.ta, first_name="Grace", last_name="Hopper")
    db.session.commit()
    course, changes = apply(second_course(staff=[ADA]))
    assert changes.changed == []
    assert roles(course)["grace@example.edu"] == ("ta", False)


def test_the_file_cannot_remove_the_last_instructor(app) -> None:
    apply(second_course(staff=[ADA]))
    with pytest.raises(StaffRefused, match="without an instructor"):
        apply_course_definition(CourseDefinition.model_validate(second_course(staff=[ALAN])))
    db.session.rollback()
    assert roles(find_course("seminar-spring2027")) == {"ada@example.edu": ("instructor", True)}


def test_a_student_of_the_course_listed_as_staff_is_refused_by_name(app) -> None:
    course, _ = apply(second_course())
    make_member(course, CourseRole.student, email="ada@example.edu")
    db.session.commit()
    with pytest.raises(StaffRefused, match=r"staff\[0\]: ada@example.edu is a student"):
        apply_course_definition(CourseDefinition.model_validate(second_course(staff=[ADA])))


def test_bad_staff_entries_and_ta_actions_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(second_course(
        staff=[{**ADA, "email": "not-an-address"}, {**ALAN, "role": "dean"}, ALAN],
        ta_can=["release", "fly"])), encoding="utf-8")
    with pytest.raises(CourseFileError) as caught:
        load_course_file(path)
    text = str(caught.value)
    assert "staff[0].email: not a valid email address" in text
    assert "staff[1].role: Input should be 'instructor' or 'ta' (got 'dean')" in text
    assert "ta_can: unknown action(s) 'fly'" in text


def test_the_last_instructor_cannot_be_removed_or_demoted_by_hand(app) -> None:
    course, _ = apply(second_course(staff=[ADA]))
    ada = db.session.scalar(select(User).where(User.email == "ada@example.edu"))
    with pytest.raises(StaffRefused, match="last instructor"):
        remove_staff(course, ada)
    with pytest.raises(StaffRefused, match="last instructor"):
        add_staff(course, "ada@example.edu", CourseRole.ta)
    other = make_user("bob@example.edu")
    add_staff(course, other.email, CourseRole.instructor)
    assert remove_staff(course, ada, actor=other) == CourseRole.instructor
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.remove"))
    assert db.session.scalar(select(Enrollment).where(Enrollment.user_id == ada.id)) is None


def test_a_new_account_needs_names(app) -> None:
    course, _ = apply(second_course())
    with pytest.raises(StaffRefused, match="give a first and a last name"):
        add_staff(course, "new@example.edu", CourseRole.ta)
