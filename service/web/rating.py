"""The rater's pages: their projects, and the rating screen with its item fragments.

The screen is one page; items are server-rendered fragments the page's script
fetches as JSON ``{"assignment_id", "html"}``, so the next item replaces the last
without a reload. A judgment is submitted here too, and answered with the next
item's fragment; revisions, skips and renewals go through the JSON API.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, render_template, request, url_for

from service import db
from service.http.auth import current_user, requires
from service.projects import projects
from service.rating import assignment, judge_display, judgments, leases, rewrites, workspace
from service.rating.labels import JUDGMENT_OUT
from service.rating.rendering import render_markdown

bp = Blueprint("rate", __name__, url_prefix="/rate")


def render_home() -> str:
    """Render the rater's home: their projects with their own progress."""
    rows = workspace.rater_projects(
        session=db.session(), rater=current_user(), count_available=True
    )
    idle = [r.project for r in rows if not r.has_work]
    return render_template("rate/home.html", rows=[r for r in rows if r.has_work], idle=idle)


@bp.route("")
@requires("rater")
def home() -> Any:
    """Show the projects the rater may work on."""
    return render_home()


@bp.route("/<slug>")
@requires("rater")
def screen(slug: str) -> Any:
    """Show the rating screen; its script loads the rater's current or next item."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    rows = workspace.rater_projects(session=s, rater=current_user())
    progress = next((p for p in rows if p.project.id == project.id), None)
    config = {
        "slug": project.slug,
        "mode": project.mode,
        "next_url": url_for("rate.next_item", slug=project.slug),
        "assignment_url": url_for("rate.home") + "/assignments/",
        "api": request.script_root + "/api/v1",
        "home_url": url_for("web.home"),
        "edit_window_minutes": judgments.EDIT_WINDOW // timedelta(minutes=1),
        "preview_url": url_for("rate.preview"),
    }
    return render_template(
        "rate/screen.html",
        project=project,
        progress=progress,
        guidelines_html=render_markdown(project.guidelines),
        config=config,
    )


def _fragment(lease: Any) -> dict[str, Any]:
    item = workspace.item_screen(session=db.session(), lease=lease)
    html = render_template("rate/_item.html", item=item, data=workspace.client_data(item))
    return {"assignment_id": item["id"], "html": html}


@bp.route("/<slug>/next", methods=["POST"])
@requires("rater")
def next_item(slug: str) -> Any:
    """Return the rater's current item, or lease the next one, as a rendered fragment."""
    s = db.session()
    _, lease = assignment.next_in(session=s, slug=slug, rater=current_user())
    s.commit()
    return _next_fragment(lease)


def _next_fragment(lease: Any) -> dict[str, Any]:
    if isinstance(lease, assignment.NoWork):
        html = render_template("rate/_done.html", message=lease.reason)
        return {"assignment_id": None, "html": html, "message": lease.reason}
    return _fragment(lease)


@bp.route("/assignments/<int:assignment_id>/judgment", methods=["POST"])
@requires("rater")
def submit(assignment_id: int) -> Any:
    """Record a judgment and answer with it and the next item's fragment: one round trip."""
    s = db.session()
    # The body goes to the domain as it came: judgments.read_submission checks it with the
    # API's schema, so this page and the API refuse the same things in the same words.
    judgment, created, _, lease = workspace.submit_and_next(
        session=s,
        assignment_id=assignment_id,
        rater=current_user(),
        payload=request.get_json(silent=True),
    )
    shown = judge_display.after_submit(session=s, judgment=judgment)
    s.commit()
    body = {"judgment": JUDGMENT_OUT.dump(judgment), "next": _next_fragment(lease)}
    if shown:  # the project shows its model judges after a submission
        body["judges"] = shown
    return body, 201 if created else 200


@bp.route("/assignments/<int:assignment_id>")
@requires("rater")
def assignment_fragment(assignment_id: int) -> Any:
    """Return one of the rater's assignments as a fragment (to edit a recent judgment)."""
    lease = leases.get_assignment(
        session=db.session(), assignment_id=assignment_id, rater=current_user()
    )
    return _fragment(lease)


@bp.route("/preview", methods=["POST"])
@requires("rater")
def preview() -> Any:
    """Render a rewrite's Markdown as a response would be shown (sanitised HTML)."""
    return {"html": rewrites.preview(request.get_json(silent=True))}
