"""Imports write in short transactions: raters go on while one runs, staged lines stay
invisible, any refusal leaves nothing, and a crashed import is finished or discarded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import func, select

from service import db
from service.cli import main
from service.errors import Conflict, InvalidInput
from service.items import import_batches, importing
from service.models import (
    BatchState,
    ImportBatch,
    ImportStage,
    Item,
    Judgment,
    Project,
    utcnow,
)
from tests.factories import item_row


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few lines, so a dozen lines take several transactions of each kind."""
    monkeypatch.setattr(importing, "CHUNK", 4)
    monkeypatch.setattr(importing, "STAGE_CHUNK", 2)
    monkeypatch.setattr(importing, "PUBLISH_CHUNK", 3)


def _count(model: Any, *where: Any) -> int:
    with db.write_session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _batches() -> list[tuple[str, int, int, int]]:
    with db.write_session() as s:
        rows = s.exec(select(ImportBatch).order_by(ImportBatch.id)).all()
        return [(b.state, b.created_count, b.updated_count, b.error_count) for b in rows]


def _import(project: Project, rows: Any, **kwargs: Any) -> importing.ImportResult:
    return importing.import_items(engine=db.engine(), project=project, rows=rows, **kwargs)


def _headers(auth: Any) -> dict[str, str]:
    return {"X-CSRF-Token": auth.csrf()}


