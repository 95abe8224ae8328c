"""TAs grade, view and export; every instructor-level action is refused to them (403) unless
the course file's ``ta_can:`` lists it. Walks every route that names a staff action."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import db
from review.courses.definition import TA_ACTIONS
from tests.factories import grant_ta
from tests.web.test_object_access import (ARG_FILLERS, FIXED_ARGS, Side, _login, _plausible_form,
                                          build_side)


def routes_of(app: Flask, action: str) -> list[tuple[Any, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "staff_action", None) == action:
            for method in sorted(rule.methods & {"GET", "POST"}):
                found.append((rule, method))
    return found


def url_of(app: Flask, rule: Any, side: Side) -> str:
    values: dict[str, Any] = {"course_code": side.code}
    for name in rule.arguments - {"course_code"}:
        values[name] = FIXED_ARGS[name] if name in FIXED_ARGS else ARG_FILLERS[name](side)
    return app.url_for(rule.endpoint, **values)


@pytest.fixture
def side(app: Flask) -> Side:
    built = build_side("ta-rules")
    db.session.commit()
    return built


def test_every_action_guards_at_least_one_route_and_no_route_names_another(app: Flask) -> None:
    named = {getattr(view, "staff_action", None) for view in app.view_functions.values()}
    assert set(TA_ACTIONS) <= named
    assert named - set(TA_ACTIONS) == {None}


@pytest.mark.parametrize("action", sorted(TA_ACTIONS))
def test_a_ta_is_refused_each_action_unless_the_course_grants_it(
        app: Flask, client: FlaskClient, side: Side, action: str) -> None:
    routes = routes_of(app, action)
    assert routes
    form = _plausible_form(side)
    _login(client, side.ta)
    for rule, method in routes:
        url = url_of(app, rule, side)
        response = client.get(url) if method == "GET" else client.post(url, data=form)
        assert response.status_code == 403, f"{method} {url}"
    other = sorted(set(TA_ACTIONS) - {action})
    grant_ta(side.course, *other)      # granting the others does not grant this one
    db.session.commit()
    for rule, method in routes:
        url = url_of(app, rule, side)
        response = client.get(url) if method == "GET" else client.post(url, data=form)
        assert response.status_code == 403, f"{method} {url} with {other}"
    side.course.definition = {**side.course.definition, "ta_can": [action]}
    db.session.commit()
    for rule, method in routes:
        url = url_of(app, rule, side)
        response = client.get(url) if method == "GET" else client.post(url, data=form)
        # Not refused for the role; an earlier action may have removed the object (404).
        assert response.status_code != 403 and response.status_code < 500, f"{method} {url}"


@pytest.mark.parametrize("action", sorted(TA_ACTIONS))
def test_an_instructor_may_always_do_each_action(app: Flask, client: FlaskClient, side: Side,
                                                 action: str) -> None:
    _login(client, side.instructor)
    for rule, method in routes_of(app, action):
        if method != "GET":
            continue
        url = url_of(app, rule, side)
        assert client.get(url).status_code == 200, url


def test_a_ta_still_grades_views_and_exports(app: Flask, client: FlaskClient,
                                             side: Side) -> None:
    _login(client, side.ta)
    code = side.code
    for url in (f"/c/{code}/grading", f"/c/{code}/grading/presentations/{side.slot1.id}",
                f"/c/{code}/gradebook", f"/c/{code}/gradebook/export/xlsx",
                f"/c/{code}/reviews/matrix.csv", f"/c/{code}/assignment",
                f"/c/{code}/roster"):
        assert client.get(url).status_code == 200, url


def test_the_course_file_grants_ta_actions(app: Flask, runner, tmp_path) -> None:
    import yaml

    from review.courses.services import find_course
    from tests.factories import course_definition_data

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(course_definition_data(
        "granted", timezone="Australia/Sydney", ta_can=["release", "manage_slots"])))
    assert runner.invoke(args=["course", "import", str(path)]).exit_code == 0
    assert find_course("granted").definition["ta_can"] == ["release", "manage_slots"]
