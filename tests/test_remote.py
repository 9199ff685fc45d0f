"""Remote JSON Lines files pulled over HTTP from a real server on 127.0.0.1."""

from __future__ import annotations

import gzip

import pytest
from sqlmodel import Session, select

from service import db
from service.models import ImportBatch, Item, Response, Source
from tests.factories import item_row
from tests.pullkit import FAST, FileServer, add_source, jsonl, pull_now


@pytest.fixture
def files():
    with FileServer() as server:
        yield server


@pytest.fixture
def project(make):
    return make.project(slug="remote-p")


def _source(app, files, path="/items.jsonl", **config):
    return add_source(
        app,
        name="nightly",
        project="remote-p",
        kind="remote",
        config={"url": files.url + path, **FAST, **config},
    )


def _items(app):
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(Item).order_by(Item.external_id)))


def _batches(app):
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(ImportBatch)))


def _row(app, model, ident):
    with Session(db.engine_of(app)) as s:
        return s.get(model, ident)


def test_pull_imports_the_file_as_one_batch(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("r1"), item_row("r2")])
    source = _source(app, files)
    run = pull_now(app, "nightly")
    assert run.status == "succeeded" and run.error == "" and run.errors == []
    assert run.summary["created"] == 2 and run.summary["http_attempts"] == 1
    [batch] = _batches(app)
    assert (batch.kind, batch.source, batch.created_count) == (
        "remote",
        f"nightly: {files.url}/items.jsonl",
        2,
    )
    assert run.batch_id == batch.id
    assert [i.external_id for i in _items(app)] == ["r1", "r2"]
    with Session(db.engine_of(app)) as s:
        assert len(s.exec(select(Response)).all()) == 4
    stored = _row(app, Source, source.id)
    assert stored.etag and stored.last_modified == FileServer.LAST_MODIFIED
    assert (stored.last_status, stored.last_error) == ("succeeded", "")


def test_unchanged_file_is_not_read_again(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    _source(app, files)
    assert pull_now(app, "nightly").status == "succeeded"
    second = pull_now(app, "nightly")
    assert second.status == "unchanged" and second.summary["http_status"] == 304
    assert files.bodies_sent("/items.jsonl") == 1
    tag = files.requests[0]  # first request carried no validators
    assert "If-None-Match" not in tag["headers"]
    assert files.requests[1]["headers"]["If-None-Match"].startswith('"')
    assert len(_batches(app)) == 1


def test_last_modified_alone_is_used_when_there_is_no_etag(app, files, project):
    files.etag = False
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    _source(app, files)
    pull_now(app, "nightly")
    second = pull_now(app, "nightly")
    assert second.status == "unchanged"
    assert files.requests[1]["headers"]["If-Modified-Since"] == FileServer.LAST_MODIFIED
    assert files.bodies_sent("/items.jsonl") == 1


def test_same_bytes_without_validators_are_skipped(app, files, project):
    files.etag = files.last_modified = False
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    _source(app, files)
    pull_now(app, "nightly")
    second = pull_now(app, "nightly")
    assert second.status == "unchanged" and second.summary["same_checksum"] is True
    assert len(_batches(app)) == 1


def test_changed_file_imports_only_what_is_new(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    _source(app, files)
    pull_now(app, "nightly")
    files.files["/items.jsonl"] = jsonl([item_row("r1"), item_row("r2")])
    run = pull_now(app, "nightly")
    assert (run.status, run.summary["created"], run.summary["unchanged"]) == ("succeeded", 1, 1)


@pytest.mark.parametrize("how", ["gzip-file", "content-encoding"])
def test_gzip_is_accepted(app, files, project, how):
    data = jsonl([item_row("g1"), item_row("g2")])
    if how == "gzip-file":
        files.files["/items.jsonl.gz"] = gzip.compress(data)
    else:
        files.files["/items.jsonl.gz"] = data
        files.encode_gzip = True
    _source(app, files, path="/items.jsonl.gz")
    run = pull_now(app, "nightly")
    assert run.status == "succeeded" and run.summary["created"] == 2


def test_damaged_gzip_fails_clearly_and_imports_nothing(app, files, project):
    files.files["/items.jsonl.gz"] = gzip.compress(jsonl([item_row("g1")] * 1))[:-12]
    _source(app, files, path="/items.jsonl.gz")
    run = pull_now(app, "nightly")
    assert run.status == "failed"
    assert "gzip data is damaged or cut short" in run.error
    assert _items(app) == [] and _batches(app) == []


def test_a_bad_line_fails_the_whole_pull(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("ok1"), {"id": "bad", "prompt": "x"}])
    source = _source(app, files)
    run = pull_now(app, "nightly")
    assert run.status == "failed" and run.batch_id is None
    assert "1 bad line(s); nothing was imported" in run.error
    assert run.errors == [
        {
            "line": 2,
            "field": "responses",
            "message": "no responses: give responses (native), chosen and rejected, or completions",
            "id": "bad",
        }
    ]
    assert _items(app) == [] and _batches(app) == []
    # The validators were not kept: the fixed file is read in full next time.
    assert _row(app, Source, source.id).etag is None
    assert _row(app, Source, source.id).last_error == run.error


def test_skip_invalid_keeps_the_good_lines(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("ok1"), {"id": "bad", "prompt": "x"}])
    _source(app, files, skip_invalid=True)
    run = pull_now(app, "nightly")
    assert run.status == "partial" and run.summary["created"] == 1
    assert run.error == "1 bad line(s) skipped" and run.errors[0]["line"] == 2


