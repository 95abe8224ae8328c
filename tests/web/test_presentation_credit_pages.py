"""Pages after a group changed: grading, the gradebook and feedback follow who presented."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import db
from review.groups import services as groups
from tests.services.test_presentation_credit import Term


@pytest.fixture
def term(app: Flask) -> Term:
    return Term()


def test_a_dissolved_groups_graded_talk_stays_in_grading_and_the_gradebook(
        client: FlaskClient, login, term: Term) -> None:
    groups.dissolve_group(term.course, term.blue, term.teacher, now=term.now)
    db.session.commit()
    login(term.teacher)
    grading = client.get("/c/credit-ny/grading").get_data(as_text=True)
    assert "Blue (dissolved)" in grading
    page = client.get(f"/c/credit-ny/grading/presentations/{term.blue5.id}").get_data(as_text=True)
    assert "Blue (dissolved)" in page
    assert term.dan.last_name in page and term.eva.last_name in page
    gradebook = client.get(f"/c/credit-ny/gradebook/students/{term.eva.id}").get_data(as_text=True)
    assert "75.0" in gradebook and "Blue (dissolved)" in gradebook
    login(term.dan)
    grades = client.get("/c/credit-ny/grades").get_data(as_text=True)
    assert "75.0" in grades


def test_the_adjustment_list_names_the_presenters_not_the_current_members(
        client: FlaskClient, login, term: Term) -> None:
    groups.leave_group(term.course, term.dan, now=term.now)
    groups.join_group(term.course, term.dan, term.red.join_code, now=term.now)
    db.session.commit()
    login(term.teacher)
    red8 = client.get(f"/c/credit-ny/grading/presentations/{term.red8.id}").get_data(as_text=True)
    assert term.ana.last_name in red8 and term.dan.last_name not in red8
    blue5 = client.get(f"/c/credit-ny/grading/presentations/{term.blue5.id}").get_data(as_text=True)
    assert term.dan.last_name in blue5


def test_students_feedback_lists_the_talks_they_gave(client: FlaskClient, login,
                                                     term: Term) -> None:
    groups.leave_group(term.course, term.dan, now=term.now)
    groups.join_group(term.course, term.dan, term.red.join_code, now=term.now)
    db.session.commit()
    login(term.dan)
    assert client.get(f"/c/credit-ny/feedback/presentations/{term.blue5.id}").status_code == 200
    assert client.get(f"/c/credit-ny/feedback/presentations/{term.red8.id}").status_code == 404
    feedback = client.get("/c/credit-ny/feedback").get_data(as_text=True)
    assert "Paper of week 5" in feedback and "Paper of week 8" not in feedback
