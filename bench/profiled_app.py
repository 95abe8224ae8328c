"""The application under cProfile, for ``run_bench.py --only ... --profile-dir DIR``.

Served through gunicorn exactly as the benchmark serves it, so the profile shows what the
in-process test client does not. The profiler's clock is the process's CPU time (a wall clock
would count the waits for SQLite's write lock and fsync as work). Each worker keeps one profile
of every request it served and rewrites ``DIR/<pid>.prof`` after each; merge them with pstats.
"""

from __future__ import annotations

import cProfile
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from flask import Flask

import app as application


class _CpuProfiler:
    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], directory: Path) -> None:
        self.wsgi_app = wsgi_app
        self.directory = directory
        self.profile = cProfile.Profile(time.process_time)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.profile.enable()
        try:
            body = b"".join(self.wsgi_app(environ, start_response))
        finally:
            self.profile.disable()
        self.profile.dump_stats(self.directory / f"{os.getpid()}.prof")
        return [body]


def create_app() -> Flask:
    flask_app = application.create_app()
    flask_app.wsgi_app = _CpuProfiler(  # type: ignore[method-assign]
        flask_app.wsgi_app, Path(os.environ["BENCH_PROFILE_DIR"]))
    return flask_app
