"""Every route, every role: each gets exactly what the table below says.

The table is the specification of who may do what. A route that is not in it
fails the test: add a line saying what each role gets (and how to call it).

Roles: anonymous; rater (signed in); other_rater (signed in, owns nothing the
route is about); engineer (bearer token WITH the scope the route needs);
engineer_noscope (bearer token without it); admin (signed in).
Expected: an HTTP status, or "login" for a redirect to the sign-in page.
"""

from __future__ import annotations

import base64
import hashlib
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from service import db
from service.accounts import invites, memberships, users
from service.images import ImageStore, image_url
from service.items import importing
from service.judging import config as judges
from service.models import Item, User
from service.projects import projects, sources
from service.rating import assignment, judgments
from tests.factories import Factory, item_row
from tests.pictures import shapes

ROLES = ("anonymous", "rater", "other_rater", "engineer", "engineer_noscope", "admin")
ALL_SCOPES = ("export", "stats", "import")


@dataclass
class World:
    """The people and things the routes are called about."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # An admin's tokens with every scope but admin, one at a time and all together.
    admin_tokens: dict[str, str] = field(default_factory=dict)
    project_slug: str = ""
    victims: dict[str, User] = field(default_factory=dict)
    victim_token_id: int = 0
    invite_secrets: dict[str, str] = field(default_factory=dict)
    # The signed-in rater's own work: a lease per route that changes it, and a judgment.
    leases: dict[str, int] = field(default_factory=dict)
    judgment_id: int = 0
    # Failed pull runs (one per door) that admins may retry.
    runs: dict[str, int] = field(default_factory=dict)
    flagged_item: int = 0
    judged_item: int = 0
    image_path: str = ""


@dataclass(frozen=True)
class Route:
    """How to call a route, and what each role gets (in ROLES order)."""

    expect: tuple[str, str, str, str, str, str]
    path: Callable[[World, str], str] | str | None = None
    json: Any = None
    data: Callable[[World, str], Any] | None = None
    content_type: str | None = None


def e(anonymous, rater, other_rater, engineer, engineer_noscope, admin) -> tuple:  # noqa: ANN001
    return (anonymous, rater, other_rater, engineer, engineer_noscope, admin)


ADMIN_API = e("401", "403", "403", "403", "403", "200")
ADMIN_PAGE = e("login", "403", "403", "403", "403", "200")
EVERYONE = e("200", "200", "200", "200", "200", "200")
STATS_API = e("401", "403", "403", "200", "403", "200")
# The rater's own work: others (even admins) are refused or told it does not exist.
RATER_OWN = e("401", "200", "404", "403", "403", "403")
RATER_NEW = e("401", "201", "404", "403", "403", "403")
A_JUDGMENT = {"client_id": "matrix-judgment-1", "verdict": {"choice": "A"}}

MATRIX: dict[str, Route] = {
    "GET /static/<path:filename>": Route(EVERYONE, "/static/css/rankroom.css"),
    "GET /api/v1/openapi.json": Route(EVERYONE),
    "GET /healthz": Route(EVERYONE),
    "GET /readyz": Route(EVERYONE),
    "GET /login": Route(EVERYONE),
    "POST /login": Route(
        e("401", "401", "401", "401", "401", "401"),
        data=lambda w, role: {"username": f"nobody-{role}", "password": "wrong"},
    ),
    "POST /logout": Route(e("login", "login", "login", "login", "login", "login")),
    # A page is reached by token only with the admin scope (pages name no scope).
    "GET /": Route(e("login", "200", "200", "403", "403", "200")),
    "GET /invite/<secret>": Route(EVERYONE, lambda w, role: f"/invite/{w.invite_secrets[role]}"),
    "POST /invite/<secret>": Route(
        e("302", "302", "302", "302", "302", "302"),
        lambda w, role: f"/invite/{w.invite_secrets[role]}",
        data=lambda w, role: {"password": "a long passphrase", "confirm": "a long passphrase"},
    ),
    # JSON API: admins only (tokens need the admin scope, or import for imports).
    "GET /api/v1/projects": Route(ADMIN_API),
    "POST /api/v1/projects": Route(
        e("401", "403", "403", "403", "403", "201"), json={"slug": "matrix-new", "name": "M"}
    ),
    "GET /api/v1/projects/<slug>": Route(
        ADMIN_API, lambda w, r: f"/api/v1/projects/{w.project_slug}"
    ),
    "POST /api/v1/projects/<slug>/items": Route(
        e("401", "403", "403", "403", "403", "201"),
        lambda w, r: f"/api/v1/projects/{w.project_slug}/items",
        json=[item_row("matrix-item")],
    ),
    "PATCH /api/v1/projects/<slug>": Route(
        ADMIN_API, "/api/v1/projects/matrix", json={"gold_rate": 0.1}
    ),
    "GET /api/v1/projects/<slug>/guidelines": Route(
        ADMIN_API, "/api/v1/projects/matrix/guidelines"
    ),
    "PUT /api/v1/projects/<slug>/guidelines": Route(
        ADMIN_API, "/api/v1/projects/matrix/guidelines", json={"guidelines": "Be kind."}
    ),
    "GET /api/v1/projects/<slug>/guidelines/<int:version>": Route(
        ADMIN_API, "/api/v1/projects/matrix/guidelines/1"
    ),
    "GET /api/v1/projects/<slug>/guidelines/diff": Route(
        ADMIN_API, "/api/v1/projects/matrix/guidelines/diff?from=1&to=1"
    ),
    "GET /api/v1/projects/<slug>/import-progress": Route(
        ADMIN_API, "/api/v1/projects/matrix/import-progress"
    ),
    "GET /api/v1/users": Route(ADMIN_API),
    "POST /api/v1/users/invites": Route(
        e("401", "403", "403", "403", "403", "201"), json={"username": "matrix-invitee"}
    ),
    "POST /api/v1/users/import": Route(
        e("401", "403", "403", "403", "403", "201"),
        data=lambda w, r: b"username\nmatrix-csv-1\n",
        content_type="text/csv",
    ),
    "POST /api/v1/users/<username>/invite": Route(
        e("401", "403", "403", "403", "403", "201"),
        lambda w, r: f"/api/v1/users/{w.victims['invite'].username}/invite",
    ),
    "POST /api/v1/users/<username>/deactivate": Route(
        ADMIN_API, lambda w, r: f"/api/v1/users/{w.victims['deactivate'].username}/deactivate"
    ),
    "POST /api/v1/users/<username>/activate": Route(
        ADMIN_API, lambda w, r: f"/api/v1/users/{w.victims['activate'].username}/activate"
    ),
    "POST /api/v1/users/<username>/erase": Route(
        ADMIN_API, lambda w, r: f"/api/v1/users/{w.victims['erase'].username}/erase"
    ),
    "GET /api/v1/tokens": Route(ADMIN_API),
    "POST /api/v1/tokens": Route(
        e("401", "403", "403", "403", "403", "201"),
        data=None,
        json={"username": "matrix-engineer", "scopes": ["stats"]},
    ),
    "DELETE /api/v1/tokens/<int:token_id>": Route(
        ADMIN_API, lambda w, r: f"/api/v1/tokens/{w.victim_token_id}"
    ),
    # Dataset exports: engineers (token scope export) and admins.
    "GET /api/v1/export": Route(
        e("401", "403", "403", "200", "403", "200"),
        lambda w, r: f"/api/v1/export?format=dpo&project={w.project_slug}",
    ),
    "GET /api/v1/export/card": Route(
        e("401", "403", "403", "200", "403", "200"),
        lambda w, r: f"/api/v1/export/card?format=raw&project={w.project_slug}",
    ),
    "GET /api/v1/export/folder": Route(
        e("401", "403", "403", "200", "403", "200"),
        lambda w, r: f"/api/v1/export/folder?format=raw&allow_empty=true&project={w.project_slug}",
    ),
    "GET /api/v1/audit": Route(ADMIN_API),
    "GET /api/v1/audit/export": Route(ADMIN_API),
    # Rater work: only raters, and only on their own leases and judgments.
    "POST /api/v1/projects/<slug>/next": Route(
        e("401", "200", "200", "403", "403", "403"),
        lambda w, r: "/api/v1/projects/matrix-next/next",
    ),
    "GET /api/v1/assignments/<int:assignment_id>": Route(
        RATER_OWN, lambda w, r: f"/api/v1/assignments/{w.leases['show']}"
    ),
    "POST /api/v1/assignments/<int:assignment_id>/judgment": Route(
        RATER_NEW, lambda w, r: f"/api/v1/assignments/{w.leases['judge']}/judgment", json=A_JUDGMENT
    ),
    "POST /api/v1/assignments/<int:assignment_id>/judgment-and-next": Route(
        RATER_NEW,
        lambda w, r: f"/api/v1/assignments/{w.leases['judge-next']}/judgment-and-next",
        json={"client_id": "matrix-judgment-2", "verdict": {"choice": "A"}},
    ),
    "POST /api/v1/assignments/<int:assignment_id>/skip": Route(
        RATER_OWN,
        lambda w, r: f"/api/v1/assignments/{w.leases['skip']}/skip",
        json={"reason": "broken"},
    ),
    "POST /api/v1/assignments/<int:assignment_id>/renew": Route(
        RATER_OWN, lambda w, r: f"/api/v1/assignments/{w.leases['renew']}/renew"
    ),
    "POST /api/v1/judgments/<int:judgment_id>/revise": Route(
        RATER_NEW,
        lambda w, r: f"/api/v1/judgments/{w.judgment_id}/revise",
        json={"client_id": "matrix-revision-1", "verdict": {"choice": "B"}},
    ),
    # Assignment administration: admins only.
    "GET /api/v1/projects/<slug>/item-states": Route(
        ADMIN_API, "/api/v1/projects/matrix/item-states"
    ),
    "GET /api/v1/projects/<slug>/gold-accuracy": Route(
        ADMIN_API, "/api/v1/projects/matrix/gold-accuracy"
    ),
    "POST /api/v1/assignments/<int:assignment_id>/release": Route(
        ADMIN_API, lambda w, r: f"/api/v1/assignments/{w.leases['release']}/release"
    ),
    "POST /api/v1/assignments/<int:assignment_id>/reassign": Route(
        e("401", "403", "403", "403", "403", "201"),
        lambda w, r: f"/api/v1/assignments/{w.leases['reassign']}/reassign",
        json={"rater": "matrix-reassignee"},
    ),
    "PUT /api/v1/projects/<slug>/overlap": Route(
        ADMIN_API, "/api/v1/projects/matrix/overlap", json={"overlap": 4}
    ),
    "PUT /api/v1/projects/<slug>/status": Route(
        ADMIN_API, "/api/v1/projects/matrix/status", json={"status": "active"}
    ),
    "POST /api/v1/projects/<slug>/items/<int:item_id>/unflag": Route(
        ADMIN_API, lambda w, r: f"/api/v1/projects/matrix-flags/items/{w.flagged_item}/unflag"
    ),
    "POST /api/v1/projects/<slug>/recount": Route(ADMIN_API, "/api/v1/projects/matrix/recount"),
    "GET /api/v1/doctor": Route(ADMIN_API, "/api/v1/doctor?project=matrix"),
    "PUT /api/v1/projects/<slug>/qualifications/<username>": Route(
        ADMIN_API, "/api/v1/projects/matrix/qualifications/matrix-reassignee", json={"passed": True}
    ),
    # Project teams, roles and qualification resets: admins only.
    "GET /api/v1/projects/<slug>/members": Route(ADMIN_API, "/api/v1/projects/matrix/members"),
    "PUT /api/v1/projects/<slug>/members/<username>": Route(
        ADMIN_API, "/api/v1/projects/matrix-team/members/matrix-reassignee", json={}
    ),
    "DELETE /api/v1/projects/<slug>/members/<username>": Route(
        ADMIN_API, "/api/v1/projects/matrix-team/members/matrix-reassignee"
    ),
    "POST /api/v1/projects/<slug>/qualifications/<username>/reset": Route(
        ADMIN_API, "/api/v1/projects/matrix/qualifications/matrix-reassignee/reset"
    ),
    "PUT /api/v1/users/<username>/role": Route(
        ADMIN_API, "/api/v1/users/matrix-reassignee/role", json={"role": "rater"}
    ),
    # Statistics: admins, and engineers whose token has the stats scope.
    "GET /api/v1/projects/<slug>/stats": Route(STATS_API, "/api/v1/projects/matrix-revise/stats"),
    "GET /api/v1/projects/<slug>/stats/<name>": Route(
        STATS_API, "/api/v1/projects/matrix-revise/stats/progress"
    ),
    "GET /api/v1/projects/<slug>/stats/<name>.csv": Route(
        STATS_API, "/api/v1/projects/matrix-revise/stats/progress.csv"
    ),
    "GET /api/v1/projects/<slug>/stats/items/<int:item_id>": Route(
        STATS_API, lambda w, r: f"/api/v1/projects/matrix-revise/stats/items/{w.judged_item}"
    ),
    "GET /api/v1/projects/<slug>/stats/raters/<int:rater_id>/judgments": Route(
        STATS_API,
        lambda w, r: f"/api/v1/projects/matrix-revise/stats/raters/{w.users['rater'].id}/judgments",
    ),
    "POST /api/v1/projects/<slug>/items/<int:item_id>/adjudications": Route(
        e("401", "403", "403", "403", "403", "201"),
        lambda w, r: f"/api/v1/projects/matrix-revise/items/{w.judged_item}/adjudications",
        # The one judgment said "a": a tie overrules it, with a reason and a confirm.
        json={"verdict": {"preferred": None}, "note": "matrix", "confirm_override": True},
    ),
    # Dashboard pages: admins only.
    "GET /projects/<slug>/dashboard/": Route(ADMIN_PAGE, "/projects/matrix-revise/dashboard/"),
    "GET /projects/<slug>/dashboard/agreement": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/agreement"
    ),
    "GET /projects/<slug>/dashboard/cost": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/cost"
    ),
    "GET /projects/<slug>/dashboard/active-time": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/active-time"
    ),
    "GET /projects/<slug>/dashboard/items": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/items"
    ),
    "GET /projects/<slug>/dashboard/items/<int:item_id>": Route(
        ADMIN_PAGE, lambda w, r: f"/projects/matrix-revise/dashboard/items/{w.judged_item}"
    ),
    "POST /projects/<slug>/dashboard/items/<int:item_id>": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/projects/matrix-revise/dashboard/items/{w.judged_item}",
        data=lambda w, r: {"preferred": "tie", "note": "matrix", "confirm_override": "on"},
    ),
    "GET /projects/<slug>/dashboard/leaderboard": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/leaderboard"
    ),
    "GET /projects/<slug>/dashboard/raters": Route(
        ADMIN_PAGE, "/projects/matrix-revise/dashboard/raters"
    ),
    "GET /projects/<slug>/dashboard/raters/<int:rater_id>": Route(
        ADMIN_PAGE,
        lambda w, r: f"/projects/matrix-revise/dashboard/raters/{w.users['rater'].id}",
    ),
    # The rating screens: pages for raters only.
    "GET /rate": Route(e("login", "200", "200", "403", "403", "403")),
    # An image of a project's items: its team and the people who may export it.
    "GET /images/<int:project_id>/<sha256>": Route(
        e("login", "200", "404", "200", "403", "200"),
        lambda w, r: w.image_path,
    ),
    "GET /rate/<slug>": Route(e("login", "200", "200", "403", "403", "403"), "/rate/matrix-next"),
    "POST /rate/<slug>/next": Route(
        e("login", "200", "200", "403", "403", "403"), "/rate/matrix-next/next"
    ),
    "GET /rate/assignments/<int:assignment_id>": Route(
        e("login", "200", "404", "403", "403", "403"),
        lambda w, r: f"/rate/assignments/{w.leases['show']}",
    ),
    "POST /rate/assignments/<int:assignment_id>/judgment": Route(
        e("login", "201", "404", "403", "403", "403"),
        lambda w, r: f"/rate/assignments/{w.leases['web-judge']}/judgment",
        json={"client_id": "matrix-judgment-3", "verdict": {"choice": "B"}},
    ),
    "POST /rate/preview": Route(
        e("login", "200", "200", "403", "403", "403"), json={"text": "*hi*"}
    ),
    # Model judges: admins only.
    "GET /api/v1/projects/<slug>/judges": Route(ADMIN_API, "/api/v1/projects/matrix/judges"),
    "POST /api/v1/projects/<slug>/judges": Route(
        e("401", "403", "403", "403", "403", "201"),
        "/api/v1/projects/matrix/judges",
        json={
            "name": "matrix-new-judge",
            "config": {"url": "http://127.0.0.1:9/v1", "model": "m", "template": "pairwise"},
        },
    ),
    "DELETE /api/v1/projects/<slug>/judges/<name>": Route(
        ADMIN_API, "/api/v1/projects/matrix/judges/matrix-judge-gone"
    ),
    "POST /api/v1/projects/<slug>/judges/<name>/runs": Route(
        e("401", "403", "403", "403", "403", "202"),
        "/api/v1/projects/matrix/judges/matrix-judge/runs",
    ),
    # Pull sources: admins only.
    "GET /api/v1/sources": Route(ADMIN_API),
    "POST /api/v1/sources": Route(
        e("401", "403", "403", "403", "403", "201"),
        json={
            "name": "matrix-api-new",
            "project": "matrix",
            "kind": "remote",
            "config": {"url": "http://127.0.0.1:9/new.jsonl"},
        },
    ),
    "GET /api/v1/sources/<name>": Route(ADMIN_API, "/api/v1/sources/matrix-src"),
    "PATCH /api/v1/sources/<name>": Route(
        ADMIN_API, "/api/v1/sources/matrix-src", json={"interval_minutes": 60}
    ),
    "GET /api/v1/sources/<name>/runs": Route(ADMIN_API, "/api/v1/sources/matrix-src/runs"),
    "POST /api/v1/sources/<name>/runs": Route(
        e("401", "403", "403", "403", "403", "202"), "/api/v1/sources/matrix-run-api/runs", json={}
    ),
    "GET /api/v1/sources/<name>/generations": Route(
        ADMIN_API, "/api/v1/sources/matrix-src/generations"
    ),
    "GET /api/v1/runs/<int:run_id>": Route(ADMIN_API, lambda w, r: f"/api/v1/runs/{w.runs['api']}"),
    "POST /api/v1/runs/<int:run_id>/retry": Route(
        e("401", "403", "403", "403", "403", "202"),
        lambda w, r: f"/api/v1/runs/{w.runs['api']}/retry",
    ),
    "GET /admin/projects": Route(ADMIN_PAGE),
    "POST /admin/projects": Route(
        e("login", "403", "403", "403", "403", "303"),
        data=lambda w, r: {"template": "pairwise", "slug": "matrix-web-project"},
    ),
    "GET /admin/projects/<slug>": Route(ADMIN_PAGE, "/admin/projects/matrix"),
    "POST /admin/projects/<slug>/settings": Route(
        e("login", "403", "403", "403", "403", "303"),
        "/admin/projects/matrix/settings",
        data=lambda w, r: {"gold_rate": "0.2"},
    ),
    "GET /admin/projects/<slug>/guidelines": Route(ADMIN_PAGE, "/admin/projects/matrix/guidelines"),
    "POST /admin/projects/<slug>/guidelines": Route(
        e("login", "403", "403", "403", "403", "303"),
        "/admin/projects/matrix/guidelines",
        data=lambda w, r: {"guidelines": "Be brief."},
    ),
    "GET /admin/projects/<slug>/guidelines/diff": Route(
        ADMIN_PAGE, "/admin/projects/matrix/guidelines/diff?from=1&to=1"
    ),
    "GET /admin/sources": Route(ADMIN_PAGE),
    "GET /admin/sources/<name>": Route(ADMIN_PAGE, "/admin/sources/matrix-src"),
    "POST /admin/sources": Route(
        e("login", "403", "403", "403", "403", "303"),
        data=lambda w, r: {
            "name": "matrix-web-new",
            "project": "matrix",
            "kind": "remote",
            "config": '{"url": "http://127.0.0.1:9/web.jsonl"}',
        },
    ),
    "POST /admin/sources/<name>/runs": Route(
        e("login", "403", "403", "403", "403", "303"), "/admin/sources/matrix-run-web/runs"
    ),
    "POST /admin/runs/<int:run_id>/retry": Route(
        e("login", "403", "403", "403", "403", "303"),
        lambda w, r: f"/admin/runs/{w.runs['web']}/retry",
    ),
    # Admin pages: anonymous people are sent to sign in; other roles are refused.
    "GET /admin/users": Route(ADMIN_PAGE),
    "GET /admin/tokens": Route(ADMIN_PAGE),
    "GET /admin/audit": Route(ADMIN_PAGE),
    "POST /admin/users/invite": Route(
        e("login", "403", "403", "403", "403", "201"),
        data=lambda w, r: {"username": "matrix-web-invitee"},
    ),
    "POST /admin/users/import": Route(
        e("login", "403", "403", "403", "403", "201"),
        data=lambda w, r: {"file": (io.BytesIO(b"username\nmatrix-csv-2\n"), "r.csv")},
        content_type="multipart/form-data",
    ),
    "POST /admin/users/<int:user_id>/invite": Route(
        e("login", "403", "403", "403", "403", "201"),
        lambda w, r: f"/admin/users/{w.victims['web-invite'].id}/invite",
    ),
    "POST /admin/users/<int:user_id>/deactivate": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-deactivate'].id}/deactivate",
    ),
    "POST /admin/users/<int:user_id>/activate": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-activate'].id}/activate",
    ),
    "POST /admin/users/<int:user_id>/erase": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-erase'].id}/erase",
        data=lambda w, r: {"confirm": w.victims["web-erase"].username},
    ),
    # One person's page: role, project teams, qualification (on a project no one else uses).
    "GET /admin/users/<int:user_id>": Route(
        ADMIN_PAGE, lambda w, r: f"/admin/users/{w.victims['web-invite'].id}"
    ),
    "POST /admin/users/<int:user_id>/role": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-invite'].id}/role",
        data=lambda w, r: {"role": "rater"},
    ),
    "POST /admin/users/<int:user_id>/projects/<slug>/join": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-invite'].id}/projects/matrix-team/join",
    ),
    "POST /admin/users/<int:user_id>/projects/<slug>/remove": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-invite'].id}/projects/matrix-team/remove",
    ),
    "POST /admin/users/<int:user_id>/projects/<slug>/requalify": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/users/{w.victims['web-invite'].id}/projects/matrix-team/requalify",
    ),
    "POST /projects/<slug>/dashboard/raters/<int:rater_id>/remove": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/projects/matrix-team/dashboard/raters/{w.victims['web-invite'].id}/remove",
    ),
    "POST /projects/<slug>/dashboard/raters/<int:rater_id>/requalify": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: (
            f"/projects/matrix-team/dashboard/raters/{w.victims['web-invite'].id}/requalify"
        ),
    ),
    "POST /admin/tokens": Route(
        e("login", "403", "403", "403", "403", "201"),
        data=lambda w, r: {"username": "matrix-engineer", "scopes": "stats"},
    ),
    "POST /admin/tokens/<int:token_id>/revoke": Route(
        e("login", "403", "403", "403", "403", "302"),
        lambda w, r: f"/admin/tokens/{w.victim_token_id}/revoke",
    ),
}


def _team_image(app: Flask, make: Factory, rater: User) -> str:
    """Import an image into a project whose team is ``rater``; return its URL."""
    project = make.project(slug="matrix-images")
    with db.write_session() as s:
        memberships.add_member(session=s, project=project, user=rater, actor_id=None)
    row = item_row("matrix-image")
    picture = shapes("circle", (0, 0, 0))
    url = "data:image/png;base64," + base64.b64encode(picture).decode()
    row["responses"][0]["content"] = [{"type": "image_url", "image_url": {"url": url}}]
    importing.import_items(
        engine=db.engine(),
        project=project,
        rows=[(1, row)],
        images=ImageStore.from_config(app.config),
    )
    # A rater sees an image through an item they hold (or judged): lease it to them.
    with db.write_session() as s:
        assignment.next_in(session=s, slug=project.slug, rater=s.get(User, rater.id))
    return image_url(project.id, hashlib.sha256(picture).hexdigest())


def _routes(app: Flask) -> dict[str, Any]:
    out = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out[f"{method} {rule.rule}"] = rule
    return out


def test_every_route_is_classified(app):
    routes = _routes(app)
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, (
        "These routes are not in the authorisation matrix. Add each to MATRIX in "
        "tests/test_authz_matrix.py with what every role (anonymous, rater, other_rater, "
        "engineer, engineer_noscope, admin) must get:\n  " + "\n  ".join(missing)
    )
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"MATRIX lists routes that no longer exist: {stale}"


@pytest.fixture
def world(app: Flask, make: Factory) -> World:
    w = World()
    for role in ("rater", "other_rater", "admin"):
        w.users[role] = make.user("admin" if role == "admin" else "rater")
    engineer = make.user("engineer", username="matrix-engineer")
    for scope in (*ALL_SCOPES, "admin"):
        w.tokens[scope] = make.token(engineer, [scope])[1]
    w.tokens["none"] = make.token(engineer, [])[1]
    boss = make.user("admin", username="matrix-admin")
    for scope in ALL_SCOPES:
        w.admin_tokens[scope] = make.token(boss, [scope])[1]
    w.admin_tokens["all-but-admin"] = make.token(boss, list(ALL_SCOPES))[1]
    for scope in (*ALL_SCOPES, "admin", None):
        others = [s for s in ALL_SCOPES if s != scope]
        w.tokens[f"not-{scope}"] = make.token(engineer, others)[1]
    w.project_slug = make.project(slug="matrix").slug
    for name in (
        "invite",
        "deactivate",
        "activate",
        "erase",
        "web-invite",
        "web-deactivate",
        "web-activate",
        "web-erase",
    ):
        w.victims[name] = make.user("rater", username=f"victim-{name}")
    rater = w.users["rater"]
    make.user("rater", username="matrix-reassignee")
    make.project(slug="matrix-team")
    (flagged,) = make.items(make.project(slug="matrix-flags"), [item_row("matrix-flagged")])
    w.flagged_item = flagged.id
    with db.write_session() as s:
        s.execute(sa.update(Item).where(Item.id == flagged.id).values(flagged=True))
    purposes = ("next", "show", "judge", "judge-next", "web-judge", "skip", "renew", "revise")
    for purpose in (*purposes, "release", "reassign"):
        project = make.project(slug=f"matrix-{purpose}", mode="pairwise", scale="binary")
        make.items(project, [item_row(f"matrix-{purpose}-item")])
        if purpose == "next":
            continue
        with db.write_session() as s:
            lease = assignment.next_assignment(session=s, project=project, rater=rater)
            w.leases[purpose] = lease.id
            if purpose == "revise":
                j, _ = judgments.record_judgment(
                    session=s,
                    assignment_id=lease.id,
                    rater=rater,
                    payload={"client_id": "matrix-original", "verdict": {"choice": "A"}},
                )
                w.judgment_id, w.judged_item = j.id, j.item_id
    with db.write_session() as s:
        for name in (
            "matrix-src",
            "matrix-run-api",
            "matrix-run-web",
            "matrix-failed-api",
            "matrix-failed-web",
        ):
            source = sources.create_source(
                session=s,
                data={
                    "name": name,
                    "project": w.project_slug,
                    "kind": "remote",
                    "config": {"url": f"http://127.0.0.1:9/{name}.jsonl"},
                },
            )
            if name.startswith("matrix-failed"):
                run = sources.enqueue_run(session=s, source=source)
                run.status = "failed"
                w.runs[name.rsplit("-", 1)[1]] = run.id
    with db.write_session() as s:
        project = projects.get_project(session=s, slug=w.project_slug)
        for name in ("matrix-judge", "matrix-judge-gone"):
            config = {"url": "http://127.0.0.1:9/v1", "model": "m", "template": "pairwise"}
            judges.add_judge(session=s, project=project, data={"name": name, "config": config})
    w.image_path = _team_image(app, make, rater)
    victim_engineer = make.user("engineer")
    token, _ = make.token(victim_engineer, ["stats"])
    w.victim_token_id = token.id
    with db.write_session() as s:
        for name in ("activate", "web-activate"):
            users.deactivate_user(session=s, user=s.get(User, w.victims[name].id))
        for role in ROLES:
            invitee = users.create_user(session=s, username=f"invitee-{role}")
            w.invite_secrets[role] = invites.create_invite(session=s, user=invitee).secret
    return w


def _client(app: Flask, world: World, role: str, scope: str | None) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    if role.startswith("engineer"):
        key = (scope or "stats") if role == "engineer" else f"not-{scope}"
        return client, {"Authorization": f"Bearer {world.tokens[key]}"}
    with client.session_transaction() as sess:
        sess["csrf"] = "matrix-csrf"
        if role != "anonymous":
            with db.write_session() as s:
                user = s.get(User, world.users[role].id)
                sess.update(uid=user.id, epoch=user.session_epoch, seen=time.time(), sid=role)
    return client, {"X-CSRF-Token": "matrix-csrf"}


def _outcome(response: Any) -> str:
    if response.status_code == 302 and "/login" in response.headers.get("Location", ""):
        return "login"
    return str(response.status_code)


def _calls(app: Flask, world: World) -> Iterator[tuple[str, Any, Any, str, str, str, Any]]:
    """Yield (key, spec, access, method, path, role, expected) for every classified call."""
    routes = _routes(app)
    for key, spec in MATRIX.items():
        if key not in routes:
            continue  # reported by test_every_route_is_classified
        method, rule = key.split(" ", 1)
        access = app.view_functions[routes[key].endpoint].access
        for role, expected in zip(ROLES, spec.expect, strict=True):
            path = spec.path(world, role) if callable(spec.path) else (spec.path or rule)
            yield key, spec, access, method, path, role, expected


def _call(app: Flask, world: World, role: str, access: Any, method: str, path: str, **kw: Any):
    client, headers = _client(app, world, role, access.scope)
    response = client.open(path, method=method, headers=headers, **kw)
    got = _outcome(response)
    response.close()
    return got


def test_each_role_gets_what_the_matrix_says(app, world):
    wrong = []
    for key, spec, access, method, path, role, expected in _calls(app, world):
        kwargs: dict[str, Any] = {}
        if spec.json is not None:
            kwargs["json"] = spec.json
        if spec.data is not None:
            kwargs["data"] = spec.data(world, role)
        if spec.content_type:
            kwargs["content_type"] = spec.content_type
        got = _call(app, world, role, access, method, path, **kwargs)
        if got != expected:
            wrong.append(f"{key} as {role}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_refusal_comes_before_validation(app, world):
    # A caller without the right to a route gets its 401/403 even with a malformed body
    # and query: a 422 would describe the route's schema to them.
    wrong = []
    for key, _, access, method, path, role, expected in _calls(app, world):
        if access.public or expected not in ("401", "403", "login"):
            continue
        path += ("&" if "?" in path else "?") + "page=-1&limit=not-a-number&update=maybe"
        got = _call(app, world, role, access, method, path, json=["malformed"])
        if got != expected:
            wrong.append(f"{key} as {role}: expected {expected}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_an_admins_token_reaches_only_what_its_scopes_name(app, world):
    # Scopes grant exactly what their names say, whoever holds the token: an admin's
    # stats token reads statistics, not the People page, the audit log or another route.
    routes = _routes(app)
    wrong = []
    for key, spec in MATRIX.items():
        if key not in routes:
            continue
        method, rule = key.split(" ", 1)
        access = app.view_functions[routes[key].endpoint].access
        if access.public:
            continue
        for name, secret in world.admin_tokens.items():
            granted = list(ALL_SCOPES) if name == "all-but-admin" else [name]
            if (access.scope or "admin") in granted:  # a route without a scope needs admin
                continue
            path = spec.path(world, "admin") if callable(spec.path) else (spec.path or rule)
            response = app.test_client().open(
                path, method=method, headers={"Authorization": f"Bearer {secret}"}
            )
            if response.status_code != 403:
                wrong.append(f"{key} with an admin's {name} token: got {response.status_code}")
            response.close()
    assert not wrong, "\n".join(wrong)
