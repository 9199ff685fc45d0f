"""Inter-rater agreement for preference data: arrays and lists in, :class:`Stat` out.

Nothing here raises or returns NaN on degenerate data (one rater, no overlap, no variance,
nothing at all): the value is ``None`` and ``reason`` says why. Bad *shapes* are caller bugs
and raise ``ValueError``.

Each item-level statistic is a function of sums over items of per-item terms. Resampling items
for a bootstrap is then resampling rows of a terms matrix, which :func:`resample_sums` does in
one matrix product instead of a Python loop over items.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal, NamedTuple

import krippendorff
import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

Level = Literal["nominal", "ordinal", "interval", "ratio"]
Triple = tuple[Hashable, Hashable, Any]  # (item, rater, label); a None/NaN label is skipped

NO_PAIRS = "not enough data: no item has 2 or more ratings"
ONE_VALUE = "no variance: every rating is the same"
FEW_SHARED = "not enough data: fewer than 2 shared items"


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


class _ItemSums(NamedTuple):
    terms: np.ndarray  # (items, m): each item's additive contribution
    finish: Callable[[np.ndarray], np.ndarray]  # (..., m) summed terms -> (...), NaN if undefined


# --- resampling --------------------------------------------------------------------------------


def resample_sums(terms: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Return n_boot column sums of terms, each over len(terms) rows drawn with replacement."""
    n = len(terms)
    if n == 0:
        return np.zeros((n_boot, terms.shape[1]))
    rows, counts = np.unique(terms, axis=0, return_counts=True)
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
    **kwargs: Any,
) -> Stat:
    """Return stat_fn(units, **kwargs) with a 95% percentile bootstrap interval over items.

    Items are what is resampled. For this module's statistics that is done on per-item
    sufficient statistics (rows of a count matrix, columns of Krippendorff reliability data,
    elements of a list of rankings) without a Python loop. Any other ``stat_fn`` is called once
    per resample on ``units[idx]`` (rows of an array, or elements of a sequence). Resamples on
    which the statistic is undefined are left out of the percentiles.
    """
    point = stat_fn(units, **kwargs)
    if not isinstance(point, Stat):
        value = float(point)
        point = Stat(value, n=len(units)) if math.isfinite(value) else no_value("undefined")
    if point.value is None or n_boot < 1:
        return point
    rng = np.random.default_rng(seed)
    item_sums = _ITEM_SUMS.get(stat_fn)
    if item_sums is not None:
        sums = item_sums(units, **kwargs)
        values = sums.finish(resample_sums(sums.terms, n_boot, rng))
    else:
        values = _loop_resamples(stat_fn, units, n_boot, rng, kwargs)
    low, high = percentile_interval(values)
    return replace(point, low=low, high=high)


def _loop_resamples(
    stat_fn: Callable[..., Stat | float],
    units: Any,
    n_boot: int,
    rng: np.random.Generator,
    kwargs: dict[str, Any],
) -> np.ndarray:
    n = len(units)
    values = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        sample = units[idx] if isinstance(units, np.ndarray) else [units[i] for i in idx]
        result = stat_fn(sample, **kwargs)
        value = result.value if isinstance(result, Stat) else result
        values[b] = np.nan if value is None else value
    return values


def _mean_sums(values: np.ndarray) -> _ItemSums:
    defined = np.isfinite(values)
    return _ItemSums(np.column_stack([np.where(defined, values, 0.0), defined]), _ratio)


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[..., 0] / sums[..., 1]


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


