"""Rank concordance between raters: Kendall's W and mean Kendall tau-b, per item and overall.

Rankings are raters × objects arrays (ranks or raw scores; ties share the mean rank). Nothing
here raises or returns NaN on degenerate data: the value is ``None`` and ``reason`` says why.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from service.stats.resampling import ItemSums, Stat, mean_sums, no_value, register_item_sums


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


def kendall_w_per_item(items: Sequence[npt.ArrayLike]) -> np.ndarray:
    """Return Kendall's W of every item at once, NaN where it is undefined (as kendall_w)."""
    return _per_item(items, _w_batch)


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
    # Imported here: scipy.stats takes longer to import than most commands take to run.
    from scipy.stats import rankdata

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


def _w_overall_sums(items: Sequence[npt.ArrayLike]) -> ItemSums:
    return mean_sums(_per_item(items, _w_batch))


def _tau_overall_sums(items: Sequence[npt.ArrayLike]) -> ItemSums:
    return mean_sums(_per_item(items, lambda x: _tau_batch(x)[0]))


def _mean_stat(sums: ItemSums, reason: str) -> Stat:
    n = int(sums.terms[:, 1].sum())
    if n == 0:
        return no_value(reason)
    return Stat(float(sums.finish(sums.terms.sum(0))), n=n)


register_item_sums(kendall_w_overall, _w_overall_sums)
register_item_sums(mean_kendall_tau_overall, _tau_overall_sums)
