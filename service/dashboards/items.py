"""Items that need an admin's eye: the most disputed and the most often skipped."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import load_judgments
from service.dashboards.filters import Filters
from service.dashboards.leases import load_assignments
from service.dashboards.lookups import load_items
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
from service.models import Adjudication, Item, LeaseStatus, Project
from service.stats.agreement import item_agreement, kendall_w_per_item, label_counts

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
    leases = load_assignments(
        session=session, project=project, filters=filters, statuses=(LeaseStatus.SKIPPED,)
    )
    items = load_items(session=session, project=project, filters=filters)
    external = dict(zip(items.id.tolist(), items.external_id.tolist(), strict=True))
    adjudicated = _adjudicated(session, project)
    judged_ids, judged_counts = np.unique(cols.item, return_counts=True)
    judged = dict(zip(judged_ids.tolist(), judged_counts.tolist(), strict=True))
    labels = None if ranking else main_labels(cols, project, filters.dimension)
    if ranking:
        matrices, ids = rank_matrices(position_labels(cols, rank_positions(cols)))
        item_ids, agreement = np.array(ids, dtype=np.int64), kendall_w_per_item(matrices)
    elif labels is not None:
        item_ids, agreement = _label_agreement(labels)
    else:
        item_ids, agreement = np.zeros(0, np.int64), np.zeros(0)
    scored = np.isfinite(agreement)
    item_ids, agreement = item_ids[scored], agreement[scored]
    n_judged = np.array([judged.get(i, 0) for i in item_ids.tolist()], dtype=np.int64)
    worst = np.lexsort((item_ids, -n_judged, agreement))[:limit]
    spread = _spread(labels, set(item_ids[worst].tolist())) if labels is not None else {}
    disputed = [
        {
            "item_id": item,
            "external_id": external.get(item, str(item)),
            "judgments": judged.get(item, 0),
            "agreement": value,
            "labels": spread.get(item, {}),
            "adjudicated": adjudicated.get(item, 0),
        }
        for item, value in zip(item_ids[worst].tolist(), agreement[worst].tolist(), strict=True)
    ]
    return {
        "skipped_rows": cols.skipped,
        "limit": limit,
        "on": "Kendall's W of the rankings"
        if ranking
        else main_label_name(project, filters.dimension),
        "items": len(items.id),
        "judged_items": len(judged),
        "compared_items": int(scored.sum()),
        "adjudicated_items": len(adjudicated),
        "disputed": disputed,
        "skipped": _skipped(leases, external, limit),
    }


def _label_agreement(labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """Return item ids and each one's mean pair agreement over its units (NaN: no pair)."""
    codes = labels.codes()
    per_unit = item_agreement(label_counts(codes))
    defined = np.isfinite(per_unit)
    item_ids, item_of = np.unique(labels.unit_item[codes.items], return_inverse=True)
    total = np.bincount(item_of[defined], weights=per_unit[defined], minlength=len(item_ids))
    count = np.bincount(item_of[defined], minlength=len(item_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        return item_ids, np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _spread(labels: Labels, items: set[int]) -> dict[int, dict[str, int]]:
    """Return how the labels spread on each of ``items``, named as an admin reads them."""
    keep = np.isin(labels.unit_item[labels.unit], list(items))
    spread: dict[int, Counter[str]] = defaultdict(Counter)
    for unit, value in zip(labels.unit[keep].tolist(), labels.value[keep].tolist(), strict=True):
        name = labels.name(unit)
        spread[name[0]][_label_name(labels, name, value)] += 1
    return {item: dict(sorted(c.items())) for item, c in spread.items()}


def _label_name(labels: Labels, unit: tuple[Any, ...], value: float) -> str:
    """Name a label the way an admin reads it: the preferred response id, a choice, a score."""
    if labels.categories == PAIRWISE_CATEGORIES:
        return {1.0: unit[1], -1.0: unit[2]}.get(value, "tie")
    suffix = f"{unit[1]}: " if len(unit) > 1 else ""
    if labels.categories:
        return suffix + labels.categories[int(value)]
    return suffix + f"{value:g}"


def _skipped(leases: Any, external: dict[int, str], limit: int) -> list[dict[str, Any]]:
    skipped = leases.status == LeaseStatus.SKIPPED
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
