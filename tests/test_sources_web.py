"""The admin pages for sources: list, add, run now, retry, and the errors they show."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from service import db
from service.models import PullRun, Source
from tests.pullkit import add_source, closed_port, pull_now


def _remote(app, name="feed"):
    url = f"http://127.0.0.1:{closed_port()}/x.jsonl"
    return add_source(app, name=name, project="web-p", kind="remote",
                      config={"url": url, "retries": 0})  # fmt: skip


def test_sources_page_lists_sources_and_their_last_error(app, client, auth, make):
    auth.as_role("admin")
    make.project(slug="web-p")
    _remote(app)
    failed = pull_now(app, "feed")
    page = client.get("/admin/sources")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/admin/sources/feed"' in html and "web-p" in html
    assert "status-failed" in html and "could not connect to 127.0.0.1" in html
    detail = client.get("/admin/sources/feed").get_data(as_text=True)
    assert f"<td>{failed.id}" in detail and failed.error in detail
    assert f'action="/admin/runs/{failed.id}/retry"' in detail


def test_add_a_source_from_the_form(app, client, auth, make):
    auth.as_role("admin")
    make.project(slug="web-p")
    config = json.dumps({"path": "/srv/drop"})
    form = {"name": "drop", "project": "web-p", "kind": "folder", "interval_minutes": "10",
            "config": config, "csrf_token": auth.csrf()}  # fmt: skip
    r = client.post("/admin/sources", data=form)
    assert (r.status_code, r.headers["Location"]) == (303, "/admin/sources/drop")
    with Session(db.engine_of(app)) as s:
        [source] = s.exec(select(Source)).all()
        assert (source.kind, source.interval_minutes, source.config["path"]) == (
            "folder",
            10,
            "/srv/drop",
        )


def test_a_bad_form_shows_its_errors_and_keeps_the_input(app, client, auth, make):
    auth.as_role("admin")
    make.project(slug="web-p")
    form = {"name": "drop", "project": "web-p", "kind": "folder", "config": '{"path": "rel"}',
            "csrf_token": auth.csrf()}  # fmt: skip
    r = client.post("/admin/sources", data=form)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "<code>config.path</code>: must be an absolute path" in html
    assert 'value="drop"' in html
    r = client.post("/admin/sources", data={**form, "config": "{oops"})
    assert r.status_code == 422 and "<code>config</code>: not JSON" in r.get_data(as_text=True)
    with Session(db.engine_of(app)) as s:
        assert s.exec(select(Source)).all() == []


def test_run_now_and_retry_buttons_queue_runs(app, client, auth, make):
    auth.as_role("admin")
    make.project(slug="web-p")
    _remote(app)
    r = client.post("/admin/sources/feed/runs", data={"csrf_token": auth.csrf(), "mode": "pull"})
    assert r.status_code == 303
    again = client.post("/admin/sources/feed/runs", data={"csrf_token": auth.csrf()})
    assert again.status_code == 409
    assert "already has a queued pull" in again.get_data(as_text=True)
    with Session(db.engine_of(app)) as s:
        [run] = s.exec(select(PullRun)).all()
        assert (run.status, run.trigger) == ("queued", "manual")
    listing = client.get("/admin/sources").get_data(as_text=True)
    assert '<span class="status status-queued">queued</span>' in listing


def test_state_changes_need_the_csrf_token(app, client, auth, make):
    auth.as_role("admin")
    make.project(slug="web-p")
    _remote(app)
    assert client.post("/admin/sources/feed/runs", data={}).status_code == 403
    with Session(db.engine_of(app)) as s:
        assert s.exec(select(PullRun)).all() == []


def test_raters_may_not_see_sources(client, auth):
    auth.as_role("rater")
    assert client.get("/admin/sources").status_code == 403
