"""Degenerate pairs: a row whose two sides are the same exported text is left out and counted.

The rule (``service.export.rows.degenerate``): exact equality of what the file would hold,
after the format's rendering. In the standard variant ``"Same."`` and ``"\\nSame."`` after
the prompt ``"Echo."`` are both written as ``"\\nSame."``; as messages they stay distinct.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.export.rows import degenerate
from tests.export_dataset import export_bytes

TEXT = {"same": ("Same.", "Same."), "rendered": ("Same.", "\nSame."), "fine": ("Yes.", "No.")}


@pytest.fixture
def dup(make: Any) -> None:
    """Pairwise (likert7): three items, each judged once (a better); ranking: a == c."""
    pw = make.project(slug="pw", mode="pairwise", scale="likert7")
    rk = make.project(slug="rk", mode="ranking")
    rater = make.user(username="ann")
    rows = [
        {
            "id": name,
            "prompt": "Echo.",
            "responses": [{"id": "a", "content": a}, {"id": "b", "content": b}],
        }
        for name, (a, b) in TEXT.items()
    ]
    for item in make.items(pw, rows):
        make.judgment(item, rater, shown=["a", "b"], preferred="a", strength=2, scale_value=2)
    (three,) = make.items(
        rk,
        [
            {
                "id": "three",
                "prompt": "Echo.",
                "responses": [
                    {"id": "a", "content": "Same."},
                    {"id": "b", "content": "Other."},
                    {"id": "c", "content": "Same."},
                ],
            }
        ],
    )
    make.judgment(three, rater, mode="ranking", ranking=[["a"], ["b"], ["c"]])


def _export(app: Any, **args: Any) -> tuple[list[dict[str, Any]], Any]:
    data, summary = export_bytes(app, **args)
    return [json.loads(line) for line in data.splitlines()], summary


def _pairs(rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(r["metadata"]["item_id"], r["metadata"]["response_ids"]) for r in rows]


def test_the_rule_compares_exported_values_exactly():
    assert degenerate("\nSame.", "\nSame.")
    assert not degenerate("Same.", "Same. ")  # whitespace the file keeps is a difference
    assert degenerate(
        [{"role": "assistant", "content": "x"}], [{"role": "assistant", "content": "x"}]
    )
    assert not degenerate(
        [{"role": "assistant", "content": "x"}], [{"role": "assistant", "content": "\nx"}]
    )


# (format, options) -> pairwise items kept, pairs dropped
PAIR_CASES = {
    "dpo": ({}, ["fine"], 2),
    "reward": ({}, ["fine"], 2),
    "dpo-conversational": ({"format": "dpo", "conversational": True}, ["rendered", "fine"], 1),
    "openai": ({}, ["rendered", "fine"], 1),
    "hh": ({}, ["rendered", "fine"], 1),
    "dpo-consensus": ({"format": "dpo", "aggregation": "consensus"}, ["fine"], 2),
}


def test_pair_formats_leave_out_and_count_degenerate_pairs(app, dup):
    for case, (options, kept, dropped) in PAIR_CASES.items():
        rows, summary = _export(app, project="pw", **{"format": case, **options})
        assert _pairs(rows) == [(item, ["a", "b"]) for item in kept], case
        assert summary.dropped["pairs_with_identical_responses"] == dropped, case
        sides = [(r.get("chosen"), r.get("rejected")) for r in rows]
        sides += [(r.get("preferred_output"), r.get("non_preferred_output")) for r in rows]
        assert all(a != b or a is None for a, b in sides), case


def test_dpo_rows_are_exactly_the_good_pair(app, dup):
    rows, summary = _export(app, project="pw", format="dpo", metadata=False)
    assert rows == [{"prompt": "Echo.", "chosen": "\nYes.", "rejected": "\nNo."}]
    assert summary.as_dict()["dropped_reasons"] == {
        "pairs_with_identical_responses": (
            "both sides would be the same exported text (after the format's rendering): a row "
            "saying a text is better and worse than itself; kto leaves out both rows of such "
            "a desirable and undesirable pair"
        )
    }


def test_ranking_verdicts_lose_only_the_identical_pair(app, dup):
    rows, summary = _export(app, project="rk", format="dpo", pairs="all")
    assert _pairs(rows) == [("three", ["a", "b"]), ("three", ["b", "c"])]
    assert summary.dropped["pairs_with_identical_responses"] == 1
    # kto labels a (best) desirable and c (worst) undesirable: the same text both ways.
    rows, summary = _export(app, project="rk", format="kto")
    assert rows == []
    assert summary.dropped["pairs_with_identical_responses"] == 1


@pytest.mark.parametrize("aggregation", ["per-judgment", "consensus"])
def test_kto_never_labels_one_completion_both_ways(app, dup, aggregation):
    rows, summary = _export(app, project=["pw", "rk"], format="kto", aggregation=aggregation)
    labelled = [
        (r["metadata"]["item_id"], r["metadata"]["response_id"], r["completion"], r["label"])
        for r in rows
    ]
    # "same" and "rendered" (both "\nSame." here) and ranking's a/c lose both rows.
    assert labelled == [("fine", "a", "\nYes.", True), ("fine", "b", "\nNo.", False)]
    assert summary.dropped["pairs_with_identical_responses"] == 3


def test_the_card_gives_the_count_and_the_reason(client, make, dup):
    engineer = make.user(role="engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    card = client.get(
        "/api/v1/export/card?format=kto&project=pw", headers={"Authorization": f"Bearer {secret}"}
    ).get_data(as_text=True)
    assert "- pairs with identical responses: 2 (both sides would be the same exported text" in card
