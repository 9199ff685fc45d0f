"""What the annotation costs: per judgment, per finished item, to date and to completion.

Time is active time as the rating screen measured it, per item: every version of a judgment
records the time spent on that version, and a judgment's time is the sum over its chain (the
current version and every version it supersedes, so time spent before a revision is kept). A
chain in which no version recorded time is charged the project's median chain time; a version
without timing in a chain that has some adds nothing. Skips are not charged (no time is
recorded for them).
A rater's hourly rate is their own if set, else the highest rate of their expertise groups,
else the default rate; without any, their judgments stay unpriced and are counted as such.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import JudgmentColumns, load_judgments
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_items, load_raters
from service.dashboards.progress import by_pair, judgments_missing
from service.dashboards.summaries import DAY, iso_day
from service.errors import InvalidInput
from service.models import Judgment, Project

MS_PER_HOUR = 3_600_000


@dataclass(frozen=True)
class Rates:
    """Hourly rates by expertise group, and the default for everyone else."""

    groups: tuple[tuple[str, float], ...] = ()
    default: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the rates as JSON-ready data."""
        return {"groups": dict(self.groups), "default": self.default}


def parse_rates(args: Mapping[str, Any]) -> Rates:
    """Read ``rate.<group>=<hourly rate>`` and ``default_rate`` query parameters."""
    groups, errors = {}, []
    for key, raw in args.items():
        if raw in ("", None) or not (key.startswith("rate.") or key == "default_rate"):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = -1.0
        if not math.isfinite(value) or value < 0:
            errors.append({"field": key, "message": "an hourly rate: a number, 0 or more"})
        elif key == "default_rate":
            continue
        else:
            groups[key[5:].strip().lower()] = value
    if errors:
        raise InvalidInput("Invalid hourly rates.", errors=errors)
    default = args.get("default_rate")
    return Rates(
        groups=tuple(sorted(groups.items())),
        default=float(default) if default not in ("", None) else None,
    )


def _rate_of(rater: Any, rates: Rates) -> tuple[float | None, str]:
    if rater is not None and rater.hourly_rate is not None:
        return float(rater.hourly_rate), "own rate"
    group_rates = dict(rates.groups)
    mine = [(group_rates[e], e) for e in (rater.expertise if rater else []) if e in group_rates]
    if mine:
        rate, group = max(mine)
        return rate, f"group: {group}"
    if rates.default is not None:
        return rates.default, "default rate"
    return None, "unpriced"


def cost_report(
    *, session: Session, project: Project, filters: Filters, rates: Rates
) -> dict[str, Any]:
    """Return spend to date, cost per judgment and per finished item, and projected cost."""
    items = load_items(session=session, project=project, filters=filters)
    cols = load_judgments(
        session=session, project=project, filters=filters, verdicts=by_pair(items), created=True
    )
    people = load_raters(session=session, ids=cols.rater)
    ids = np.unique(cols.rater)
    rate_of = {int(r): _rate_of(people.get(int(r)), rates) for r in ids}
    hours, timed, median_ms = charged_hours(session=session, project=project, cols=cols)
    by_id = np.array([np.nan if rate_of[int(r)][0] is None else rate_of[int(r)][0] for r in ids])
    rate = by_id[np.searchsorted(ids, cols.rater)] if ids.size else np.zeros(0)
    cost = hours * rate
    priced = np.isfinite(cost)
    spend = float(cost[priced].sum()) if priced.any() else None
    per_judgment = spend / int(priced.sum()) if spend is not None else None
    wanting = judgments_missing(session=session, project=project, items=items, cols=cols)
    finished = items.id[~items.gold & (wanting == 0)]
    on_finished = np.isin(cols.item, finished) & priced
    remaining = int(wanting[~items.gold].sum())
    return {
        "skipped_rows": cols.skipped,
        "rates": rates.as_dict(),
        "judgments": len(cols),
        "priced_judgments": int(priced.sum()),
        "unpriced_judgments": int((~priced).sum()),
        "imputed_times": int((~timed).sum()),
        "median_minutes": median_ms / 60_000 if median_ms is not None else None,
        "hours": float(np.nansum(hours)),
        "spend": spend,
        "cost_per_judgment": per_judgment,
        "finished_items": len(finished),
        "cost_per_finished_item": float(cost[on_finished].sum()) / len(finished)
        if len(finished) and priced.any()
        else None,
        "remaining_judgments": remaining,
        "projected_remaining": remaining * per_judgment if per_judgment is not None else None,
        "projected_total": spend + remaining * per_judgment if spend is not None else None,
        "reason": None if priced.any() else "no hourly rates: set them per rater or group",
        "per_rater": _per_rater(cols.rater, hours, cost, rate_of, people),
        "per_source": _per_source(cols.rater, hours, cost, rate_of),
        "per_day": _per_day(cols.created, cost),
    }


