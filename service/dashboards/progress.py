"""Progress of a campaign: items done, throughput per day, skips, and when it will finish."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session

from service.dashboards.columns import JudgmentColumns, count_revisions, load_judgments
from service.dashboards.filters import Filters
from service.dashboards.leases import assignment_counts, load_assignments
from service.dashboards.lookups import ItemColumns, load_items
from service.dashboards.summaries import DAY, iso_day, share
from service.models import LeaseStatus, Project, utcnow
from service.rating import pairs, slots

PACE_DAYS = 7


def progress_report(
    *, session: Session, project: Project, filters: Filters, now: datetime | None = None
) -> dict[str, Any]:
    """Return items complete / in progress / untouched, judgments per day, skips and the ETA.

    An item is complete once it has ``overlap`` current judgments on each of its pair
    units (``judgments_missing``) and in progress while it has fewer or a live lease. Gold
    items are counted apart: they are not rated to an overlap.
    """
    now = now or utcnow()
    items = load_items(session=session, project=project, filters=filters)
    cols = load_judgments(
        session=session, project=project, filters=filters, verdicts=by_pair(items), created=True
    )
    leases = load_assignments(
        session=session,
        project=project,
        filters=filters,
        statuses=(LeaseStatus.ACTIVE, LeaseStatus.SKIPPED),
    )
    counts = assignment_counts(session=session, project=project, filters=filters)
    judged = per_item(items.id, cols.item)
    live = per_item(items.id, leases.item[_live(leases.status, leases.expires, now)])
    regular = ~items.gold
    wanting = judgments_missing(session=session, project=project, items=items, cols=cols)
    complete = regular & (wanting == 0)
    started = regular & ~complete & ((judged > 0) | (live > 0))
    remaining = int(wanting[regular].sum())
    skipped = leases.status == LeaseStatus.SKIPPED
    submitted = sum(n for (_, status), n in counts.items() if status == LeaseStatus.SUBMITTED)
    reference = min(now, filters.end()) if filters.end() else now
    recent = cols.created >= reference.timestamp() - PACE_DAYS * DAY
    timed = cols.active_ms[np.isfinite(cols.active_ms)]
    return {
        "skipped_rows": cols.skipped,
        "items": {
            "total": int(regular.sum()),
            "complete": int(complete.sum()),
            "in_progress": int(started.sum()),
            "untouched": int((regular & ~complete & ~started).sum()),
            "gold": int(items.gold.sum()),
        },
        "judgments": {
            "total": len(cols),
            "revisions": count_revisions(session=session, project=project),
            "median_seconds": float(np.median(timed) / 1000) if timed.size else None,
        },
        "raters": {
            "total": len(np.unique(cols.rater)),
            "active_last_7_days": len(np.unique(cols.rater[recent])),
        },
        "skips": {
            "count": int(skipped.sum()),
            "rate": share(
                int(skipped.sum()),
                int(skipped.sum()) + submitted,
                "not enough data: nothing submitted or skipped",
            ),
            "reasons": dict(sorted(Counter(leases.skip_reason[skipped].tolist()).items())),
        },
        "per_day": _per_day(cols.created, cols.rater, leases.finished[skipped]),
        "pace": _pace(int(recent.sum()), remaining, reference),
    }


def _live(status: np.ndarray, expires: np.ndarray, now: datetime) -> np.ndarray:
    return (status == LeaseStatus.ACTIVE) & (expires > now.timestamp())


def per_item(item_ids: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Count how often each of the (sorted) item ids occurs in ``of``."""
    if item_ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(item_ids, of)
    known = (pos < len(item_ids)) & (item_ids[np.minimum(pos, len(item_ids) - 1)] == of)
    return np.bincount(pos[known], minlength=len(item_ids))


def by_pair(items: ItemColumns) -> bool:
    """Tell whether some item has several pair units: ``judgments_missing`` then needs the
    pair each judgment showed (load the judgments with ``verdicts``)."""
    return bool(((items.units > 1) & ~items.gold).any())


def judgments_missing(
    *, session: Session, project: Project, items: ItemColumns, cols: JudgmentColumns
) -> np.ndarray:
    """Return how many more judgments each item wants: ``pairs.missing`` over its units.

    An item of one unit counts all its judgments; each judgment on an item of several
    (``slots.split_units``) counts on the pair it showed.
    """
    judged = per_item(items.id, cols.item)
    out = pairs.missing(judged, project.overlap)
    if not by_pair(items):
        return out
    if cols.shown.shape[1] < 2:
        raise ValueError("judgments_missing needs what each judgment showed (verdicts=True)")
    split = slots.split_units(session=session, project=project)
    order = np.argsort(cols.item, kind="stable")
    by_item = cols.item[order]
    for k in np.flatnonzero(np.isin(items.id, list(split))).tolist():
        item_id = int(items.id[k])
        lo, hi = np.searchsorted(by_item, [item_id, item_id + 1])
        shown = cols.shown[order[lo:hi]].tolist()
        out[k] = pairs.missing(pairs.unit_counts(split[item_id], shown), project.overlap).sum()
    return out


def _per_day(created: np.ndarray, rater: np.ndarray, skipped_at: np.ndarray) -> list[dict]:
    """Return judgments, distinct raters and skips for every day from the first to the last."""
    day = np.floor(created / DAY).astype(np.int64)
    skip_day = np.floor(skipped_at[np.isfinite(skipped_at)] / DAY).astype(np.int64)
    every = np.concatenate([day, skip_day])
    if every.size == 0:
        return []
    first, last = int(every.min()), int(every.max())
    span = last - first + 1
    judgments = np.bincount(day - first, minlength=span)
    skips = np.bincount(skip_day - first, minlength=span)
    # Distinct (day, rater) pairs, as one integer each: sorting rows of a 2-D array is slower.
    width = int(rater.max()) + 1 if rater.size else 1
    active_days = np.unique((day - first) * width + rater) // width
    raters = np.bincount(active_days, minlength=span)
    return [
        {
            "date": iso_day(first + k),
            "judgments": int(judgments[k]),
            "raters": int(raters[k]),
            "skips": int(skips[k]),
        }
        for k in range(span)
    ]


def _pace(recent: int, remaining: int, reference: datetime) -> dict[str, Any]:
    per_day = recent / PACE_DAYS
    out: dict[str, Any] = {
        "judgments_per_day": per_day,
        "remaining_judgments": remaining,
        "eta_days": None,
        "eta_date": None,
        "reason": None,
    }
    if remaining == 0:
        out.update(eta_days=0.0, eta_date=reference.date().isoformat())
    elif per_day == 0:
        out["reason"] = f"no judgments in the last {PACE_DAYS} days, so no pace to project"
    else:
        days = remaining / per_day
        out.update(eta_days=days, eta_date=(reference + timedelta(days=days)).date().isoformat())
    return out
