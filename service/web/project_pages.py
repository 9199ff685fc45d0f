"""Admin pages for projects: list and create, upload items, settings, guidelines versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from service import db
from service.errors import DomainError, InvalidInput
from service.http.auth import audit_here, client_address, current_user, requires
from service.models import Mode, ProjectStatus
from service.projects import guideline_versions, projects, sources
from service.rating import overview, settings
from service.rubric import rubric_of

bp = Blueprint("project_pages", __name__, url_prefix="/admin/projects")
SCRATCH = ""  # the create form's "no template" choice


def _templates() -> list[str]:
    folder = Path(current_app.config["PROMPTS_DIR"]) / "templates"
    return sorted(p.stem for p in folder.glob("*.json"))


def _render_list(form: dict[str, str] | None = None, error: DomainError | None = None) -> Any:
    s = db.session()
    html = render_template(
        "projects/list.html",
        projects=projects.list_projects(session=s),
        progress=overview.progress_by_project(session=s),
        templates=_templates(),
        modes=[m.value for m in Mode],
        form=form or {},
        error=error,
    )
    return html, error.status if error else 200


@bp.route("")
@requires("admin")
def index() -> Any:
    """List projects with status and progress, and the form to create one."""
    return _render_list()


def _new_project_data(form: dict[str, str]) -> dict[str, Any]:
    """The data create_project takes: a template's, or a blank project's, plus the form's."""
    template = form.get("template", SCRATCH)
    if template == SCRATCH:
        data: dict[str, Any] = {"mode": form.get("mode", Mode.PAIRWISE.value)}
    elif template in _templates():
        data = projects.load_template(current_app.config["PROMPTS_DIR"], template)
    else:
        raise InvalidInput("Invalid project.", errors=[{"field": "template", "message": "unknown"}])
    slug = form.get("slug", "").strip()
    data.update(slug=slug, name=form.get("name", "").strip() or data.get("name") or slug)
    return data


@bp.route("", methods=["POST"])
@requires("admin")
def create() -> Any:
    """Create a project from a template in prompts/templates, or from scratch."""
    form = request.form.to_dict()
    s = db.session()
    try:
        project = projects.create_project(session=s, data=_new_project_data(form))
        audit_here("project.create", f"project:{project.slug}")
        s.commit()
    except DomainError as exc:
        s.rollback()
        return _render_list(form, exc)
    flash(f"Created project {project.slug}. Upload items to start.")
    return redirect(url_for("project_pages.show", slug=project.slug), code=303)


def _render_project(slug: str, form: dict[str, str] | None = None, error: Any = None) -> Any:
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    judged = settings.judgment_count(session=s, project=project)
    html = render_template(
        "projects/show.html",
        project=project,
        progress=overview.progress_by_project(session=s).get(project.id, overview.Progress()),
        judged=judged,
        sources=[src for src in sources.list_sources(session=s) if src.project_id == project.id],
        statuses=[st.value for st in ProjectStatus],
        rubric=json.dumps([d.as_dict() for d in rubric_of(project)], indent=2, ensure_ascii=False),
        form=form or {},
        error=error,
    )
    return html, error.status if error else 200


@bp.route("/<slug>")
@requires("admin")
def show(slug: str) -> Any:
    """Show a project: its progress, the upload, its settings and its links."""
    return _render_project(slug)


# The settings form's fields: text inputs, read as the JSON types the schema takes.
_INTS = (
    "overlap",
    "overlap_max",
    "lease_minutes",
    "qualification_items",
    "skip_flag_threshold",
    "judge_budget_overlap",
)
_CAPS = ("daily_cap", "rater_cap", "judge_token_budget")
_FLOATS = (
    "gold_rate",
    "qualification_threshold",
    "pairing_uniform_share",
    "audit_share",
    "judge_audit_share",
)


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text  # the schema names the field and refuses it


def _settings_data(form: dict[str, str], rubric_locked: bool) -> dict[str, Any]:
    texts = ("name", "status", "pairing", "edit", "judge_display")
    data: dict[str, Any] = {k: form[k] for k in texts if k in form}
    for flag in ("confirm_contradictions", "adaptive_overlap", "judge_triage", "judge_budget"):
        if flag in form:
            data[flag] = form[flag] == "on"
    if "span_labels" in form:  # one label a line
        data["span_labels"] = [n for n in form["span_labels"].splitlines() if n.strip()]
    if "span_overlap" in form:
        data["span_overlap"] = form["span_overlap"] == "on"
    data |= {k: _number(form[k].strip(), int) for k in _INTS if k in form}
    data |= {k: _number(form[k].strip(), float) for k in _FLOATS if k in form}
    data |= {
        k: _number(form[k].strip(), int) if form[k].strip() else None for k in _CAPS if k in form
    }
    if "rubric" in form and not rubric_locked:
        try:
            data["rubric"] = json.loads(form["rubric"] or "[]")
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                "Invalid settings.", errors=[{"field": "rubric", "message": f"not JSON: {exc}"}]
            ) from exc
    return data


@bp.route("/<slug>/settings", methods=["POST"])
@requires("admin")
def save_settings(slug: str) -> Any:
    """Apply the settings form (the same rules as PATCH /api/v1/projects/<slug>)."""
    form = request.form.to_dict()
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    locked = settings.judgment_count(session=s, project=project) > 0
    try:
        changes = settings.update_settings(
            session=s,
            project=project,
            data=_settings_data(form, locked),
            actor_id=current_user().id,
            address=client_address(),
        )
        s.commit()
    except DomainError as exc:
        s.rollback()
        return _render_project(slug, form, exc)
    flash(f"Saved: {', '.join(changes)}." if changes else "Nothing changed.")
    return redirect(url_for("project_pages.show", slug=slug), code=303)


@bp.route("/<slug>/guidelines", methods=["GET", "POST"])
@requires("admin")
def guidelines(slug: str) -> Any:
    """Edit the guidelines (each save a new version) and list the versions."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    if request.method == "POST":
        before = project.guideline_version
        projects.update_guidelines(
            session=s,
            project=project,
            guidelines=request.form.get("guidelines", "").replace("\r\n", "\n"),
            actor_id=current_user().id,
            address=client_address(),
        )
        s.commit()
        if project.guideline_version == before:
            flash("Guidelines unchanged: no new version.")
        else:
            flash(f"Saved guidelines version {project.guideline_version}.")
        return redirect(url_for("project_pages.guidelines", slug=slug), code=303)
    return render_template(
        "projects/guidelines.html",
        project=project,
        versions=guideline_versions.list_versions(session=s, project=project),
    )


@bp.route("/<slug>/guidelines/diff")
@requires("admin")
def guidelines_diff(slug: str) -> Any:
    """Show what changed between two versions of the guidelines."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    try:
        old, new = int(request.args["from"]), int(request.args["to"])
    except (KeyError, ValueError) as exc:
        raise InvalidInput("Give two version numbers: from and to.") from exc
    lines = guideline_versions.diff_versions(session=s, project=project, old=old, new=new)
    return render_template("projects/diff.html", project=project, old=old, new=new, lines=lines)
