"""Active time per rater per day, for paying raters: the cost report's hours, by day.

The rating screen's clock (``static/js/rate/timer.js``) runs only while the tab is visible
and the rater gave input (key, pointer, wheel, scroll, typing) in the last IDLE_MINUTES
minutes: a longer pause stops it, so idle time is never recorded. Hours are charged by the
cost report's rule (``cost.charged_hours``): a judgment's time is the sum over its versions,
and one with no recorded time is charged the project's median (counted as ``untimed``). A
judgment counts on the UTC day its current version was submitted. Judgments with more than
LONG_MINUTES of active time are counted (``long_items``) for an admin to look at; they are
paid as recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from service.dashboards.columns import load_judgments
from service.dashboards.cost import charged_hours
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_items, load_raters
from service.dashboards.progress import by_pair
from service.dashboards.summaries import DAY, iso_day
from service.models import Project

IDLE_MINUTES = 5  # timer.js IDLE_MS
LONG_MINUTES = 30
RULE = (
    f"Active time as the rating screen records it: the clock runs only while the tab is "
    f"visible and the rater gave input in the last {IDLE_MINUTES} minutes, so a pause longer "
    f"than {IDLE_MINUTES} minutes is not counted. A judgment's time is the sum over its "
    "versions; a judgment with no recorded time is charged the project's median (untimed). "
    "Each judgment counts on the UTC day its current version was submitted. "
    f"Judgments over {LONG_MINUTES} active minutes are counted as long items for review."
)


def active_time_report(*, session: Session, project: Project, filters: Filters) -> dict[str, Any]:
    """Return every rater's active hours per day and in total, with the rule that counts them."""
    items = load_items(session=session, project=project, filters=filters)
    cols = load_judgments(
        session=session, project=project, filters=filters, verdicts=by_pair(items), created=True
    )
    hours, timed, median_ms = charged_hours(session=session, project=project, cols=cols)
    people = load_raters(session=session, ids=cols.rater)
    day = np.floor(cols.created / DAY).astype(np.int64) if len(cols) else np.zeros(0, np.int64)
    long = hours * 60 > LONG_MINUTES
    per_day = [
        _who(people.get(rater), rater) | {"date": iso_day(d)} | totals
        for (rater, d), totals in _totals((cols.rater, day), hours, timed, long)
    ]
    per_rater = [
        _who(people.get(rater), rater) | {"days": len(np.unique(day[cols.rater == rater]))} | t
        for (rater,), t in _totals((cols.rater,), hours, timed, long)
    ]
    per_day.sort(key=lambda r: (r["name"], r["date"]))
    per_rater.sort(key=lambda r: r["name"])
    return {
        "skipped_rows": cols.skipped,
        "rule": RULE,
        "idle_minutes": IDLE_MINUTES,
        "long_minutes": LONG_MINUTES,
        "median_minutes": median_ms / 60_000 if median_ms is not None else None,
        "judgments": len(cols),
        "hours": float(np.nansum(hours)),
        "untimed": int((~timed).sum()),
        "per_rater_day": per_day,
        "per_rater": per_rater,
    }


def _totals(
    keys: tuple[np.ndarray, ...], hours: np.ndarray, timed: np.ndarray, long: np.ndarray
) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    """Group judgments by ``keys`` (rater, or rater and day): judgments, hours, untimed, long."""
    if not len(hours):
        return []
    groups, at = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)
    at = at.reshape(-1)
    size = len(groups)
    judgments = np.bincount(at, minlength=size)
    spent = np.bincount(at, weights=np.nan_to_num(hours), minlength=size)
    untimed = np.bincount(at, weights=~timed, minlength=size)
    longer = np.bincount(at, weights=long, minlength=size)
    return [
        (
            tuple(int(k) for k in groups[g]),
            {
                "judgments": int(judgments[g]),
                "hours": float(spent[g]),
                "untimed": int(untimed[g]),
                "long_items": int(longer[g]),
            },
        )
        for g in range(size)
    ]


def _who(person: Any, rater: int) -> dict[str, Any]:
    return {
        "id": rater,
        "username": person.username if person else str(rater),
        "name": person.name if person else str(rater),
    }
