"""Browser pages: sign-in and the pages each role starts from."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for

from service import db
from service.accounts import logins, users
from service.errors import TooManyRequests, Unauthorized
from service.http.auth import client_address, current_user, public, requires, sign_in, sign_out
from service.projects import projects
from service.web import rating

bp = Blueprint("web", __name__)


def _safe_next(target: str | None) -> str:
    """Only follow same-site relative redirects after sign-in."""
    if (
        not target
        or urlsplit(target).netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return url_for("web.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """Show the sign-in form, or sign in."""
    if request.method == "GET":
        return render_template("login.html", error=None)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    if len(username) > 320 or len(password) > users.MAX_PASSWORD:
        return render_template("login.html", error="Username or password too long."), 400
    try:
        user = logins.attempt_sign_in(
            begin=db.write_session,
            username=username,
            password=password,
            address=client_address(),
            limits=logins.Limits.from_config(current_app.config),
        )
    except TooManyRequests as exc:
        page = render_template("login.html", error=exc.message)
        return page, 429, {"Retry-After": str(exc.retry_after)}
    except Unauthorized as exc:
        return render_template("login.html", error=exc.message), 401
    sign_in(user)
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@public
def logout() -> Any:
    """Sign out."""
    sign_out()
    return redirect(url_for("web.login"))


@bp.route("/")
@requires("admin", "rater", "engineer")
def home() -> Any:
    """Show the signed-in user's starting page."""
    user = current_user()
    if user.role == "rater":
        return rating.render_home()
    return render_template(
        "home.html", user=user, projects=projects.list_projects(session=db.session())
    )


def init_app(app: Flask) -> None:
    """Register the pages and open static files to all."""
    from service.web import admin, dashboards, images, invites, people, project_pages, sources

    app.register_blueprint(bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(invites.bp)
    app.register_blueprint(sources.bp)
    app.register_blueprint(project_pages.bp)
    app.register_blueprint(rating.bp)
    app.register_blueprint(dashboards.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(images.bp)
    app.view_functions["static"] = public(app.view_functions["static"])
