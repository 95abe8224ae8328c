"""A live server for browser tests: the app served by werkzeug on 127.0.0.1 in a thread.

On SQLite the database is a FILE (the server thread and the test share it) created with
``db.create_all()``; on PostgreSQL (DATABASE_URL) the migrated schema is emptied first.
Browser tests skip with a reason when Chromium is missing, and fail instead when CI=true.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from models import db
from tests.conftest import ON_POSTGRES, _empty_all_tables, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI=true: browser tests must run in CI")
        pytest.skip(f"{CHROMIUM} is not installed; browser tests need Chromium")


class LiveServer:
    def __init__(self, app: Flask):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_app(_postgres_schema: None, tmp_path: Path) -> Iterator[Flask]:
    uri = os.environ["DATABASE_URL"] if ON_POSTGRES else f"sqlite:///{tmp_path / 'live.sqlite'}"
    app = make_app(SQLALCHEMY_DATABASE_URI=uri, WTF_CSRF_ENABLED=True, SERVER_NAME=None)
    with app.app_context():
        if ON_POSTGRES:
            _empty_all_tables()
        else:
            db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(live_app)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        yield page
        context.close()
        browser.close()


PASSWORD = "correct horse battery"


def sign_in(page: Any, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real form and wait until the site has answered."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{base_url}/**")


def set_review_clock(monkeypatch: pytest.MonkeyPatch, moment: Any) -> None:
    """The review pages' "now" (module-level, so the live server thread sees it too)."""
    import review.reviews.views as views

    monkeypatch.setattr(views, "_now", lambda: moment)
