"""``rankroom serve``: the service under gunicorn, optionally with the demo."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from service import db
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
@with_appcontext
def serve(demo: bool, host: str, port: int, workers: int | None, threads: int | None) -> None:
    """Serve Rankroom with gunicorn."""
    if demo:
        from service.cli.demo import load_demo

        db.upgrade(db.engine())
        for line in load_demo(prompts_dir=current_app.config["PROMPTS_DIR"]):
            click.echo(line)
    for line in importing.recover(db.engine()):  # a crashed import, finished or discarded
        click.echo(line)
    workers = workers or int(current_app.config["WORKERS"])
    threads = threads or int(current_app.config["THREADS"])
    env = dict(os.environ)
    env.setdefault("RANKROOM_INSTANCE_PATH", current_app.instance_path)
    env.setdefault("RANKROOM_DATABASE_URL", current_app.config["DATABASE_URL"])
    click.echo(f"Serving on http://{host}:{port} with {workers} worker(s).")
    sys.stdout.flush()
    args = [
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"{host}:{port}",
        "--access-logfile",
        "-",
        *(["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []),
        "service:create_app()",
    ]
    os.execvpe(sys.executable, [sys.executable, "-m", *args], env)
