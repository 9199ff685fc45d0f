"""Projects and item import over the JSON API, and the one error envelope."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from service import db
from service.models import Item
from tests.factories import item_row


@pytest.fixture
def admin_token(make):
    admin = make.user(role="admin")
    _, secret = make.token(admin, ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def test_error_envelope_shape(client):
    r = client.get("/api/v1/projects")
    assert r.status_code == 401
    body = r.get_json()
    assert set(body) == {"ok", "error", "errors", "status", "request_id"}
    assert body["ok"] is False and body["status"] == 401 and body["errors"] == []
    assert r.headers["X-Request-Id"] == body["request_id"]


def test_unknown_api_route_is_json_404(client):
    r = client.get("/api/v1/nope")
    assert r.status_code == 404 and r.get_json()["ok"] is False


def test_create_project_and_validation_errors(client, admin_token):
    r = client.post(
        "/api/v1/projects",
        json={"slug": "med", "name": "Medicine", "mode": "ranking", "overlap": 5},
        headers=admin_token,
    )
    assert r.status_code == 201
    assert (r.get_json()["slug"], r.get_json()["mode"], r.get_json()["overlap"]) == (
        "med",
        "ranking",
        5,
    )
    bad = client.post(
        "/api/v1/projects",
        json={"slug": "Bad Slug", "name": "x", "mode": "vibes"},
        headers=admin_token,
    )
    assert bad.status_code == 422
    fields = {e["field"]: e["message"] for e in bad.get_json()["errors"]}
    assert fields["slug"] == "lowercase letters, digits and dashes"
    assert fields["mode"].startswith("Must be one of")
    dup = client.post(
        "/api/v1/projects", json={"slug": "med", "name": "again"}, headers=admin_token
    )
    assert dup.status_code == 409 and dup.get_json()["error"] == "Project 'med' already exists."


def test_import_json_array_and_jsonl(app, client, admin_token, make):
    project = make.project(slug="imp")
    r = client.post(
        "/api/v1/projects/imp/items", json=[item_row("a1"), item_row("a2")], headers=admin_token
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["created"], body["unchanged"], body["error_count"], body["lines"]) == (2, 0, 0, 2)
    jsonl = "\n".join(json.dumps(x) for x in [item_row("a2"), item_row("a3")])
    r = client.post(
        "/api/v1/projects/imp/items",
        data=jsonl,
        headers={**admin_token, "Content-Type": "application/x-ndjson"},
    )
    assert (r.get_json()["created"], r.get_json()["unchanged"]) == (1, 1)
    with app.app_context():
        ids = db.session().exec(select(Item.external_id).where(Item.project_id == project.id)).all()
    assert sorted(ids) == ["a1", "a2", "a3"]


def test_import_bad_batch_is_422_and_writes_nothing(app, client, admin_token, make):
    make.project(slug="imp")
    r = client.post(
        "/api/v1/projects/imp/items",
        json=[item_row("ok"), item_row("bad", n_responses=1)],
        headers=admin_token,
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"line": 2, "field": "responses", "message": "need 2 to 9 responses, got 1", "id": "bad"}
    ]
    with app.app_context():
        assert db.session().exec(select(Item)).all() == []
    r = client.post(
        "/api/v1/projects/imp/items?skip_invalid=true",
        json=[item_row("ok"), item_row("bad", n_responses=1)],
        headers=admin_token,
    )
    assert (
        r.status_code == 201 and r.get_json()["created"] == 1 and r.get_json()["error_count"] == 1
    )


def test_import_needs_import_scope(client, make):
    make.project(slug="imp")
    admin = make.user(role="admin")
    _, export_only = make.token(admin, ["export"])
    _, importer = make.token(admin, ["import"])
    url = "/api/v1/projects/imp/items"
    denied = client.post(url, json=[item_row()], headers={"Authorization": f"Bearer {export_only}"})
    assert denied.status_code == 403
    assert denied.get_json()["error"] == "This API token lacks the 'import' scope."
    ok = client.post(url, json=[item_row()], headers={"Authorization": f"Bearer {importer}"})
    assert ok.status_code == 201


def test_rater_cannot_import(client, auth, make):
    make.project(slug="imp")
    auth.as_role("rater")
    r = client.post(
        "/api/v1/projects/imp/items", json=[item_row()], headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 403


def test_revoked_and_unknown_tokens(app, client, make):
    admin = make.user(role="admin")
    token, secret = make.token(admin, ["admin"])
    assert (
        client.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    from service.models import ApiToken, utcnow

    with app.app_context(), db.write_session() as s:
        s.get(ApiToken, token.id).revoked_at = utcnow()
    r = client.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and r.get_json()["error"] == "This API token was revoked."
    r = client.get("/api/v1/projects", headers={"Authorization": "Bearer rr_nope"})
    assert r.status_code == 401 and r.get_json()["error"] == "Unknown API token."


def test_openapi_document_is_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.get_json()["paths"]
    assert "/api/v1/projects/{slug}/items" in paths
