"""The gunicorn settings both the application and the ceiling run under in `make bench`.

For production the same shape applies: sync workers, one per core. The application freezes its
start-up objects out of the cyclic garbage collector at the end of create_app() (gc.freeze), so
no post_fork hook is needed; with --preload, gc.freeze() before the fork would also keep the
pages shared copy-on-write.
"""

workers = 2
worker_class = "sync"
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    # Each worker of the application opens what its first requests would otherwise pay for
    # (app.warm_worker), as under the production config; the ceiling has nothing to open.
    if getattr(worker.wsgi, "import_name", None) != "app":
        return
    from app import warm_worker

    warm_worker(worker.wsgi)
