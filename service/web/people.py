"""People pages: one person's role, project teams, project expertise and qualification."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from service import db
from service.accounts import invites, memberships
from service.errors import NotFound
from service.http.auth import current_user, requires
from service.models import User
from service.projects import members, projects
from service.rating import gold

bp = Blueprint("people", __name__, url_prefix="/admin/users/<int:user_id>")


def _person(user_id: int) -> User:
    person = db.session().get(User, user_id)
    if person is None:
        raise NotFound(f"No user {user_id}.")
    return person


@bp.route("")
@requires("admin")
def person(user_id: int) -> Any:
    """Show a person: role, and per project whether they may rate it, tags, qualification."""
    s = db.session()
    user = _person(user_id)
    rows = memberships.memberships_of(session=s, user=user)
    teams = []
    for project in projects.list_projects(session=s):
        row = rows.get(project.id)
        teams.append(
            {
                "project": project,
                "row": row,
                "standing": members.standing(session=s, project_id=project.id, rater=user),
                "qualification": gold.qualification(session=s, project=project, rater=user)
                if user.role == "rater"
                else None,
            }
        )
    return render_template("admin/person.html", person=user, teams=teams)


@bp.route("/role", methods=["POST"])
@requires("admin")
def role(user_id: int) -> Any:
    """Change the person's role."""
    s = db.session()
    user = _person(user_id)
    memberships.set_role(
        session=s, user=user, role=request.form.get("role", ""), actor_id=current_user().id
    )
    s.commit()
    flash(f"{user.username} is now {user.role}.")
    back = "list" if request.form.get("back") == "list" else "person"
    return redirect(
        url_for("admin.users") if back == "list" else url_for("people.person", user_id=user_id)
    )


@bp.route("/projects/<slug>/join", methods=["POST"])
@requires("admin")
def join(user_id: int, slug: str) -> Any:
    """Put the person on the project's team, with the project's own expertise tags if given."""
    s = db.session()
    user = _person(user_id)
    project = projects.get_project(session=s, slug=slug)
    raw = request.form.get("expertise", "").strip()
    memberships.add_member(
        session=s,
        project=project,
        user=user,
        actor_id=current_user().id,
        expertise=invites.split_tags(raw) if raw else None,
    )
    s.commit()
    flash(f"{user.username} is on the team of {project.name}.")
    return redirect(url_for("people.person", user_id=user_id))


@bp.route("/projects/<slug>/remove", methods=["POST"])
@requires("admin")
def remove(user_id: int, slug: str) -> Any:
    """Take the person off the project; their leases there are released."""
    s = db.session()
    user = _person(user_id)
    project = projects.get_project(session=s, slug=slug)
    released = memberships.remove_member(
        session=s, project=project, user=user, actor_id=current_user().id
    )
    s.commit()
    flash(f"Removed {user.username} from {project.name}; {released} item(s) released.")
    return redirect(url_for("people.person", user_id=user_id))


@bp.route("/projects/<slug>/requalify", methods=["POST"])
@requires("admin")
def requalify(user_id: int, slug: str) -> Any:
    """Make the person qualify for the project again."""
    s = db.session()
    user = _person(user_id)
    project = projects.get_project(session=s, slug=slug)
    gold.reset_qualification(session=s, project=project, rater=user, actor_id=current_user().id)
    s.commit()
    flash(f"{user.username} qualifies for {project.name} again from their next gold item.")
    return redirect(url_for("people.person", user_id=user_id))
