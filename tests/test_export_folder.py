"""Hub-ready folders: `rankroom export --to-folder` and GET /api/v1/export/folder.

The folder is real and loaded with `datasets`; only the Hub's network call is a double.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import main
from service.export.options import FORMATS
from service.export.parquet import ParquetPart
from tests import export_dataset

PROJECTS = ["--project", "text", "--project", "chat", "--project", "rate"]
SPLIT = "train=0.5,test=0.5"


@pytest.fixture
def data(make: Any) -> dict[str, Any]:
    return export_dataset.build(make)


def _cli(runner: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(main, ["export", *args], env=env)


def _load(folder: Path, config: str | None, cache: Path) -> Any:
    import datasets

    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))


def _front_matter(folder: Path) -> dict[str, Any]:
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _jsonl_rows(app: Any, fmt: str, **args: Any) -> list[dict[str, Any]]:
    return export_dataset.export_rows(app, format=fmt, project=["text", "chat", "rate"], **args)


def _close(got: Any, want: Any) -> bool:
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_close(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_close, got, want))
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-15)
    return got == want and type(got) is type(want)


def _assert_loaded(split: Any, expected: list[dict[str, Any]]) -> None:
    """The rows `datasets` gives equal the JSON Lines rows.

    Exactly, but in Json columns: `datasets` decodes those with pandas' ujson, which may
    be off in a float's last digit (0.6667 -> 0.6667000000000001); the file holds the
    exact text (``_assert_file`` reads it).
    """
    json_cols = {n for n, f in split.features.items() if type(f).__name__ == "Json"}
    got = [dict(row) for row in split]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.keys() == e.keys()
        assert {k: v for k, v in g.items() if k not in json_cols} == {
            k: v for k, v in e.items() if k not in json_cols
        }
        assert all(_close(g[c], e[c]) for c in json_cols), (g, e)


def _assert_file(path: Path, expected: list[dict[str, Any]]) -> None:
    """The Parquet file, read with pyarrow alone, holds exactly the JSON Lines rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    rows = table.to_pylist()
    for field in table.schema:
        if isinstance(field.type, pa.JsonType):
            for row in rows:
                row[field.name] = None if row[field.name] is None else json.loads(row[field.name])
    assert rows == expected


