"""The Stat result type and the item bootstrap every agreement statistic shares.

Each item-level statistic is a function of sums over items of per-item terms. Resampling items
for a bootstrap is then resampling rows of a terms matrix, which :func:`resample_sums` does in
one matrix product instead of a Python loop over items. Modules register such statistics with
:func:`register_item_sums`; any other statistic is recomputed once per resample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Stat:
    """A statistic, its 95% interval, how many units it rests on, and why it is missing.

    ``value`` is ``None`` exactly when ``reason`` is set. ``low``/``high`` come from a bootstrap,
    ``p_value`` only from statistics that carry a test. What ``n`` counts is stated by each
    function (items, rater pairs, comparisons...).
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    reason: str | None = None
    p_value: float | None = None


def no_value(reason: str, n: int = 0) -> Stat:
    """Return a Stat that has no value, saying why."""
    return Stat(value=None, n=n, reason=reason)


class ItemSums(NamedTuple):
    """Per-item additive terms of a statistic and how to finish summed terms into values."""

    terms: np.ndarray  # (items, m): each item's additive contribution
    finish: Callable[[np.ndarray], np.ndarray]  # (..., m) summed terms -> (...), NaN if undefined


# --- resampling --------------------------------------------------------------------------------


def resample_sums(terms: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Return n_boot column sums of terms, each over len(terms) rows drawn with replacement."""
    n = len(terms)
    if n == 0:
        return np.zeros((n_boot, terms.shape[1]))
    rows, counts = distinct_rows(terms)
    if len(rows) * 8 <= n:
        # Drawing n rows with replacement is a multinomial over the distinct rows; preference
        # data has few distinct per-item patterns, so this is far fewer random draws.
        return rng.multinomial(n, counts / n, size=n_boot) @ rows
    sums = np.empty((n_boot, terms.shape[1]))
    chunk = max(1, 2**22 // n)  # bounds the weight matrix at ~32 MB
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        picks = rng.integers(0, n, size=(k, n)) + n * np.arange(k)[:, None]
        weights = np.bincount(picks.ravel(), minlength=k * n).reshape(k, n)
        sums[start : start + k] = weights @ terms
    return sums


def distinct_rows(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return np.unique(terms, axis=0, return_counts=True), faster on wide matrices.

    np.unique sorts whole rows, which is slow for hundreds of columns. Rows are grouped by a
    fixed random projection instead, the grouping is checked exactly, and the distinct rows
    are put in np.unique's (lexicographic) order, so the result is the same.
    """
    if terms.shape[1] < 8 or len(terms) == 0:
        return np.unique(terms, axis=0, return_counts=True)
    weights = np.random.default_rng(20240613).standard_normal(terms.shape[1])
    _, first, inverse, counts = np.unique(
        terms @ weights, return_index=True, return_inverse=True, return_counts=True
    )
    rows = terms[first]
    if not np.array_equal(rows[inverse.reshape(-1)], terms):  # a collision: go the slow way
        return np.unique(terms, axis=0, return_counts=True)
    order = np.lexsort(rows.T[::-1])
    return rows[order], counts[order]


def percentile_interval(values: np.ndarray) -> tuple[float | None, float | None]:
    """Return the 2.5th and 97.5th percentiles of the finite values (Efron & Tibshirani 1993)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_ci(
    stat_fn: Callable[..., Stat | float],
    units: Any,
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    clusters: npt.ArrayLike | None = None,
    **kwargs: Any,
) -> Stat:
    """Return stat_fn(units, **kwargs) with a 95% percentile bootstrap interval over items.

    Items are what is resampled. For the registered statistics that is done on per-item
    sufficient statistics (rows of a count matrix, columns of Krippendorff reliability data,
    elements of a list of rankings) without a Python loop. Any other ``stat_fn`` is called once
    per resample on ``units[idx]`` (rows of an array, or elements of a sequence). Resamples on
    which the statistic is undefined are left out of the percentiles.

    ``clusters`` names the cluster of every unit (e.g. the item of each (item, response) unit):
    whole clusters are then resampled, so that units which share an item move together
    (the cluster bootstrap of Davison & Hinkley 1997, section 3.8).
    """
    point = stat_fn(units, **kwargs)
    if not isinstance(point, Stat):
        value = float(point)
        point = Stat(value, n=len(units)) if math.isfinite(value) else no_value("undefined")
    if point.value is None or n_boot < 1:
        return point
    rng = np.random.default_rng(seed)
    groups = None if clusters is None else _cluster_groups(clusters)
    item_sums = _ITEM_SUMS.get(stat_fn)
    if item_sums is not None:
        sums = item_sums(units, **kwargs)
        terms = sums.terms if groups is None else _sum_groups(sums.terms, groups)
        values = sums.finish(resample_sums(terms, n_boot, rng))
    else:
        values = _loop_resamples(stat_fn, units, n_boot, rng, kwargs, groups)
    low, high = percentile_interval(values)
    return replace(point, low=low, high=high)


def bootstrap_variants(
    stat_fn: Callable[..., Stat | float],
    units: Any,
    variants: Sequence[dict[str, Any]],
    *,
    n_boot: int = 1000,
    seed: int | None = 0,
    clusters: npt.ArrayLike | None = None,
) -> list[Stat]:
    """Return bootstrap_ci(stat_fn, units, **variant, ...) for every variant, drawing the
    resamples once for variants whose per-item terms are the same (e.g. Krippendorff's alpha
    at the ordinal and interval levels, whose coincidence matrices differ only in how they
    are finished). Each result equals its own bootstrap_ci call with the same seed.
    """
    item_sums = _ITEM_SUMS.get(stat_fn)
    if item_sums is None or n_boot < 1:
        return [
            bootstrap_ci(stat_fn, units, n_boot=n_boot, seed=seed, clusters=clusters, **v)
            for v in variants
        ]
    groups = None if clusters is None else _cluster_groups(clusters)
    drawn: list[tuple[np.ndarray, np.ndarray]] = []  # (per-unit terms, their resampled sums)
    out = []
    for variant in variants:
        point = stat_fn(units, **variant)
        if point.value is None:
            out.append(point)
            continue
        sums = item_sums(units, **variant)
        resampled = next(
            (r for t, r in drawn if t is sums.terms or np.array_equal(t, sums.terms)), None
        )
        if resampled is None:
            terms = sums.terms if groups is None else _sum_groups(sums.terms, groups)
            resampled = resample_sums(terms, n_boot, np.random.default_rng(seed))
            drawn.append((sums.terms, resampled))
        low, high = percentile_interval(sums.finish(resampled))
        out.append(replace(point, low=low, high=high))
    return out


def register_item_sums(stat_fn: Callable[..., Any], item_sums: Callable[..., ItemSums]) -> None:
    """Let bootstrap_ci resample stat_fn through its per-item terms instead of recomputing it."""
    _ITEM_SUMS[stat_fn] = item_sums


_ITEM_SUMS: dict[Callable[..., Any], Callable[..., ItemSums]] = {}


class _Clusters(NamedTuple):
    order: np.ndarray  # unit positions sorted by cluster
    starts: np.ndarray  # where each cluster begins in ``order``

    def members(self) -> list[np.ndarray]:
        return np.split(self.order, self.starts[1:])


def _cluster_groups(clusters: npt.ArrayLike) -> _Clusters | None:
    """Group unit positions by cluster; None when every unit is its own cluster."""
    _, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    inverse = inverse.reshape(-1)
    if inverse.max(initial=-1) + 1 == len(inverse):
        return None
    order = np.argsort(inverse, kind="stable")
    starts = np.flatnonzero(np.diff(inverse[order], prepend=-1))
    return _Clusters(order, starts)


def _sum_groups(terms: np.ndarray, groups: _Clusters) -> np.ndarray:
    if len(terms) != len(groups.order):
        raise ValueError("clusters must name the cluster of every unit")
    return np.add.reduceat(terms[groups.order], groups.starts, axis=0)


def _loop_resamples(
    stat_fn: Callable[..., Stat | float],
    units: Any,
    n_boot: int,
    rng: np.random.Generator,
    kwargs: dict[str, Any],
    groups: _Clusters | None,
) -> np.ndarray:
    members = groups.members() if groups is not None else None
    n = len(units) if members is None else len(members)
    values = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        if members is not None:
            idx = np.concatenate([members[k] for k in idx])
        sample = units[idx] if isinstance(units, np.ndarray) else [units[i] for i in idx]
        result = stat_fn(sample, **kwargs)
        value = result.value if isinstance(result, Stat) else result
        values[b] = np.nan if value is None else value
    return values


def mean_sums(values: np.ndarray) -> ItemSums:
    """Return per-item terms of the mean of the finite values (NaN items are left out)."""
    defined = np.isfinite(values)
    return ItemSums(np.column_stack([np.where(defined, values, 0.0), defined]), ratio)


def ratio(sums: np.ndarray) -> np.ndarray:
    """Finish summed terms (numerator, denominator) into their ratio, NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[..., 0] / sums[..., 1]
