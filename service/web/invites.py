"""The page where an invited person sets their password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from service import db
from service.accounts import invites
from service.errors import InvalidInput
from service.http.auth import audit_here, public, sign_in
from service.models import User

bp = Blueprint("invites", __name__)


@bp.route("/invite/<secret>", methods=["GET", "POST"])
@public
def accept(secret: str) -> Any:
    """Show the set-password form for a valid link, or set the password and sign in."""
    s = db.session()
    invite = invites.find_invite(session=s, secret=secret[:100])
    user = s.get(User, invite.user_id)
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        try:
            if password != request.form.get("confirm", ""):
                raise InvalidInput("The two passwords differ.")
            user = invites.accept_invite(session=s, secret=secret, password=password)
        except InvalidInput as exc:
            error = exc.message
        else:
            sign_in(user)
            audit_here("user.accept-invite", f"user:{user.id}")
            s.commit()
            return redirect(url_for("web.home"))
    status = 422 if error else 200
    return render_template("invite.html", user=user, error=error), status