def _siblings(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def test_every_format_loads_as_the_json_lines_rows_of_each_split(app, data, runner, tmp_path):
    dest = tmp_path / "ds"
    # --allow-empty: the one `rate` item lands in one split, so ratings has no other.
    args = [*PROJECTS, "--split", SPLIT, "--seed", "3", "--allow-empty", "--to-folder", str(dest)]
    r = _cli(runner, *args)
    assert r.exit_code == 0, r.output
    header = _front_matter(dest)
    assert [c["config_name"] for c in header["configs"]] == list(FORMATS)
    assert header["configs"][0]["default"] is True
    assert header["license"] == "other"
    assert {"rlhf", "preference"} <= set(header["tags"])
    assert header["task_categories"] == [
        "reinforcement-learning",
        "text-classification",
        "text-generation",
    ]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    seen = 0
    for config in header["configs"]:
        fmt = config["config_name"]
        loaded = _load(dest, fmt, tmp_path / "cache")
        splits = [f["split"] for f in config["data_files"]]
        assert config["data_files"] == [
            {"split": s, "path": f"{fmt}/{s}-00000-of-00001.parquet"} for s in splits
        ]
        assert sorted(loaded) == sorted(splits)
        for split in ("train", "test"):
            expected = _jsonl_rows(app, fmt, split=SPLIT, seed=3, part=split)
            if split not in splits:
                assert expected == [], (fmt, split)
                continue
            _assert_loaded(loaded[split], expected)
            _assert_file(dest / f"{fmt}/{split}-00000-of-00001.parquet", expected)
            seen += len(expected)
        # The card's features are the ones `datasets` reads from the files.
        assert info[fmt]["features"] == loaded[splits[0]].features._to_yaml_list(), fmt
        assert [(s["name"], s["num_examples"]) for s in info[fmt]["splits"]] == [
            (s, len(loaded[s])) for s in splits
        ]
    assert seen > 100
    # The one `rate` item and the rewritten items (t1, t2, c1) each land in one split.
    assert [c for c in header["configs"] if len(c["data_files"]) == 1] == [
        {
            "config_name": fmt,
            "data_files": [{"split": "train", "path": f"{fmt}/train-00000-of-00001.parquet"}],
        }
        for fmt in ("ratings", "sft")
    ]
    assert _siblings(tmp_path) == []


def test_without_split_each_config_has_one_train_split_and_dpo_is_the_default(
    app, data, runner, tmp_path
):
    dest = tmp_path / "ds"
    r = _cli(
        runner, "--project", "text", "--format", "dpo", "--format", "kto", "--to-folder", str(dest)
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet")) == [
        "dpo/train-00000-of-00001.parquet",
        "kto/train-00000-of-00001.parquet",
    ]
    default = _load(dest, None, tmp_path / "cache")
    assert list(default) == ["train"]
    _assert_loaded(default["train"], export_dataset.export_rows(app, format="dpo"))
    kto = _load(dest, "kto", tmp_path / "cache")
    _assert_loaded(kto["train"], export_dataset.export_rows(app, format="kto"))
    readme = (dest / "README.md").read_text(encoding="utf-8")
    # One record of how each config was made, below the Hub's header.
    assert readme.count("# Rankroom export: ") == 2 and readme.count("\n---\n") == 1
    assert 'load_dataset("parquet"' in readme and 'load_dataset("json"' not in readme
    # Each file's row: its rows and the SHA-256 of the Parquet file.
    _, summary = export_dataset.export_bytes(app, format="dpo")
    parquet = (dest / "dpo/train-00000-of-00001.parquet").read_bytes()
    assert (
        f"| `dpo/train-00000-of-00001.parquet` | train | {summary.total_rows} "
        f"| `{hashlib.sha256(parquet).hexdigest()}` |"
    ) in readme
    assert "| File | Split | Rows | SHA-256 of the Parquet file |\n|---|---|---|---|\n" in readme
    assert "The SHA-256s are of the Parquet files in this folder" in readme


def test_options_for_some_formats_go_to_those_configs_only(app, data, runner, tmp_path):
    dest = tmp_path / "ds"
    r = _cli(
        runner,
        *("--project", "text", "--format", "hh", "--format", "kto"),
        *("--ties", "both-orders", "--license", "cc-by-4.0", "--to-folder", str(dest)),
    )
    assert r.exit_code == 0, r.output
    assert _front_matter(dest)["license"] == "cc-by-4.0"
    hh = _load(dest, "hh", tmp_path / "cache")["train"]
    _assert_loaded(hh, export_dataset.export_rows(app, format="hh", ties="both-orders"))
    kto = _load(dest, "kto", tmp_path / "cache")["train"]
    _assert_loaded(kto, export_dataset.export_rows(app, format="kto"))


def test_with_rewrites_the_pair_configs_carry_source_and_the_rewrite_rows(
    app, data, runner, tmp_path
):
    dest = tmp_path / "ds"
    pair = ["dpo", "reward", "openai", "hh"]
    args = [*PROJECTS, *(a for f in pair for a in ("--format", f)), "--with-rewrites"]
    r = _cli(runner, *args, "--with-votes", "--to-folder", str(dest))
    assert r.exit_code == 0, r.output
    for fmt in pair:
        expected = _jsonl_rows(app, fmt, with_rewrites=True, with_votes=True)
        assert {row["source"] for row in expected} == {"judgment", "rewrite"}, fmt
        _assert_loaded(_load(dest, fmt, tmp_path / "cache")["train"], expected)
        _assert_file(dest / f"{fmt}/train-00000-of-00001.parquet", expected)


def test_the_raw_config_carries_spans_and_rewrites(app, make, runner, tmp_path):
    project = make.project(slug="marked", mode="pairwise", span_labels=["typo", "unsafe"])
    (item,) = make.items(
        project,
        [
            {
                "id": "m1",
                "prompt": "Say hi.",
                "responses": [{"id": "a", "content": "Helo 👋"}, {"id": "b", "content": "Hi."}],
            }
        ],
    )
    digest = hashlib.sha256("Helo 👋".encode()).hexdigest()
    spans = [
        {"response": "a", "start": 0, "end": 4, "label": "typo", "note": "", "text_sha256": digest},
        {"response": "a", "start": 5, "end": 6, "label": "unsafe", "note": "why?",
         "text_sha256": digest},
    ]  # fmt: skip
    ann, bob = make.user(), make.user()
    make.judgment(
        item,
        ann,
        preferred="b",
        strength=1,
        spans=spans,
        rewrite_response_id="a",
        rewrite_text="Hello 👋",
        rewrite_original_sha256=digest,
    )
    make.judgment(item, bob, preferred="b", strength=2)  # no spans, no rewrite
    dest = tmp_path / "ds"
    r = _cli(runner, "--project", "marked", "--format", "raw", "--to-folder", str(dest))
    assert r.exit_code == 0, r.output
    expected = export_dataset.export_rows(app, format="raw", project=["marked"])
    assert [(row["spans"], row["rewrite"]) for row in expected] == [
        (spans, {"response_id": "a", "text": "Hello 👋", "original_sha256": digest}),
        ([], None),
    ]
    _assert_loaded(_load(dest, "raw", tmp_path / "cache")["train"], expected)
    _assert_file(dest / "raw/train-00000-of-00001.parquet", expected)


def _empty_project(make: Any) -> None:
    project = make.project(slug="quiet", mode="pairwise")
    make.items(
        project,
        [
            {
                "id": "q1",
                "prompt": "Hi?",
                "responses": [{"id": "a", "content": "A"}, {"id": "b", "content": "B"}],
            }
        ],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--project", "quiet"], "No format has rows, so no folder was written"),
        (["--project", "quiet", "--format", "dpo"], "dpo: split 'train' has no rows"),
        (
            ["--project", "text", "--split", "train=0.9,test=0.1", "--part", "dev"],
            "part: names none of the --split parts",
        ),
        (["--project", "text", "--push-to-hub", "me/ds"], "needs a Hugging Face token in HF_TOKEN"),
        (["--project", "nope"], "No project 'nope'"),
        (["--project", "text", "--format", "kto", "--ties", "both-orders"], "--ties changes only"),
        (["--project", "text", "--license", "Not A License"], "give a Hub license id"),
    ],
)
def test_bad_input_fails_and_writes_nothing(app, data, make, runner, tmp_path, args, message):
    _empty_project(make)
    dest = tmp_path / "out" / "ds"
    r = _cli(runner, *args, "--to-folder", str(dest), env={"HF_TOKEN": ""})
    assert r.exit_code == 1, r.output
    assert message in r.output
    assert not dest.exists()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_allow_empty_leaves_empty_splits_out_and_names_them(app, data, make, runner, tmp_path):
    # `datasets` cannot load a split with no rows, so an empty one is never listed.
    _empty_project(make)
    dest = tmp_path / "ds"
    r = _cli(
        runner, "--project", "quiet", "--format", "dpo", "--allow-empty", "--to-folder", str(dest)
    )
    assert r.exit_code == 0, r.output
    assert [p.name for p in dest.iterdir()] == ["README.md"]
    assert _front_matter(dest)["configs"] == []
    assert "Formats left out: dpo (train): no rows." in (dest / "README.md").read_text()
    dest = tmp_path / "ds2"
    args = ["--project", "rate", "--format", "ratings", "--split", "train=0.5,test=0.5"]
    r = _cli(runner, *args, "--seed", "3", "--allow-empty", "--to-folder", str(dest))
    assert r.exit_code == 0, r.output
    header = _front_matter(dest)
    assert header["configs"][0]["data_files"] == [
        {"split": "train", "path": "ratings/train-00000-of-00001.parquet"}
    ]
    assert list(_load(dest, "ratings", tmp_path / "cache")) == ["train"]


