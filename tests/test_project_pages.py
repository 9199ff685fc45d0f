"""Admin project pages: list with progress, create from a template or scratch, links."""

from __future__ import annotations

import pytest
from sqlmodel import select

from service import db
from service.items import import_batches
from service.models import AuditEvent, GuidelineVersion, Item, Project
from service.projects import sources
from tests.factories import item_row
from tests.raters import Desk


@pytest.fixture
def admin(auth):
    return auth.as_role("admin")


def _project(app, slug):
    with app.app_context():
        return db.session().exec(select(Project).where(Project.slug == slug)).first()


def test_create_from_a_template(app, client, auth, admin):
    r = client.post(
        "/admin/projects",
        data={"template": "ranking", "slug": "rank-1", "name": "", "csrf_token": auth.csrf()},
    )
    assert r.status_code == 303 and r.headers["Location"] == "/admin/projects/rank-1"
    row = _project(app, "rank-1")
    assert (row.name, row.mode, row.overlap) == ("Ranking", "ranking", 3)
    assert row.rubric[0]["name"] == "correctness"
    assert row.guidelines.startswith("# Ranking guidelines")
    with app.app_context():
        s = db.session()
        [version] = s.exec(select(GuidelineVersion).where(GuidelineVersion.project_id == row.id))
        assert (version.version, version.text) == (1, row.guidelines)
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "project.create"))
        assert (event.actor_id, event.target) == (admin.id, "project:rank-1")


def test_create_from_scratch_and_refusals(app, client, auth, admin):
    form = {
        "template": "",
        "mode": "rating",
        "slug": "blank",
        "name": "Blank",
        "csrf_token": auth.csrf(),
    }
    assert client.post("/admin/projects", data=form).status_code == 303
    row = _project(app, "blank")
    assert (row.name, row.mode, row.rubric, row.guidelines) == ("Blank", "rating", [], "")
    bad = client.post("/admin/projects", data={**form, "slug": "Bad Slug"})
    assert bad.status_code == 422
    assert b"<code>slug</code>: lowercase letters, digits and dashes" in bad.data
    assert b'value="Bad Slug"' in bad.data  # the form keeps what was typed
    dup = client.post("/admin/projects", data=form)
    assert dup.status_code == 409 and b"Project &#39;blank&#39; already exists." in dup.data
    unknown = client.post("/admin/projects", data={**form, "slug": "x", "template": "../etc"})
    assert unknown.status_code == 422 and _project(app, "x") is None


def test_list_shows_status_and_progress(app, client, make, admin):
    project = make.project(slug="camp", overlap=1, name="Camp")
    make.items(project, [item_row(), item_row()])
    make.project(slug="idle", status="paused")
    desk, rater = Desk(app), make.user()
    desk.submit(desk.next(project, rater), rater)
    page = client.get("/admin/projects").get_data(as_text=True)
    assert '<a href="/admin/projects/camp">Camp</a>' in page
    assert 'value="50" aria-label="camp progress"></progress> 50%' in page
    assert '<span class="status status-paused">paused</span>' in page
    assert 'value="0" aria-label="idle progress"></progress> 0%' in page
    # The navigation leads here.
    assert '<a href="/admin/projects">Projects</a>' in client.get("/").get_data(as_text=True)


def test_project_page_links_dashboards_guidelines_and_sources(app, client, make, admin):
    project = make.project(slug="camp")
    with app.app_context(), db.write_session() as s:
        sources.create_source(
            session=s,
            data={
                "name": "drop",
                "project": "camp",
                "kind": "folder",
                "config": {"path": "/tmp/in"},
            },
        )
    page = client.get("/admin/projects/camp").get_data(as_text=True)
    assert f'href="/projects/{project.slug}/dashboard/"' in page
    assert 'href="/admin/projects/camp/guidelines"' in page
    assert 'href="/admin/sources"' in page
    assert '<a href="/admin/sources/drop">drop</a>' in page
    assert 'data-url="/api/v1/projects/camp/items?source=upload"' in page


def test_import_progress_reports_the_batch_in_flight(app, client, auth, make, admin):
    project = make.project(slug="camp")
    url = "/api/v1/projects/camp/import-progress"
    assert client.get(url).get_json() == {"batch_id": None, "state": None, "staged": 0}
    engine = db.engine()
    batch_id = import_batches.open_batch(
        engine, {"project_id": project.id, "kind": "api", "source": "upload", "created_by": None}
    )
    rows = [{"line": n, "content_hash": f"h{n}", "data": {}, "update": False} for n in (1, 2, 3)]
    import_batches.stage(engine, batch_id, rows)
    assert client.get(url).get_json() == {"batch_id": batch_id, "state": "staging", "staged": 3}
    import_batches.discard(engine, batch_id)
    # The browser's upload goes to the import API with its session and CSRF token.
    body = b'{"id": "q1", "prompt": "Hi?", "responses": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}]}\n{"id": "q2"}\n'
    r = client.post(
        "/api/v1/projects/camp/items?source=upload",
        data=body,
        content_type="application/x-ndjson",
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 422
    assert [e["line"] for e in r.get_json()["errors"]] == [2]
    with app.app_context():
        assert db.session().exec(select(Item)).all() == []