def charged_hours(
    *, session: Session, project: Project, cols: JudgmentColumns
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Return each current judgment's charged hours, whether it was timed, and the median ms.

    The time rule of this module's docstring, in one place: the cost and active-time reports
    both charge what this returns.
    """
    spent = chain_active_ms(session=session, project=project, ids=cols.id, own=cols.active_ms)
    timed = np.isfinite(spent)
    median_ms = float(np.median(spent[timed])) if timed.any() else None
    return np.where(timed, spent, median_ms or np.nan) / MS_PER_HOUR, timed, median_ms


def chain_active_ms(
    *, session: Session, project: Project, ids: np.ndarray, own: np.ndarray
) -> np.ndarray:
    """Return each current judgment's active time plus that of every version it supersedes.

    ``own`` is each judgment's own time (NaN: none recorded); the result is NaN only for a
    chain in which no version recorded time. Revisions are few: only their chains are read.
    """
    earlier = _earlier_versions(session, project)
    if not earlier:
        return own
    total = own.copy()
    for k in np.flatnonzero(np.isin(ids, list(earlier))):
        times, at = [own[k]], int(ids[k])
        while at in earlier:
            at, ms = earlier[at]
            times.append(np.nan if ms is None else float(ms))
        known = [t for t in times if np.isfinite(t)]
        total[k] = sum(known) if known else np.nan
    return total


def _earlier_versions(session: Session, project: Project) -> dict[int, tuple[int, int | None]]:
    """Map each revision's id to (the id it supersedes, that version's active time)."""
    revisions = (
        sa.select(Judgment.id, Judgment.supersedes_id)
        .where(Judgment.project_id == project.id, Judgment.supersedes_id.is_not(None))
        .subquery()
    )
    query = sa.select(revisions.c.id, revisions.c.supersedes_id, Judgment.active_ms).join(
        Judgment, Judgment.id == revisions.c.supersedes_id
    )
    return {rid: (sid, ms) for rid, sid, ms in session.execute(query)}


def _per_rater(
    rater: np.ndarray, hours: np.ndarray, cost: np.ndarray, rate_of: dict, people: dict
) -> list[dict[str, Any]]:
    rows = []
    for r, (rate, source) in rate_of.items():
        mine = rater == r
        person = people.get(r)
        rows.append(
            {
                "id": r,
                "name": person.name if person else str(r),
                "expertise": person.expertise if person else [],
                "hourly_rate": rate,
                "rate_source": source,
                "judgments": int(mine.sum()),
                "hours": float(np.nansum(hours[mine])),
                "spend": float(np.nansum(cost[mine])) if rate is not None else None,
            }
        )
    return sorted(rows, key=lambda row: (-(row["spend"] or 0), row["name"]))


def _per_source(
    rater: np.ndarray, hours: np.ndarray, cost: np.ndarray, rate_of: dict
) -> list[dict[str, Any]]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    for r, (_, source) in rate_of.items():
        mine = rater == r
        entry = totals[source]
        entry[0] += 1
        entry[1] += int(mine.sum())
        entry[2] += float(np.nansum(hours[mine]))
        entry[3] += float(np.nansum(cost[mine]))
    return [
        {
            "source": s,
            "raters": int(v[0]),
            "judgments": int(v[1]),
            "hours": v[2],
            "spend": v[3] if s != "unpriced" else None,
        }
        for s, v in sorted(totals.items())
    ]


def _per_day(created: np.ndarray, cost: np.ndarray) -> list[dict[str, Any]]:
    if created.size == 0:
        return []
    day = np.floor(created / DAY).astype(np.int64)
    first = int(day.min())
    spend = np.bincount(day - first, weights=np.nan_to_num(cost))
    cumulative = np.cumsum(spend)
    return [
        {"date": iso_day(first + k), "spend": float(spend[k]), "cumulative": float(cumulative[k])}
        for k in range(len(spend))
    ]
