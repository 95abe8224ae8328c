"""The instructor's Staff page and the site administrator's pages."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import yaml
from sqlalchemy import select

from models import Course, CourseRole, Enrollment, User, db
from review.accounts.services import hash_password
from tests.factories import course_definition_data, make_course, make_member, make_user


def course_with_staff():
    course = make_course("staff-course", timezone="Pacific/Auckland")
    instructor = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    student = make_member(course)
    db.session.commit()
    return course, instructor, ta, student


def role_of(course: Course, user: User):
    return db.session.scalar(select(Enrollment.role).where(
        Enrollment.course_id == course.id, Enrollment.user_id == user.id))


# ---------------------------------------------------------------- Staff page


def test_only_instructors_open_the_staff_page(client, login) -> None:
    course, instructor, ta, student = course_with_staff()
    login(ta)
    assert client.get("/c/staff-course/staff").status_code == 403
    assert client.post("/c/staff-course/staff", data={"email": "x@example.edu",
                                                      "role": "ta"}).status_code == 403
    assert client.post(f"/c/staff-course/staff/{instructor.id}/remove").status_code == 403
    login(student)
    assert client.get("/c/staff-course/staff").status_code == 403
    login(instructor)
    page = client.get("/c/staff-course/staff")
    assert page.status_code == 200 and ta.email in page.text and student.email not in page.text


def test_the_page_shows_who_signed_in_and_who_set_a_password(client, login) -> None:
    course, instructor, ta, _ = course_with_staff()
    ta.password_hash = hash_password("a long password")
    db.session.commit()
    response = client.post("/login", data={"email": ta.email, "password": "a long password"})
    assert response.status_code == 302
    db.session.refresh(ta)
    assert ta.last_login_at is not None
    ta.last_login_at = datetime(2026, 9, 1, 0, 30, tzinfo=timezone.utc)
    db.session.commit()
    login(instructor)
    page = client.get("/c/staff-course/staff").text
    row = page.split(ta.email, 1)[1].split("</tr>", 1)[0]
    assert "yes" in row and "Tue 01 Sep 2026, 12:30 (NZST)" in row
    mine = page.split(instructor.email, 1)[1].split("</tr>", 1)[0]
    assert "never" in mine


def test_an_instructor_adds_a_new_ta_who_gets_a_link(client, login) -> None:
    course, instructor, _, _ = course_with_staff()
    login(instructor)
    response = client.post("/c/staff-course/staff", data={
        "email": "Grace@Example.edu", "role": "ta", "first_name": "Grace",
        "last_name": "Hopper"})
    assert response.status_code == 200
    assert "Grace Hopper &lt;grace@example.edu&gt; is now ta of staff-course" in response.text
    assert "http://localhost/password/set/" in response.text
    grace = db.session.scalar(select(User).where(User.email == "grace@example.edu"))
    assert role_of(course, grace) == CourseRole.ta
    link = response.text.split("http://localhost", 1)[1].split("<", 1)[0]
    assert client.get(link).status_code == 200


def test_a_new_account_without_names_is_refused_with_a_message(client, login) -> None:
    course, instructor, _, _ = course_with_staff()
    login(instructor)
    response = client.post("/c/staff-course/staff", data={"email": "new@example.edu",
                                                          "role": "instructor"})
    assert response.status_code == 422 and "give a first and a last name" in response.text
    assert db.session.scalar(select(User).where(User.email == "new@example.edu")) is None


def test_a_student_cannot_be_made_staff_of_the_same_course(client, login) -> None:
    course, instructor, _, student = course_with_staff()
    login(instructor)
    response = client.post("/c/staff-course/staff", data={"email": student.email, "role": "ta"})
    assert response.status_code == 422 and "one role per course" in response.text
    assert role_of(course, student) == CourseRole.student


def test_removing_a_ta_and_the_last_instructor_refused(client, login) -> None:
    course, instructor, ta, student = course_with_staff()
    login(instructor)
    response = client.post(f"/c/staff-course/staff/{instructor.id}/remove", follow_redirects=True)
    assert "is the last instructor of staff-course" in response.text
    assert role_of(course, instructor) == CourseRole.instructor
    assert client.post(f"/c/staff-course/staff/{student.id}/remove").status_code == 404
    response = client.post(f"/c/staff-course/staff/{ta.id}/remove", follow_redirects=True)
    assert "is no longer ta of this course" in response.text
    assert role_of(course, ta) is None
    # A co-instructor may then remove the first instructor.
    client.post("/c/staff-course/staff", data={"email": ta.email, "role": "instructor"})
    login(ta)
    client.post(f"/c/staff-course/staff/{instructor.id}/remove")
    assert role_of(course, instructor) is None


# ---------------------------------------------------------------- Site administration


def course_yaml(**overrides) -> bytes:
    return yaml.safe_dump(course_definition_data(
        "uploaded-course", timezone="Africa/Nairobi", **overrides)).encode()


def upload(client, data: bytes, email: str = "ada@example.edu", **names):
    return client.post("/admin/courses", data={
        "file": (io.BytesIO(data), "course.yaml"), "instructor_email": email,
        "first_name": names.get("first_name", "Ada"),
        "last_name": names.get("last_name", "Lovelace")},
        content_type="multipart/form-data")


def test_only_site_administrators_see_the_admin_pages(client, login) -> None:
    course, instructor, _, _ = course_with_staff()
    login(instructor)
    assert client.get("/admin/").status_code == 403
    assert upload(client, course_yaml()).status_code == 403
    admin = make_user("root@example.edu")
    admin.is_admin = True
    db.session.commit()
    login(admin)
    page = client.get("/admin/")
    assert page.status_code == 200 and "staff-course" in page.text and instructor.email in page.text


def test_an_administrator_creates_a_course_with_its_first_instructor(client, login) -> None:
    admin = make_user("root@example.edu")
    admin.is_admin = True
    db.session.commit()
    login(admin)
    response = upload(client, course_yaml())
    assert response.status_code == 201, response.text
    assert "Created course uploaded-course." in response.text
    assert "http://localhost/password/set/" in response.text
    ada = db.session.scalar(select(User).where(User.email == "ada@example.edu"))
    course = db.session.scalar(select(Course).where(Course.code == "uploaded-course"))
    assert role_of(course, ada) == CourseRole.instructor and ada.password_hash is None
    login(ada)
    assert client.get("/c/uploaded-course/staff").status_code == 200
    # The same code again is refused, not an update.
    login(admin)
    again = upload(client, course_yaml(title="Changed"))
    assert again.status_code == 422 and "already exists" in again.text


def test_a_bad_upload_names_each_field_and_creates_nothing(client, login) -> None:
    admin = make_user("root@example.edu")
    admin.is_admin = True
    db.session.commit()
    login(admin)
    data = course_definition_data("uploaded-course")
    data["timezone"] = "Mars/Olympus"
    data["roles"][0]["minutes"] = 0
    response = upload(client, yaml.safe_dump(data).encode())
    assert response.status_code == 422
    assert "timezone: unknown timezone &#39;Mars/Olympus&#39;" in response.text
    assert "roles[0].minutes: Input should be greater than 0" in response.text
    response = upload(client, course_yaml(rubrics_dir="rubrics"))
    assert response.status_code == 422
    assert "rubrics_dir: names a folder relative to the course file" in response.text
    response = upload(client, b"code: [unclosed")
    assert response.status_code == 422 and "not valid YAML" in response.text
    assert db.session.scalar(select(Course)) is None
    assert db.session.scalar(select(User).where(User.email == "ada@example.edu")) is None
