"""Hostile input is harmless: headers, limits, odd bytes, injection strings, server errors."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import create_app, db
from service.http.auth import public
from service.models import Project, User

TEMPLATES = Path(__file__).resolve().parent.parent / "service" / "templates"
SQLI = ['Robert\'); DROP TABLE "user";--', "1' OR '1'='1", "x\\'; SELECT pg_sleep(5);--"]


def test_every_response_carries_the_security_headers(app, client, auth):
    responses = [
        client.get("/login"),
        client.get("/api/v1/projects"),  # an error
        client.get("/nowhere"),
        client.get("/static/css/rankroom.css"),
        client.get("/api/v1/openapi.json"),
    ]
    for r in responses:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Request-Id"]
    assert responses[0].headers["Cache-Control"] == "no-store"
    assert "no-store" not in responses[3].headers.get("Cache-Control", "")
    for r in responses:
        r.close()


def test_session_cookie_is_httponly_and_samesite(app, auth, make):
    rater = make.user("rater")
    r = auth.login(rater.username)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_hsts_and_secure_cookie_behind_https(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "SECURE_COOKIES": True})
    r = app.test_client().get("/login")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    db.engine_of(app).dispose()


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_templates_need_no_inline_script_or_style(path):
    """The CSP forbids inline code: pages must load scripts and styles from /static."""
    text = (TEMPLATES / path).read_text(encoding="utf-8")
    # JSON data blocks are inert (never executed), so the CSP allows them.
    executable = r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>"
    assert not re.search(executable, text), "inline <script>"
    assert not re.search(r"\sstyle\s*=", text), "style= attribute"
    assert "<style" not in text, "<style> element"
    assert not re.search(r"\son[a-z]+\s*=", text), "on...= event handler attribute"
    assert "javascript:" not in text


def test_body_over_the_limit_is_413(app, client, admin_headers):
    app.config["MAX_BODY_BYTES"] = 1000
    r = client.post(
        "/api/v1/projects",
        data=b"{" + b" " * 2000 + b"}",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.get_json()["error"] == "Request body too large (limit 1000 bytes)."


def test_imports_may_be_larger_than_other_bodies(app, client, admin_headers, make):
    app.config["MAX_BODY_BYTES"] = 1000
    project = make.project()
    rows = [
        {
            "id": f"i{i}",
            "prompt": "Q" * 50,
            "responses": [{"id": "a", "content": "x"}, {"id": "b", "content": "y"}],
        }
        for i in range(40)
    ]
    r = client.post(f"/api/v1/projects/{project.slug}/items", json=rows, headers=admin_headers)
    assert r.status_code == 201 and r.get_json()["created"] == 40
    app.config["MAX_CONTENT_LENGTH"] = 2000
    r = client.post(f"/api/v1/projects/{project.slug}/items", json=rows, headers=admin_headers)
    assert r.status_code == 413


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_400(app, client, admin_headers, depth):
    body = "[" * depth + "]" * depth
    r = client.post(
        "/api/v1/projects", data=body, headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.get_json()["error"].startswith("JSON nested deeper than 32 levels")


def test_deeply_nested_import_line_is_reported_not_500(app, client, admin_headers, make):
    project = make.project()
    body = '{"id": "x", "prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
    r = client.post(
        f"/api/v1/projects/{project.slug}/items",
        data=body,
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["message"] == "invalid JSON: nested deeper than 64 levels"


def test_nul_characters_are_refused_everywhere(app, client, admin_headers, make):
    r = client.post("/api/v1/projects", json={"slug": "a", "name": "x\x00y"}, headers=admin_headers)
    assert r.status_code == 422 and r.get_json()["error"].startswith("name: contains a NUL")
    assert r.get_json()["errors"][0]["field"] == "name"
    r = client.get("/api/v1/projects/%00", headers=admin_headers)
    assert r.status_code == 400
    r = client.get("/api/v1/users?role=%00", headers=admin_headers)
    assert r.status_code == 400 and "query field 'role'" in r.get_json()["error"]
    project = make.project()
    r = client.post(
        f"/api/v1/projects/{project.slug}/items",
        data='{"id": "x", "prompt": "a\\u0000b", "responses": []}\n',
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422
    assert r.get_json()["errors"][0] == {
        "line": 1,
        "field": "prompt",
        "message": "contains a NUL character (\\u0000), which cannot be stored.",
        "id": "x",
    }
    with db.write_session() as s:
        assert s.exec(select(Project)).all()[0].slug == project.slug


def test_non_utf8_bodies_are_400_not_500(app, client, admin_headers, auth):
    r = client.post(
        "/api/v1/projects",
        data=b'{"slug": "\xff\xfe"}',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.get_json()["ok"] is False
    r = client.post(
        "/api/v1/projects",
        data=b"\x80abc",
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    r = client.post(
        "/login",
        data=b"username=%FF%FE&password=x&csrf_token=" + auth.csrf().encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 401


def test_control_characters_in_text_are_kept_or_refused_cleanly(app, client, admin_headers):
    r = client.post(
        "/api/v1/projects",
        json={"slug": "ctl", "name": "tab\there\u202e\u0007bell"},
        headers=admin_headers,
    )
    assert r.status_code == 201
    assert (
        client.get("/api/v1/projects/ctl", headers=admin_headers).get_json()["name"]
        == "tab\there\u202e\u0007bell"
    )
    r = client.post(
        "/api/v1/users/invites",
        json={"username": "ok", "display_name": "a\x1bb"},
        headers=admin_headers,
    )
    assert r.status_code == 422 and r.get_json()["errors"] == [
        {"field": "display_name", "message": "must not contain control characters"}
    ]


@pytest.mark.parametrize("payload", SQLI)
def test_sql_injection_strings_are_stored_verbatim(app, client, admin_headers, payload):
    r = client.post(
        "/api/v1/users/invites",
        json={"username": "mallory", "display_name": payload},
        headers=admin_headers,
    )
    assert r.status_code == 201
    r = client.post(
        "/api/v1/projects",
        json={"slug": "sqli", "name": payload, "description": payload},
        headers=admin_headers,
    )
    assert r.status_code == 201
    assert client.get("/api/v1/projects/sqli", headers=admin_headers).get_json()["name"] == payload
    with db.write_session() as s:
        assert s.exec(select(User.display_name).where(User.username == "mallory")).one() == payload
        assert s.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 2
    r = client.get("/api/v1/tokens", query_string={"username": payload}, headers=admin_headers)
    assert r.status_code == 404


def test_server_errors_leak_nothing_and_are_logged_with_the_request_id(database_url, caplog):
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x"})

    def boom():
        with db.engine().connect() as conn:
            conn.execute(sa.text("SELECT secret_column FROM no_such_table"))

    app.add_url_rule("/api/v1/boom", "boom", public(boom))
    app.add_url_rule("/boom", "boom_page", public(boom))
    client = app.test_client()
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        r = client.get("/api/v1/boom")
        page = client.get("/boom", headers={"Accept": "text/html"})
    db.engine_of(app).dispose()
    body = r.get_json()
    rid = r.headers["X-Request-Id"]
    assert r.status_code == 500 and body == {
        "ok": False,
        "error": f"Internal error. Quote request id {rid}.",
        "errors": [],
        "status": 500,
        "request_id": rid,
    }
    assert page.status_code == 500 and page.headers["X-Request-Id"].encode() in page.data
    for text in (r.data, page.data):
        assert b"no_such_table" not in text and b"Traceback" not in text and b"SELECT" not in text
    assert any(rid in rec.getMessage() and rec.exc_info for rec in caplog.records)


def test_a_hostile_request_id_is_replaced(client):
    r = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["X-Request-Id"])
    assert (
        client.get("/healthz", headers={"X-Request-Id": "lb-123.abc"}).headers["X-Request-Id"]
        == "lb-123.abc"
    )


def test_projects_list_is_paginated(app, client, admin_headers, make):
    for i in range(3):
        make.project(slug=f"p-{i}")
    r = client.get("/api/v1/projects?per_page=2&page=2", headers=admin_headers)
    assert [p["slug"] for p in r.get_json()] == ["p-2"]
    info = json.loads(r.headers["X-Pagination"])
    assert info == {
        "total": 3,
        "pages": 2,
        "page": 2,
        "per_page": 2,
        "first": 1,
        "last": 2,
        "previous": 1,
        "next": None,
    }
    assert client.get("/api/v1/projects?per_page=0", headers=admin_headers).status_code == 422
    assert client.get("/api/v1/projects?page=x", headers=admin_headers).status_code == 422


def test_long_fields_are_refused_with_the_field_named(app, client, admin_headers):
    r = client.post(
        "/api/v1/users/invites",
        json={"username": "u", "display_name": "x" * 201},
        headers=admin_headers,
    )
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "display_name"
    r = client.post(
        "/api/v1/users/invites",
        json={"username": "u", "expertise": ["t"] * 51},
        headers=admin_headers,
    )
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "expertise"


def test_ids_out_of_integer_range_are_404_not_500(app, client, admin_headers):
    r = client.delete(f"/api/v1/tokens/{2**40}", headers=admin_headers)
    assert r.status_code == 404 and r.get_json()["ok"] is False
    r = client.get(f"/api/v1/audit?actor_id={2**40}", headers=admin_headers)
    assert r.status_code == 422
