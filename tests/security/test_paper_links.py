"""Paper links are http(s) only: a course file with another scheme is refused with a message
naming the field, and a page never renders another scheme (already stored) as a link."""

from __future__ import annotations

import pytest

from models import CourseRole, Paper, db
from review.courses.definition import CourseFileError, parse_course_definition
from tests.factories import course_definition_data, make_course, make_member

BAD = ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,<b>x</b>",
       "vbscript:msgbox", "//evil.example/paper.pdf", "ftp://example.org/paper.pdf"]


@pytest.mark.parametrize("url", BAD)
def test_a_course_file_with_a_non_http_paper_url_is_refused_naming_the_field(url) -> None:
    data = course_definition_data()
    data["paper_sessions"][1]["url"] = url
    with pytest.raises(CourseFileError) as caught:
        parse_course_definition(data, "course.yaml")
    message = str(caught.value)
    assert "paper_sessions[1].url" in message and "http" in message


def test_http_https_and_empty_paper_urls_are_accepted() -> None:
    data = course_definition_data()
    data["paper_sessions"][0]["url"] = "http://example.org/a.pdf"
    data["paper_sessions"][1]["url"] = ""
    parse_course_definition(data, "course.yaml")


def test_pages_never_link_a_stored_non_http_url(client, login) -> None:
    course = make_course()
    student = make_member(course, CourseRole.student)
    for paper in db.session.query(Paper):
        paper.url = "javascript:alert(document.cookie)"
    db.session.commit()
    login(student)
    for page in (f"/c/{course.code}/", f"/c/{course.code}/signup",
                 f"/c/{course.code}/reviews/{course.sessions[0].id}/write"):
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        assert "Paper of week 3" in html and "javascript:" not in html, page
