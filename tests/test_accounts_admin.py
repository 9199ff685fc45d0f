"""Deactivating and reactivating people, through the API, the pages and the CLI."""

from __future__ import annotations

from sqlmodel import select

from service import db
from service.cli import main
from service.models import ApiToken, Assignment, Judgment, User
from tests.factories import item_row, lease_and_judgment


def _state(user_id: int) -> dict:
    with db.write_session() as s:
        user = s.get(User, user_id)
        return {
            "active": user.active,
            "epoch": user.session_epoch,
            "leases": sorted(
                (a.status, a.finished_at is not None)
                for a in s.exec(select(Assignment).where(Assignment.rater_id == user_id))
            ),
            "tokens_revoked": [
                t.revoked_at is not None
                for t in s.exec(select(ApiToken).where(ApiToken.user_id == user_id))
            ],
            "judgments": len(s.exec(select(Judgment).where(Judgment.rater_id == user_id)).all()),
        }


def test_deactivation_ends_sessions_revokes_tokens_releases_leases(app, make, admin_headers):
    project = make.project()
    items = make.items(project, [item_row(), item_row()])
    rater = make.user("rater")
    _, secret = make.token(rater, ["stats"])
    lease_and_judgment(app, project, items, rater)
    browser = app.test_client()
    with browser.session_transaction() as sess:
        sess["csrf"] = "t"
    browser.post(
        "/login",
        data={
            "username": rater.username,
            "password": "correct horse battery staple",
            "csrf_token": "t",
        },
    )
    assert browser.get("/").status_code == 200

    api = app.test_client()
    r = api.post(f"/api/v1/users/{rater.username}/deactivate", headers=admin_headers)
    assert r.status_code == 200
    body = r.get_json()
    assert (body["tokens_revoked"], body["leases_released"], body["invites_revoked"]) == (1, 1, 0)
    assert body["user"]["active"] is False
    assert _state(rater.id) == {
        "active": False,
        "epoch": 1,
        "leases": [("released", True), ("submitted", True)],
        "tokens_revoked": [True],
        "judgments": 1,
    }
    assert browser.get("/").status_code == 302  # the live session ended
    r = api.get("/api/v1/projects", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401


def test_reactivation_and_refusals(app, make, admin_headers, client):
    rater = make.user("rater")
    assert (
        client.post(f"/api/v1/users/{rater.username}/deactivate", headers=admin_headers).status_code
        == 200
    )
    r = client.post(f"/api/v1/users/{rater.username}/activate", headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["active"] is True
    r = client.post("/api/v1/users/root-admin/deactivate", headers=admin_headers)
    assert (
        r.status_code == 409 and r.get_json()["error"] == "You cannot deactivate your own account."
    )
    r = client.post("/api/v1/users/nobody/deactivate", headers=admin_headers)
    assert r.status_code == 404 and r.get_json()["error"] == "No user 'nobody'."


def test_user_list_is_paginated_and_filtered(app, make, admin_headers, client):
    for _ in range(3):
        make.user("rater")
    make.user("engineer")
    r = client.get("/api/v1/users?role=rater&per_page=2", headers=admin_headers)
    assert r.status_code == 200 and len(r.get_json()) == 2
    assert r.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in r.headers["Link"] and "role=rater" in r.headers["Link"]
    r = client.get("/api/v1/users?role=rater&per_page=2&page=2", headers=admin_headers)
    assert [u["role"] for u in r.get_json()] == ["rater"]
    r = client.get("/api/v1/users?per_page=201", headers=admin_headers)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "per_page"


def test_admin_page_deactivates_and_activates(app, auth, make, client):
    auth.as_role("admin")
    rater = make.user("rater", display_name="Dr. Who")
    page = client.get("/admin/users")
    assert b"Dr. Who" in page.data
    r = client.post(f"/admin/users/{rater.id}/deactivate", data={"csrf_token": auth.csrf()})
    assert r.status_code == 302
    assert b"Deactivated " + rater.username.encode() in client.get("/admin/users").data
    assert _state(rater.id)["active"] is False
    client.post(f"/admin/users/{rater.id}/activate", data={"csrf_token": auth.csrf()})
    assert _state(rater.id)["active"] is True


def test_cli_deactivate_and_activate(app, make, runner):
    rater = make.user("rater")
    result = runner.invoke(main, ["users", "deactivate", rater.username])
    assert result.exit_code == 0 and "0 token(s) revoked, 0 lease(s) released" in result.output
    assert _state(rater.id)["active"] is False
    assert runner.invoke(main, ["users", "activate", rater.username]).exit_code == 0
    assert _state(rater.id)["active"] is True
