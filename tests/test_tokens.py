"""API tokens: shown once, listed without secrets, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.cli import main
from service.models import ApiToken, AuditEvent, User, clock_at, utcnow


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_create_shows_the_secret_once_and_stores_its_hash(app, make, admin_headers, client):
    engineer = make.user("engineer", username="eng")
    r = client.post(
        "/api/v1/tokens",
        json={
            "username": "eng",
            "scopes": ["export", "stats"],
            "name": "trainer",
            "expires_in_days": 30,
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    secret = body.pop("secret")
    assert secret.startswith("rr_") and body["prefix"] == secret[:10]
    assert body["user_id"] == engineer.id and body["scopes"] == ["export", "stats"]
    assert body["revoked_at"] is None and body["last_used_at"] is None
    with db.write_session() as s:
        row = s.get(ApiToken, body["id"])
        assert secret not in row.token_hash and len(row.token_hash) == 64
    listed = client.get("/api/v1/tokens?username=eng", headers=admin_headers).get_json()
    assert len(listed) == 1 and "secret" not in listed[0] and "token_hash" not in listed[0]
    assert set(listed[0]) == {
        "id",
        "user_id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    }


def test_scope_is_enforced_and_last_use_recorded(app, make, client):
    admin = make.user("admin")
    _, import_only = make.token(admin, ["import"])
    r = client.get("/api/v1/projects", headers=_bearer(import_only))
    assert (
        r.status_code == 403 and r.get_json()["error"] == "This API token lacks the 'admin' scope."
    )
    with db.write_session() as s:
        assert s.exec(select(ApiToken.last_used_at)).one() is not None


def test_revoked_and_expired_tokens_stop_working(app, make, admin_headers, client):
    admin = make.user("admin")
    token, secret = make.token(admin, ["admin"])
    assert client.get("/api/v1/projects", headers=_bearer(secret)).status_code == 200
    r = client.delete(f"/api/v1/tokens/{token.id}", headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["revoked_at"]
    r = client.get("/api/v1/projects", headers=_bearer(secret))
    assert r.status_code == 401 and r.get_json()["error"] == "This API token was revoked."

    token2, secret2 = make.token(admin, ["admin"])
    with db.write_session() as s:
        s.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == token2.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    r = client.get("/api/v1/projects", headers=_bearer(secret2))
    assert r.status_code == 401 and r.get_json()["error"] == "This API token has expired."
    assert client.get("/api/v1/projects", headers=_bearer("rr_made-up")).status_code == 401


def test_a_deactivated_users_token_stops_working(app, make, client):
    project = make.project()
    engineer = make.user("engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    export = f"/api/v1/export?format=dpo&project={project.slug}"
    assert client.get(export, headers=_bearer(secret)).status_code == 200
    with db.write_session() as s:
        s.execute(sa.update(User).where(User.id == engineer.id).values(active=False))
    r = client.get(export, headers=_bearer(secret))
    assert r.status_code == 401 and r.get_json()["error"] == "The API token's user is deactivated."


def test_an_api_call_writes_only_to_refresh_a_last_use_older_than_a_minute(app, make, client):
    """On SQLite every write takes the database's one write lock: an API call that wrote on
    each request (to record its last use) would queue behind imports and other writers."""
    admin = make.user("admin")
    token, secret = make.token(admin, ["admin"])
    writes: list[str] = []

    def watch(conn, cursor, statement, *_):
        if statement.upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")):
            writes.append(statement)

    engine = db.engine_of(app)
    sa.event.listen(engine, "before_cursor_execute", watch)
    try:
        start = utcnow()
        with clock_at(start):
            assert client.get("/api/v1/projects", headers=_bearer(secret)).status_code == 200
        assert any(w.startswith("UPDATE api_token") for w in writes), writes
        writes.clear()
        with clock_at(start + timedelta(seconds=59)):
            assert client.get("/api/v1/projects", headers=_bearer(secret)).status_code == 200
        assert writes == []
        with clock_at(start + timedelta(seconds=61)):
            assert client.get("/api/v1/projects", headers=_bearer(secret)).status_code == 200
        assert any(w.startswith("UPDATE api_token") for w in writes), writes
    finally:
        sa.event.remove(engine, "before_cursor_execute", watch)
    with db.write_session() as s:
        assert s.get(ApiToken, token.id).last_used_at == start + timedelta(seconds=61)


def test_a_token_cannot_revoke_itself(app, make, client):
    admin = make.user("admin")
    token, secret = make.token(admin, ["admin"])
    r = client.delete(f"/api/v1/tokens/{token.id}", headers=_bearer(secret))
    assert r.status_code == 409
    assert client.delete("/api/v1/tokens/999999", headers=_bearer(secret)).status_code == 404


def test_token_actions_are_audited(app, make, admin_headers, client):
    make.user("engineer", username="eng")
    created = client.post(
        "/api/v1/tokens", json={"username": "eng", "scopes": ["stats"]}, headers=admin_headers
    )
    client.delete(f"/api/v1/tokens/{created.get_json()['id']}", headers=admin_headers)
    with db.write_session() as s:
        actions = s.exec(select(AuditEvent.action, AuditEvent.target).order_by(AuditEvent.id)).all()
    tid = created.get_json()["id"]
    assert actions == [("token.create", f"token:{tid}"), ("token.revoke", f"token:{tid}")]


def test_admin_token_page_creates_and_revokes(app, auth, make, client):
    auth.as_role("admin")
    make.user("engineer", username="eng")
    r = client.post(
        "/admin/tokens",
        data={
            "username": "eng",
            "scopes": ["export"],
            "name": "nightly",
            "days": "7",
            "csrf_token": auth.csrf(),
        },
    )
    assert r.status_code == 201 and b'value="rr_' in r.data
    listing = client.get("/admin/tokens")
    assert b"nightly" in listing.data and b"rr_" in listing.data  # the prefix, not the secret
    with db.write_session() as s:
        token = s.exec(select(ApiToken)).one()
    assert listing.data.count(token.prefix.encode()) == 1
    client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": auth.csrf()})
    with db.write_session() as s:
        assert s.get(ApiToken, token.id).revoked_at is not None


def test_cli_lists_and_revokes(app, make, runner):
    engineer = make.user("engineer", username="eng")
    token, _ = make.token(engineer, ["export"], name="ci")
    out = runner.invoke(main, ["tokens", "list"])
    assert out.exit_code == 0, out.output
    assert f"{token.id}\t{token.prefix}\teng\texport\t" in out.output and out.output.endswith(
        "\tnever\tlive\n"
    )
    result = runner.invoke(main, ["tokens", "revoke", token.prefix])
    assert result.exit_code == 0 and f"Revoked token {token.id}" in result.output
    assert token.prefix not in runner.invoke(main, ["tokens", "list"]).output
    assert "revoked" in runner.invoke(main, ["tokens", "list", "--all"]).output
    missing = runner.invoke(main, ["tokens", "revoke", "rr_nothing"])
    assert missing.exit_code == 1 and "No single API token" in missing.output
