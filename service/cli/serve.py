"""``rankroom serve``: the service under gunicorn, optionally with the demo."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo
from gunicorn.app.base import BaseApplication

from service import db
from service.http import liveness
from service.items import importing


@click.command("serve")
@click.option("--demo", is_flag=True, help="Create the database, load demo projects and accounts.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--workers", type=int, default=None, help="gunicorn workers (default: RANKROOM_WORKERS)."
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Threads per worker; above 1 uses gthread workers (default: RANKROOM_THREADS).",
)
def serve(demo: bool, host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Serve Rankroom with gunicorn."""
    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    # The start-up work runs in an app context that ends before gunicorn starts: a
    # context still pushed when the workers fork would be every request's (Flask reuses
    # an active context of the same app), and ``g`` would outlive each request.
    with app.app_context():
        if demo:
            from service.cli.demo import load_demo

            db.upgrade(db.engine())
            for line in load_demo(prompts_dir=app.config["PROMPTS_DIR"]):
                click.echo(line)
        db.check_schema(db.engine())
        for line in importing.recover(db.engine()):  # a crashed import, finished or discarded
            click.echo(line)
        workers = workers or int(app.config["WORKERS"]) or default_workers()
        # No connection may cross the fork: the master never queries.
        db.engine().dispose()
    threads = threads or int(app.config["THREADS"])
    click.echo(f"Serving on http://{host}:{port} with {workers} worker(s).")
    sys.stdout.flush()
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "accesslog": "-",
        "post_worker_init": _report_liveness,
        **({"worker_class": "gthread", "threads": threads} if threads > 1 else {}),
    }
    # The workers fork from this process with the app already built: one import of
    # the service instead of one per worker (start-up time), and pages shared until
    # written (memory).
    _Gunicorn(app, options).run()


def _report_liveness(worker: Any) -> None:
    """Let long requests (a streamed folder export) tell gunicorn this worker is alive."""
    liveness.set_notifier(worker.notify)


def default_workers() -> int:
    """Return the worker count for this machine: one per core this process may run on.

    On 2 cores at 32 raters, a third worker did not help even on PostgreSQL, where a
    worker idles during each round trip: 371 judgments per second with 2 workers, 333
    with 3 (scripts/bench_assignment.py on a quiet machine).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    """gunicorn serving an app object this process already built."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app, self.settings = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app