def test_server_errors_are_retried(app, files, project):
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    files.script["/items.jsonl"].extend([("status", 503), ("status", 502)])
    _source(app, files)
    run = pull_now(app, "nightly")
    assert run.status == "succeeded" and run.summary["http_attempts"] == 3
    assert len(files.requests) == 3


def test_server_errors_give_up_with_a_clear_error(app, files, project):
    files.script["/items.jsonl"].extend([("status", 500, {}, b"database on fire")] * 3)
    _source(app, files)
    run = pull_now(app, "nightly")
    assert run.status == "failed"
    assert run.error == (
        f"HTTP 500 Internal Server Error from 127.0.0.1:{files.httpd.server_address[1]}: "
        "database on fire (gave up after 3 attempts)"
    )
    assert _items(app) == []


def test_not_found_is_not_retried(app, files, project):
    _source(app, files, path="/missing.jsonl")
    run = pull_now(app, "nightly")
    assert run.status == "failed" and run.error.startswith("HTTP 404 Not Found")
    assert len(files.requests) == 1


def test_partial_download_fails_and_imports_nothing(app, files, project):
    files.script["/items.jsonl"].extend(["cut"] * 3)
    _source(app, files)
    run = pull_now(app, "nightly")
    assert run.status == "failed"
    assert "closed the connection before the full response arrived" in run.error
    assert _items(app) == [] and _batches(app) == []


def test_hanging_server_times_out(app, files, project):
    files.script["/items.jsonl"].extend([("hang", 5)] * 2)
    _source(app, files, timeout=0.2, retries=1)
    run = pull_now(app, "nightly")
    assert run.status == "failed"
    assert run.error.startswith("timed out after 0.2 s waiting for data")
    assert run.error.endswith("(gave up after 2 attempts)")


def test_key_comes_from_the_environment(app, files, project, monkeypatch):
    monkeypatch.setenv("FEED_TOKEN", "s3cret-feed")
    files.files["/items.jsonl"] = jsonl([item_row("r1")])
    _source(app, files, api_key_env="FEED_TOKEN")
    assert pull_now(app, "nightly").status == "succeeded"
    assert files.requests[0]["headers"]["Authorization"] == "Bearer s3cret-feed"


def test_unset_key_variable_fails_before_any_request(app, files, project, monkeypatch):
    monkeypatch.delenv("FEED_TOKEN", raising=False)
    _source(app, files, api_key_env="FEED_TOKEN")
    run = pull_now(app, "nightly")
    assert run.status == "failed" and "environment variable FEED_TOKEN is not set" in run.error
    assert files.requests == []
