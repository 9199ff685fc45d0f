"""Inter-rater agreement for preference data: arrays and lists in, :class:`Stat` out.

Nothing here raises or returns NaN on degenerate data (one rater, no overlap, no variance,
nothing at all): the value is ``None`` and ``reason`` says why. Bad *shapes* are caller bugs
and raise ``ValueError``. The bootstrap lives in :mod:`service.stats.resampling`, rank concordance in
:mod:`service.stats.concordance` and Krippendorff's alpha in :mod:`service.stats.reliability`; all are
re-exported here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from service.stats.coding import (
    Codes,
    Triple,
    code_arrays,
    code_triples,
    index_of,
    is_missing,
    label_counts,
)
from service.stats.concordance import (
    kendall_w,
    kendall_w_overall,
    kendall_w_per_item,
    mean_kendall_tau,
    mean_kendall_tau_overall,
)
from service.stats.reliability import (
    NO_PAIRS,
    ONE_VALUE,
    Level,
    ValueCounts,
    krippendorff_alpha,
    krippendorff_alpha_of_counts,
    reliability_data,
    stacked_reliability_data,
    value_counts,
)
from service.stats.resampling import (
    ItemSums,
    Stat,
    bootstrap_ci,
    no_value,
    percentile_interval,
    ratio,
    register_item_sums,
    resample_sums,
)

__all__ = [
    "Codes",
    "Stat",
    "bootstrap_ci",
    "code_arrays",
    "code_triples",
    "cohen_kappa",
    "cohen_kappa_matrix",
    "cohen_kappa_matrix_from_codes",
    "fleiss_kappa",
    "item_agreement",
    "kendall_w",
    "kendall_w_overall",
    "kendall_w_per_item",
    "krippendorff_alpha",
    "krippendorff_alpha_of_counts",
    "label_counts",
    "mean_kendall_tau",
    "mean_kendall_tau_overall",
    "no_value",
    "percent_agreement",
    "percentile_interval",
    "reliability_data",
    "resample_sums",
    "stacked_reliability_data",
    "value_counts",
    "Level",
    "ValueCounts",
]

FEW_SHARED = "not enough data: fewer than 2 shared items"


# --- categorical agreement ---------------------------------------------------------------------


def percent_agreement(counts: npt.ArrayLike) -> Stat:
    """Return the mean over items of the share of agreeing rater pairs (Fleiss 1971, P-bar).

    ``counts`` is items × categories; n counts items with 2 or more ratings.
    """
    sums = _percent_sums(counts)
    n = int(sums.terms[:, 1].sum())
    if n == 0:
        return no_value(NO_PAIRS)
    return Stat(float(sums.finish(sums.terms.sum(0))), n=n)


def fleiss_kappa(counts: npt.ArrayLike) -> Stat:
    """Return Fleiss' kappa for an items × categories count matrix (Fleiss 1971).

    With unequal raters per item, P-bar is the unweighted mean of per-item agreement and the
    category shares pool all ratings; with equal raters this is exactly Fleiss (1971). Items
    with fewer than 2 ratings are left out; n counts the items used.
    """
    sums = _fleiss_sums(counts)
    n = int(sums.terms[:, 1].sum())
    if n == 0:
        return no_value(NO_PAIRS)
    if np.count_nonzero(sums.terms[:, 2:].sum(0)) < 2:
        return no_value(ONE_VALUE, n)
    return Stat(float(sums.finish(sums.terms.sum(0))), n=n)


def item_agreement(counts: npt.ArrayLike) -> np.ndarray:
    """Return each item's share of agreeing rater pairs (Fleiss 1971, P_i); NaN below 2 ratings."""
    share, usable = _pair_agreement(_count_matrix(counts))
    return np.where(usable, share, np.nan)


