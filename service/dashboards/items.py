"""Items that need an admin's eye: the most disputed and the most often skipped."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.agreement import item_agreement, kendall_w_per_item, label_counts
from service.dashboards.columns import load_assignments, load_items, load_judgments
from service.dashboards.filters import Filters
from service.dashboards.verdicts import (
    PAIRWISE_CATEGORIES,
    Labels,
    main_label_name,
    main_labels,
    main_needs,
    position_labels,
    rank_matrices,
    rank_positions,
)
from service.models import Adjudication, Item, Project

LIMIT = 50


def items_report(
    *, session: Session, project: Project, filters: Filters, limit: int = LIMIT
) -> dict[str, Any]:
    """Return the ``limit`` least-agreed items and the ``limit`` most skipped ones.

    An item's agreement is the share of its rater pairs who gave the same label (averaged over
    its pairs of responses), or, for rankings, Kendall's W of its rankings.
    """
    ranking = project.mode == "ranking" and not filters.dimension
    cols = load_judgments(
        session=session, project=project, filters=filters, **main_needs(project, filters.dimension)
    )
    leases = load_assignments(session=session, project=project, filters=filters)
    items = load_items(session=session, project=project, filters=filters)
    external = dict(zip(items.id.tolist(), items.external_id.tolist(), strict=True))
    adjudicated = _adjudicated(session, project)
    judged = Counter(cols.item.tolist())
    if ranking:
        matrices, ids = rank_matrices(position_labels(cols, rank_positions(cols)))
        agreement = dict(zip(ids, kendall_w_per_item(matrices).tolist(), strict=True))
        spread: dict[int, dict[str, int]] = {}
    else:
        labels = main_labels(cols, project, filters.dimension)
        agreement, spread = _label_agreement(labels) if labels is not None else ({}, {})
    scored = [(v, i) for i, v in agreement.items() if np.isfinite(v)]
    disputed = [
        {
            "item_id": item,
            "external_id": external.get(item, str(item)),
            "judgments": judged[item],
            "agreement": value,
            "labels": spread.get(item, {}),
            "adjudicated": adjudicated.get(item, 0),
        }
        for value, item in sorted(scored, key=lambda p: (p[0], -judged[p[1]], p[1]))[:limit]
    ]
    return {
        "limit": limit,
        "on": "Kendall's W of the rankings"
        if ranking
        else main_label_name(project, filters.dimension),
        "items": len(items.id),
        "judged_items": len(judged),
        "compared_items": len(scored),
        "adjudicated_items": len(adjudicated),
        "disputed": disputed,
        "skipped": _skipped(leases, external, limit),
    }


def _label_agreement(labels: Labels) -> tuple[dict[int, float], dict[int, dict[str, int]]]:
    """Return each item's mean pair agreement over its units, and how its labels spread."""
    codes = labels.codes()
    per_unit = item_agreement(label_counts(codes))
    unit_item = labels.unit_item[codes.items]
    sums: dict[int, list[float]] = defaultdict(list)
    for item, value in zip(unit_item.tolist(), per_unit.tolist(), strict=True):
        if np.isfinite(value):
            sums[item].append(value)
    spread: dict[int, Counter[str]] = defaultdict(Counter)
    pairs, counts = np.unique(np.stack([codes.item, codes.label]), axis=1, return_counts=True)
    for unit, label, count in zip(*pairs.tolist(), counts.tolist(), strict=True):
        name = labels.name(codes.items[unit])
        spread[name[0]][_label_name(labels, name, codes.labels[label])] += count
    agreement = {item: float(np.mean(values)) for item, values in sums.items()}
    return agreement, {item: dict(sorted(c.items())) for item, c in spread.items()}


def _label_name(labels: Labels, unit: tuple[Any, ...], value: float) -> str:
    """Name a label the way an admin reads it: the preferred response id, a choice, a score."""
    if labels.categories == PAIRWISE_CATEGORIES:
        return {1.0: unit[1], -1.0: unit[2]}.get(value, "tie")
    suffix = f"{unit[1]}: " if len(unit) > 1 else ""
    if labels.categories:
        return suffix + labels.categories[int(value)]
    return suffix + f"{value:g}"


def _skipped(leases: Any, external: dict[int, str], limit: int) -> list[dict[str, Any]]:
    skipped = leases.status == "skipped"
    reasons: dict[int, Counter[str]] = defaultdict(Counter)
    for item, reason in zip(
        leases.item[skipped].tolist(), leases.skip_reason[skipped], strict=True
    ):
        reasons[item][reason or "unknown"] += 1
    ranked = sorted(reasons.items(), key=lambda p: (-p[1].total(), p[0]))[:limit]
    return [
        {
            "item_id": item,
            "external_id": external.get(item, str(item)),
            "skips": counts.total(),
            "reasons": dict(sorted(counts.items())),
        }
        for item, counts in ranked
    ]


def _adjudicated(session: Session, project: Project) -> dict[int, int]:
    query = (
        sa.select(Adjudication.item_id, sa.func.count(Adjudication.id))
        .join(Item, Item.id == Adjudication.item_id)
        .where(Item.project_id == project.id)
        .group_by(Adjudication.item_id)
    )
    return dict(session.execute(query).all())
