"""Exports of tool-using items: the `tools` column, tool turns in messages, goldens, datasets.

Regenerate the golden files after an intended change with
``RANKROOM_UPDATE_GOLDEN=1 python -m pytest tests/test_export_tools.py`` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from service.rating.shown import text_sha256
from tests import export_dataset
from tests.tool_rows import P_ID, R_ID, WEATHER, call, tool_row

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ANSWER = "It is 3 °C in Oslo."
REWRITE = "It is 3 °C in Oslo right now, so wear a coat."
PLAIN = {
    "id": "w2",
    "prompt": "Is it cold in winter?",
    "responses": [
        {"id": "a", "model": "m-tools", "content": "Yes."},
        {"id": "b", "model": "m-guess", "content": "It depends on where you are."},
    ],
}
CASES: dict[str, dict[str, Any]] = {
    "tools_dpo": {"format": "dpo"},
    "tools_reward": {"format": "reward"},
    "tools_kto": {"format": "kto"},
    "tools_sft": {"format": "sft"},
    "tools_openai": {"format": "openai"},
    "tools_raw": {"format": "raw"},
}
PROMPT = [
    {"role": "system", "content": "You can look up the weather."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [call(P_ID)]},
    {"role": "tool", "content": tool_row()["messages"][3]["content"], "tool_call_id": P_ID},
    {"role": "user", "content": "And in Oslo?"},
]
TURNS = [
    {"role": "assistant", "content": "", "tool_calls": [call(R_ID, "Oslo")]},
    {"role": "tool", "content": '{"temp_c": 3}', "tool_call_id": R_ID},
]


@pytest.fixture
def judged(make: Any) -> None:
    """A tool item judged (a preferred, and rewritten) and a plain item beside it."""
    project = make.project(slug="tools", mode="pairwise", overlap=1)
    ann = make.user(username="ann")
    w1, w2 = make.items(project, [tool_row("w1"), PLAIN])
    make.judgment(
        w1,
        ann,
        shown=["b", "a"],
        preferred="a",
        created_at=T0,
        rewrite_response_id="a",
        rewrite_text=REWRITE,
        rewrite_original_sha256=text_sha256(ANSWER),
    )
    make.judgment(w2, ann, shown=["a", "b"], preferred="b", created_at=T0)


def _export(app: Any, fmt: str) -> bytes:
    data, _ = export_dataset.export_bytes(app, project="tools", format=fmt)
    return data


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(app, judged, case):
    data = _export(app, CASES[case]["format"])
    path = GOLDEN / f"{case}.jsonl"
    if os.environ.get("RANKROOM_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert data == path.read_bytes()


def test_trl_rows_carry_tools_and_the_answers_tool_turns(app, judged):
    dpo = [json.loads(line) for line in _export(app, "dpo").splitlines()]
    assert [list(r) for r in dpo] == [["prompt", "chosen", "rejected", "tools", "metadata"]] * 2
    tool_item, plain = dpo
    assert tool_item["prompt"] == PROMPT
    assert tool_item["chosen"] == [*TURNS, {"role": "assistant", "content": ANSWER}]
    assert tool_item["rejected"] == [{"role": "assistant", "content": "Probably cold."}]
    assert json.loads(tool_item["tools"]) == [WEATHER]  # a JSON string, as TRL decodes it
    assert plain["tools"] is None and plain["prompt"] == [
        {"role": "user", "content": PLAIN["prompt"]}
    ]
    (sft,) = [json.loads(line) for line in _export(app, "sft").splitlines()]
    assert sft["messages"] == [*PROMPT, *TURNS, {"role": "assistant", "content": REWRITE}]
    assert json.loads(sft["tools"]) == [WEATHER]


def test_openai_rows_carry_input_tools(app, judged):
    tool_item, plain = [json.loads(line) for line in _export(app, "openai").splitlines()]
    assert tool_item["input"] == {"messages": PROMPT, "tools": [WEATHER]}
    assert tool_item["preferred_output"] == [*TURNS, {"role": "assistant", "content": ANSWER}]
    assert plain["input"] == {"messages": [{"role": "user", "content": PLAIN["prompt"]}]}


def test_a_raw_row_recomputes_its_shown_sha256(app, judged):
    rows = [json.loads(line) for line in _export(app, "raw").splitlines()]
    for row in rows:  # the README's recipe, with tools
        texts = {r["id"]: r["content"] for r in row["responses"]}
        turns = {r["id"]: r["tool_turns"] for r in row["responses"]}
        shown = {
            "guideline_version": row["guideline_version"],
            "messages": row["messages"],
            "prompt": row["prompt"],
            "responses": [texts[i] for i in row["shown_order"]],
        }
        if row["tools"] is not None or any(turns.values()):
            shown["tools"] = row["tools"]
            shown["tool_turns"] = [turns[i] for i in row["shown_order"]]
        canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"))
        assert hashlib.sha256(canonical.encode()).hexdigest() == row["shown_sha256"]
    assert rows[0]["tools"] == [WEATHER] and rows[0]["responses"][0]["tool_turns"] == TURNS


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_golden_files_load_with_datasets(case, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    path = GOLDEN / f"{case}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ds = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert len(ds) == len(rows)
    fmt = CASES[case]["format"]
    if fmt in ("dpo", "reward", "kto", "sft"):
        assert ds.features["tools"].dtype == "string"
        assert ds[0]["tools"] == rows[0]["tools"]
    # Every message reads back exactly as written: tool calls in their OpenAI shape, and
    # no tool_calls key added to a plain turn (chat templates test for the key).
    kept = ["messages", "responses", "tools"] if fmt == "raw" else list(rows[0])[:-1]
    assert {c: [row[c] for row in ds] for c in kept} == {c: [row[c] for row in rows] for c in kept}


@pytest.mark.parametrize("fmt", ["dpo", "reward", "kto", "sft", "openai", "raw"])
def test_the_parquet_folder_reads_back_as_the_json_lines(app, judged, runner, tmp_path, fmt):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    dest = tmp_path / "out"
    args = ["export", "--project", "tools", "--format", fmt, "--to-folder", str(dest)]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    ds = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "hf"))["train"]
    rows = [json.loads(line) for line in _export(app, fmt).splitlines()]
    # Messages read back exactly (no tool_calls: null added to a plain turn), tools too.
    kept = ["messages", "responses", "tools"] if fmt == "raw" else list(rows[0])[:-1]
    assert kept and {c: [row[c] for row in ds] for c in kept} == {
        c: [row[c] for row in rows] for c in kept
    }
