"""Admin dashboard pages: the same reports the stats API serves, drawn for people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from service import dashboards, db
from service.accounts import memberships
from service.dashboards.adjudication import adjudicate, verdict_from_form
from service.dashboards.cache import cache_in
from service.dashboards.judgment_lists import item_judgments, rater_judgments
from service.dashboards.lookups import expertise_groups
from service.errors import NotFound
from service.http.auth import current_user, requires
from service.models import User
from service.projects import members, projects
from service.rating import gold
from service.rating.rendering import render_markdown
from service.rubric import rubric_of
from service.web import charts, figures

bp = Blueprint("dashboards", __name__, url_prefix="/projects/<slug>/dashboard")

TABS = (
    ("progress", "Progress"),
    ("agreement", "Agreement"),
    ("raters", "Raters"),
    ("items", "Items"),
    ("cost", "Cost"),
    ("active-time", "Active time"),
    ("leaderboard", "Leaderboard"),
)


for _name, _filter in figures.FILTERS.items():
    bp.add_app_template_filter(_filter, _name)


def _page(slug: str, name: str, template: str) -> Any:
    """Build report ``name`` for the page's filters and render it with the dashboard frame."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    filters = dashboards.parse_filters(request.args, project=project)
    options = dashboards.parse_options(name, request.args)
    report, _ = dashboards.build_report(
        session=s,
        project=project,
        name=name,
        filters=filters,
        options=options,
        cache=cache_in(current_app.extensions),
    )
    return render_template(
        template,
        project=project,
        report=report,
        filters=filters,
        options=options,
        tab=name,
        tabs=TABS,
        groups=expertise_groups(session=s),
        dimensions=rubric_of(project).comparable(),
        csv_tables=list(dashboards.REPORTS[name].tables),
        query=filters.query(),
        charts=charts,
    )


@bp.route("/")
@requires("admin")
def progress(slug: str) -> Any:
    """Show items done, judgments per day and the ETA."""
    return _page(slug, "progress", "dashboards/progress.html")


@bp.route("/agreement")
@requires("admin")
def agreement(slug: str) -> Any:
    """Show agreement statistics with intervals and the rater heatmap."""
    return _page(slug, "agreement", "dashboards/agreement.html")


@bp.route("/raters")
@requires("admin")
def raters(slug: str) -> Any:
    """Show every rater's quality signals and flags."""
    return _page(slug, "raters", "dashboards/raters.html")


@bp.route("/raters/<int:rater_id>")
@requires("admin")
def rater(slug: str, rater_id: int) -> Any:
    """Show one rater's figures and judgments beside the other raters', with actions."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    filters = dashboards.parse_filters(request.args, project=project)
    data = rater_judgments(session=s, project=project, rater_id=rater_id, filters=filters)
    report, _ = dashboards.build_report(
        session=s,
        project=project,
        name="raters",
        filters=filters,
        options=dashboards.parse_options("raters", {}),
        cache=cache_in(current_app.extensions),
    )
    summary = next((r for r in report["raters"] if r["id"] == rater_id), None)
    person = s.get(User, rater_id)
    return render_template(
        "dashboards/rater.html",
        project=project,
        data=data,
        summary=summary,
        standing=members.standing(session=s, project_id=project.id, rater=person),
        qualification=gold.qualification(session=s, project=project, rater=person),
        query=filters.query(),
        tabs=TABS,
        tab="raters",
    )


@bp.route("/raters/<int:rater_id>/remove", methods=["POST"])
@requires("admin")
def remove_rater(slug: str, rater_id: int) -> Any:
    """Take the rater off this project (their leases released) and go back to the raters."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    person = _person(rater_id)
    released = memberships.remove_member(
        session=s, project=project, user=person, actor_id=current_user().id
    )
    s.commit()
    flash(f"Removed {person.username} from {project.name}; {released} item(s) released.")
    return redirect(url_for("dashboards.rater", slug=slug, rater_id=rater_id))


@bp.route("/raters/<int:rater_id>/requalify", methods=["POST"])
@requires("admin")
def requalify_rater(slug: str, rater_id: int) -> Any:
    """Make the rater qualify for this project again."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    person = _person(rater_id)
    gold.reset_qualification(session=s, project=project, rater=person, actor_id=current_user().id)
    s.commit()
    flash(f"{person.username} qualifies for {project.name} again from their next gold item.")
    return redirect(url_for("dashboards.rater", slug=slug, rater_id=rater_id))


def _person(user_id: int) -> User:
    person = db.session().get(User, user_id)
    if person is None:
        raise NotFound(f"No user {user_id}.")
    return person


@bp.route("/items")
@requires("admin")
def items(slug: str) -> Any:
    """Show the most disputed and most skipped items."""
    return _page(slug, "items", "dashboards/items.html")


@bp.route("/items/<int:item_id>", methods=["GET", "POST"])
@requires("admin")
def item(slug: str, item_id: int) -> Any:
    """Show every judgment of an item side by side; POST records an adjudication."""
    s = db.session()
    project = projects.get_project(session=s, slug=slug)
    if request.method == "POST":
        adjudicate(
            session=s,
            project=project,
            item_id=item_id,
            admin=current_user(),
            verdict=verdict_from_form(request.form),
            note=request.form.get("note", ""),
            promote_to_gold=request.form.get("promote_to_gold") == "on",
            confirm_override=request.form.get("confirm_override") == "on",
        )
        s.commit()
        flash("Adjudication recorded.")
        return redirect(url_for("dashboards.item", slug=slug, item_id=item_id))
    data = item_judgments(session=s, project=project, item_id=item_id)
    # Model output is untrusted: shown only through the sanitising renderer.
    rendered = {r["id"]: render_markdown(r["content"]) for r in data["responses"]}
    prefill = data["consensus"]["prefill"] or {}
    ranks = {rid: n for n, group in enumerate(prefill.get("ranking", []), 1) for rid in group}
    return render_template(
        "dashboards/item.html",
        project=project,
        data=data,
        rendered=rendered,
        ranks=ranks,
        query={},
        tabs=TABS,
        tab="items",
    )


@bp.route("/cost")
@requires("admin")
def cost(slug: str) -> Any:
    """Show spend to date and projected cost."""
    return _page(slug, "cost", "dashboards/cost.html")


@bp.route("/active-time", endpoint="active-time")
@requires("admin")
def active_time(slug: str) -> Any:
    """Show every rater's active hours per day, for paying raters."""
    return _page(slug, "active-time", "dashboards/active_time.html")


@bp.route("/leaderboard")
@requires("admin")
def leaderboard(slug: str) -> Any:
    """Show the Bradley–Terry model leaderboard."""
    return _page(slug, "leaderboard", "dashboards/leaderboard.html")
