"""A TA sees a staff control only when the course lets TAs use its route.

Every route decorated with ``course_staff_can(action)`` refuses a TA (403) unless the course
file's ``ta_can`` lists the action. The pages must agree: no page a TA can open holds a form or a
link to such a route while the action is not granted (the TA would click into a bare 403), and
granting the action brings every control back. The pages are found by opening every GET route of
the course the TA may open, so a control added to any page later is checked too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException

from models import CourseRole, db
from review.courses.definition import TA_ACTIONS
from tests.factories import grant_ta, make_course, make_group, make_member
from tests.querycount import count_queries
from tests.web.test_object_access import ARG_FILLERS, FIXED_ARGS, Side, _login, build_side

# After the side's paper sessions (weeks 3-5 of a term starting 7 September 2026), so the
# reviews of week 3 may be released to the class.
AFTER_THE_SESSIONS = datetime(2026, 12, 1, tzinfo=timezone.utc)
BEFORE_THE_SESSIONS = datetime(2026, 9, 1, tzinfo=timezone.utc)

# Routes no page offers until an earlier step of the same action: the TA reaches them only
# through a page that is itself refused without the grant.
REACHED_MID_FLOW = {
    "gradebook.confirm_import": "offered by the import page once an uploaded file is previewed",
}


class Targets(HTMLParser):
    """(method, path) of every form and link on a page; a form without an action posts back."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            method = (values.get("method") or "get").upper()
            self.found.append((method, values.get("action") or self.page_path))
        elif tag == "a" and values.get("href"):
            self.found.append(("GET", values["href"]))


def endpoints_named(app: Flask, page_path: str, html: str) -> set[str]:
    parser = Targets(page_path)
    parser.feed(html)
    adapter = app.url_map.bind("localhost")
    named = set()
    for method, target in parser.found:
        parts = urlsplit(target)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            continue
        try:
            endpoint, _ = adapter.match(parts.path, method=method)
        except HTTPException:
            continue
        named.add(endpoint)
    return named


def endpoints_of(app: Flask, action: str) -> set[str]:
    return {endpoint for endpoint, view in app.view_functions.items()
            if getattr(view, "staff_action", None) == action}


