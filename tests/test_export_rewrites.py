"""Raters' rewrites in exports: sft rows, rewrite > original pairs, the minimum edit, the card."""

from __future__ import annotations

from typing import Any

import pytest

from service.errors import InvalidInput
from service.export.options import parse_options
from tests import export_dataset
from tests.export_dataset import export_bytes, export_rows


@pytest.fixture
def dataset(make: Any) -> dict[str, Any]:
    return export_dataset.build(make)


def _texts(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["metadata"]["item_id"], r["messages"][-1]["content"]) for r in rows]


def test_sft_rows_are_trl_conversations_ending_with_the_rewrite(app, dataset):
    rows = export_rows(app, format="sft", project=["text", "chat"], metadata=False)
    assert rows[0] == {
        "messages": [
            {"role": "user", "content": "What is the capital of Australia?"},
            {"role": "assistant", "content": "Canberra is the capital of Australia."},
        ]
    }
    # A conversation keeps its system and earlier turns; the rewrite is the last turn.
    assert rows[-1] == {
        "messages": [
            {"role": "system", "content": "You are a careful clinician."},
            {"role": "user", "content": "I have a headache."},
            {"role": "assistant", "content": "How long has it lasted?"},
            {"role": "user", "content": "Two days."},
            {
                "role": "assistant",
                "content": "Rest and drink water; see a doctor if it lasts or worsens.",
            },
        ]
    }


def test_sft_gives_one_row_per_rewrite_with_its_provenance(app, dataset):
    data, summary = export_bytes(app, format="sft", project=["chat"])
    rows = export_rows(app, format="sft", project=["chat"])
    # Two raters rewrote item c1 (different responses): two rows, each naming its rater.
    assert [(r["metadata"]["item_id"], r["metadata"]["response_id"]) for r in rows] == [
        ("c1", "b"),
        ("c1", "a"),
    ]
    assert rows[0]["metadata"]["rater"] != rows[1]["metadata"]["rater"]
    assert [r["metadata"]["changed_words"] for r in rows] == [3, 2]
    assert summary.rewrites == 2 and summary.total_rows == 2


def test_whitespace_only_rewrites_never_count_and_the_minimum_is_an_option(app, dataset):
    rows, summary = export_rows(app, format="sft"), export_bytes(app, format="sft")[1]
    # t1: ann's (7 words) and bob's "Canberra!" (2 words) count; cid's "  Sydney.\n"
    # changes only whitespace; bob's t2 rewrite was superseded by a version without one.
    assert _texts(rows) == [
        ("t1", "Canberra is the capital of Australia."),
        ("t1", "Canberra!"),
        ("t2", "Seven: it has no divisors but 1 and 7."),
    ]
    assert summary.dropped["rewrites_below_min_edit"] == 1
    strict, strict_summary = export_bytes(app, format="sft", min_edit_words=3)
    assert [line.count(b"Canberra!") for line in strict.splitlines()] == [0, 0]
    assert strict_summary.dropped["rewrites_below_min_edit"] == 2


def test_with_rewrites_adds_rewrite_over_original_rows_marked_by_source(app, dataset):
    plain = export_rows(app, format="dpo")
    rows = export_rows(app, format="dpo", with_rewrites=True, min_edit_words=3)
    judged = [r for r in rows if r["source"] == "judgment"]
    rewrites = [r for r in rows if r["source"] == "rewrite"]
    # The verdict rows are the same as without the option, only marked.
    assert [{k: v for k, v in r.items() if k != "source"} for r in judged] == plain
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rewrites] == [
        (
            "What is the capital of Australia?",
            "\nCanberra is the capital of Australia.",
            "\nCanberra.",
        ),
        ("Name a prime number.", "\nSeven: it has no divisors but 1 and 7.", "\nSeven."),
    ]
    assert rewrites[0]["metadata"]["response_ids"] == ["a", "a"]
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "source", "metadata"}


def test_reward_rewrite_rows_have_margin_zero(app, dataset):
    rows = export_rows(app, format="reward", with_rewrites=True)
    assert {r["margin"] for r in rows if r["source"] == "rewrite"} == {0.0}
    assert all(isinstance(r["margin"], float) for r in rows)


