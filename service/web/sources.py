"""Admin pages for pull sources: list and add sources, see their runs and errors, run, retry."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from service import db
from service.errors import Conflict, DomainError, InvalidInput
from service.http.auth import current_user, requires
from service.models import Project, Source, SourceKind
from service.projects import projects, sources

bp = Blueprint("source_pages", __name__, url_prefix="/admin")


def _render_list(form: dict[str, Any] | None = None, error: DomainError | None = None) -> Any:
    s = db.session()
    slugs = {p.id: p.slug for p in projects.list_projects(session=s)}
    active = sources.active_runs(session=s)
    rows = [
        (src, slugs[src.project_id], active.get(src.id)) for src in sources.list_sources(session=s)
    ]
    html = render_template(
        "sources.html",
        rows=rows,
        projects=sorted(slugs.values()),
        kinds=[k.value for k in SourceKind],
        form=form or {},
        error=error,
    )
    return html, error.status if error else 200


@bp.route("/sources")
@requires("admin")
def index() -> Any:
    """List every source with its last pull, and a form to add one."""
    return _render_list()


def _form_data(form: dict[str, str]) -> dict[str, Any]:
    """Turn the add-source form into the data create_source takes."""
    try:
        config = json.loads(form.get("config") or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "Invalid source.", errors=[{"field": "config", "message": f"not JSON: {exc}"}]
        ) from exc
    interval = form.get("interval_minutes", "").strip()
    return {
        "name": form.get("name", "").strip(),
        "project": form.get("project", ""),
        "kind": form.get("kind", ""),
        "config": config,
        "interval_minutes": int(interval) if interval.isdigit() else (interval or None),
    }


@bp.route("/sources", methods=["POST"])
@requires("admin")
def create() -> Any:
    """Add a source from the form (config given as JSON)."""
    form = request.form.to_dict()
    s = db.session()
    try:
        source = sources.create_source(session=s, data=_form_data(form), user_id=current_user().id)
        s.commit()
    except DomainError as exc:
        s.rollback()
        return _render_list(form, exc)
    return redirect(url_for("source_pages.show", name=source.name), code=303)


def _render_source(name: str, notice: str = "", status: int = 200) -> Any:
    s = db.session()
    source = sources.get_source(session=s, name=name)
    failed = []
    if source.kind == SourceKind.GENERATION.value:
        failed = sources.list_generations(session=s, source=source, status="failed")
    html = render_template(
        "source.html",
        source=source,
        project=s.get(Project, source.project_id),
        runs=sources.list_runs(session=s, source=source),
        failed=failed,
        config=json.dumps(source.config, indent=2, ensure_ascii=False),
        notice=notice,
    )
    return html, status


@bp.route("/sources/<name>")
@requires("admin")
def show(name: str) -> Any:
    """Show a source: its config, its runs with their errors, and failed generations."""
    return _render_source(name)


@bp.route("/sources/<name>/runs", methods=["POST"])
@requires("admin")
def run_now(name: str) -> Any:
    """Queue a pull (or, with mode=retry, a retry of failed generations) for the worker."""
    s = db.session()
    source = sources.get_source(session=s, name=name)
    mode = request.form.get("mode", "pull")
    try:
        sources.enqueue_run(session=s, source=source, mode=mode, user_id=current_user().id)
        s.commit()
    except Conflict as exc:
        s.rollback()
        return _render_source(name, exc.message, 409)
    return redirect(url_for("source_pages.show", name=name), code=303)


@bp.route("/runs/<int:run_id>/retry", methods=["POST"])
@requires("admin")
def retry(run_id: int) -> Any:
    """Queue a retry of a failed or partial run."""
    s = db.session()
    run = sources.get_run(session=s, run_id=run_id)
    name = s.get(Source, run.source_id).name
    try:
        sources.retry_run(session=s, run=run, user_id=current_user().id)
        s.commit()
    except Conflict as exc:
        s.rollback()
        return _render_source(name, exc.message, 409)
    return redirect(url_for("source_pages.show", name=name), code=303)
