"""Every format on the fixed dataset, byte for byte, and as the `datasets` library loads it.

Regenerate the golden files after an intended change with
``RANKROOM_UPDATE_GOLDEN=1 python -m pytest tests/test_export_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests import export_dataset

GOLDEN = Path(__file__).parent / "golden"

CASES: dict[str, dict[str, Any]] = {
    "dpo_text": {"format": "dpo", "project": ["text"]},
    "dpo_chat": {"format": "dpo", "project": ["chat"]},
    "dpo_text_consensus": {"format": "dpo", "project": ["text"], "aggregation": "consensus"},
    "reward_text": {"format": "reward", "project": ["text"]},
    "reward_chat": {"format": "reward", "project": ["chat"], "pairs": "adjacent"},
    "kto_text": {"format": "kto", "project": ["text"]},
    "kto_rate": {"format": "kto", "project": ["rate"]},
    "openai_chat": {"format": "openai", "project": ["chat"], "pairs": "best-vs-rest"},
    "openai_text": {"format": "openai", "project": ["text"]},
    "hh_chat": {"format": "hh", "project": ["chat"]},
    "hh_text": {"format": "hh", "project": ["text"], "ties": "both-orders"},
    "ranking_chat": {"format": "ranking", "project": ["chat"]},
    "ranking_text": {"format": "ranking", "project": ["text"]},
    "ratings_rate": {"format": "ratings", "project": ["rate"]},
    # A project with turn dimensions: a row per rated assistant turn, and a turn column.
    "ratings_turns": {"format": "ratings", "project": ["support"]},
    "raw_all": {"format": "raw", "project": ["text", "chat", "rate"]},
    "votes_text": {"format": "votes", "project": ["text"]},
    "votes_chat": {"format": "votes", "project": ["chat"]},
    "dpo_text_with_votes": {"format": "dpo", "project": ["text"], "with_votes": True},
    "dpo_text_consensus_with_votes": {
        "format": "dpo",
        "project": ["text"],
        "aggregation": "consensus",
        "with_votes": True,
    },
    "sft_text": {"format": "sft", "project": ["text"]},
    "sft_chat": {"format": "sft", "project": ["chat"]},
    "dpo_text_with_rewrites": {"format": "dpo", "project": ["text"], "with_rewrites": True},
    "reward_chat_with_rewrites": {
        "format": "reward",
        "project": ["chat"],
        "with_rewrites": True,
        "with_votes": True,
        "min_edit_words": 3,
    },
}


@pytest.fixture
def dataset(make: Any) -> dict[str, Any]:
    return export_dataset.build(make)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(app, dataset, case):
    data, summary = export_dataset.export_bytes(app, **CASES[case])
    path = GOLDEN / f"{case}.jsonl"
    if os.environ.get("RANKROOM_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert data == path.read_bytes()
    assert summary.total_rows == len(data.splitlines()) > 0


# --- What TRL 1.16 and OpenAI read (shared/reference/trl-dataset-formats.md) ---

MESSAGES = "list[message]"
FREE_FORM = ("verdict", "rubric")
TRL_TEXT_KEYS = ("prompt", "chosen", "rejected", "completion", "messages")


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "str"
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict) and set(m) == {"role", "content"} and isinstance(m["content"], str)
            for m in value
        )
    ):
        return MESSAGES
    return type(value).__name__


EXPECTED_KEYS = {
    "dpo": ["prompt", "chosen", "rejected", "metadata"],
    "reward": ["chosen", "rejected", "metadata"],
    "kto": ["prompt", "completion", "label", "metadata"],
    "openai": ["input", "preferred_output", "non_preferred_output", "metadata"],
    "hh": ["chosen", "rejected", "metadata"],
    "ranking": ["prompt", "responses", "n_raters", "agreement", "metadata"],
    "sft": ["messages", "metadata"],
    "votes": [
        "prompt",
        "response_a",
        "response_b",
        "votes",
        "distribution",
        "n_votes",
        "agreement",
        "consensus",
        "metadata",
    ],
    "ratings": [
        "prompt",
        "response_id",
        "model",
        "response",
        "scores",
        "per_rater",
        "n_raters",
        "metadata",
    ],
}


def _load(path: Path, tmp_path: Path) -> Any:
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    return datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_loads_with_datasets_as_trainers_expect(case, tmp_path):
    """The golden files load with `datasets` with the keys and types the trainers read."""
    datasets = pytest.importorskip("datasets")
    fmt = CASES[case]["format"]
    path = GOLDEN / f"{case}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ds = _load(path, tmp_path)
    assert len(ds) == len(rows)
    # No column fell back to an untyped Json feature (a sign of mixed types), except the
    # raw archive's free-form verdict and rubric objects, kept exactly as stored.
    typed = {k: f for k, f in ds.features.items() if not (fmt == "raw" and k in FREE_FORM)}
    assert not any(isinstance(f, datasets.features.Json) for f in _leaf_features(typed))
    assert not {"image", "images", "tools", "chat_template_kwargs"} & set(ds.column_names)
    if fmt == "raw":
        assert ds.column_names[:4] == ["judgment_id", "project", "item_id", "mode"]
        return
    expected = list(EXPECTED_KEYS[fmt])
    if fmt == "reward" and "margin" in rows[0]:
        expected.insert(2, "margin")
    if CASES[case].get("with_rewrites"):
        expected[-1:-1] = ["source"]
    if CASES[case].get("with_votes"):
        expected[-1:-1] = ["vote_share", "vote_count"]
    if case == "ratings_turns":
        expected[-1:-1] = ["turn"]
    assert ds.column_names == expected
    for row in rows:
        assert list(row) == expected  # margin in every row or in none
    if fmt in ("dpo", "reward", "kto", "sft"):
        _check_trl(fmt, rows, ds)
    if fmt == "openai":
        for row in rows:
            assert row["input"]["messages"][-1]["role"] == "user"
            for key in ("preferred_output", "non_preferred_output"):
                assert [m["role"] for m in row[key]] == ["assistant"]
    if fmt == "hh":
        for row in rows:
            for key in ("chosen", "rejected"):
                assert row[key].startswith("\n\nHuman: ")
                assert "\n\nAssistant: " in row[key]


def _check_trl(fmt: str, rows: list[dict[str, Any]], ds: Any) -> None:
    kinds = {_kind(row[k]) for row in rows for k in TRL_TEXT_KEYS if k in row}
    assert len(kinds) == 1 and kinds <= {"str", MESSAGES}, kinds  # never mixed
    conversational = kinds == {MESSAGES}
    for row in rows:
        if "prompt" in row and conversational:
            turns = [m["role"] for m in row["prompt"] if m["role"] != "system"]
            assert turns[-1] == "user"
        for key in ("chosen", "rejected", "completion"):
            if key in row and conversational:
                assert row[key][-1]["role"] == "assistant"
            elif key in row and fmt != "reward":
                # TRL joins prompt + completion bare: the completion brings its separator.
                assert row[key][0].isspace()
    if fmt == "sft":
        # TRL's conversational language-modelling row: the prompt's turns, then the reply.
        assert conversational and ds.column_names[0] == "messages"
        for row in rows:
            roles = [m["role"] for m in row["messages"]]
            assert set(roles) <= {"system", "user", "assistant"}
            assert roles[-1] == "assistant" and [r for r in roles if r != "system"][-2] == "user"
    if fmt == "kto":
        assert ds.features["label"].dtype == "bool"
        assert all(isinstance(row["label"], bool) for row in rows)
    if fmt == "reward" and "margin" in ds.column_names:
        assert ds.features["margin"].dtype in ("float64", "float32")
        assert all(isinstance(row["margin"], float) for row in rows)


def _leaf_features(features: Any) -> list[Any]:
    out = []
    stack = list(features.values()) if isinstance(features, dict) else [features]
    while stack:
        f = stack.pop()
        if isinstance(f, dict):
            stack.extend(f.values())
        elif hasattr(f, "feature"):
            stack.append(f.feature)
        else:
            out.append(f)
    return out
