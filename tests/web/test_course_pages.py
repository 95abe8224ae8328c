"""The course home and roster pages: content, and no query per student."""

from __future__ import annotations

import io

from models import CourseRole, Enrollment, db
from tests.factories import make_course, make_group, make_member
from tests.querycount import count_queries


def _queries_for(client, login, students: int, url: str) -> int:
    course = make_course(f"size-{students}")
    instructor = make_member(course, CourseRole.instructor)
    members = [make_member(course) for _ in range(students)]
    for start in range(0, students, 3):
        group = make_group(course, members[start:start + 3])
        course.sessions[start // 3 % len(course.sessions)].slots[0].group_id = group.id
    db.session.commit()
    login(instructor)
    with count_queries() as counter:
        assert client.get(url.format(code=course.code)).status_code == 200
    return counter.count


def test_roster_page_queries_do_not_grow_with_the_class(client, login) -> None:
    assert _queries_for(client, login, 6, "/c/{code}/roster") == \
        _queries_for(client, login, 24, "/c/{code}/roster")


def test_course_home_queries_do_not_grow_with_the_class(client, login) -> None:
    assert _queries_for(client, login, 6, "/c/{code}/") == _queries_for(client, login, 24, "/c/{code}/")


def test_a_student_sees_their_group_and_its_slots_highlighted(client, login) -> None:
    course = make_course()
    student, other = make_member(course), make_member(course)
    group = make_group(course, [student, other], name="Team Adam")
    slot = course.sessions[1].slots[0]
    slot.group_id = group.id
    db.session.commit()
    login(student)
    page = client.get(f"/c/{course.code}/").get_data(as_text=True)
    assert "Your group: <strong>Team Adam</strong>" in page
    assert 'class="mine"' in page and page.count('class="mine"') == 1


def test_the_roster_page_imports_a_turkish_excel_csv_and_shows_section_and_username(
        client, login) -> None:
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    db.session.commit()
    login(instructor)
    data = ("Student ID;First Name;Last Name;Email;Section;Username\r\n"
            "81050;Çağrı;Işık;cisik@example.edu;Şube 2;cisik\r\n").encode("cp1254")
    response = client.post(f"/c/{course.code}/roster",
                           data={"file": (io.BytesIO(data), "roster.csv")},
                           content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Roster imported: 1 new account(s)" in page
    assert "Çağrı" in page and "<td>Şube 2</td><td>cisik</td>" in page
    changed = data.decode("cp1254").replace("Şube 2", "Şube 3").encode("cp1254")
    page = client.post(f"/c/{course.code}/roster",
                       data={"file": (io.BytesIO(changed), "roster.csv")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "Updated 81050: section &#39;Şube 2&#39; → &#39;Şube 3&#39;" in page


def test_the_roster_page_names_a_bad_row_and_keeps_the_stored_students(client, login) -> None:
    course = make_course()
    instructor = make_member(course, CourseRole.instructor)
    make_member(course, first_name="Kept")
    db.session.commit()
    login(instructor)
    data = b"student_id;first_name;last_name;email\n1;A;B;a@example.edu\n2;C;D;c@x.edu;oops\n"
    response = client.post(f"/c/{course.code}/roster",
                           data={"file": (io.BytesIO(data), "roster.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "row 3: 5 values but the header has 4 columns (extra value &#39;oops&#39;)" in page
    assert "Kept" in page and db.session.query(Enrollment).count() == 2
