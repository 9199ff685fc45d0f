"""Rows about single responses (and assistant turns): KTO labels and rubric ratings, per item."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

from service.export import rules
from service.export.options import ExportOptions
from service.export.rows import IDENTICAL, RowBuilder, messages_of, shown_hashes
from service.export.source import ItemData
from service.export.summary import ExportSummary
from service.export.votes import ProjectInfo, Vote
from service.rating.turns import assistant_turns


class ItemRows(Protocol):
    """What these formats need of the item's row builder (``item_rows.ItemRows``)."""

    o: ExportOptions
    dimensions: list[tuple[str, bool]]  # with turn dimensions, in a ratings export
    turn_dimensions: list[tuple[str, bool]]
    build: RowBuilder
    summary: ExportSummary

    def keep(self, item: ItemData) -> set[str]: ...

    def labels_from_ratings(self, j: Any) -> bool: ...


def kto(
    rows: ItemRows, item: ItemData, project: ProjectInfo, votes: list[Vote], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield KTO rows: one per labelled response and judgment, or per response (consensus)."""
    labelled: dict[str, list[tuple[bool, float]]] = {}
    judged: dict[str, list[Any]] = {}  # response id -> the judgments that labelled it
    keep = rows.keep(item)
    for v in votes:
        labels = [(r, ok) for r, ok in _kto_labels(rows, v, project) if r in keep]
        if not labels:
            rows.summary.dropped["judgments_without_kto_label"] += 1
        labels = _consistent(rows, item, labels)
        if rows.o.aggregation == "consensus":
            for rid, label in labels:
                labelled.setdefault(rid, []).append((label, v.weight))
                judged.setdefault(rid, []).append(v.row)
            continue
        meta = {**base, "rater": v.rater.name, "judgment_id": v.row.id}
        meta["shown_sha256"] = shown_hashes([v.row])
        for rid, label in labels:
            yield _kto_row(rows, item, rid, label, meta)
    meta = {**base, "rater": None, "judgment_id": None}
    decided = []
    for rid in item.responses:
        if rid in labelled:
            label = rules.majority_label(labelled[rid])
            if label is None:
                rows.summary.dropped["responses_with_label_draw"] += 1
            else:
                decided.append((rid, label))
    for rid, label in _consistent(rows, item, decided):
        hashes = {"shown_sha256": shown_hashes(judged[rid])}
        yield _kto_row(rows, item, rid, label, meta | hashes)


def _consistent(
    rows: ItemRows, item: ItemData, labels: list[tuple[str, bool]]
) -> list[tuple[str, bool]]:
    """Leave out both rows of a desirable and an undesirable response written the same."""
    good = [rid for rid, label in labels if label]
    bad = [rid for rid, label in labels if not label]
    clash: set[str] = set()
    for a in good:
        for b in bad:
            if rows.build.identical(item, a, b):
                rows.summary.dropped[IDENTICAL] += 1
                clash.update((a, b))
    return [(rid, label) for rid, label in labels if rid not in clash] if clash else labels


def _kto_labels(rows: ItemRows, v: Vote, project: ProjectInfo) -> list[tuple[str, bool]]:
    if rows.labels_from_ratings(v.row):
        if project.dimension is None or project.threshold is None:
            return []
        scores = rules.dimension_scores(v.row.rubric, project.dimension)
        labels = [(rid, rules.threshold_label(s, project.threshold)) for rid, s in scores.items()]
        return [(rid, label) for rid, label in labels if label is not None]
    return rules.kto_labels(v.ranking, bool(v.row.both_bad)) if v.ranking else []


def _kto_row(
    rows: ItemRows, item: ItemData, rid: str, label: bool, meta: dict[str, Any]
) -> dict[str, Any]:
    meta = {**meta, "response_id": rid, "model": item.responses[rid][0]}
    return rows.build.kto(item, rid, label, meta)


def ratings(
    rows: ItemRows, item: ItemData, votes: list[Vote], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield one ratings row per rated response: mean scores and every rater's scores.

    Then, in a project with turn dimensions, a row per rated assistant turn (``_turns``).
    """
    keep = rows.keep(item)
    for rid in item.responses:
        if rid not in keep:
            continue
        scored = _scored(rows, votes, "response", rid)
        if scored is None:
            rows.summary.dropped["responses_without_ratings"] += 1
            continue
        means, per_rater, rated = scored
        meta = {**base, "shown_sha256": shown_hashes(rated)}
        turn = {"turn": None} if rows.turn_dimensions else {}
        yield rows.build.ratings(item, rid, means, per_rater, meta, **turn)
    if rows.turn_dimensions:
        yield from _turns(rows, item, votes, base)


def _turns(
    rows: ItemRows, item: ItemData, votes: list[Vote], base: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Yield one ratings row per assistant turn some rater gave a turn value to.

    A project with ``turn`` rubric dimensions (rating/turns.py) gets, besides the row per
    rated response, a row per rated assistant turn: the conversation before that turn as
    ``prompt``, the turn's text as ``response`` (no ``response_id`` or ``model``: the turn
    is part of the item, not a response), and its index among the assistant turns as
    ``turn``. Every row of such an export has the ``turn`` column (null on response rows)
    and every dimension of the export in ``scores`` (null where it does not apply), so
    each column has one type, as ``datasets`` and Parquet need; an export without turn
    dimensions has no ``turn`` column, so its rows are as before.
    """
    conversation = messages_of(item)
    for index, position in enumerate(assistant_turns(item.messages)):
        scored = _scored(rows, votes, "turn", str(index))
        if scored is None:
            continue
        means, per_rater, rated = scored
        meta = {**base, "shown_sha256": shown_hashes(rated)}
        content = conversation[position]["content"]
        before = conversation[:position]
        yield rows.build.turn_ratings(item, before, content, index, means, per_rater, meta)


def _scored(
    rows: ItemRows, votes: list[Vote], scope: str, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]] | None:
    """Return (means, every rater's scores, the judgments) of one rated thing, or None.

    ``scope`` and ``key``: the values' place in a judgment's rubric, "response" and a
    response id, or "turn" and a turn index.
    """
    per_rater, rated = [], []
    for v in votes:
        given = ((v.row.rubric or {}).get(scope) or {}).get(key)
        if given:
            rated.append(v.row)
            # Every dimension in every row (null when unrated): one typed schema.
            scores = {name: given.get(name) for name, _ in rows.dimensions}
            per_rater.append({"rater": v.rater.name, "scores": scores})
    if not per_rater:
        return None
    means = {
        name: _mean([p["scores"][name] for p in per_rater])
        for name, numeric in rows.dimensions
        if numeric
    }
    return means, per_rater, rated


def _mean(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if rules.is_number(v)]
    if not numbers:
        return None
    total = sum(numbers)
    if not math.isfinite(total):  # finite values near the float limit can overflow a sum
        return round(sum(v / len(numbers) for v in numbers), 4)
    return round(total / len(numbers), 4)
