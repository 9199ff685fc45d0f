"""Rows about single responses: KTO labels and rubric ratings, for one item's votes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

from service.export import rules, turn_rows
from service.export.options import ExportOptions
from service.export.rows import IDENTICAL, RowBuilder, shown_hashes
from service.export.source import ItemData
from service.export.summary import ExportSummary
from service.export.votes import ProjectInfo, Vote


class ItemRows(Protocol):
    """What these formats need of the item's row builder (``item_rows.ItemRows``)."""

    o: ExportOptions
    dimensions: list[tuple[str, bool]]
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

    Then, in a project with turn dimensions, a row per rated assistant turn (turn_rows.py).
    """
    keep = rows.keep(item)
    for rid in item.responses:
        if rid not in keep:
            continue
        per_rater = []
        rated = []
        for v in votes:
            given = ((v.row.rubric or {}).get("response") or {}).get(rid)
            if given:
                rated.append(v.row)
                # Every dimension in every row (null when unrated): one typed schema.
                scores = {name: given.get(name) for name, _ in rows.dimensions}
                per_rater.append({"rater": v.rater.name, "scores": scores})
        if not per_rater:
            rows.summary.dropped["responses_without_ratings"] += 1
            continue
        means = {
            name: _mean([p["scores"][name] for p in per_rater])
            for name, numeric in rows.dimensions
            if numeric
        }
        meta = {**base, "shown_sha256": shown_hashes(rated)}
        turn = {"turn": None} if rows.turn_dimensions else {}
        yield rows.build.ratings(item, rid, means, per_rater, meta, **turn)
    yield from turn_rows.ratings(rows, item, votes, base, _mean)


def _mean(values: list[Any]) -> float | None:
    numbers = [float(v) for v in values if rules.is_number(v)]
    if not numbers:
        return None
    total = sum(numbers)
    if not math.isfinite(total):  # finite values near the float limit can overflow a sum
        return round(sum(v / len(numbers) for v in numbers), 4)
    return round(total / len(numbers), 4)