def label_counts(codes: Codes) -> np.ndarray:
    """Return the items × labels matrix of how many raters gave each label to each item."""
    shape = (len(codes.items), len(codes.labels))
    flat = np.bincount(codes.item * shape[1] + codes.label, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


def reliability_data(codes: Codes) -> np.ndarray:
    """Return the raters × items matrix of numeric labels, NaN where a rater gave none."""
    data = np.full((len(codes.raters), len(codes.items)), np.nan)
    data[codes.rater, codes.item] = np.asarray(codes.labels, dtype=float)[codes.label]
    return data


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


def _percent_sums(counts: npt.ArrayLike) -> _ItemSums:
    share, usable = _pair_agreement(_count_matrix(counts))
    return _ItemSums(np.column_stack([share, usable]), _ratio)


def _fleiss_sums(counts: npt.ArrayLike) -> _ItemSums:
    c = _count_matrix(counts)
    share, usable = _pair_agreement(c)
    return _ItemSums(np.column_stack([share, usable, c * usable[:, None]]), _fleiss_finish)


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
    codes = code_triples(triples)
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


# --- Krippendorff's alpha ----------------------------------------------------------------------


def krippendorff_alpha(reliability_data: npt.ArrayLike, level: Level = "nominal") -> Stat:
    """Return Krippendorff's alpha for raters × items data, NaN = missing (Krippendorff 2011).

    The value comes from the ``krippendorff`` package; bootstrap_ci resamples items through
    the per-item coincidence matrices instead. n counts items with 2 or more ratings.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"unknown level of measurement: {level!r}")
    counts, domain = _value_counts(reliability_data)
    pairable = counts.sum(1) >= 2
    n = int(pairable.sum())
    if n == 0:
        return no_value(NO_PAIRS)
    if np.count_nonzero(counts[pairable].sum(0)) < 2:
        return no_value(ONE_VALUE, n)
    with np.errstate(all="ignore"):
        value = float(
            krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
        )
    if not math.isfinite(value):  # e.g. ratio distances that are all zero
        return no_value("no variance: every distance between ratings is zero", n)
    return Stat(value, n=n)


def _value_counts(reliability_data: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(reliability_data, dtype=float)
    if data.size == 0:
        return np.zeros((0, 0), dtype=np.int64), np.zeros(0)
    if data.ndim != 2:
        raise ValueError("reliability data must be a 2-D raters × items matrix")
    observed = np.isfinite(data)
    domain = np.unique(data[observed])
    _, item = np.nonzero(observed)
    cells = item * len(domain) + np.searchsorted(domain, data[observed])
    counts = np.bincount(cells, minlength=data.shape[1] * len(domain))
    return counts.reshape(data.shape[1], len(domain)), domain


def _kripp_sums(reliability_data: npt.ArrayLike, level: Level = "nominal") -> _ItemSums:
    counts, domain = _value_counts(reliability_data)
    values = len(domain)
    n_u = counts.sum(1)[:, None, None].astype(float)
    pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(values)
    # Krippendorff (2011) eq. for o_ck: each item adds its pairable value pairs / (m_u - 1).
    coincidences = np.divide(pairs, n_u - 1, out=np.zeros(pairs.shape), where=n_u >= 2)
    finish = partial(_alpha_from_coincidences, domain=domain, level=level)
    return _ItemSums(coincidences.reshape(len(counts), values * values), finish)


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


# --- rank concordance --------------------------------------------------------------------------


def kendall_w(ranks: npt.ArrayLike) -> Stat:
    """Return Kendall's W, tie-corrected, for one item's raters × objects ranks (Kendall 1948).

    W = 12 S / (m²(n³ - n) - m Σ(t³ - t)). Raw scores work too (they are ranked per rater,
    ties sharing the mean rank); rows with NaN are dropped. n counts the raters used.
    """
    x = _complete_rows(ranks)
    reason = _too_small(x)
    if reason:
        return no_value(reason, len(x))
    w = _w_batch(x[None])[0]
    if not math.isfinite(w):
        return no_value("no variance: every rater tied every object", len(x))
    return Stat(float(w), n=len(x))


def kendall_w_overall(items: Sequence[npt.ArrayLike]) -> Stat:
    """Return the mean over items of per-item Kendall's W, skipping items where it is undefined.

    A mean, not a pooled W: items have different raters and objects, so one pooled rank
    matrix would compare unrelated objects. n counts the items with a defined W.
    """
    return _mean_stat(_w_overall_sums(items), "not enough data: W is undefined on every item")


def mean_kendall_tau(ranks: npt.ArrayLike) -> Stat:
    """Return the mean Kendall tau-b over pairs of raters for one item's raters × objects ranks.

    Tau-b = (concordant - discordant) / sqrt(untied pairs of a × untied pairs of b) (Kendall
    1945), the definition scipy.stats.kendalltau uses; computed vectorised because calling
    scipy per rater pair is ~100 µs. Pairs where a rater tied everything are skipped. n counts
    the rater pairs averaged.
    """
    x = _complete_rows(ranks)
    reason = _too_small(x)
    if reason:
        return no_value(reason, 0)
    mean, pairs = _tau_batch(x[None])
    if pairs[0] == 0:
        return no_value("no variance: every rater pair has a rater who tied everything", 0)
    return Stat(float(mean[0]), n=int(pairs[0]))


def mean_kendall_tau_overall(items: Sequence[npt.ArrayLike]) -> Stat:
    """Return the mean over items of the per-item mean Kendall tau-b between raters."""
    return _mean_stat(_tau_overall_sums(items), "not enough data: tau is undefined on every item")


def _complete_rows(ranks: npt.ArrayLike) -> np.ndarray:
    x = np.asarray(ranks, dtype=float)
    if x.size == 0:
        return np.zeros((0, 0))
    if x.ndim != 2:
        raise ValueError("ranks must be a 2-D raters × objects matrix")
    return x[np.isfinite(x).all(1)]


def _too_small(x: np.ndarray) -> str | None:
    if x.shape[0] < 2:
        return "not enough data: fewer than 2 complete rankings"
    if x.shape[1] < 2:
        return "not enough data: fewer than 2 objects ranked"
    return None


def _w_batch(x: np.ndarray) -> np.ndarray:
    """Return tie-corrected W for a stack of same-shaped (items, raters, objects) rankings."""
    m, n = x.shape[1], x.shape[2]
    rank_sums = rankdata(x, axis=-1).sum(1)
    s = ((rank_sums - rank_sums.mean(-1, keepdims=True)) ** 2).sum(-1)
    # Each value tied t ways contributes t² - 1 per copy, i.e. t³ - t per tie group.
    tied = (x[..., :, None] == x[..., None, :]).sum(-1)
    ties = (tied**2 - 1).sum((-2, -1))
    denominator = m * m * (n**3 - n) - m * ties
    return np.divide(12 * s, denominator, out=np.full(len(x), np.nan), where=denominator > 0)


def _tau_batch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean tau-b over rater pairs, and how many pairs, for each stacked item."""
    i, j = np.triu_indices(x.shape[2], 1)
    signs = np.sign(x[..., i] - x[..., j])  # (items, raters, object pairs)
    cross = signs @ signs.swapaxes(-1, -2)  # concordant - discordant, per rater pair
    untied = np.diagonal(cross, axis1=-2, axis2=-1)  # object pairs each rater did not tie
    a, b = np.triu_indices(x.shape[1], 1)
    scale = np.sqrt(untied[..., a] * untied[..., b])
    defined = scale > 0
    tau = np.divide(cross[..., a, b], scale, out=np.zeros(scale.shape), where=defined)
    pairs = defined.sum(-1)
    mean = np.divide(tau.sum(-1), pairs, out=np.full(len(x), np.nan), where=pairs > 0)
    return mean, pairs


def _per_item(
    items: Sequence[npt.ArrayLike], batch: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    rows = [_complete_rows(r) for r in items]
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for k, x in enumerate(rows):
        by_shape[x.shape].append(k)
    values = np.full(len(rows), np.nan)
    for (m, n), idx in by_shape.items():
        if m >= 2 and n >= 2:  # stack same-shaped items so each shape is one vectorised call
            values[idx] = batch(np.stack([rows[k] for k in idx]))
    return values


def _w_overall_sums(items: Sequence[npt.ArrayLike]) -> _ItemSums:
    return _mean_sums(_per_item(items, _w_batch))


def _tau_overall_sums(items: Sequence[npt.ArrayLike]) -> _ItemSums:
    return _mean_sums(_per_item(items, lambda x: _tau_batch(x)[0]))


def _mean_stat(sums: _ItemSums, reason: str) -> Stat:
    n = int(sums.terms[:, 1].sum())
    if n == 0:
        return no_value(reason)
    return Stat(float(sums.finish(sums.terms.sum(0))), n=n)


# The statistics whose bootstrap resamples per-item terms instead of calling them per resample.
_ITEM_SUMS: dict[Callable[..., Any], Callable[..., _ItemSums]] = {
    percent_agreement: _percent_sums,
    fleiss_kappa: _fleiss_sums,
    krippendorff_alpha: _kripp_sums,
    kendall_w_overall: _w_overall_sums,
    mean_kendall_tau_overall: _tau_overall_sums,
}
