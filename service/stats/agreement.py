"""Inter-rater agreement for preference data: arrays and lists in, :class:`Stat` out.

Nothing here raises or returns NaN on degenerate data (one rater, no overlap, no variance,
nothing at all): the value is ``None`` and ``reason`` says why. Bad *shapes* are caller bugs
and raise ``ValueError``. The bootstrap lives in :mod:`service.stats.resampling`, rank concordance in
:mod:`service.stats.concordance` and Krippendorff's alpha in :mod:`service.stats.reliability`; all are
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

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

Triple = tuple[Hashable, Hashable, Any]  # (item, rater, label); a None/NaN label is skipped

FEW_SHARED = "not enough data: fewer than 2 shared items"


# --- judgments as codes ------------------------------------------------------------------------


class Codes(NamedTuple):
    """Judgment triples as integer codes into the (sorted) items, raters and labels."""

    items: list[Hashable]
    raters: list[Hashable]
    labels: list[Any]
    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray


def code_triples(triples: Iterable[Triple]) -> Codes:
    """Index (item, rater, label) triples, keeping a rater's last label on an item."""
    latest: dict[tuple[Hashable, Hashable], Any] = {}
    for item, rater, label in triples:
        if not _is_missing(label):
            latest[(item, rater)] = label
    items = _ordered(item for item, _ in latest)
    raters = _ordered(rater for _, rater in latest)
    labels = _ordered(latest.values())
    codes = [_index(items), _index(raters), _index(labels)]
    rows = [(codes[0][i], codes[1][r], codes[2][v]) for (i, r), v in latest.items()]
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return Codes(items, raters, labels, arr[:, 0], arr[:, 1], arr[:, 2])


def code_arrays(items: npt.ArrayLike, raters: npt.ArrayLike, labels: npt.ArrayLike) -> Codes:
    """Index parallel (item, rater, label) arrays like code_triples, without a Python loop.

    Labels must be numbers; NaN labels are skipped and a rater's last label on an item is kept.
    Items and raters may be any sortable NumPy values (e.g. integer ids).
    """
    item, rater = np.asarray(items), np.asarray(raters)
    label = np.asarray(labels, dtype=float)
    if not item.shape == rater.shape == label.shape or item.ndim != 1:
        raise ValueError("items, raters and labels must be 1-D arrays of one length")
    keep = np.isfinite(label)
    item, rater, label = item[keep], rater[keep], label[keep]
    item_values, item_code = np.unique(item, return_inverse=True)
    rater_values, rater_code = np.unique(rater, return_inverse=True)
    # The last of each (item, rater) pair wins, as in code_triples.
    pair = item_code.astype(np.int64) * max(len(rater_values), 1) + rater_code
    _, last_from_end = np.unique(pair[::-1], return_index=True)
    last = np.sort(len(pair) - 1 - last_from_end)
    item_code, rater_code, label = item_code[last], rater_code[last], label[last]
    label_values, label_code = np.unique(label, return_inverse=True)
    return Codes(
        item_values.tolist(),
        rater_values.tolist(),
        label_values.tolist(),
        item_code.astype(np.int64),
        rater_code.astype(np.int64),
        label_code.astype(np.int64),
    )


def label_counts(codes: Codes) -> np.ndarray:
    """Return the items × labels matrix of how many raters gave each label to each item."""
    shape = (len(codes.items), len(codes.labels))
    flat = np.bincount(codes.item * shape[1] + codes.label, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ordered(values: Iterable[Any]) -> list[Any]:
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique)
    except TypeError:  # mixed types: keep first-seen order
        return unique


def _index(values: list[Any]) -> dict[Any, int]:
    return {v: i for i, v in enumerate(values)}


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
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (_is_missing(x) or _is_missing(y))]
    index = _index(list(dict.fromkeys(label for pair in pairs for label in pair)))
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