def course_pages(app: Flask, side: Side, ids: dict[str, Any]) -> list[str]:
    """Every GET page of the course, its URL arguments filled from the side's objects."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or "course_code" not in rule.arguments:
            continue
        values: dict[str, Any] = {"course_code": side.code}
        for name in rule.arguments - {"course_code"}:
            values[name] = FIXED_ARGS[name] if name in FIXED_ARGS else ids[name]
        urls.append(app.url_for(rule.endpoint, **values))
    return sorted(set(urls))


def controls_on_open_pages(app: Flask, client: FlaskClient, side: Side,
                           ids: dict[str, Any]) -> dict[str, list[str]]:
    """Endpoint -> the pages (that the signed-in user may open) holding a form or link to it."""
    where: dict[str, list[str]] = {}
    opened = 0
    for url in course_pages(app, side, ids):
        response = client.get(url)
        if response.status_code != 200 or not response.content_type.startswith("text/html"):
            continue
        opened += 1
        path = urlsplit(url).path
        for endpoint in endpoints_named(app, path, response.get_data(as_text=True)):
            where.setdefault(endpoint, []).append(path)
    assert opened > 15, "the TA opened too few pages for this check to mean anything"
    return where


@pytest.fixture
def side(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Side:
    monkeypatch.setattr("review.reviews.views.utcnow", lambda: AFTER_THE_SESSIONS)
    built = build_side("ta-controls")
    built.course.groups_locked = True     # the groups page then offers to unlock
    db.session.commit()
    built.ids = {name: fill(built) for name, fill in ARG_FILLERS.items()}
    return built


@pytest.mark.parametrize("action", sorted(TA_ACTIONS))
def test_a_ta_sees_the_controls_of_an_action_only_when_the_course_grants_it(
        app: Flask, client: FlaskClient, side: Side, action: str) -> None:
    routes = endpoints_of(app, action)
    assert routes
    _login(client, side.ta)

    grant_ta(side.course, *(set(TA_ACTIONS) - {action}))   # the others do not grant this one
    db.session.commit()
    where = controls_on_open_pages(app, client, side, side.ids)
    offered = {endpoint: where[endpoint] for endpoint in sorted(routes & set(where))}
    assert offered == {}, f"pages offer a TA without {action!r} routes that refuse them"

    side.course.definition = {**side.course.definition, "ta_can": [action]}
    db.session.commit()
    where = controls_on_open_pages(app, client, side, side.ids)
    missing = sorted(routes - set(where) - set(REACHED_MID_FLOW))
    assert missing == [], f"a TA granted {action!r} is not offered these routes"


def test_an_infeasible_run_offers_its_relaxations_only_to_who_may_run_again(
        app: Flask, client: FlaskClient, side: Side) -> None:
    from review.assignment.services import RunOptions, run_assignment

    # Before the term, three groups holding one slot each cannot fill every slot; a larger
    # quota would.
    make_group(side.course, [side.students[4], make_member(side.course)])
    infeasible = run_assignment(side.course, side.instructor, BEFORE_THE_SESSIONS,
                                RunOptions(quota=1))
    db.session.commit()
    assert infeasible.status == "infeasible"
    url = f"/c/{side.code}/assignment/runs/{infeasible.id}"
    _login(client, side.ta)
    page = client.get(url).get_data(as_text=True)
    assert "assignment.run" not in endpoints_named(app, url, page)
    assert "Running the assignment again is up to the instructors" in page
    grant_ta(side.course, "publish_assignment")
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "assignment.run" in endpoints_named(app, url, page)


def test_the_ta_pages_say_who_may_do_what_they_hide(app: Flask, client: FlaskClient,
                                                    side: Side) -> None:
    _login(client, side.ta)
    code = side.code
    pages = {
        f"/c/{code}/grading": "Releasing feedback is up to the instructors",
        f"/c/{code}/grading/presentations/{side.slot1.id}": "Releasing feedback is up to",
        f"/c/{code}/grading/reviews/{side.review1.id}": "Releasing feedback is up to",
        f"/c/{code}/grading/regrades": "Answering regrade requests is up to",
        f"/c/{code}/reviews/matrix": "Excusing a student from a week's review is up to",
        f"/c/{code}/reviews/{side.session.id}/all": "Releasing reviews to the class is up to",
        f"/c/{code}/groups": "Changing groups and dissolving or merging them is up to",
        f"/c/{code}/assignment": "Running and publishing the assignment is up to",
        f"/c/{code}/assignment/runs/{side.run.id}": "Publishing the assignment is up to",
        f"/c/{code}/signup": "Assigning and swapping slots by hand",
        f"/c/{code}/gradebook": "Importing and editing external grades is up to",
    }
    for url, line in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert line in response.get_data(as_text=True), url


def _ta_page_queries(client: FlaskClient, code: str, groups: int) -> list[int]:
    """Queries of the groups page and the sign-up board for a TA granted every action, in a
    course with ``groups`` groups each holding a slot while slots last."""
    course = make_course(code)
    grant_ta(course, *TA_ACTIONS)
    ta = make_member(course, CourseRole.ta)
    slots = [slot for session in course.sessions for slot in session.slots]
    for index in range(groups):
        group = make_group(course, [make_member(course), make_member(course)])
        if index < len(slots):
            slots[index].group_id = group.id
    db.session.commit()
    _login(client, ta)
    counts = []
    for url in (f"/c/{code}/groups", f"/c/{code}/signup"):
        with count_queries() as counter:
            assert client.get(url).status_code == 200, url
        counts.append(counter.count)
    return counts


def test_showing_the_controls_costs_no_query_per_row(app: Flask, client: FlaskClient) -> None:
    assert _ta_page_queries(client, "few-groups", 2) == \
        _ta_page_queries(client, "many-groups", 9)
