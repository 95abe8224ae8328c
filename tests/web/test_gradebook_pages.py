"""Gradebook pages: access, sort and filter, the page agreeing with the xlsx, import, grid, CLI."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import event, select
from sqlalchemy import update as sa_update

from models import AuditEntry, CourseRole, GradeItem, Slot, db
from tests.querycount import count_queries
from tests.factories import (
    enrollment,
    grant_ta,
    make_course,
    make_group,
    make_member,
    make_review,
    make_staff_score,
)

# Long past, so every review deadline has passed whatever the clock says.
PAST = date(2020, 9, 7)


def _course(code: str = "course-a", size: int = 3):
    course = make_course(code, first_monday=PAST)
    teacher = make_member(course, CourseRole.instructor)
    ta = make_member(course, CourseRole.ta)
    students = [make_member(course, CourseRole.student, last_name=f"Student{i}")
                for i in range(size)]
    slots = list(db.session.scalars(select(Slot).where(
        Slot.session_id.in_([s.id for s in course.sessions])).order_by(Slot.id)))
    for index, student in enumerate(students):
        review = make_review(course.sessions[0], student)
        make_staff_score(course, teacher, 60 + 3 * (index % 10), rubric_key="review", review_id=review.id)
        db.session.add(GradeItem(course_id=course.id, user_id=student.id, component="midterm",
                                 score=55 + 7.25 * (index % 6)))
    for number, start in enumerate(range(0, size, 2)):
        group = make_group(course, students[start:start + 2])
        slots[number].group_id = group.id
        db.session.flush()
        make_staff_score(course, teacher, 70 + number, rubric_key="presentation-overview",
                         slot_id=slots[number].id)
    db.session.commit()
    return course, teacher, ta, students


@pytest.fixture
def setup(app: Flask):
    course, teacher, ta, students = _course()
    other = make_course("course-b", first_monday=PAST)
    outsider = make_member(other, CourseRole.student)
    db.session.commit()
    return {"course": course, "teacher": teacher, "ta": ta, "students": students,
            "outsider": outsider}


def test_access(client: FlaskClient, login, setup) -> None:
    staff_urls = ["/c/course-a/gradebook", "/c/course-a/gradebook/import",
                  "/c/course-a/gradebook/grid", "/c/course-a/gradebook/export/xlsx",
                  "/c/course-a/gradebook/distributions.svg",
                  f"/c/course-a/gradebook/students/{setup['students'][0].id}"]
    login(setup["students"][0])
    for url in staff_urls:
        assert client.get(url).status_code == 403, url
    assert client.post("/c/course-a/gradebook/import/confirm", data={"payload": "[]"}).status_code == 403
    assert client.get("/c/course-a/grades").status_code == 200
    login(setup["outsider"])
    for url in [*staff_urls, "/c/course-a/grades"]:
        assert client.get(url).status_code == 404, url
    login(setup["ta"])
    editing = {"/c/course-a/gradebook/import", "/c/course-a/gradebook/grid"}
    for url in staff_urls:
        assert client.get(url).status_code == (403 if url in editing else 200), url
    assert client.get("/c/course-a/grades").status_code == 403
    grant_ta(setup["course"], "edit_external_grades")
    db.session.commit()
    for url in editing:
        assert client.get(url).status_code == 200, url
    # A staff member cannot open the breakdown of someone who is not a student here.
    assert client.get(f"/c/course-a/gradebook/students/{setup['outsider'].id}").status_code == 404


def test_a_student_sees_only_their_own_grades(client: FlaskClient, login, setup) -> None:
    first, second, _ = setup["students"]
    html = login(first).get("/c/course-a/grades").get_data(as_text=True)
    assert first.last_name in html or "My grades" in html
    assert second.last_name not in html
    # Presentations are not released: pending release, not counted.
    assert "pending release" in html
    assert re.search(r'data-component="midterm">.*?<td class="num">55\.0</td>', html, re.S)
    # Mid-term, the average over what is graded is shown beside the running total.
    assert re.search(r'id="so-far">So far <strong>\d+%</strong> of the course is graded', html)


def _page_totals(html: str) -> dict[int, str]:
    return {int(uid): total for uid, total in re.findall(
        r'<tr data-user-id="(\d+)">.*?<td class="num total">([^<]*)</td>', html, re.S)}


def test_page_and_xlsx_agree(client: FlaskClient, login, setup) -> None:
    login(setup["teacher"])
    html = client.get("/c/course-a/gradebook").get_data(as_text=True)
    page = _page_totals(html)
    assert len(page) == 3
    response = client.get("/c/course-a/gradebook/export/xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data))["Summary"]
    header = [cell.value for cell in sheet[1]]
    id_col, total_col = header.index("Student ID"), header.index("Platform total")
    numbers = {s.id: str(10000 + s.id) for s in setup["students"]}
    workbook = {row[id_col]: row[total_col] for row in sheet.iter_rows(min_row=2, values_only=True)}
    for uid, total in page.items():
        assert f"{workbook[numbers[uid]]:.2f}" == total
    assert any(float(t) > 0 for t in page.values())


def test_sort_and_filter_without_javascript(client: FlaskClient, login, setup) -> None:
    login(setup["teacher"])
    students = setup["students"]
    html = client.get("/c/course-a/gradebook?sort=midterm&dir=desc").get_data(as_text=True)
    assert list(_page_totals(html)) == [s.id for s in reversed(students)]
    html = client.get("/c/course-a/gradebook?sort=midterm&dir=asc").get_data(as_text=True)
    assert list(_page_totals(html)) == [s.id for s in students]
    html = client.get(f"/c/course-a/gradebook?q={students[1].last_name}").get_data(as_text=True)
    assert list(_page_totals(html)) == [students[1].id]
    html = client.get("/c/course-a/gradebook?sort=nonsense&letter=A").get_data(as_text=True)
    assert _page_totals(html) == {} and "No student matches." in html


def test_filter_by_section_shows_the_column_and_keeps_queries_flat(
        client: FlaskClient, login, setup) -> None:
    course, students = setup["course"], setup["students"]
    enrollment(course, students[0]).section = "Şube 1"
    enrollment(course, students[2]).section = "Şube 1"
    enrollment(course, students[1]).section = "Şube 2"
    db.session.commit()
    login(setup["teacher"])
    with count_queries() as everyone:
        html = client.get("/c/course-a/gradebook").get_data(as_text=True)
    assert "<th>Section</th>" in html and '<option value="Şube 2">Şube 2</option>' in html
    with count_queries() as one_section:
        html = client.get("/c/course-a/gradebook?section=Şube 1&sort=midterm").get_data(as_text=True)
    assert set(_page_totals(html)) == {students[0].id, students[2].id}
    assert '<option value="Şube 1" selected>' in html and "2 of 3 students" in html
    # A filter adds no query (the second page may even reuse the computed gradebook).
    assert one_section.count <= everyone.count


def test_charts_are_svg(client: FlaskClient, login, setup) -> None:
    login(setup["teacher"])
    html = client.get("/c/course-a/gradebook").get_data(as_text=True)
    assert '<img src="/c/course-a/gradebook/distributions.svg"' in html
    response = client.get("/c/course-a/gradebook/distributions.svg")
    assert response.mimetype == "image/svg+xml" and b"<svg" in response.data
    assert b"Midterm" in response.data and b"Course total" in response.data


def test_import_preview_then_confirm(client: FlaskClient, login, setup) -> None:
    grant_ta(setup["course"], "edit_external_grades")
    db.session.commit()
    login(setup["ta"])
    a, b, _ = (str(10000 + s.id) for s in setup["students"])
    data = f"student_id,midterm\n{a},99\n{b},\n".encode()
    response = client.post("/c/course-a/gradebook/import",
                           data={"file": (io.BytesIO(data), "grades.csv")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Preview" in html and "left unchanged" in html
    assert db.session.scalar(select(GradeItem.score).where(
        GradeItem.user_id == setup["students"][0].id)) == 55  # nothing saved by the preview
    payload = re.search(r'name="payload" type="hidden" value="([^"]*)"', html)
    import html as html_module

    response = client.post("/c/course-a/gradebook/import/confirm",
                           data={"payload": html_module.unescape(payload.group(1)),
                                 "source": "grades.csv"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(GradeItem.score).where(
        GradeItem.user_id == setup["students"][0].id)) == 99
    assert db.session.scalar(select(GradeItem.score).where(
        GradeItem.user_id == setup["students"][1].id)) == pytest.approx(62.25)
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.category == "grade")) is not None


def test_import_errors_are_listed(client: FlaskClient, login, setup) -> None:
    login(setup["teacher"])
    response = client.post("/c/course-a/gradebook/import",
                           data={"file": (io.BytesIO(b"student_id,midterm\n42,abc\n"), "g.csv")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "row 2, column student_id: unknown student id &#39;42&#39;" in html


def test_grid_rejects_a_bad_cell_and_saves_a_good_page(client: FlaskClient, login, setup) -> None:
    login(setup["teacher"])
    student = setup["students"][0]
    html = client.get("/c/course-a/gradebook/grid").get_data(as_text=True)
    original = re.search(r'id="original" name="original" type="hidden" value="([^"]*)"', html)
    import html as html_module

    fields = {"user_ids": str(student.id), "original": html_module.unescape(original.group(1))}
    response = client.post("/c/course-a/gradebook/grid", data={**fields, f"g-{student.id}-midterm": "101"})
    assert response.status_code == 422 and "above the maximum of 100" in response.get_data(as_text=True)
    response = client.post("/c/course-a/gradebook/grid", data={**fields, f"g-{student.id}-midterm": "77"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(GradeItem.score).where(GradeItem.user_id == student.id)) == 77


def test_cli_import_and_export(app: Flask, runner, setup, tmp_path) -> None:
    a = str(10000 + setup["students"][0].id)
    bad = tmp_path / "bad.csv"
    bad.write_text("student_id,midterm\n1,2\n")
    result = runner.invoke(args=["grades", "import", "course-a", str(bad)])
    assert result.exit_code == 1 and "unknown student id '1'" in result.output
    good = tmp_path / "good.csv"
    good.write_text(f"student_id,midterm\n{a},88\n")
    result = runner.invoke(args=["grades", "import", "course-a", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 grade(s)" in result.output
    out = tmp_path / "gb.xlsx"
    result = runner.invoke(args=["gradebook", "export", "course-a", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Summary" in load_workbook(out).sheetnames
    csv_out = tmp_path / "canvas.csv"
    result = runner.invoke(args=["gradebook", "export", "course-a", "--out", str(csv_out),
                                 "--format", "canvas"])
    assert result.exit_code == 0 and "Points Possible" in csv_out.read_text()


def test_page_query_count_does_not_grow(app: Flask, client: FlaskClient, login) -> None:
    counts = []
    for code, size in (("small", 5), ("large", 15)):
        course, teacher, _, _ = _course(code, size)
        login(teacher)
        count = 0

        def before(*args, **kwargs) -> None:
            nonlocal count
            count += 1

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            assert client.get(f"/c/{code}/gradebook").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        counts.append(count)
    assert counts[0] == counts[1]


def _student_world(code: str, size: int, session_weeks: tuple[int, ...]):
    """A course of ``size`` students, every one with a graded review in every session."""
    course = make_course(code, first_monday=PAST, weeks=max(session_weeks) + 1,
                         session_weeks=session_weeks)
    teacher = make_member(course, CourseRole.instructor)
    students = [make_member(course, CourseRole.student) for _ in range(size)]
    for session in course.sessions:
        for student in students:
            review = make_review(session, student)
            make_staff_score(course, teacher, 70, rubric_key="review", review_id=review.id)
            make_staff_score(course, teacher, 80, rubric_key="participation",
                             session_id=session.id, student_id=student.id)
    slot = db.session.scalars(select(Slot).where(Slot.session_id == course.sessions[0].id)).first()
    slot.group_id = make_group(course, students[:2]).id
    db.session.flush()
    make_staff_score(course, teacher, 75, rubric_key="presentation-overview", slot_id=slot.id)
    db.session.commit()
    return students[0]


@pytest.mark.parametrize("page", ["grades", "feedback"])
def test_student_pages_query_count_is_flat_in_students_sessions_and_reviews(
        client: FlaskClient, login, page: str) -> None:
    counts = []
    for code, size, weeks in (("few", 3, (3, 4)), ("more-students", 12, (3, 4)),
                              ("more-sessions", 3, (3, 4, 5, 6, 7))):
        student = _student_world(code, size, weeks)
        login(student)
        with count_queries() as counter:
            assert client.get(f"/c/{code}/{page}").status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1] == counts[2], counts


def _computations(monkeypatch) -> list[int]:
    calls: list[int] = []
    from review.gradebook import loader

    real = loader.compute_gradebook
    monkeypatch.setattr(loader, "compute_gradebook", lambda data: calls.append(1) or real(data))
    return calls


def test_gradebook_is_computed_once_per_grade_change(client: FlaskClient, login, setup,
                                                     monkeypatch) -> None:
    from review.gradebook import services as gradebook_services

    computed = _computations(monkeypatch)
    course, first = setup["course"], setup["students"][0]
    login(setup["teacher"])
    before = _page_totals(client.get("/c/course-a/gradebook").get_data(as_text=True))
    client.get("/c/course-a/gradebook?sort=total&dir=desc")
    client.get("/c/course-a/gradebook/distributions.svg")
    assert client.get("/c/course-a/gradebook/export/csv").status_code == 200
    assert len(computed) == 1  # the page, a re-sort, the chart and a download share it
    # A grade saved through a service shows at once...
    item = db.session.scalar(select(GradeItem).where(GradeItem.user_id == first.id))
    written = gradebook_services.save_grid(
        course, [first.id], {gradebook_services.cell_name(first.id, "midterm"): "100"},
        {gradebook_services.cell_name(first.id, "midterm"): gradebook_services.grade_text(item.score)},
        setup["teacher"])
    db.session.commit()
    assert written == 1
    after = _page_totals(client.get("/c/course-a/gradebook").get_data(as_text=True))
    assert after[first.id] != before[first.id] and len(computed) == 2
    # ...and so does a bulk statement, a membership change, and a review's release...
    db.session.execute(sa_update(GradeItem).where(GradeItem.user_id == first.id)
                       .values(score=10.0))
    db.session.commit()
    assert _page_totals(client.get("/c/course-a/gradebook").get_data(as_text=True))[first.id] \
        != after[first.id]
    assert len(computed) == 3
    # ...while a sign-in (a user row written, nothing shown changed) reuses the computation.
    first.last_login_at = first.created_at
    db.session.commit()
    client.get("/c/course-a/gradebook")
    assert len(computed) == 3


def test_another_courses_grades_do_not_recompute_this_gradebook(client: FlaskClient, login, setup,
                                                                 monkeypatch) -> None:
    computed = _computations(monkeypatch)
    login(setup["teacher"])
    client.get("/c/course-a/gradebook")
    db.session.add(GradeItem(course_id=setup["outsider"].enrollments[0].course_id,
                             user_id=setup["outsider"].id, component="midterm", score=50))
    db.session.commit()
    client.get("/c/course-a/gradebook")
    assert len(computed) == 1


def test_chart_leaves_out_components_without_grades(client: FlaskClient, login, setup) -> None:
    from review.gradebook.charts import NO_GRADES_SVG, distributions_svg

    login(setup["teacher"])
    svg = client.get("/c/course-a/gradebook/distributions.svg").data
    # No participation is graded in this course: no panel (no empty axis) for it.
    assert b"Participation" not in svg and b"Midterm" in svg
    assert distributions_svg([("Course total", [float("nan")]), ("Quiz", [])]) == NO_GRADES_SVG


#: The student grade page's statements: the login (user and course), the student's roster row,
#: their sessions (with review, excuse, presenting), the slots they presented, one UNION of every
#: number, and the course's sessions for "not due yet".
STUDENT_GRADE_PAGE_STATEMENTS = 6


def test_student_grade_page_statement_count_is_pinned(client: FlaskClient, login) -> None:
    for code, size, weeks in (("small-pin", 2, (3,)), ("large-pin", 10, (3, 4, 5, 6))):
        student = _student_world(code, size, weeks)
        login(student)
        with count_queries() as counter:
            html = client.get(f"/c/{code}/grades").get_data(as_text=True)
        assert counter.count == STUDENT_GRADE_PAGE_STATEMENTS, counter.statements
        assert ">70.0<" in html  # the graded reviews show