def test_a_folder_that_is_not_empty_needs_overwrite(app, data, runner, tmp_path):
    dest = tmp_path / "ds"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    r = _cli(runner, "--project", "text", "--format", "dpo", "--to-folder", str(dest))
    assert r.exit_code == 1
    assert "is not empty: give --overwrite" in r.output
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    r = _cli(
        runner, "--project", "text", "--format", "dpo", "--overwrite", "--to-folder", str(dest)
    )
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "croissant.json", "dpo"]
    assert _siblings(tmp_path) == []


def test_an_empty_folder_is_filled(app, data, runner, tmp_path):
    dest = tmp_path / "ds"
    dest.mkdir()
    r = _cli(runner, "--project", "text", "--format", "dpo", "--to-folder", str(dest))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "croissant.json", "dpo"]


def _fail_writing(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """Make writing the Parquet files of ``fmt`` fail, as a full disk would."""
    from service.export import parquet

    write = parquet.ParquetPart.write

    def failing(self: Any, rows: list[dict[str, Any]]) -> None:
        if fmt in self.path.parts[-2]:
            raise OSError("disk full")
        write(self, rows)

    monkeypatch.setattr(parquet.ParquetPart, "write", failing)


@pytest.mark.parametrize("existing", [False, True])
def test_a_failure_mid_export_leaves_no_folder_and_the_old_one_intact(
    app, data, runner, tmp_path, monkeypatch, existing
):
    _fail_writing(monkeypatch, "kto")
    dest = tmp_path / "ds"
    if existing:
        dest.mkdir()
        (dest / "old.txt").write_text("old")
    args = ["--project", "text", "--format", "dpo", "--format", "kto", "--to-folder", str(dest)]
    r = _cli(runner, *args, *(["--overwrite"] if existing else []))
    assert r.exit_code == 1 and isinstance(r.exception, OSError)
    assert _siblings(tmp_path) == []
    if existing:
        assert [p.name for p in dest.iterdir()] == ["old.txt"]
    else:
        assert not dest.exists()


def test_every_config_is_read_from_one_snapshot(app, data, make, runner, tmp_path, monkeypatch):
    # A judgment stored while the folder is written (here: as the second config starts)
    # is in no config; before, the second config read it and the first did not, so the
    # folder disagreed with itself.
    from service.export import folder

    expected = {fmt: _jsonl_rows(app, fmt) for fmt in ("dpo", "raw")}
    dan = make.user(username="dan")
    started: list[str] = []

    def storing_meanwhile(**kw: Any) -> Any:
        started.append(kw["options"].format)
        if len(started) == 2:
            make.judgment(data["items"]["c2"], dan, mode="ranking", ranking=[["b"], ["a"]])
        return Export(**kw)

    Export = folder.Export
    monkeypatch.setattr(folder, "Export", storing_meanwhile)
    dest = tmp_path / "ds"
    r = _cli(runner, *PROJECTS, "--format", "dpo", "--format", "raw", "--to-folder", str(dest))
    assert r.exit_code == 0, r.output
    assert started == ["dpo", "raw"]
    for fmt in ("dpo", "raw"):
        _assert_file(dest / fmt / "train-00000-of-00001.parquet", expected[fmt])
    # The judgment is stored: the next export has it.
    assert len(_jsonl_rows(app, "raw")) == len(expected["raw"]) + 1


class _FakeHub:
    """A double for huggingface_hub.HfApi at the network boundary: records each call."""

    calls: list[tuple[str, Any]] = []
    fail_with: str | None = None

    def __init__(self, token: str | None = None) -> None:
        self.calls.append(("init", token))

    def create_repo(self, repo_id: str, **kw: Any) -> None:
        self.calls.append(("create_repo", (repo_id, kw)))

    def upload_folder(self, **kw: Any) -> Any:
        folder = Path(kw["folder_path"])
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self.calls.append(("upload_folder", ({**kw, "folder_path": folder}, files)))
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        return type("Commit", (), {"commit_url": "https://hub.example/commit/1"})()


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> type[_FakeHub]:
    import huggingface_hub

    _FakeHub.calls, _FakeHub.fail_with = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    return _FakeHub


def test_push_uploads_exactly_the_folder_with_the_token_from_the_environment(
    app, data, runner, tmp_path, fake_hub
):
    dest = tmp_path / "ds"
    secret = "hf_secret_value_123"
    r = _cli(
        runner,
        *(
            "--project",
            "text",
            "--format",
            "dpo",
            "--to-folder",
            str(dest),
            "--push-to-hub",
            "me/prefs",
        ),
        env={"HF_TOKEN": secret},
    )
    assert r.exit_code == 0, r.output
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert written == ["README.md", "croissant.json", "dpo/train-00000-of-00001.parquet"]
    assert fake_hub.calls == [
        ("init", secret),
        ("create_repo", ("me/prefs", {"repo_type": "dataset", "exist_ok": True, "private": True})),
        (
            "upload_folder",
            (
                {
                    "folder_path": dest,
                    "repo_id": "me/prefs",
                    "repo_type": "dataset",
                    "commit_message": "Rankroom export",
                    "delete_patterns": "*",  # the repo holds this folder only
                },
                written,
            ),
        ),
    ]
    assert "https://hub.example/commit/1" in r.output
    assert secret not in r.output
    # Nothing the export wrote holds the token.
    assert not any(secret.encode() in p.read_bytes() for p in dest.rglob("*") if p.is_file())


def test_a_failed_push_names_the_error_without_the_token(app, data, runner, tmp_path, fake_hub):
    secret = "hf_secret_value_456"
    fake_hub.fail_with = f"401 Unauthorized for token {secret}"
    dest = tmp_path / "ds"
    r = _cli(
        runner,
        *(
            "--project",
            "text",
            "--format",
            "dpo",
            "--to-folder",
            str(dest),
            "--push-to-hub",
            "me/prefs",
        ),
        env={"HF_TOKEN": secret},
    )
    assert r.exit_code == 1
    assert "Upload to me/prefs failed: 401 Unauthorized for token ***" in r.output
    assert secret not in r.output
    assert (dest / "README.md").exists()  # the folder is complete; only the upload failed


def test_push_and_overwrite_need_to_folder(app, data, runner, tmp_path):
    r = _cli(runner, "--project", "text", "--format", "dpo", "--push-to-hub", "me/ds")
    assert r.exit_code == 2 and "--push-to-hub works with --to-folder only" in r.output
    r = _cli(
        runner, "--project", "text", "--format", "dpo", "--format", "kto", "-o", str(tmp_path / "x")
    )
    assert r.exit_code == 2 and "several formats need --to-folder" in r.output


# --- The API door -------------------------------------------------------------------------


@pytest.fixture
def token(make: Any) -> str:
    engineer = make.user(role="engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    return secret


def test_the_api_zip_holds_the_same_folder_as_the_cli(app, data, client, runner, token, tmp_path):
    query = "project=text&project=chat&format=dpo&format=votes&split=train=0.5,test=0.5&seed=3"
    r = client.get(f"/api/v1/export/folder?{query}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.mimetype == "application/zip"
    unzipped = tmp_path / "api"
    zipfile.ZipFile(io.BytesIO(r.get_data())).extractall(unzipped)
    dest = tmp_path / "cli"
    args = ["--project", "text", "--project", "chat", "--format", "dpo", "--format", "votes"]
    r = _cli(
        runner, *args, "--split", "train=0.5,test=0.5", "--seed", "3", "--to-folder", str(dest)
    )
    assert r.exit_code == 0, r.output
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(unzipped).as_posix() for p in unzipped.rglob("*") if p.is_file()
    )
    assert all((dest / f).read_bytes() == (unzipped / f).read_bytes() for f in files)
    loaded = _load(unzipped, "votes", tmp_path / "cache")
    expected = export_dataset.export_rows(
        app, format="votes", project=["text", "chat"], split=SPLIT, seed=3, part="test"
    )
    _assert_loaded(loaded["test"], expected)


def test_the_api_zip_streams_each_config_as_it_is_written(app, data, client, token, monkeypatch):
    # The response starts once the options are checked, and the first config's file is
    # sent before the second config is written (before: after the whole folder), so a
    # large folder neither waits in full on disk nor keeps the client waiting.
    from service.export import folder
    from service.http import liveness

    written: list[str] = []
    write_config = folder._write_config

    def recording(export: Any, *args: Any) -> Any:
        written.append(export.o.format)
        return write_config(export, *args)

    monkeypatch.setattr(folder, "_write_config", recording)
    beats: list[int] = []
    monkeypatch.setattr(liveness, "INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(liveness, "_notify", lambda: beats.append(len(written)))
    query = "project=text&project=chat&format=dpo&format=votes"
    r = client.get(
        f"/api/v1/export/folder?{query}",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    assert r.status_code == 200 and written == []
    body = iter(r.response)
    received = b""
    while b"votes/" not in received and b"dpo/train-00000-of-00001.parquet" not in received:
        received += next(body)
    assert written == ["dpo"]
    received += b"".join(body)
    r.close()
    assert written == ["dpo", "votes"]
    names = zipfile.ZipFile(io.BytesIO(received)).namelist()
    assert names == [
        "dpo/train-00000-of-00001.parquet",
        "votes/train-00000-of-00001.parquet",
        "croissant.json",
        "README.md",
    ]
    # Rows read for each config tell gunicorn the worker is alive (liveness.beat).
    assert 1 in beats and 2 in beats


def test_a_failure_after_the_zip_started_cuts_it_short(app, data, client, token, monkeypatch):
    # Once bytes went out no error status can follow: the stream ends without the zip's
    # directory, so the download fails instead of looking complete.
    _fail_writing(monkeypatch, "votes")
    query = "project=text&project=chat&format=dpo&format=votes"
    r = client.get(
        f"/api/v1/export/folder?{query}",
        headers={"Authorization": f"Bearer {token}"},
        buffered=False,
    )
    assert r.status_code == 200
    received = b""
    with pytest.raises(OSError, match="disk full"):
        for chunk in r.response:
            received += chunk
    r.close()
    assert b"dpo/train-00000-of-00001.parquet" in received
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(received))


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("project=quiet", 400, "No format has rows"),
        ("project=text&split=train=0.5,test=0.5&part=dev", 422, "names none of the --split parts"),
        ("project=text&format=dpo&license=BAD%20ONE", 422, "give a Hub license id"),
    ],
)
def test_the_api_refuses_bad_input_with_the_error_envelope(
    app, data, make, client, token, query, status, message
):
    _empty_project(make)
    r = client.get(f"/api/v1/export/folder?{query}", headers={"Authorization": f"Bearer {token}"})
    body = r.get_json()
    assert r.status_code == status, body
    assert body["ok"] is False and body["status"] == status
    assert message in json.dumps(body)


def test_light_modules_do_not_import_pyarrow():
    # `rankroom export` loads its folder code, but pyarrow only when a file is written.
    code = (
        "import sys, service.cli.export, service.api.export, service.export.folder; "
        "print('pyarrow' in sys.modules, 'huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- The Parquet writer ---------------------------------------------------------------------


def _part(tmp_path: Path, fmt: str) -> Any:
    from service.export.columns import columns

    cols = columns(fmt, conversational=True, margin=False, with_votes=False, metadata=True)
    return ParquetPart(tmp_path / f"{fmt}.parquet", cols)


def test_a_column_keeps_its_type_when_a_batch_holds_only_nulls_and_empty_lists(tmp_path):
    import pyarrow.parquet as pq

    part = _part(tmp_path, "dpo")
    msgs = [{"role": "user", "content": "p"}]
    empty = {"prompt": msgs, "chosen": msgs, "rejected": msgs, "metadata": None}
    full = {
        **empty,
        "metadata": {"project": "x", "item_id": "i", "n_judgments": 1, "agreement": 0.5},
    }
    part.write([empty])
    part._flush()  # its own row group: the first batch alone could not type metadata
    part.write([full])
    part.close()
    table = pq.read_table(part.path)
    assert table.schema.remove_metadata() == part.schema.remove_metadata()
    assert pq.ParquetFile(part.path).metadata.num_row_groups == 2
    assert table.column("metadata").to_pylist()[1]["agreement"] == 0.5


@pytest.mark.parametrize(
    ("fmt", "row"),
    [
        # A key the schema lacks, nested in a typed struct.
        ("dpo", {"prompt": [], "chosen": [], "rejected": [], "metadata": {"surprise": 1}}),
        # A top-level key beside JSON columns.
        ("ratings", {"prompt": [], "scores": {}, "surprise": 1}),
    ],
)
def test_a_key_the_schema_lacks_stops_the_file_instead_of_being_dropped(tmp_path, fmt, row):
    from service.errors import DomainError

    part = _part(tmp_path, fmt)
    with pytest.raises(DomainError, match="unexpected field|lacks: surprise"):
        part.write([row])
    part.abort()


_SPAN = {"response": "a", "start": 0, "end": 2, "label": "typo", "note": "", "text_sha256": "h"}


def _raw_row(**changes: Any) -> dict[str, Any]:
    span = _SPAN
    row = {
        "judgment_id": 2**40,
        "project": "p",
        "item_id": "i-é",
        "mode": "ranking",
        "prompt": "Größe 😀 ok",
        "messages": [{"role": "user", "content": "x", "extra": {"deep": [1, 2.5, None]}}],
        "responses": [{"id": "a", "model": None, "content": ""}, {"id": "b", "content": "b"}],
        "shown_order": ["b", "a"],
        "verdict": {"ranking": [["a", "b"]], "n": 10**20},
        "preferred": None,
        "ranking": [["a"], [], ["b", "c"]],
        "strength": None,
        "scale_value": -3,
        "both_bad": False,
        "rubric": {},
        "flags": [],
        "rationale": "",
        "confidence": 0,
        "active_ms": 5,
        "guideline_version": 1,
        "shown_sha256": "s",
        "spans": [span, {**span, "note": None}],
        "started_at": None,
        "created_at": "2025-01-01T00:00:00+00:00",
        "rater": "r",
        "rater_expertise": ["law"],
        "is_gold": True,
        "version": 1,
        "supersedes_id": None,
        "rewrite": None,
    }
    return {**row, **changes}


def _pair_row(**changes: Any) -> dict[str, Any]:
    meta = {
        "project": "p",
        "item_id": "i",
        "n_judgments": 3,
        "agreement": 2 / 3,
        "rater": "r",
        "judgment_id": 7,
        "strength": 1.5,
        "shown_sha256": ["s"],
        "response_ids": ["a", "b"],
        "models": ["m", "m2"],
    }
    msgs = [{"role": "user", "content": "¿qué?"}]
    row = {
        "prompt": msgs,
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
        "vote_share": 1.0,
        "vote_count": 3,
        "metadata": meta,
    }
    return {**row, **changes}


def _pair_rows() -> list[dict[str, Any]]:
    meta = _pair_row()["metadata"]
    return [
        _pair_row(),
        # NaN is null (as orjson writes it in JSON Lines); an int in a float column is a float.
        _pair_row(vote_share=math.nan, vote_count=None, metadata={**meta, "agreement": 1}),
        # Keys in another order, some missing: the same columns.
        _pair_row(metadata={"models": [], "project": "q", "strength": None}),
        {"rejected": None, "metadata": None, "chosen": [], "prompt": [None]},
    ]


@pytest.mark.parametrize(
    ("fmt", "rows"),
    [
        ("raw", [_raw_row(), _raw_row(responses=None, spans=[], rewrite={"text": "t"})]),
        ("dpo", _pair_rows()),
    ],
)
def test_the_file_holds_the_rows_values_in_the_schema(tmp_path, fmt, rows):
    # The columns are built from the rows' values (not by pyarrow's converter): every
    # kind of value, null at every depth, non-ASCII text, NaN, keys missing or reordered.
    import pyarrow.parquet as pq

    from service.export.columns import columns

    cols = columns(fmt, conversational=True, margin=False, with_votes=True, metadata=fmt != "raw")
    (tmp_path / fmt).mkdir()
    part = ParquetPart(tmp_path / fmt / "train.parquet", cols)
    part.write(rows[:1])
    part.write(rows[1:])
    part.close()
    got = pq.read_table(part.path).to_pylist()
    assert len(got) == len(rows)
    for g, row in zip(got, rows, strict=True):
        assert list(g) == list(cols)
        for name, kind in cols.items():
            assert g[name] == _as_stored(kind, row.get(name)), name


def _as_stored(kind: Any, value: Any) -> Any:
    """What a column holds for a row's value: JSON text, nulls for what is missing or NaN."""
    from service.export.columns import JSON

    if value is None:
        return None
    if kind == JSON:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(kind, list):
        return [_as_stored(kind[0], v) for v in value]
    if isinstance(kind, dict):
        return {n: _as_stored(k, value.get(n)) for n, k in kind.items()}
    if kind == "float64":
        return None if math.isnan(value) else float(value)
    return value


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project": 3}, "project: expected a string, got int"),
        ({"strength": 1.5}, "strength: expected an integer, got float"),
        ({"strength": True}, "strength: expected an integer, got bool"),
        ({"both_bad": 1}, "both_bad: expected true or false, got int"),
        ({"judgment_id": 2**64}, "judgment_id: an integer beyond 64 bits"),
        ({"flags": "ab"}, "flags: expected a list, got str"),
        ({"rewrite": ["t"]}, "rewrite: expected an object, got list"),
        ({"spans": [{"start": 0, "surprise": 1}]}, "spans: a key the schema lacks: surprise"),
        # Every key of the schema and one more: still refused.
        ({"surprise": 1}, "a key the schema lacks: surprise"),
        ({"spans": [{**_SPAN, "surprise": 1}]}, "spans: a key the schema lacks: surprise"),
        ({"prompt": "lone \ud800"}, "prompt: a string that is not valid UTF-8"),
    ],
)
def test_a_value_of_another_type_stops_the_file(tmp_path, changes, message):
    # As strict as Arrow's JSON reader with the explicit schema was: nothing is coerced.
    from service.errors import DomainError
    from service.export.columns import columns

    (tmp_path / "raw").mkdir()
    part = ParquetPart(tmp_path / "raw" / "train.parquet", columns("raw", **_NO_OPTIONS))
    with pytest.raises(
        DomainError, match=f"A row does not fit the raw schema: {re.escape(message)}"
    ):
        part.write([_raw_row(), _raw_row(**changes)])
    part.abort()


