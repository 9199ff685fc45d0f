"""Ratings rows of the assistant turns of a conversation, for projects with turn dimensions.

A project with ``turn`` rubric dimensions (rating/turns.py) gets, in the ``ratings``
format, one row per rated assistant turn besides the usual row per rated response: the
conversation before that turn as ``prompt``, the turn's text as ``response`` (no
``response_id`` or ``model``: the turn is part of the item, not a response), its index
among the assistant turns as ``turn``, and the turn dimensions' mean scores and every
rater's values, in the shape of a response row. Every row of such an export has a
``turn`` column (null on response rows); an export with no turn dimension has none, so
its rows are as before. Every row's ``scores`` hold every dimension of the export (null
where it does not apply: a response dimension on a turn row and the reverse), so the
column has one type, as ``datasets`` and Parquet need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from service.export.rows import Message, RowBuilder, messages_of, shown_hashes
from service.export.source import ItemData
from service.export.votes import Vote
from service.rating.turns import assistant_turns


class ItemRows(Protocol):
    """What turn rows need of the item's row builder (``item_rows.ItemRows``)."""

    dimensions: list[tuple[str, bool]]  # every dimension of the export, turn ones too
    turn_dimensions: list[tuple[str, bool]]
    build: RowBuilder


def ratings(
    rows: ItemRows, item: ItemData, votes: list[Vote], base: dict[str, Any], mean: Any
) -> Iterator[dict[str, Any]]:
    """Yield one ratings row per assistant turn some rater gave a turn value to."""
    if not rows.turn_dimensions:
        return
    conversation: list[Message] = messages_of(item)
    for index, position in enumerate(assistant_turns(item.messages)):
        per_rater, rated = [], []
        for v in votes:
            given = ((v.row.rubric or {}).get("turn") or {}).get(str(index))
            if given:
                rated.append(v.row)
                # Every dimension in every row (null when not given): one typed schema.
                scores = {name: given.get(name) for name, _ in rows.dimensions}
                per_rater.append({"rater": v.rater.name, "scores": scores})
        if not per_rater:
            continue
        means = {
            name: mean([p["scores"][name] for p in per_rater])
            for name, numeric in rows.dimensions
            if numeric
        }
        meta = {**base, "shown_sha256": shown_hashes(rated)}
        yield rows.build.turn_ratings(
            item,
            conversation[:position],
            conversation[position]["content"],
            index,
            means,
            per_rater,
            meta,
        )