def _count_matrix(counts: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(counts, dtype=float)
    if arr.size == 0:
        return np.zeros((0, 0))
    if arr.ndim != 2:
        raise ValueError("counts must be a 2-D items × categories matrix")
    return arr


def _pair_agreement(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = counts.sum(1)
    usable = n >= 2
    agreeing = (counts * (counts - 1)).sum(1)
    share = np.divide(agreeing, n * (n - 1), out=np.zeros_like(n), where=usable)
    return share, usable


def _percent_sums(counts: npt.ArrayLike) -> ItemSums:
    share, usable = _pair_agreement(_count_matrix(counts))
    return ItemSums(np.column_stack([share, usable]), ratio)


def _fleiss_sums(counts: npt.ArrayLike) -> ItemSums:
    c = _count_matrix(counts)
    share, usable = _pair_agreement(c)
    return ItemSums(np.column_stack([share, usable, c * usable[:, None]]), _fleiss_finish)


def _fleiss_finish(sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = sums[..., 0] / sums[..., 1]
        shares = sums[..., 2:] / sums[..., 2:].sum(-1, keepdims=True)
        p_e = (shares**2).sum(-1)
        return (p_bar - p_e) / (1 - p_e)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> Stat:
    """Return Cohen's kappa for two raters' labels on the same items (Cohen 1960).

    ``a[i]`` and ``b[i]`` label item i; items where either is None/NaN are skipped. n counts
    the items both labelled.
    """
    if len(a) != len(b):
        raise ValueError("a and b must label the same items")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (is_missing(x) or is_missing(y))]
    index = index_of(list(dict.fromkeys(label for pair in pairs for label in pair)))
    table = np.zeros((1, len(index), len(index)))
    for x, y in pairs:
        table[0, index[x], index[y]] += 1
    return _kappas(table)[0]


def cohen_kappa_matrix(triples: Iterable[Triple]) -> dict[Hashable, dict[Hashable, Stat]]:
    """Return Cohen's kappa (Cohen 1960) for every pair of raters over the items both labelled.

    ``result[a][b] is result[b][a]``; the diagonal is left out. Pairs sharing fewer than 2
    items, or where both raters used one and the same label, have no value.
    """
    return cohen_kappa_matrix_from_codes(code_triples(triples))


def cohen_kappa_matrix_from_codes(codes: Codes) -> dict[Hashable, dict[Hashable, Stat]]:
    """Return cohen_kappa_matrix for judgments already coded (e.g. by code_arrays)."""
    n_labels = len(codes.labels)
    order = np.lexsort((codes.rater, codes.item))
    item, rater, label = codes.item[order], codes.rater[order], codes.label[order]
    # Sorted by item then rater, every pair of judgments on one item lies within one run, and
    # pairing each position with the one `gap` further on visits each pair exactly once.
    longest = int(np.bincount(item).max()) if item.size else 0
    firsts, seconds = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for gap in range(1, longest):
        starts = np.flatnonzero(item[:-gap] == item[gap:])
        firsts.append(starts)
        seconds.append(starts + gap)
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    n_raters = len(codes.raters)
    pair_ids, pair_of = np.unique(rater[first] * n_raters + rater[second], return_inverse=True)
    cells = (pair_of * n_labels + label[first]) * n_labels + label[second]
    tables = np.bincount(cells, minlength=len(pair_ids) * n_labels**2)
    tables = tables.reshape(len(pair_ids), n_labels, n_labels)
    missing = no_value(FEW_SHARED)
    matrix = {a: {b: missing for b in codes.raters if b != a} for a in codes.raters}
    for pair_id, stat in zip(pair_ids, _kappas(tables), strict=True):
        a, b = codes.raters[pair_id // n_raters], codes.raters[pair_id % n_raters]
        matrix[a][b] = matrix[b][a] = stat
    return matrix


def _kappas(tables: np.ndarray) -> list[Stat]:
    n = tables.sum((1, 2))
    agree = np.trace(tables, axis1=1, axis2=2)
    chance = (tables.sum(2) * tables.sum(1)).sum(1)  # n² × p_e, exact in counts
    stats = []
    for total, a, c in zip(n, agree, chance, strict=True):
        if total < 2:
            stats.append(no_value(FEW_SHARED, int(total)))
        elif c == total * total:
            stats.append(
                no_value(
                    "no variance: both raters gave the same single label throughout", int(total)
                )
            )
        else:
            stats.append(Stat(float((total * a - c) / (total * total - c)), n=int(total)))
    return stats


register_item_sums(percent_agreement, _percent_sums)
register_item_sums(fleiss_kappa, _fleiss_sums)