def test_a_rewrite_of_a_text_that_is_no_longer_shown_is_left_out(app, make):
    project = make.project(slug="text")
    (item,) = make.items(
        project,
        [
            {
                "id": "q",
                "prompt": "Hi?",
                "responses": [{"id": "a", "content": "Hello."}, {"id": "b", "content": "Hey."}],
            }
        ],
    )
    rater = make.user()
    make.judgment(
        item,
        rater,
        preferred="a",
        rewrite_response_id="a",
        rewrite_text="Hello there, how can I help?",
        rewrite_original_sha256="0" * 64,
    )
    data, summary = export_bytes(app, format="sft", project=["text"])
    assert data == b""
    assert summary.dropped["rewrites_of_changed_responses"] == 1


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (
            {"format": "dpo", "min_edit_words": "2"},
            "min_edit_words",
            "changes only rewrite rows: give --with-rewrites",
        ),
        (
            {"format": "sft", "with_rewrites": "true"},
            "with_rewrites",
            "--with-rewrites changes only dpo, reward, openai, hh rows, not sft: leave it out",
        ),
        (
            {"format": "kto", "min_edit_words": "2"},
            "min_edit_words",
            "--min-edit-words changes only sft, dpo, reward, openai, hh rows, not kto: leave it out",
        ),
        (
            {"format": "sft", "min_edit_words": "0"},
            "min_edit_words",
            "Must be greater than or equal to 1 and less than or equal to 1000000.",
        ),
    ],
)
def test_rewrite_options_are_refused_where_they_change_nothing(args, field, message):
    with pytest.raises(InvalidInput) as caught:
        parse_options({"project": ["p"], **args})
    assert caught.value.errors == [{"field": field, "message": message}]


def test_the_card_states_the_rules_and_the_counts(client, make, dataset):
    engineer = make.user(role="engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    card = client.get(
        "/api/v1/export/card?format=dpo&project=text&with_rewrites=true&min_edit_words=3",
        headers={"Authorization": f"Bearer {secret}"},
    ).get_data(as_text=True)
    section = card[card.index("## Rewrites") : card.index("## Rules and filters")]
    assert section == (
        "## Rewrites\n\n"
        "Raters rewrote a response after their verdict; the original stays as it was "
        "imported, and each rewrite is tied to it by the sha256 of the text the rater saw.\n\n"
        "- A rewrite counts when it changes at least 3 word(s) of the original (words taken "
        "out plus words put in, by a longest matching of the two word sequences). Whitespace "
        "is never a word: whitespace-only edits never count (and are refused when submitted).\n"
        "- Several raters may rewrite the same item: each rewrite is its own row, its rater "
        "and judgment in the metadata.\n"
        "- Rewrite rows put the rewrite as chosen and its original as rejected, with `source` "
        "= `rewrite` (margin 0, no votes); verdict rows have `source` = `judgment`. Both-bad "
        "judgments give rewrite rows too.\n"
        "- Rewrite rows written: 2\n"
        "- Left out below the minimum edit: 2\n"
        "- Left out, original changed since: 0\n\n"
    )
    plain = client.get(
        "/api/v1/export/card?format=dpo&project=text",
        headers={"Authorization": f"Bearer {secret}"},
    ).get_data(as_text=True)
    assert "## Rewrites" not in plain


def test_the_demo_coding_project_takes_rewrites_and_exports_them_as_sft(app):
    from service.cli.demo import REWRITE_NOTE, load_demo

    list(load_demo(prompts_dir=app.config["PROMPTS_DIR"]))
    rows = export_rows(app, format="sft", project=["demo-coding-pairwise"])
    assert rows, "the demo's simulated raters rewrite some preferred responses"
    for row in rows:
        assert row["messages"][-2]["role"] == "user"
        assert row["messages"][-1]["role"] == "assistant"
        assert row["messages"][-1]["content"].endswith(REWRITE_NOTE)
    assert export_rows(app, format="sft", project=["demo-expert-ranking"]) == []
