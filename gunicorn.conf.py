"""gunicorn settings, read automatically when gunicorn starts in this directory (see README).

gunicorn always sends ``Server: gunicorn``, naming the software to anyone probing for a
vulnerable version; it has no setting to turn that off, so its response class drops the line.
"""

import gunicorn.http.wsgi


class _ResponseWithoutBanner(gunicorn.http.wsgi.Response):
    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.startswith("Server:")]


# Workers look the class up at request time, so replacing it here (before they fork) is enough.
gunicorn.http.wsgi.Response = _ResponseWithoutBanner


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    # Each worker opens what its first requests would otherwise pay for (app.warm_worker).
    from app import warm_worker

    warm_worker(worker.wsgi)
