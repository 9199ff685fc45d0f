"""Plain-data shapes the dashboards share: a Stat as a dict, quantiles, histograms, days."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import numpy as np

from service.stats.resampling import Stat

DAY = 86_400.0
QUANTILES = (10, 25, 50, 75, 90)


def stat_dict(stat: Stat) -> dict[str, Any]:
    """Return a Stat as JSON-ready data (never NaN: missing values are None)."""
    # Stat holds only numbers and text, so a shallow copy of its fields is asdict's result
    # without asdict's recursive deep copy (which costs more than the rest of this function).
    out = {f.name: getattr(stat, f.name) for f in fields(stat)}
    for key in ("value", "low", "high", "p_value"):
        value = out[key]
        if value is not None and not math.isfinite(value):
            out[key] = None
    return out


def share(count: int, total: int, reason: str) -> dict[str, Any]:
    """Return count/total as a Stat dict, with ``reason`` when total is 0."""
    if total == 0:
        return stat_dict(Stat(None, n=0, reason=reason))
    return stat_dict(Stat(count / total, n=total))


def quantiles(values: np.ndarray) -> dict[str, float] | None:
    """Return the 10th, 25th, 50th, 75th and 90th percentiles of the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    points = np.percentile(finite, QUANTILES)
    return {f"p{q}": float(v) for q, v in zip(QUANTILES, points, strict=True)}


def histogram(values: np.ndarray, edges: np.ndarray) -> list[dict[str, float]]:
    """Return counts of the finite values per bin; the last bin takes everything above."""
    finite = values[np.isfinite(values)]
    counts = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)[0]
    return [
        {"low": float(lo), "high": float(hi), "count": int(c)}
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def iso_day(epoch_day: int) -> str:
    """Return the UTC date of a day number (days since 1970-01-01)."""
    return datetime.fromtimestamp(epoch_day * DAY, UTC).date().isoformat()


def rounded(value: float | None, digits: int = 4) -> float | None:
    """Round for compact JSON matrices; None stays None."""
    return None if value is None else round(value, digits)
