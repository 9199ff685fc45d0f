"""Krippendorff's alpha: reliability data, value counts and coincidences (Krippendorff 2011).

Alpha depends only on how many times each item received each value, so the statistic is
computed from an items × values count matrix. :func:`krippendorff_alpha` takes raters × items
reliability data as the literature writes it; :func:`krippendorff_alpha_of_counts` takes the
counts straight from coded judgments, which is what the dashboards use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Literal

import krippendorff
import numpy as np
import numpy.typing as npt

from service.stats.coding import Codes
from service.stats.resampling import ItemSums, Stat, no_value, register_item_sums

Level = Literal["nominal", "ordinal", "interval", "ratio"]

NO_PAIRS = "not enough data: no item has 2 or more ratings"
ONE_VALUE = "no variance: every rating is the same"


@dataclass(frozen=True)
class ValueCounts:
    """How many ratings of each value every item received (items × values), and the values."""

    counts: np.ndarray  # int, items × values
    domain: np.ndarray  # float, the values in increasing order

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def coincidences(self) -> np.ndarray:
        """Each item's coincidences of values (items × values²), the same at every level."""
        values = len(self.domain)
        counts = self.counts
        n_u = counts.sum(1)[:, None, None].astype(float)
        pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(values)
        # Krippendorff (2011) eq. for o_ck: each item adds its pairable value pairs / (m_u - 1).
        per_item = np.divide(pairs, n_u - 1, out=np.zeros(pairs.shape), where=n_u >= 2)
        return per_item.reshape(len(counts), values * values)


def value_counts(codes: Codes) -> ValueCounts:
    """Return the value counts of coded judgments (numeric labels)."""
    shape = (len(codes.items), len(codes.labels))
    flat = np.bincount(codes.item * shape[1] + codes.label, minlength=shape[0] * shape[1])
    return ValueCounts(flat.reshape(shape), np.asarray(codes.labels, dtype=float))


def reliability_data(codes: Codes) -> np.ndarray:
    """Return the raters × items matrix of numeric labels, NaN where a rater gave none."""
    data = np.full((len(codes.raters), len(codes.items)), np.nan)
    data[codes.rater, codes.item] = np.asarray(codes.labels, dtype=float)[codes.label]
    return data


def stacked_reliability_data(codes: Codes) -> np.ndarray:
    """Return a slots × items matrix of numeric labels: each item's labels stacked from row 0.

    Krippendorff's alpha depends only on the values each item received, not on who gave them,
    so this holds what reliability_data holds in (most labels per item) rows instead of one
    row per rater, which keeps large projects' matrices small.
    """
    if codes.item.size == 0:
        return np.full((0, len(codes.items)), np.nan)
    order = np.argsort(codes.item, kind="stable")
    item = codes.item[order]
    starts = np.flatnonzero(np.diff(item, prepend=-1))
    slot = np.arange(len(item)) - np.repeat(starts, np.diff(np.append(starts, len(item))))
    data = np.full((int(slot.max()) + 1, len(codes.items)), np.nan)
    data[slot, item] = np.asarray(codes.labels, dtype=float)[codes.label[order]]
    return data


def krippendorff_alpha(reliability_data: npt.ArrayLike, level: Level = "nominal") -> Stat:
    """Return Krippendorff's alpha for raters × items data, NaN = missing (Krippendorff 2011).

    The value comes from the ``krippendorff`` package; bootstrap_ci resamples items through
    the per-item coincidence matrices instead. n counts items with 2 or more ratings.
    """
    _check_level(level)
    return krippendorff_alpha_of_counts(_value_counts(reliability_data), level)


def krippendorff_alpha_of_counts(counts: ValueCounts, level: Level = "nominal") -> Stat:
    """Return krippendorff_alpha for the data these value counts summarise."""
    _check_level(level)
    pairable = counts.counts.sum(1) >= 2
    n = int(pairable.sum())
    if n == 0:
        return no_value(NO_PAIRS)
    if np.count_nonzero(counts.counts[pairable].sum(0)) < 2:
        return no_value(ONE_VALUE, n)
    with np.errstate(all="ignore"):
        value = float(
            krippendorff.alpha(
                value_counts=counts.counts, value_domain=counts.domain, level_of_measurement=level
            )
        )
    if not math.isfinite(value):  # e.g. ratio distances that are all zero
        return no_value("no variance: every distance between ratings is zero", n)
    return Stat(value, n=n)


def _check_level(level: str) -> None:
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"unknown level of measurement: {level!r}")


def _value_counts(reliability_data: npt.ArrayLike) -> ValueCounts:
    data = np.asarray(reliability_data, dtype=float)
    if data.size == 0:
        return ValueCounts(np.zeros((0, 0), dtype=np.int64), np.zeros(0))
    if data.ndim != 2:
        raise ValueError("reliability data must be a 2-D raters × items matrix")
    observed = np.isfinite(data)
    domain = np.unique(data[observed])
    _, item = np.nonzero(observed)
    cells = item * len(domain) + np.searchsorted(domain, data[observed])
    counts = np.bincount(cells, minlength=data.shape[1] * len(domain))
    return ValueCounts(counts.reshape(data.shape[1], len(domain)), domain)


def _kripp_sums(reliability_data: npt.ArrayLike, level: Level = "nominal") -> ItemSums:
    return _counts_sums(_value_counts(reliability_data), level)


def _counts_sums(counts: ValueCounts, level: Level = "nominal") -> ItemSums:
    finish = partial(_alpha_from_coincidences, domain=counts.domain, level=level)
    return ItemSums(counts.coincidences, finish)


def _alpha_from_coincidences(sums: np.ndarray, domain: np.ndarray, level: Level) -> np.ndarray:
    size = len(domain)
    o = sums.reshape(*sums.shape[:-1], size, size)
    n_c = o.sum(-1)
    n = n_c.sum(-1)
    d = np.broadcast_to(_distances(level, domain, n_c), o.shape)
    observed = (o * d).sum((-2, -1))
    expected = np.einsum("...c,...ck,...k->...", n_c, d, n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - (n - 1) * observed / expected


def _distances(level: Level, domain: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    """Return Krippendorff's (2011) squared distance between every two values."""
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    diff = np.subtract.outer(domain, domain)
    if level == "interval":
        return diff**2
    if level == "ratio":
        total = np.add.outer(domain, domain)
        return np.divide(diff, total, out=np.zeros_like(diff), where=total != 0) ** 2
    # Ordinal distance depends on the marginals n_c, so it differs between resamples.
    idx = np.arange(len(domain))
    lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
    cum = np.cumsum(n_c, axis=-1)
    between = cum[..., hi] - cum[..., lo] + n_c[..., lo]
    return (between - (n_c[..., :, None] + n_c[..., None, :]) / 2) ** 2


register_item_sums(krippendorff_alpha, _kripp_sums)
register_item_sums(krippendorff_alpha_of_counts, _counts_sums)
