"""Every page reachable by following links in the lively demo term answers without an error.

A crawler signs in as each kind of user, follows every link on every page it reaches (GET only,
within the site), and fails on any 5xx answer, so a page broken for one role or one state of the
data cannot hide behind the pages the other tests visit.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest

LINK = re.compile(r'href="([^"]+)"')
# Downloads and feeds are checked for status too, but not parsed for links.
NOT_HTML = (".csv", ".xlsx", ".ics", ".svg")
MAX_PAGES = 400


def crawl(client, start: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        if response.status_code != 200 or url.endswith(NOT_HTML) or \
                not response.content_type.startswith("text/html"):
            continue
        for href in LINK.findall(response.get_data(as_text=True)):
            href = urldefrag(href.replace("&amp;", "&"))[0]
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or not href.startswith("/") or href.startswith("/static/"):
                continue
            if href not in seen:
                queue.append(href)
    return seen


@pytest.mark.parametrize("email", ["instructor@example.edu", "ta@example.edu",
                                   "aaslan17@example.edu"])
def test_no_page_reachable_from_the_course_home_fails(runner, client, monkeypatch, email) -> None:
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password")
    # Seeded up to a fixed clock so the crawl walks the same term on any day.
    monkeypatch.setattr("review.cli.utcnow", lambda: datetime(2026, 11, 26, 12, tzinfo=timezone.utc))
    seeded = runner.invoke(args=["demo", "seed", "--as-of", "2026-11-26", "--with-activity"])
    assert seeded.exit_code == 0, seeded.output
    assert client.post("/login", data={"email": email,
                                       "password": "demo-password"}).status_code == 302
    visited = crawl(client, "/c/comp541-fall2023/")
    failures = {url: status for url, status in visited.items() if status >= 500}
    assert failures == {}
    assert len(visited) > 20, sorted(visited)
    # The sign-out link is a form, never a link, so the crawl stayed signed in throughout.
    assert all(status != 302 or "login" not in url for url, status in visited.items())
