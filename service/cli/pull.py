"""``rankroom sources``, ``rankroom pull`` and ``rankroom worker``: pulls from the command line."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlmodel import Session

from service import db
from service.cli.common import fail
from service.errors import DomainError, InvalidInput
from service.models import PullRun, RunStatus, SourceKind
from service.projects import projects, sources
from service.pull import context, runs, worker


@click.group("sources", cls=AppGroup)
def sources_group() -> None:
    """Manage pull sources: remote files, watched folders, generation."""


def _config_option(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    text = Path(value).read_text(encoding="utf-8") if Path(value).is_file() else value
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--config is neither a JSON file nor JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise InvalidInput("--config must be a JSON object")
    return config


@sources_group.command("add")
@click.argument("name")
@click.option("--project", "slug", required=True, help="Slug of the project the items go to.")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in SourceKind]),
    required=True,
    help="remote: an http(s) JSONL file; folder: a watched directory; generation: model endpoints.",
)
@click.option("--url", default=None, help="remote: the file's http(s) URL.")
@click.option("--path", default=None, help="folder: absolute path of the watched directory.")
@click.option(
    "--config",
    "config_value",
    default=None,
    help="The config as JSON, or a JSON file (generation sources need one; see the README).",
)
@click.option(
    "--every", type=int, default=None, help="Pull every this many minutes (default: on demand)."
)
@click.option("--skip-invalid", is_flag=True, help="remote/folder: keep good lines, report bad.")
@click.option("--update", is_flag=True, help="remote/folder: replace changed unjudged items.")
def sources_add(
    name: str,
    slug: str,
    kind: str,
    url: str | None,
    path: str | None,
    config_value: str | None,
    every: int | None,
    skip_invalid: bool,
    update: bool,
) -> None:
    """Add a source to a project."""
    try:
        config = _config_option(config_value)
        extras = {"url": url, "path": path, "skip_invalid": skip_invalid or None}
        config.update({k: v for k, v in {**extras, "update": update or None}.items() if v})
        data = {"name": name, "project": slug, "kind": kind, "config": config}
        with db.write_session() as s:
            source = sources.create_source(session=s, data={**data, "interval_minutes": every})
    except DomainError as exc:
        fail(exc)
    when = f"every {every} min" if every else "on demand"
    click.echo(f"Added {source.kind} source {source.name} to {slug} (pulled {when}).")


@sources_group.command("list")
@click.option("--project", "slug", default=None, help="Only this project's sources.")
def sources_list(slug: str | None) -> None:
    """List sources and how their last pull went."""
    # A short session of its own: the CLI's app context may outlive this command.
    with Session(db.engine()) as s:
        try:
            project = projects.get_project(session=s, slug=slug) if slug else None
        except DomainError as exc:
            fail(exc)
        slugs = {p.id: p.slug for p in projects.list_projects(session=s)}
        for src in sources.list_sources(session=s, project=project):
            config = src.config
            # A judge's source holds only its judge's id (see ``rankroom judges list``).
            where = config.get("url") or config.get("path") or config.get("prompts") or config
            every = f"{src.interval_minutes}m" if src.interval_minutes else "manual"
            last = src.last_status or "never"
            slug_of = slugs[src.project_id]
            click.echo(f"{src.name:<24} {slug_of:<16} {src.kind:<10} {every:<7} {last:<10} {where}")


@sources_group.command("show")
@click.argument("name")
def sources_show(name: str) -> None:
    """Show a source's config and its latest runs."""
    with Session(db.engine()) as s:
        try:
            source = sources.get_source(session=s, name=name)
        except DomainError as exc:
            fail(exc)
        click.echo(json.dumps(source.config, indent=2))
        for run in sources.list_runs(session=s, source=source, limit=10):
            when = f"{run.created_at:%Y-%m-%d %H:%M}"
            click.echo(f"run {run.id:<5} {run.status:<9} {run.trigger:<8} {when} {run.error}")


class _Bars:
    """Show a pull's progress on stderr: a bar when the total is known, a counter otherwise."""

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: Any = None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase != self.phase:
            self.close()
            self.phase = phase
            if total:
                self.bar = click.progressbar(length=total, label=phase, file=sys.stderr)
                self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(done - self.bar.pos)
        else:
            click.echo(f"\r{phase}: {done:,}", nl=False, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        elif self.phase is not None:
            click.echo(err=True)
        self.bar = self.phase = None


@click.command("pull")
@click.argument("source_name", metavar="SOURCE")
@click.option("--retry", is_flag=True, help="Also re-ask generations that failed before.")
@with_appcontext
def pull_cmd(source_name: str, retry: bool) -> None:
    """Pull a source now, in this process, with a progress bar."""
    ctx = context.from_config(engine=db.engine(), config=current_app.config)
    ctx.on_progress = bars = _Bars()
    try:
        with db.write_session() as s:
            worker.requeue_stale(session=s, stale_seconds=ctx.stale_seconds)
            source = sources.get_source(session=s, name=source_name)
            run = worker.claim_source(
                session=s, source=source, worker_id=ctx.worker_id, mode="retry" if retry else "pull"
            )
    except DomainError as exc:
        fail(exc)
    try:
        finished = runs.execute(ctx, run.id)
    except KeyboardInterrupt:
        bars.close()
        runs.abandon(ctx, run.id, "interrupted (Ctrl-C) while pulling from the command line")
        click.secho(f"Run {run.id} interrupted.", fg="red", err=True)
        sys.exit(130)
    bars.close()
    _report(finished)


def _report(run: PullRun) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in run.summary.items() if isinstance(v, int))
    colour = {RunStatus.FAILED.value: "red", RunStatus.PARTIAL.value: "yellow"}.get(run.status)
    click.secho(f"Run {run.id}: {run.status}. {counts}", fg=colour)
    if run.error:
        click.secho(run.error, fg=colour, err=True)
    for e in run.errors[:20]:
        where = " ".join(
            f"{k} {e[k]}" for k in ("file", "line", "prompt_id", "generator") if k in e
        )
        click.echo(f"  {where}: {e.get('field', '') and e['field'] + ': '}{e['message']}", err=True)
    if len(run.errors) > 20:
        click.echo(f"  ... and {len(run.errors) - 20} more (rankroom sources show)", err=True)
    if run.status == RunStatus.FAILED.value:
        sys.exit(1)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the pulls due now, then exit.")
@click.option(
    "--poll", type=float, default=None, help="Seconds between looks (default WORKER_POLL_SECONDS)."
)
@with_appcontext
def worker_cmd(once: bool, poll: float | None) -> None:
    """Run scheduled and queued pulls; stop gracefully on SIGTERM or Ctrl-C."""
    ctx = context.from_config(engine=db.engine(), config=current_app.config)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            ctx.stop.set()
            click.echo("Stopping now; the current pull goes back to the queue.", err=True)
            return
        stopping.set()
        click.echo(
            "Finishing the current pull, then stopping (signal again to stop now).", err=True
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"Worker {ctx.worker_id} started.")
    sys.stdout.flush()
    try:
        ran = worker.run_worker(
            ctx,
            stopping=stopping,
            poll_seconds=poll if poll is not None else current_app.config["WORKER_POLL_SECONDS"],
            once=once,
            echo=lambda line: click.echo(line) or sys.stdout.flush(),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"Worker {ctx.worker_id} stopped after {ran} pull(s).")
