"""Guidelines: every save a stored version, listed and diffed, through API, CLI and page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import cli, db
from service.models import AuditEvent, GuidelineVersion, Judgment, Project
from tests.factories import item_row
from tests.raters import Desk


@pytest.fixture
def admin(auth):
    return auth.as_role("admin")


def _csrf(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _versions(app, slug="camp"):
    with app.app_context():
        s = db.session()
        project = s.exec(select(Project).where(Project.slug == slug)).one()
        rows = s.exec(
            select(GuidelineVersion)
            .where(GuidelineVersion.project_id == project.id)
            .order_by(GuidelineVersion.version)
        )
        return project.guideline_version, [(v.version, v.text, v.created_by) for v in rows]


def _events(app):
    with app.app_context():
        rows = db.session().exec(
            select(AuditEvent).where(AuditEvent.action == "project.guidelines")
        )
        return [(e.actor_id, e.target, e.details) for e in rows]


def test_each_save_is_a_new_version_and_judgments_name_theirs(app, client, auth, make, admin):
    project = make.project(slug="camp", guidelines="Prefer the correct answer.", overlap=2)
    make.items(project, [item_row()])
    r = client.put(
        "/api/v1/projects/camp/guidelines",
        json={"guidelines": "Prefer the correct answer.\nPenalise padding."},
        headers=_csrf(auth),
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body == {
        "version": 2,
        "text": "Prefer the correct answer.\nPenalise padding.",
        "created_by": admin.id,
        "created_at": body["created_at"],
    }
    assert _versions(app) == (
        2,
        [
            (1, "Prefer the correct answer.", None),
            (2, "Prefer the correct answer.\nPenalise padding.", admin.id),
        ],
    )
    assert _events(app) == [(admin.id, "project:camp", {"version": 2})]
    # The same text again makes no version and no event.
    same = client.put(
        "/api/v1/projects/camp/guidelines",
        json={"guidelines": "Prefer the correct answer.\nPenalise padding."},
        headers=_csrf(auth),
    )
    assert same.status_code == 200 and same.get_json()["version"] == 2
    assert len(_versions(app)[1]) == 2 and len(_events(app)) == 1
    # A judgment records the version its rater saw, as before.
    desk, rater = Desk(app), make.user()
    desk.submit(desk.next(project, rater), rater)
    with app.app_context():
        assert db.session().exec(select(Judgment.guideline_version)).all() == [2]


def test_history_version_and_diff(app, client, auth, make, admin):
    make.project(slug="camp", guidelines="one\ntwo\nthree")
    client.put(
        "/api/v1/projects/camp/guidelines",
        json={"guidelines": "one\n2\nthree"},
        headers=_csrf(auth),
    )
    history = client.get("/api/v1/projects/camp/guidelines").get_json()
    assert [(v["version"], v["text"]) for v in history] == [
        (2, "one\n2\nthree"),
        (1, "one\ntwo\nthree"),
    ]
    one = client.get("/api/v1/projects/camp/guidelines/1").get_json()
    assert (one["version"], one["text"], one["created_by"]) == (1, "one\ntwo\nthree", None)
    diff = client.get("/api/v1/projects/camp/guidelines/diff?from=1&to=2")
    assert diff.status_code == 200
    assert diff.get_json() == {
        "from": 1,
        "to": 2,
        "lines": [
            {"kind": "@", "text": "@@ -1,3 +1,3 @@"},
            {"kind": " ", "text": "one"},
            {"kind": "-", "text": "two"},
            {"kind": "+", "text": "2"},
            {"kind": " ", "text": "three"},
        ],
    }
    missing = client.get("/api/v1/projects/camp/guidelines/diff?from=1&to=9")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "Project 'camp' has no stored guidelines version 9."


def test_a_rater_cannot_edit_guidelines(app, client, auth, make):
    make.project(slug="camp", guidelines="Be fair.")
    auth.as_role("rater")
    r = client.put(
        "/api/v1/projects/camp/guidelines", json={"guidelines": "Anything."}, headers=_csrf(auth)
    )
    assert r.status_code == 403 and r.get_json()["ok"] is False
    page = client.post(
        "/admin/projects/camp/guidelines", data={"guidelines": "x", "csrf_token": auth.csrf()}
    )
    assert page.status_code == 403
    assert client.get("/api/v1/projects/camp/guidelines").status_code == 403
    assert _versions(app) == (1, [(1, "Be fair.", None)]) and _events(app) == []


def test_guidelines_too_long_are_refused(app, client, auth, make, admin):
    make.project(slug="camp", guidelines="Be fair.")
    r = client.put(
        "/api/v1/projects/camp/guidelines",
        json={"guidelines": "x" * 200_001},
        headers=_csrf(auth),
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "guidelines", "message": "Longer than maximum length 200000."}
    ]
    assert _versions(app) == (1, [(1, "Be fair.", None)])


def test_cli_saves_and_lists_versions(app, runner, make, tmp_path):
    make.project(slug="camp", guidelines="Old.")
    text = tmp_path / "g.md"
    text.write_text("New.\n", encoding="utf-8")
    r = runner.invoke(cli.main, ["projects", "guidelines", "camp", "--file", str(text)])
    assert r.exit_code == 0, r.output
    assert r.output == "camp: saved guidelines version 2.\n"
    again = runner.invoke(cli.main, ["projects", "guidelines", "camp", "--file", str(text)])
    assert again.output == "camp: guidelines unchanged (version 2).\n"
    assert _versions(app) == (2, [(1, "Old.", None), (2, "New.\n", None)])
    with app.app_context():
        [event] = (
            db.session()
            .exec(select(AuditEvent).where(AuditEvent.action == "project.guidelines"))
            .all()
        )
        assert (event.address, event.details) == ("cli", {"version": 2})
    listing = runner.invoke(cli.main, ["projects", "guidelines", "camp"])
    lines = listing.output.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["version 2 (current)", "version 1"]
    assert lines[0].endswith("5 characters") and lines[1].endswith("4 characters")


def test_page_saves_and_diff_is_escaped(app, client, auth, make, admin):
    make.project(slug="camp", guidelines="Plain.")
    r = client.post(
        "/admin/projects/camp/guidelines",
        data={"guidelines": "Plain.\r\n<script>alert(1)</script>", "csrf_token": auth.csrf()},
    )
    assert r.status_code == 303
    assert _versions(app)[1][1] == (2, "Plain.\n<script>alert(1)</script>", admin.id)
    page = client.get("/admin/projects/camp/guidelines")
    assert b"Version 2 (current)" in page.data
    assert b'href="/admin/projects/camp/guidelines/diff?from=1&amp;to=2"' in page.data
    diff = client.get("/admin/projects/camp/guidelines/diff?from=1&to=2")
    assert diff.status_code == 200
    assert b'<ins class="diff-add">+&lt;script&gt;alert(1)&lt;/script&gt;</ins>' in diff.data
    assert b"<script>alert" not in diff.data


def test_migration_stores_the_current_text_as_a_version(app, make):
    """Projects made before versions existed keep their text as their current version."""
    make.project(slug="camp", guidelines="Before versions.")
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(Project).values(guideline_version=4))
    db.downgrade(db.engine(), "integ_import")
    db.upgrade(db.engine())
    with app.app_context():
        rows = (
            db.session()
            .execute(
                sa.select(
                    GuidelineVersion.version, GuidelineVersion.text, GuidelineVersion.created_by
                )
            )
            .all()
        )
    assert [tuple(r) for r in rows] == [(4, "Before versions.", None)]
