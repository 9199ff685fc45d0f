"""Browser pages: sign-in and the pages each role starts from."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, render_template, request, url_for

from service import accounts, db, projects
from service.auth import current_user, public, requires, sign_in, sign_out
from service.errors import Unauthorized

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
    error = None
    if request.method == "POST":
        try:
            user = accounts.authenticate(
                session=db.session(),
                username=request.form.get("username", ""),
                password=request.form.get("password", ""),
            )
        except Unauthorized as exc:
            error = exc.message
        else:
            sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("login.html", error=error), status


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
    return render_template(
        "home.html", user=user, projects=projects.list_projects(session=db.session())
    )


def init_app(app: Flask) -> None:
    """Register the pages and open static files to all."""
    app.register_blueprint(bp)
    from service.web import dashboards

    app.register_blueprint(dashboards.bp)
    app.view_functions["static"] = public(app.view_functions["static"])