_NO_OPTIONS = {"conversational": False, "margin": False, "with_votes": False, "metadata": False}


def test_push_creates_a_public_repo_only_when_asked(app, data, runner, tmp_path, fake_hub):
    args = ("--project", "text", "--format", "dpo", "--to-folder")
    r = _cli(runner, *args, str(tmp_path / "a"), "--public")
    assert r.exit_code != 0 and "--public works with --push-to-hub only" in r.output
    assert not (tmp_path / "a").exists()
    r = _cli(
        runner,
        *args,
        str(tmp_path / "b"),
        "--push-to-hub",
        "me/open",
        "--public",
        env={"HF_TOKEN": "hf_x"},
    )
    assert r.exit_code == 0, r.output
    assert (
        "create_repo",
        ("me/open", {"repo_type": "dataset", "exist_ok": True, "private": False}),
    ) in fake_hub.calls


def test_serve_lets_a_long_request_report_its_gunicorn_worker_alive(monkeypatch):
    # A sync worker reports to gunicorn's arbiter only between requests; the folder
    # export beats (liveness.beat) through the worker's own report, registered by serve.
    from service.cli import serve
    from service.http import liveness

    reports: list[str] = []
    worker = type("Worker", (), {"notify": lambda self: reports.append("alive")})()
    monkeypatch.setattr(liveness, "_notify", None)
    monkeypatch.setattr(liveness, "_last", 0.0)
    liveness.beat()
    assert reports == []
    serve._report_liveness(worker)
    liveness.beat()
    liveness.beat()  # within the second: one report
    assert reports == ["alive"]


def test_a_ratings_folder_of_turn_ratings_has_a_turn_column(app, data, runner, tmp_path):
    dest = tmp_path / "ds"
    args = ["--project", "support", "--format", "ratings", "--to-folder", str(dest)]
    r = _cli(runner, *args)
    assert r.exit_code == 0, r.output
    expected = export_dataset.export_rows(app, format="ratings", project=["support"])
    assert [row["turn"] for row in expected] == [None, None, 0, 1]
    loaded = _load(dest, "ratings", tmp_path / "cache")
    assert loaded["train"].features["turn"].dtype == "int64"
    _assert_loaded(loaded["train"], expected)
    _assert_file(dest / "ratings/train-00000-of-00001.parquet", expected)
