"""Link builders made on first use (review.core.routing): the same URLs as werkzeug's own."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from werkzeug.routing import PathConverter, Rule, ValidationError

from review.core.ids import IdConverter
from review.core.routing import LazyBuilderRule


def _is_stub(bound: Any) -> bool:
    return bound.__func__.__name__ == "build_on_first_use"


def _sample_values(rule: Rule) -> list[dict[str, Any]]:
    """Values for every argument of the rule: ordinary ones, ones that need quoting, and ones out
    of range (whatever werkzeug makes of them, the two must agree); each with and without extra
    (query) arguments."""
    ordinary: dict[str, Any] = {}
    awkward: dict[str, Any] = {}
    refused: dict[str, Any] = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        if isinstance(converter, IdConverter):
            ordinary[name], awkward[name], refused[name] = 7, 0, -1
        elif isinstance(converter, PathConverter):
            ordinary[name], awkward[name], refused[name] = "a/b.css", "é x/?#", "a/b"
        else:
            ordinary[name], awkward[name], refused[name] = "comp-541", "é x/?#&=", "a"
    sets = [ordinary, awkward, refused]
    return sets + [{**values, "next": "/c/x?y=1 z", "version": 3} for values in sets]


def _built(builder: Any, values: dict[str, Any]) -> Any:
    try:
        return builder(**values)
    except (ValidationError, TypeError, ValueError) as error:
        return type(error).__name__


def test_every_route_builds_the_urls_werkzeugs_own_builder_builds(app) -> None:
    rules = [rule for rule in app.url_map.iter_rules() if isinstance(rule, LazyBuilderRule)]
    assert len(rules) > 100  # every blueprint's routes, not just the static files'
    for rule in rules:
        for values in _sample_values(rule):
            for append_unknown, name in ((False, "_build"), (True, "_build_unknown")):
                stock = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
                assert _built(getattr(rule, name), values) == _built(stock, values), (
                    rule.rule, values, append_unknown)


def test_create_app_makes_no_link_builder_and_the_first_link_makes_one(app) -> None:
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()
             if isinstance(rule, LazyBuilderRule)}
    assert all(_is_stub(rule._build) and _is_stub(rule._build_unknown) for rule in rules.values())
    with app.test_request_context():
        assert url_for("reviews.receipt", course_code="comp-541", session_id=4, version=2) == (
            "/c/comp-541/reviews/4/receipt?version=2")
    receipt = rules["reviews.receipt"]
    # Made once and kept in the stub's place; the builder without extra arguments is still to be
    # made, and every other route's too.
    assert not _is_stub(receipt._build_unknown) and _is_stub(receipt._build)
    assert _is_stub(rules["reviews.edit"]._build_unknown)
    with app.test_request_context():
        assert url_for("reviews.receipt", course_code="b", session_id=5) == "/c/b/reviews/5/receipt"


def test_a_url_variable_may_be_called_rule() -> None:
    # The stub's own first parameter is positional-only, so it never takes a URL's value.
    app = Flask(__name__)
    app.url_rule_class = LazyBuilderRule

    @app.get("/rules/<rule>/<int:self>")
    def show(rule: str, self: int) -> str:  # pragma: no cover - only its URL is built
        return rule

    with app.test_request_context():
        assert url_for("show", rule="late-policy", self=2) == "/rules/late-policy/2"
