"""Watched folders: each new JSON Lines file imported once, then moved to done/ or failed/."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlmodel import Session, select

from service import db
from service.models import ImportBatch, Item, PulledFile
from tests.factories import item_row
from tests.pullkit import add_source, jsonl, pull_now


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def source(app, make, drop):
    make.project(slug="folder-p")
    return add_source(
        app,
        name="dropbox",
        project="folder-p",
        kind="folder",
        config={"path": str(drop), "min_age_seconds": 0},
    )


def _all(app, model):
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(model).order_by(model.id)))


def test_new_files_are_imported_and_moved_to_done(app, drop, source):
    (drop / "a.jsonl").write_bytes(jsonl([item_row("a1"), item_row("a2")]))
    (drop / "b.jsonl.gz").write_bytes(gzip.compress(jsonl([item_row("b1")])))
    (drop / "notes.txt").write_text("not for import")
    run = pull_now(app, "dropbox")
    assert run.status == "succeeded" and run.error == ""
    assert {k: run.summary[k] for k in ("files", "imported", "failed", "created")} == {
        "files": 2,
        "imported": 2,
        "failed": 0,
        "created": 3,
    }
    assert sorted(p.name for p in drop.iterdir()) == ["done", "notes.txt"]
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["a.jsonl", "b.jsonl.gz"]
    batches = _all(app, ImportBatch)
    assert [(b.kind, b.source, b.created_count) for b in batches] == [
        ("folder", "dropbox: a.jsonl", 2),
        ("folder", "dropbox: b.jsonl.gz", 1),
    ]
    files = _all(app, PulledFile)
    assert [(f.name, f.status, f.batch_id, f.moved_to) for f in files] == [
        ("a.jsonl", "imported", batches[0].id, str(drop / "done" / "a.jsonl")),
        ("b.jsonl.gz", "imported", batches[1].id, str(drop / "done" / "b.jsonl.gz")),
    ]
    assert run.summary["batches"] == [b.id for b in batches]


def test_a_bad_file_is_moved_to_failed_with_a_report(app, drop, source):
    (drop / "a-good.jsonl").write_bytes(jsonl([item_row("g1")]))
    (drop / "b-bad.jsonl").write_bytes(jsonl([item_row("x1"), {"id": "x2", "prompt": "?"}]))
    run = pull_now(app, "dropbox")
    assert run.status == "partial"
    assert run.error.startswith("1 of 2 file(s) failed (first: b-bad.jsonl: 1 bad line(s)")
    assert run.errors[0]["file"] == "b-bad.jsonl"
    assert run.errors[1] == {
        "file": "b-bad.jsonl",
        "line": 2,
        "field": "responses",
        "message": "no responses: give responses (native), chosen and rejected, or completions",
        "id": "x2",
    }
    # Nothing of the bad file is visible, not even its good first line.
    assert [i.external_id for i in _all(app, Item)] == ["g1"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == [
        "b-bad.jsonl",
        "b-bad.jsonl.errors.json",
    ]
    report = json.loads((drop / "failed" / "b-bad.jsonl.errors.json").read_text())
    assert report["source"] == "dropbox" and report["run"] == run.id
    assert report["errors"][0]["line"] == 2
    failed = [f for f in _all(app, PulledFile) if f.status == "failed"]
    assert [(f.name, f.batch_id) for f in failed] == [("b-bad.jsonl", None)]


def test_every_file_failing_fails_the_run(app, drop, source):
    (drop / "bad.jsonl").write_bytes(b"{not json\n")
    run = pull_now(app, "dropbox")
    assert run.status == "failed" and run.summary["failed"] == 1
    assert run.errors[1]["message"].startswith("invalid JSON")


def test_the_same_bytes_are_imported_once_whatever_the_name(app, drop, source):
    data = jsonl([item_row("d1")])
    (drop / "first.jsonl").write_bytes(data)
    pull_now(app, "dropbox")
    (drop / "again.jsonl").write_bytes(data)
    run = pull_now(app, "dropbox")
    assert run.status == "succeeded"
    assert (run.summary["imported"], run.summary["skipped"]) == (0, 1)
    assert len(_all(app, ImportBatch)) == 1
    skipped = _all(app, PulledFile)[-1]
    assert skipped.status == "skipped" and skipped.error.startswith("same bytes as first.jsonl")
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["again.jsonl", "first.jsonl"]


def test_a_name_already_in_done_is_not_overwritten(app, drop, source):
    (drop / "x.jsonl").write_bytes(jsonl([item_row("x1")]))
    pull_now(app, "dropbox")
    (drop / "x.jsonl").write_bytes(jsonl([item_row("x2")]))
    run = pull_now(app, "dropbox")
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["run2-x.jsonl", "x.jsonl"]
    assert run.summary["created"] == 1


def test_an_empty_folder_is_unchanged(app, drop, source):
    run = pull_now(app, "dropbox")
    assert (run.status, run.summary["files"], run.batch_id) == ("unchanged", 0, None)


def test_files_still_being_written_wait(app, make, drop):
    make.project(slug="slow-p")
    add_source(
        app,
        name="slow",
        project="slow-p",
        kind="folder",
        config={"path": str(drop), "min_age_seconds": 3600},
    )
    (drop / "fresh.jsonl").write_bytes(jsonl([item_row("f1")]))
    run = pull_now(app, "slow")
    assert run.status == "unchanged"
    assert (drop / "fresh.jsonl").exists() and _all(app, Item) == []


def test_a_missing_folder_fails_clearly(app, drop, source):
    drop.rmdir()
    run = pull_now(app, "dropbox")
    assert run.status == "failed"
    assert run.error.startswith(f"folder {drop} does not exist (or is not a directory)")
