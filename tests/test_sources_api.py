"""The admin JSON API for sources and runs."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from service import db
from service.models import PullRun, Source
from tests.pullkit import add_source, closed_port, pull_now

REMOTE = {"url": "http://127.0.0.1:9/items.jsonl"}
GENERATORS = [
    {"name": "a", "url": "http://127.0.0.1:9/v1", "model": "m-a"},
    {"name": "b", "url": "http://127.0.0.1:9/v1", "model": "m-b", "api_key_env": "B_KEY"},
]


@pytest.fixture
def admin(make):
    user = make.user(role="admin")
    _, secret = make.token(user, ["admin"])
    make.project(slug="api-p")
    return {"Authorization": f"Bearer {secret}"}


def _sources(app):
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(Source)))


def test_create_a_remote_source(client, admin, app):
    body = {"name": "feed", "project": "api-p", "kind": "remote", "config": REMOTE}
    r = client.post("/api/v1/sources", json={**body, "interval_minutes": 30}, headers=admin)
    assert r.status_code == 201, r.get_json()
    data = r.get_json()
    [stored] = _sources(app)
    assert data["next_run_at"] and data["created_at"]
    del data["next_run_at"], data["created_at"]
    assert data == {
        "id": stored.id,
        "name": "feed",
        "project": "api-p",
        "kind": "remote",
        "config": {
            "url": REMOTE["url"],
            "timeout": 60.0,
            "retries": 3,
            "backoff": 1.0,
            "max_backoff": 60.0,
            "skip_invalid": False,
            "update": False,
        },
        "interval_minutes": 30,
        "etag": None,
        "last_modified": None,
        "last_run_at": None,
        "last_status": None,
        "last_error": "",
    }
    assert stored.config == data["config"]


def test_create_a_generation_source_stores_only_the_key_name(client, admin, app):
    config = {"prompts": "prompts/med.jsonl", "generators": GENERATORS}
    body = {"name": "gen", "project": "api-p", "kind": "generation", "config": config}
    r = client.post("/api/v1/sources", json=body, headers=admin)
    assert r.status_code == 201
    gens = r.get_json()["config"]["generators"]
    assert gens[1] == {**GENERATORS[1], "params": {}, "n": 1}
    assert r.get_json()["config"]["concurrency"] == 4


@pytest.mark.parametrize(
    ("kind", "config", "field", "message"),
    [
        ("remote", {"url": "ftp://x/y"}, "config.url", "Not a valid URL."),
        ("remote", {"url": "http://x/y", "api_key": "sk-1"}, "config.api_key", "keys are never stored"),
        ("remote", {"url": "http://x/y", "retries": 99}, "config.retries", "Must be greater than or equal to 0 and less than or equal to 20."),
        ("folder", {"path": "relative/dir"}, "config.path", "must be an absolute path on the worker's host"),
        ("generation", {"prompts": "p.jsonl", "generators": GENERATORS[:1]}, "config.generators", "need 2 to 9 responses per prompt in all (sum of n), got 1"),
        ("generation", {"prompts": "p.jsonl", "generators": [GENERATORS[0], GENERATORS[0]]}, "config.generators", "duplicate generator name(s): a"),
        ("generation", {"prompts": "p.jsonl", "generators": [{**GENERATORS[0], "params": {"n": 2}}, GENERATORS[1]]}, "config.generators.0.params", "n cannot be set here"),
        ("generation", {"prompts": "p.jsonl", "generators": [{**GENERATORS[0], "api_key_env": "bad name"}, GENERATORS[1]]}, "config.generators.0.api_key_env", "must be an environment variable name"),
    ],
)  # fmt: skip
def test_invalid_configs_are_refused_naming_the_field(client, admin, app, kind, config, field, message):  # fmt: skip
    body = {"name": "bad", "project": "api-p", "kind": kind, "config": config}
    r = client.post("/api/v1/sources", json=body, headers=admin)
    assert r.status_code == 422
    data = r.get_json()
    assert data["ok"] is False and data["status"] == 422
    assert data["error"] == f"Invalid {kind} source config."
    [error] = data["errors"]
    assert error["field"] == field and message in error["message"]
    assert _sources(app) == []


def test_unknown_project_and_taken_name(client, admin, app):
    body = {"name": "feed", "project": "nope", "kind": "remote", "config": REMOTE}
    r = client.post("/api/v1/sources", json=body, headers=admin)
    assert (r.status_code, r.get_json()["error"]) == (404, "No project 'nope'.")
    body["project"] = "api-p"
    assert client.post("/api/v1/sources", json=body, headers=admin).status_code == 201
    r = client.post("/api/v1/sources", json=body, headers=admin)
    assert (r.status_code, r.get_json()["error"]) == (409, "Source 'feed' already exists.")


def test_bad_source_fields_are_refused(client, admin, app):
    body = {"name": "Bad Name", "project": "api-p", "kind": "ftp", "config": {}}
    r = client.post("/api/v1/sources", json=body, headers=admin)
    assert r.status_code == 422
    fields = sorted(e["field"] for e in r.get_json()["errors"])
    assert fields == ["kind", "name"]
    assert _sources(app) == []


def test_only_admins_may_touch_sources(client, make, app):
    rater = make.user(role="rater")
    _, secret = make.token(rater, ["export"])
    r = client.get("/api/v1/sources", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 403
    assert client.get("/api/v1/sources").status_code == 401


def test_run_now_queues_once(client, admin, app):
    add_source(app, name="feed", project="api-p", kind="remote", config=REMOTE)
    r = client.post("/api/v1/sources/feed/runs", headers=admin)
    assert r.status_code == 202
    run = r.get_json()
    assert (run["status"], run["trigger"], run["mode"], run["source"]) == (
        "queued",
        "manual",
        "pull",
        "feed",
    )
    again = client.post("/api/v1/sources/feed/runs", headers=admin)
    assert again.status_code == 409
    assert (
        again.get_json()["error"] == f"Source 'feed' already has a queued pull (run {run['id']})."
    )
    with Session(db.engine_of(app)) as s:
        assert len(s.exec(select(PullRun)).all()) == 1
    listed = client.get("/api/v1/sources/feed/runs", headers=admin).get_json()
    assert [x["id"] for x in listed] == [run["id"]]
    assert client.get(f"/api/v1/runs/{run['id']}", headers=admin).get_json() == run


def test_a_failed_run_can_be_retried(client, admin, app):
    port = closed_port()
    add_source(app, name="feed", project="api-p", kind="remote",
               config={"url": f"http://127.0.0.1:{port}/x.jsonl", "retries": 0})  # fmt: skip
    failed = pull_now(app, "feed")
    assert failed.status == "failed" and f"could not connect to 127.0.0.1:{port}" in failed.error
    shown = client.get(f"/api/v1/runs/{failed.id}", headers=admin).get_json()
    assert (shown["status"], shown["error"]) == ("failed", failed.error)
    source = client.get("/api/v1/sources/feed", headers=admin).get_json()
    assert (source["last_status"], source["last_error"]) == ("failed", failed.error)
    r = client.post(f"/api/v1/runs/{failed.id}/retry", headers=admin)
    assert r.status_code == 202
    assert (r.get_json()["mode"], r.get_json()["retry_of"]) == ("retry", failed.id)
    queued = r.get_json()["id"]
    r = client.post(f"/api/v1/runs/{queued}/retry", headers=admin)
    assert r.status_code == 409
    assert (
        r.get_json()["error"] == f"Run {queued} is queued; only failed or partial runs are retried."
    )


def test_patching_the_url_forgets_the_validators(client, admin, app):
    source = add_source(app, name="feed", project="api-p", kind="remote", config=REMOTE)
    with db.write_session(db.engine_of(app)) as s:
        stored = s.get(Source, source.id)
        stored.etag, stored.last_checksum = '"abc"', "f" * 64
    new = {"url": "http://127.0.0.1:9/other.jsonl"}
    r = client.patch(
        "/api/v1/sources/feed", json={"config": new, "interval_minutes": 5}, headers=admin
    )
    assert r.status_code == 200
    assert (r.get_json()["etag"], r.get_json()["interval_minutes"]) == (None, 5)
    with Session(db.engine_of(app)) as s:
        stored = s.get(Source, source.id)
        assert (stored.config["url"], stored.last_checksum) == (new["url"], None)
    r = client.patch("/api/v1/sources/feed", json={"config": {"url": "nope"}}, headers=admin)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "config.url"


def test_unknown_source_and_run(client, admin):
    assert client.get("/api/v1/sources/nope", headers=admin).status_code == 404
    r = client.get("/api/v1/runs/999", headers=admin)
    assert (r.status_code, r.get_json()["error"]) == (404, "No run 999.")


def test_list_generations_by_status(client, admin, app, tmp_path):
    from tests.pullkit import ChatServer, jsonl

    prompts = tmp_path / "p.jsonl"
    prompts.write_bytes(jsonl([{"id": "q1", "prompt": "Hi"}]))
    with ChatServer() as chat:
        chat.then("m-b", ("status", 400, {}, b"bad request"))
        gens = [{"name": n, "url": chat.v1, "model": f"m-{n}"} for n in ("a", "b")]
        add_source(app, name="gen", project="api-p", kind="generation",
                   config={"prompts": str(prompts), "generators": gens})  # fmt: skip
        pull_now(app, "gen")
    r = client.get("/api/v1/sources/gen/generations?status=failed", headers=admin)
    [failed] = r.get_json()
    assert (failed["prompt_id"], failed["generator"], failed["status"]) == ("q1", "b", "failed")
    assert failed["error"].startswith("HTTP 400 Bad Request from 127.0.0.1")
    everything = client.get("/api/v1/sources/gen/generations", headers=admin).get_json()
    assert [(g["generator"], g["status"]) for g in everything] == [("a", "ok"), ("b", "failed")]
