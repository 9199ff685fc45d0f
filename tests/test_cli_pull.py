"""`rankroom sources`, `rankroom pull` and `rankroom worker --once`."""

from __future__ import annotations

import json
import signal

import pytest
from sqlmodel import Session, select

from service import db
from service.cli import main
from service.models import Item, PullRun, Source
from tests.factories import item_row
from tests.pullkit import FileServer, jsonl


@pytest.fixture
def files():
    with FileServer() as server:
        yield server


def test_add_list_pull_and_show(app, runner, make, files):
    make.project(slug="cli-p")
    files.files["/i.jsonl"] = jsonl([item_row("c1"), item_row("c2")])
    r = runner.invoke(main, ["sources", "add", "feed", "--project", "cli-p", "--kind", "remote",
                             "--url", files.url + "/i.jsonl", "--every", "15"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output == "Added remote source feed to cli-p (pulled every 15 min).\n"
    listed = runner.invoke(main, ["sources", "list"]).output
    assert listed.split() == ["feed", "cli-p", "remote", "15m", "never", files.url + "/i.jsonl"]
    r = runner.invoke(main, ["pull", "feed"])
    assert r.exit_code == 0, r.output
    assert "Run 1: succeeded." in r.output and "created 2" in r.output
    with Session(db.engine_of(app)) as s:
        assert len(s.exec(select(Item)).all()) == 2
        [run] = s.exec(select(PullRun)).all()
        assert (run.trigger, run.status) == ("cli", "succeeded")
    shown = runner.invoke(main, ["sources", "show", "feed"]).output
    assert '"url": "' + files.url in shown and "run 1     succeeded cli" in shown


def test_a_failed_pull_exits_non_zero_and_lists_errors(app, runner, make, files):
    make.project(slug="cli-p")
    files.files["/i.jsonl"] = jsonl([item_row("c1"), {"id": "x", "prompt": "?"}])
    runner.invoke(main, ["sources", "add", "feed", "--project", "cli-p", "--kind", "remote",
                         "--url", files.url + "/i.jsonl"])  # fmt: skip
    r = runner.invoke(main, ["pull", "feed"])
    assert r.exit_code == 1
    assert "Run 1: failed." in r.output
    assert "1 bad line(s); nothing was imported" in r.output
    assert "line 2: responses: no responses" in r.output


def test_generation_config_from_a_file(app, runner, make, tmp_path):
    make.project(slug="cli-p")
    config = {"prompts": "set.jsonl", "generators": [
        {"name": "a", "url": "http://127.0.0.1:1/v1", "model": "x", "n": 2}]}  # fmt: skip
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(config))
    r = runner.invoke(main, ["sources", "add", "gen", "--project", "cli-p", "--kind",
                             "generation", "--config", str(path)])  # fmt: skip
    assert r.exit_code == 0, r.output
    with Session(db.engine_of(app)) as s:
        assert s.exec(select(Source)).one().config["generators"][0]["n"] == 2


def test_invalid_source_is_refused_with_the_field(app, runner, make):
    make.project(slug="cli-p")
    r = runner.invoke(main, ["sources", "add", "feed", "--project", "cli-p", "--kind", "remote",
                             "--url", "gopher://x"])  # fmt: skip
    assert r.exit_code == 1
    assert (
        "Error: Invalid remote source config." in r.output
        and "config.url: Not a valid URL." in r.output
    )


def test_worker_once_runs_what_is_due(app, runner, make, files):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    make.project(slug="cli-p")
    files.files["/i.jsonl"] = jsonl([item_row("c1")])
    runner.invoke(main, ["sources", "add", "feed", "--project", "cli-p", "--kind", "remote",
                         "--url", files.url + "/i.jsonl", "--every", "60"])  # fmt: skip
    r = runner.invoke(main, ["worker", "--once"])
    assert r.exit_code == 0, r.output
    assert "run 1: scheduled" in r.output and "run 1: succeeded" in r.output
    assert r.output.strip().endswith("stopped after 1 pull(s).")
    # The worker's signal handlers are its own: the caller's come back afterwards.
    assert {sig: signal.getsignal(sig) for sig in before} == before
