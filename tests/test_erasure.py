"""Right to erasure: a rater's identity goes, their judgments stay usable."""

from __future__ import annotations

from sqlmodel import select

from service import db, erasure
from service.cli import main
from service.models import ApiToken, Assignment, AuditEvent, Invite, Judgment, LoginAttempt, User
from tests.factories import PASSWORD, item_row, lease_and_judgment


def _setup(app, make, client):
    project = make.project()
    items = make.items(project, [item_row(), item_row()])
    rater = make.user(
        "rater",
        username="ada.lovelace",
        display_name="Ada Lovelace",
        email="ada@example.org",
        expertise=["math"],
    )
    make.token(rater, ["stats"])
    lease_and_judgment(app, project, items, rater)
    with client.session_transaction() as sess:
        sess["csrf"] = "t"
    client.post("/login", data={"username": "Ada.Lovelace", "password": "nope", "csrf_token": "t"})
    return rater


def _check_erased(app, rater_id: int, pseudonym: str) -> None:
    with db.write_session() as s:
        user = s.get(User, rater_id)
        assert (user.username, user.display_name, user.email, user.password_hash) == (
            pseudonym,
            pseudonym,
            None,
            None,
        )
        assert user.expertise == ["math"] and user.erased_at is not None and not user.active
        assert s.exec(select(ApiToken).where(ApiToken.user_id == rater_id)).all() == []
        assert s.exec(select(Invite).where(Invite.user_id == rater_id)).all() == []
        assert s.exec(select(LoginAttempt)).all() == []
        judgment = s.exec(select(Judgment)).one()
        assert judgment.rater_id == rater_id and judgment.verdict["preferred"] == "a"
        assert s.exec(select(Assignment.status).where(Assignment.rater_id == rater_id)).all() in (
            ["released", "submitted"],
            ["submitted", "released"],
        )
        targets = s.exec(select(AuditEvent.target)).all()
        assert not any("ada" in t.lower() for t in targets)


def test_cli_erase_pseudonymises_everywhere(app, make, client, runner):
    rater = _setup(app, make, client)
    result = runner.invoke(main, ["users", "erase", "ada.lovelace", "--yes"])
    assert result.exit_code == 0, result.output
    pseudonym = erasure.pseudonym(user_id=rater.id, secret_key=app.secret_key)
    assert pseudonym.startswith("erased-") and result.output.endswith(f"now {pseudonym}.\n")
    _check_erased(app, rater.id, pseudonym)
    r = client.post(
        "/login", data={"username": "ada.lovelace", "password": PASSWORD, "csrf_token": "t"}
    )
    assert r.status_code == 401
    again = runner.invoke(main, ["users", "erase", pseudonym, "--yes"])
    assert again.exit_code == 1 and "already erased" in again.output


def test_api_erase(app, make, client, admin_headers):
    rater = _setup(app, make, client)
    r = client.post("/api/v1/users/ada.lovelace/erase", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    pseudonym = erasure.pseudonym(user_id=rater.id, secret_key=app.secret_key)
    assert body["user"]["username"] == pseudonym and body["user"]["email"] is None
    assert (body["tokens_deleted"], body["leases_released"], body["login_attempts_deleted"]) == (
        1,
        1,
        1,
    )
    assert body["audit_events_rewritten"] == 0  # the failed login named the known account by id
    _check_erased(app, rater.id, pseudonym)
    r = client.post(f"/api/v1/users/{pseudonym}/activate", headers=admin_headers)
    assert r.status_code == 409


def test_erasure_rewrites_failed_logins_typed_before_the_account_existed(app, make, client):
    with client.session_transaction() as sess:
        sess["csrf"] = "t"
    client.post("/login", data={"username": "grace", "password": "x", "csrf_token": "t"})
    grace = make.user("rater", username="grace")
    with db.write_session() as s:
        counts = erasure.erase_user(session=s, user=s.get(User, grace.id), secret_key="k")
        assert counts["audit_events_rewritten"] == 1
        assert s.exec(select(AuditEvent.target)).all() == [f"user:{grace.id}"]


def test_admin_page_erase_needs_the_typed_username(app, auth, make, client):
    auth.as_role("admin")
    rater = make.user("rater", username="bob")
    r = client.post(
        f"/admin/users/{rater.id}/erase", data={"confirm": "bo", "csrf_token": auth.csrf()}
    )
    assert r.status_code == 422
    with db.write_session() as s:
        assert s.get(User, rater.id).username == "bob"
    r = client.post(
        f"/admin/users/{rater.id}/erase", data={"confirm": "bob", "csrf_token": auth.csrf()}
    )
    assert r.status_code == 302
    with db.write_session() as s:
        assert s.get(User, rater.id).username.startswith("erased-")
