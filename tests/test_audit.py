"""The audit log: recorded by admin actions, paged, filtered and exported."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlmodel import select

from service import audit, db
from service.cli import main
from service.models import AuditEvent


def _seed(make, n: int = 3) -> int:
    actor = make.user("admin", username="boss")
    with db.write_session() as s:
        for i in range(n):
            audit.record(
                session=s,
                actor_id=actor.id,
                action="export.preferences" if i % 2 else "user.invite",
                target=f"project:p{i}",
                details={"rows": i, "filters": {"min_agreement": 0.5}},
                address="10.0.0.1",
            )
        audit.record(
            session=s, actor_id=None, action="login.failed", target="username:=cmd|' /C calc'!A0"
        )
    return actor.id


def test_record_stores_the_event(app, make):
    actor_id = _seed(make, 1)
    with db.write_session() as s:
        event = s.exec(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert (event.actor_id, event.action, event.target, event.details, event.address) == (
        actor_id,
        "user.invite",
        "project:p0",
        {"rows": 0, "filters": {"min_agreement": 0.5}},
        "10.0.0.1",
    )


def test_list_is_newest_first_paged_and_filtered(app, make, admin_headers, client):
    actor_id = _seed(make, 5)
    r = client.get("/api/v1/audit?per_page=2", headers=admin_headers)
    assert r.status_code == 200
    assert r.headers["X-Total-Count"] == "6"
    first = r.get_json()
    assert [e["action"] for e in first] == ["login.failed", "user.invite"]
    assert first[1] == {
        "id": first[1]["id"],
        "created_at": first[1]["created_at"],
        "actor_id": actor_id,
        "actor": "boss",
        "action": "user.invite",
        "target": "project:p4",
        "address": "10.0.0.1",
        "details": {"rows": 4, "filters": {"min_agreement": 0.5}},
    }
    r = client.get("/api/v1/audit?action=export", headers=admin_headers)
    assert [e["target"] for e in r.get_json()] == ["project:p3", "project:p1"]
    r = client.get(f"/api/v1/audit?actor_id={actor_id}&per_page=200", headers=admin_headers)
    assert len(r.get_json()) == 5


def test_export_csv_and_jsonl_are_complete_and_audited(app, make, admin_headers, client):
    _seed(make, 3)
    r = client.get("/api/v1/audit/export?format=jsonl", headers=admin_headers)
    assert r.status_code == 200 and r.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in r.data.decode().splitlines()]
    assert [row["action"] for row in rows] == [
        "user.invite",
        "export.preferences",
        "user.invite",
        "login.failed",
        "audit.export",  # the export itself, recorded before it runs
    ]
    r = client.get("/api/v1/audit/export?format=csv&action=login", headers=admin_headers)
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(r.data.decode())))
    # A cell that a spreadsheet would run as a formula is defused.
    assert [row["target"] for row in table] == ["username:=cmd|' /C calc'!A0"]
    r = client.get("/api/v1/audit/export?format=csv&action=username", headers=admin_headers)
    assert r.data.decode().splitlines()[0].startswith("id,")
    # A streamed body reads through its own session: once read, it holds no connection.
    assert db.engine_of(app).pool.checkedout() == 0
    with db.write_session() as s:
        last = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert last.action == "audit.export" and last.details["format"] == "csv"
    assert client.get("/api/v1/audit/export?format=xml", headers=admin_headers).status_code == 422


def test_csv_cells_that_start_a_formula_are_defused(app, make):
    with db.write_session() as s:
        audit.record(session=s, actor_id=None, action="x", target="=HYPERLINK(1)")
        text = "".join(audit.export_events(session=s, fmt="csv"))
    assert "'=HYPERLINK(1)" in text


def test_admin_page_shows_events_and_export_links(app, auth, make, client):
    _seed(make, 2)
    auth.as_role("admin")
    page = client.get("/admin/audit?action=user")
    assert page.status_code == 200
    assert b"user.invite" in page.data and b"export.preferences" not in page.data
    assert b"/api/v1/audit/export?format=csv&amp;action=user" in page.data
    assert client.get("/api/v1/audit/export?format=csv").status_code == 200  # by session too


def test_cli_export(app, make, runner, tmp_path):
    _seed(make, 2)
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(main, ["audit", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    actions = [json.loads(line)["action"] for line in out.read_text().splitlines()]
    assert actions == ["user.invite", "export.preferences", "login.failed", "audit.export"]


def test_only_the_audit_module_writes_events():
    # One home for writing the log (its limits on action, target and address included).
    service = Path(__file__).resolve().parent.parent / "service"
    writers = [
        str(p.relative_to(service))
        for p in service.rglob("*.py")
        if "AuditEvent(" in p.read_text() and "migrations" not in p.parts
    ]
    assert sorted(writers) == ["audit.py", "models.py"]