def _dead_owner(batch_id: int) -> None:
    """Make a batch look like its process died: a pid that has exited, on this host."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with db.write_session() as s:
        s.execute(
            sa.update(ImportBatch)
            .where(ImportBatch.id == batch_id)
            .values(owner=f"{socket.gethostname()}:{child.pid}")
        )


def test_a_rater_submits_while_the_cli_import_runs_and_sees_no_staged_item(
    app, client, auth, make, runner, tmp_path, monkeypatch
):
    project = make.project(mode="pairwise", overlap=1)
    make.items(project, [item_row("old")])
    auth.as_role("rater")
    lease = client.post(f"/api/v1/projects/{project.slug}/next", headers=_headers(auth))
    lease = lease.get_json()["assignment"]
    path = tmp_path / "new.jsonl"
    path.write_text("".join(json.dumps(item_row(f"new{i}")) + "\n" for i in range(10)))
    during: dict[str, Any] = {}
    real = importing.read_jsonl

    def reading(stream: Any, *args: Any) -> Any:
        for n, pair in enumerate(real(stream, *args), start=1):
            if n == 9:  # two chunks of four lines staged, the import still reading
                payload = {"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}}
                r = client.post(
                    f"/api/v1/assignments/{lease['id']}/judgment",
                    json=payload,
                    headers=_headers(auth),
                )
                during["submit"] = r.status_code
                r = client.post(f"/api/v1/projects/{project.slug}/next", headers=_headers(auth))
                during["next"] = r.get_json()["assignment"]
                during["items"] = _count(Item, Item.project_id == project.id)
                during["staged"] = _count(ImportStage)
            yield pair

    monkeypatch.setattr(importing, "read_jsonl", reading)
    result = runner.invoke(main, ["import", str(path), "--project", project.slug])
    assert result.exit_code == 0, result.output
    # On SQLite the import used to hold the write lock from its first line to its last:
    # this submission waited out the 30 s busy timeout and failed.
    assert during == {"submit": 201, "next": None, "items": 1, "staged": 8}
    assert _count(Judgment) == 1
    assert _count(Item, Item.project_id == project.id) == 11
    assert _count(ImportStage) == 0
    assert _batches()[-1] == ("done", 10, 0, 0)


def test_a_bad_last_line_after_staged_chunks_leaves_nothing_not_even_an_update(app, make):
    project = make.project()
    (old,) = make.items(project, [item_row("a1")])
    lines = [item_row("a1", prompt="Changed?")] + [item_row(f"n{i}") for i in range(9)]
    rows = [*enumerate(lines, start=1), (11, importing.RowError(11, "", "invalid JSON"))]
    with pytest.raises(InvalidInput) as info:
        _import(project, rows, update=True)
    assert info.value.errors == [{"line": 11, "field": "", "message": "invalid JSON"}]
    with db.write_session() as s:
        assert s.exec(select(Item.external_id, Item.prompt)).all() == [("a1", old.prompt)]
    assert _count(ImportStage) == 0
    assert _batches() == [("done", 1, 0, 0)]  # the factory's batch only


def test_an_item_judged_after_its_update_was_staged_refuses_the_whole_batch(app, make):
    project = make.project()
    (old,) = make.items(project, [item_row("a1")])
    rater = make.user("rater")

    def rows() -> Any:
        yield 1, item_row("a1", prompt="Changed?")
        for i in range(2, 8):
            if i == 6:  # a1's chunk is staged: a rater judges it now
                make.judgment(old, rater, shown=["a", "b"], preferred="a")
            yield i, item_row(f"n{i}")

    with pytest.raises(InvalidInput) as info:
        _import(project, rows(), update=True)
    assert info.value.errors == [
        {
            "line": 1,
            "field": "id",
            "message": "item 'a1' already has judgments and cannot be changed; "
            "import it under a new id",
            "id": "a1",
        }
    ]
    with db.write_session() as s:
        assert s.exec(select(Item.external_id, Item.prompt)).all() == [("a1", old.prompt)]
    assert _count(ImportStage) == 0
    assert _batches() == [("done", 1, 0, 0)]


def _crash_while_publishing(monkeypatch: pytest.MonkeyPatch, project: Project) -> int:
    """Import 8 lines, the process 'dying' after the first published chunk of 3."""
    real, calls = importing._publish_chunk, []

    def dying(*args: Any) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("killed")
        return real(*args)

    monkeypatch.setattr(importing, "_publish_chunk", dying)
    with pytest.raises(SystemExit):
        _import(project, list(enumerate([item_row(f"c{i}") for i in range(8)], start=1)))
    monkeypatch.setattr(importing, "_publish_chunk", real)
    with db.write_session() as s:
        batch = s.exec(select(ImportBatch).where(ImportBatch.state != "done")).one()
    assert (batch.state, batch.created_count) == (BatchState.PUBLISHING, 3)
    assert (_count(Item), _count(ImportStage)) == (3, 5)
    return batch.id


def test_a_crash_while_publishing_is_finished_by_recover(app, make, monkeypatch):
    project = make.project()
    batch_id = _crash_while_publishing(monkeypatch, project)
    assert importing.recover(db.engine()) == []  # its process may still be at work
    _dead_owner(batch_id)
    assert importing.recover(db.engine()) == [f"import batch {batch_id}: published the rest of it"]
    assert (_count(Item), _count(ImportStage)) == (8, 0)
    assert _batches() == [("done", 8, 0, 0)]


def test_the_next_import_into_the_project_finishes_a_crashed_publication(app, make, monkeypatch):
    project = make.project()
    _crash_while_publishing(monkeypatch, project)
    result = _import(project, [(1, item_row("c0")), (2, item_row("later"))])
    assert (result.created, result.unchanged) == (1, 1)
    assert (_count(Item), _count(ImportStage)) == (9, 0)
    assert _batches() == [("done", 8, 0, 0), ("done", 1, 0, 0)]


def test_a_crash_while_staging_is_invisible_refuses_other_imports_then_is_discarded(
    app, client, make, admin_headers, monkeypatch
):
    project = make.project()
    monkeypatch.setattr(import_batches, "discard", lambda *_: None)  # killed: no clean-up

    def rows() -> Any:
        for i in range(1, 7):
            yield i, item_row(f"s{i}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _import(project, rows())
    monkeypatch.undo()
    (batch,) = _batches()
    assert batch == ("staging", 0, 0, 0)
    assert (_count(Item), _count(ImportStage)) == (0, 4)
    # Its process is alive (this one): another import into the project must wait.
    r = client.post(
        f"/api/v1/projects/{project.slug}/items",
        data=json.dumps(item_row("x1")),
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 409
    with db.write_session() as s:
        batch_id = s.exec(select(ImportBatch.id)).one()
    assert r.get_json()["error"] == (
        f"Another import into this project is running (batch {batch_id}, '', by "
        f"{import_batches.owner_id()}); try again when it ends."
    )
    _dead_owner(batch_id)
    assert importing.recover(db.engine()) == [
        f"import batch {batch_id}: discarded (its import stopped while staging)"
    ]
    assert (_batches(), _count(Item), _count(ImportStage)) == ([], 0, 0)


def test_a_silent_staging_batch_is_abandoned_after_a_while(app, make):
    batch = ImportBatch(project_id=1, owner="elsewhere:1", heartbeat_at=utcnow())
    assert not import_batches.is_abandoned(batch)
    batch.heartbeat_at = utcnow() - import_batches.STALE_AFTER - timedelta(seconds=1)
    assert import_batches.is_abandoned(batch)


def test_two_imports_that_both_pass_the_check_cannot_both_open(app, make, monkeypatch):
    # On PostgreSQL two processes can both find no batch in flight before either inserts
    # one; the partial unique index (one batch in flight per project) refuses the second.
    project = make.project()
    in_flight = import_batches.in_flight
    monkeypatch.setattr(import_batches, "in_flight", lambda **_: [])
    values = {"project_id": project.id, "kind": "file", "source": "a.jsonl", "created_by": None}
    first = import_batches.open_batch(db.engine(), values)
    with pytest.raises(Conflict, match="Another import into this project started"):
        import_batches.open_batch(db.engine(), values | {"source": "b.jsonl"})
    with db.write_session() as s:
        assert [b.id for b in in_flight(session=s, project_id=project.id)] == [first]
