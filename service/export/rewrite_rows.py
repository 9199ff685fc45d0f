"""Rows from raters' rewrites: ``sft`` rows, and "rewrite > original" pairs (--with-rewrites).

The rules, in this order, for each current judgment that carries a rewrite:

- the original must still be the text the rater rewrote (its sha256 is the one stored
  with the rewrite), else the row is left out (``rewrites_of_changed_responses``);
- the model filter applies to the original's model (``rewrites_of_other_models``);
- the rewrite must change at least ``min_edit_words`` words of the original, counted by
  ``rating.rewrites.changed_words`` (whitespace is never a word, so a whitespace-only
  edit changes none and never counts) (``rewrites_below_min_edit``).

Several raters may rewrite the same item (or the same response): each rewrite is its
own row, with its rater and judgment in the metadata, so a consumer can keep one per
item or train on all. Judgment filters, min-judgments and min-agreement apply first,
as for every other row (``ItemRows.rows``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from service.export.options import ExportOptions
from service.export.rows import RowBuilder, shown_hashes
from service.export.source import ItemData
from service.export.summary import ExportSummary
from service.export.votes import Vote
from service.rating.rewrites import changed_words
from service.rating.shown import text_sha256


class ItemRows(Protocol):
    """What these rows need of the item's row builder (``item_rows.ItemRows``)."""

    o: ExportOptions
    models: set[str]
    build: RowBuilder
    summary: ExportSummary

    def keep(self, item: ItemData) -> set[str]: ...


def usable(rows: ItemRows, item: ItemData, votes: list[Vote]) -> Iterator[tuple[Vote, str, int]]:
    """Yield (vote, rewritten response id, words changed) for each rewrite the rules keep."""
    keep = rows.keep(item) if rows.models else None
    dropped = rows.summary.dropped
    for v in votes:
        rid = getattr(v.row, "rewrite_response_id", None)
        if rid is None:
            continue
        original = item.responses.get(rid, (None, None))[1]
        if original is None or text_sha256(original) != v.row.rewrite_original_sha256:
            dropped["rewrites_of_changed_responses"] += 1
            continue
        if keep is not None and rid not in keep:
            dropped["rewrites_of_other_models"] += 1
            continue
        changed = changed_words(original, v.row.rewrite_text)
        if changed < rows.o.min_edit_words:
            dropped["rewrites_below_min_edit"] += 1
            continue
        yield v, rid, changed


def sft(
    rows: ItemRows, item: ItemData, votes: list[Vote], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield one TRL conversational row per kept rewrite: the prompt's turns, the rewrite."""
    for v, rid, changed in usable(rows, item, votes):
        rows.summary.rewrites += 1
        meta = {
            "project": base["project"],
            "item_id": base["item_id"],
            "rater": v.rater.name,
            "judgment_id": v.row.id,
            "response_id": rid,
            "model": item.responses[rid][0],
            "changed_words": changed,
            "original_sha256": v.row.rewrite_original_sha256,
            "shown_sha256": shown_hashes([v.row]),
        }
        yield rows.build.sft(item, v.row.rewrite_text, meta, rid)


def pairs(
    rows: ItemRows, item: ItemData, votes: list[Vote], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield one "rewrite chosen over its original" row per kept rewrite (source: rewrite).

    The metadata has the keys of a per-judgment row, so the column keeps one type.
    """
    for v, rid, _ in usable(rows, item, votes):
        rows.summary.rewrites += 1
        model = item.responses[rid][0]
        meta = {
            **base,
            "rater": v.rater.name,
            "judgment_id": v.row.id,
            "strength": None,
            "shown_sha256": shown_hashes([v.row]),
            "response_ids": [rid, rid],
            "models": [model, model],
        }
        yield rows.build.rewrite_pair(item, v.row.rewrite_text, rid, meta, rows.o.with_votes)
