"""URL rules whose link builders are made when a link is first built, not at start-up.

werkzeug's ``Rule.compile`` writes two Python functions per rule (its URL builders, with and
without extra query arguments) as a syntax tree and compiles them, for every route, as the
blueprints register: 0.11 of ``create_app()``'s 0.54 CPU-s here for our 119 routes, paid by
every CLI command (``flask --help`` included) though none of them builds a URL. This rule makes
each builder on its first call, the same function werkzeug would have made, and puts it in the
stub's place on the rule, so later calls go straight to it; a served worker makes them all
before its first request (``make_link_builders``). Matching requests is unchanged (werkzeug
compiles its state machine separately).

It overrides one of werkzeug's internal methods (``Rule._compile_builder``); Werkzeug is pinned
in requirements.txt, and tests/unit/test_routing.py compares every route's built URLs with the
stock rule's, so an upgrade that changes the internals fails there, not in production.
"""

from __future__ import annotations

from typing import Any, Callable

from werkzeug.routing import Map, Rule

_BUILDER_ATTRIBUTE = {False: "_build", True: "_build_unknown"}


class LazyBuilderRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        # Positional-only, so a URL variable called "rule" cannot collide with it.
        def build_on_first_use(rule: Rule, /, **values: Any) -> tuple[str, str]:
            return _made(rule, append_unknown)(**values)

        return build_on_first_use


def make_link_builders(url_map: Map) -> None:
    """Make every route's builders now: a served worker does it before its first request
    (app.warm_worker), so no request pays for them."""
    for rule in url_map.iter_rules():
        if isinstance(rule, LazyBuilderRule):
            for append_unknown in _BUILDER_ATTRIBUTE:
                _made(rule, append_unknown)


def _made(rule: Rule, append_unknown: bool) -> Callable[..., tuple[str, str]]:
    builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
    setattr(rule, _BUILDER_ATTRIBUTE[append_unknown], builder)
    return builder
