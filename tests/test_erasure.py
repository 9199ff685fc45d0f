"""Right to erasure: a rater's identity goes, their judgments stay usable."""

from __future__ import annotations

import pytest
from sqlmodel import select

from service import audit, db
from service.accounts import erasure
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


ADA, ADA_EMAIL = "Ada.Lovelace", "ada@example.org"


def _sign_in_form(client, username: str, password: str):
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": "t"}
    )


def _audited_life(app, make, client, runner, headers, tmp_path) -> User:
    """Take a rater through every audited action that can involve them, by API and CLI."""
    with client.session_transaction() as sess:
        sess["csrf"] = "t"
    # A failed sign-in under the name, typed before the account exists.
    assert _sign_in_form(client, " ADA.LOVELACE ", "nope").status_code == 401
    csv_body = f"username,email,display_name\n{ADA},{ADA_EMAIL},Ada Lovelace\nalan,,Alan\n"
    r = client.post("/api/v1/users/import", data=csv_body, content_type="text/csv", headers=headers)
    assert r.status_code == 201, r.get_json()
    r = client.post(f"/api/v1/users/{ADA}/invite", headers=headers)
    secret = r.get_json()["invite_url"].rsplit("/", 1)[1]
    r = client.post(
        f"/invite/{secret}", data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": "t"}
    )
    assert r.status_code == 302
    client.post("/logout", data={"csrf_token": "t"})
    with client.session_transaction() as sess:
        sess["csrf"] = "t"
    assert _sign_in_form(client, ADA.upper(), "wrong").status_code == 401
    assert _sign_in_form(client, ADA, PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": "t"})
    r = client.post(
        "/api/v1/tokens",
        json={"username": ADA, "scopes": ["stats"], "name": f"{ADA}'s laptop"},
        headers=headers,
    )
    assert r.status_code == 201
    with db.write_session() as s:
        ada = s.exec(select(User).where(User.username == ADA)).one()
    project = make.project(slug="life")
    items = make.items(project, [item_row(), item_row()])
    lease_and_judgment(app, project, items, ada)
    make.user("rater", username="grace")
    with db.write_session() as s:
        lease_id = s.exec(
            select(Assignment.id).where(
                Assignment.rater_id == ada.id, Assignment.status == "active"
            )
        ).one()
    r = client.post(
        f"/api/v1/assignments/{lease_id}/reassign", json={"rater": "grace"}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    r = client.put(
        f"/api/v1/projects/life/qualifications/{ADA}",
        json={"passed": True, "note": f"{ADA} passed the interview; mail {ADA_EMAIL}."},
        headers=headers,
    )
    assert r.status_code == 200, r.get_json()
    r = client.get(f"/api/v1/export?format=raw&project=life&rater={ADA}", headers=headers)
    assert r.status_code == 200 and r.data
    out = tmp_path / "raw.jsonl"
    result = runner.invoke(
        main, ["export", "--format", "raw", "--project", "life", "--rater", ADA, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    r = client.get(
        f"/api/v1/audit/export?format=csv&actor_id={ada.id}&action=login", headers=headers
    )
    assert r.status_code == 200 and r.data
    for action in ("deactivate", "activate"):
        assert client.post(f"/api/v1/users/{ADA}/{action}", headers=headers).status_code == 200
    return ada


def _audit_surfaces(app, client, runner, headers, rater_id: int) -> dict[str, str]:
    """Every place the audit log can be read, as text."""
    texts = {}
    for path in (
        "/api/v1/audit?per_page=200",
        f"/api/v1/audit?per_page=200&actor_id={rater_id}",
        "/api/v1/audit?per_page=200&action=export",
        "/api/v1/audit/export?format=jsonl",
        "/api/v1/audit/export?format=csv",
        f"/api/v1/audit/export?format=jsonl&actor_id={rater_id}",
    ):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        texts[path] = r.get_data(as_text=True)
    for fmt in ("jsonl", "csv"):
        result = runner.invoke(main, ["audit", "export", "--format", fmt])
        assert result.exit_code == 0, result.output
        texts[f"cli audit export {fmt}"] = result.output
    page_client = app.test_client()
    with page_client.session_transaction() as sess:
        sess["csrf"] = "t"
    assert _sign_in_form(page_client, "page-admin", PASSWORD).status_code == 302
    for path in (
        "/admin/audit?per_page=200",
        "/admin/audit?action=export",
        "/admin/audit?action=login",
    ):
        r = page_client.get(path)
        assert r.status_code == 200, path
        texts[path] = r.get_data(as_text=True)
    return texts


@pytest.mark.parametrize("door", ["api", "cli"])
def test_erased_rater_leaves_no_name_on_any_audit_surface(
    app, make, client, runner, admin_headers, tmp_path, door
):
    make.user("admin", username="page-admin")
    ada = _audited_life(app, make, client, runner, admin_headers, tmp_path)
    before = _audit_surfaces(app, client, runner, admin_headers, ada.id)
    # Before erasure the log names her (export filters, a note): the scan below can fail.
    assert ADA.lower() in before["/api/v1/audit?per_page=200"].lower()
    assert ADA_EMAIL in before["/admin/audit?per_page=200"].lower()
    with db.write_session() as s:
        kept = s.exec(select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id)).all()
    if door == "api":
        r = client.post(f"/api/v1/users/{ADA}/erase", headers=admin_headers)
        assert r.status_code == 200, r.get_json()
    else:
        result = runner.invoke(main, ["users", "erase", ADA, "--yes"])
        assert result.exit_code == 0, result.output
    pseudonym = erasure.pseudonym(user_id=ada.id, secret_key=app.secret_key)
    leaks = {
        where: needle
        for where, text in _audit_surfaces(app, client, runner, admin_headers, ada.id).items()
        for needle in (ADA.lower(), ADA_EMAIL)
        if needle in text.lower()
    }
    assert leaks == {}
    with db.write_session() as s:
        events = s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    # Every event is kept (pseudonymised), and the erasure itself is recorded.
    assert [(e.id, e.action) for e in events[: len(kept)]] == kept
    assert "user.erase" in [e.action for e in events[len(kept) :]]
    exports = [e for e in events if e.action == "export"]
    assert [e.details["filters"]["raters"] for e in exports] == [[pseudonym], [pseudonym]]
    (note,) = [e.details["note"] for e in events if e.action == "qualification.override"]
    assert note == f"{pseudonym} passed the interview; mail {pseudonym}."


def test_erasure_rewrites_only_where_the_log_names_the_person(app, make):
    # A project, a tag and a longer username that share the name are not the person.
    ann = make.user("rater", username="ann", email="ann@example.org")
    make.user("rater", username="ann.b")
    with db.write_session() as s:
        for details in (
            {"filters": {"projects": ["ann"], "tags": ["ann"], "raters": ["ANN", "ann.b"]}},
            {"note": "Ann. Asked ann.b, not ann; mail ann@example.org. (ann)", "passed": True},
            {"note": "nothing about her", "rows": 1},
        ):
            audit.record(
                session=s, actor_id=None, action="x", target="project:ann", details=details
            )
    with db.write_session() as s:
        counts = erasure.erase_user(session=s, user=s.get(User, ann.id), secret_key="k")
        events = s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    p = erasure.pseudonym(user_id=ann.id, secret_key="k")
    assert counts["audit_events_rewritten"] == 2
    assert [(e.target, e.details) for e in events] == [
        (
            "project:ann",
            {"filters": {"projects": ["ann"], "tags": ["ann"], "raters": [p, "ann.b"]}},
        ),
        ("project:ann", {"note": f"{p}. Asked ann.b, not {p}; mail {p}. ({p})", "passed": True}),
        ("project:ann", {"note": "nothing about her", "rows": 1}),
    ]
