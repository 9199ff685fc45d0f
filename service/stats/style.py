"""Style-controlled model strengths: Bradley–Terry as a logistic regression with style terms.

Human raters reward long answers and markdown (Chatbot Arena, "Does style matter?",
2024), so a plain leaderboard mixes what a model says with how it dresses it. Following
Arena's style control, each comparison of response a with response b is one row of a
logistic regression:

    P(a beats b) = logistic(s_model(a) - s_model(b) + sum_k beta_k * d_k)

where ``d_k = (x_k(a) - x_k(b)) / (x_k(a) + x_k(b))`` (0 when both are 0) is the
normalised difference of style feature k: characters, markdown headers, list items and
bold spans. ``beta_k`` is the change in log-odds when all of feature k sits on one side
(d = 1) rather than being equal; ``s`` are the strengths with style held equal.

Ties and the prior follow :mod:`service.stats.bradley_terry` exactly (a tie is half a
win to each side; every pair of models gets ``PRIOR`` virtual tied games with equal
style), so with no style terms the fit is that module's Bradley–Terry fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from service.stats.bradley_terry import PRIOR, Coded
from service.stats.resampling import percentile_interval

FEATURES = ("length", "headers", "lists", "bold")

_HEADER = re.compile(r"^ {0,3}#{1,6}[ \t]", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")


def style_counts(text: str) -> tuple[int, int, int, int]:
    """Return a response's style features: characters, headers, list items, bold spans."""
    return (
        len(text),
        len(_HEADER.findall(text)),
        len(_LIST_ITEM.findall(text)),
        len(_BOLD.findall(text)),
    )


def style_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the normalised differences (a - b) / (a + b), 0 where both are 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    # Clipped so e^-eta never overflows; beyond |eta| = 700, mu is 0 or 1 to double precision.
    return 1 / (1 + np.exp(-np.clip(eta, -700, 700)))


def logistic_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> np.ndarray:
    """Return the maximum-likelihood coefficients of a weighted logistic regression.

    Newton–Raphson (for the logistic likelihood, the same steps as IRLS); the columns of
    ``x`` must be linearly independent on the rows with weight.
    """
    beta = np.zeros(x.shape[1])
    base = np.zeros(len(y)) if offset is None else offset
    for _ in range(max_iter):
        mu = _sigmoid(base + x @ beta)
        gradient = x.T @ (weights * (y - mu))
        hessian = (x * (weights * mu * (1 - mu))[:, None]).T @ x
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.abs(step).max(initial=0) < tol:
            break
    return beta


def design(
    size: int, coded: Coded, diffs: np.ndarray, prior: float = PRIOR
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the regression's rows (x, y, weights): a win and a loss row per comparison.

    Columns: models 1..size-1 (+1 for a's model, -1 for b's; model 0 is the reference at
    0), then one per style feature. A comparison with score s is a row y=1 of weight s and
    a row y=0 of weight 1-s; the prior adds each pair of models as a virtual tie.
    """
    n, features = len(coded.a), diffs.shape[1]
    models = np.zeros((n, size))
    models[np.arange(n), coded.a] += 1
    models[np.arange(n), coded.b] -= 1
    i, j = np.triu_indices(size, 1)
    virtual = np.zeros((len(i), size))
    virtual[np.arange(len(i)), i] = 1
    virtual[np.arange(len(i)), j] = -1
    rows = np.vstack(
        [
            np.hstack([models[:, 1:], diffs]),
            np.hstack([virtual[:, 1:], np.zeros((len(i), features))]),
        ]
    )
    score = np.concatenate([coded.score, np.full(len(i), 0.5)])
    count = np.concatenate([np.ones(n), np.full(len(i), prior)])
    x = np.vstack([rows, rows])
    y = np.concatenate([np.ones(len(rows)), np.zeros(len(rows))])
    weights = np.concatenate([count * score, count * (1 - score)])
    return x, y, weights


@dataclass(frozen=True)
class StyleFit:
    """Centred model strengths with style held equal, and each style feature's coefficient."""

    strengths: np.ndarray
    coefficients: np.ndarray


def fit_style(
    size: int,
    coded: Coded,
    diffs: np.ndarray,
    *,
    prior: float = PRIOR,
    multiplicity: np.ndarray | None = None,
    start: StyleFit | None = None,
    keep: np.ndarray | None = None,
) -> StyleFit:
    """Fit strengths and style coefficients; ``multiplicity`` repeats comparisons (bootstrap).

    The maximum of the likelihood of :func:`design`'s rows, by Newton's method on the
    model structure: the model block of the Hessian is a weighted graph Laplacian, summed
    with ``bincount`` in O(comparisons), so a fit costs O(comparisons x features) instead
    of the dense O(comparisons x (models + features)^2). ``start`` (a nearby fit, as the
    point estimate is for a bootstrap resample) saves iterations.
    A feature the data cannot separate from the models and the other features (it never
    differs, or moves with them) has no coefficient (NaN); ``keep`` fixes which features
    are fitted (a bootstrap keeps the point fit's). A fit that cannot converge (a feature
    that predicts every outcome) returns NaN throughout.
    """
    a, b = np.asarray(coded.a), np.asarray(coded.b)
    count = np.ones(len(a)) if multiplicity is None else np.asarray(multiplicity, dtype=float)
    varies = _separable(size, a, b, diffs) if keep is None else keep
    d = diffs[:, varies]
    # The prior's virtual ties: every pair of models, equal style.
    i, j = np.triu_indices(size, 1)
    a = np.concatenate([a, i])
    b = np.concatenate([b, j])
    d = np.vstack([d, np.zeros((len(i), d.shape[1]))])
    y = np.concatenate([coded.score, np.full(len(i), 0.5)])
    w = np.concatenate([count, np.full(len(i), prior)])
    s = np.zeros(size)
    beta = np.zeros(d.shape[1])
    if start is not None:
        s = start.strengths - start.strengths[0]
        beta = np.nan_to_num(start.coefficients[varies])
    for _ in range(100):
        mu = _sigmoid(s[a] - s[b] + d @ beta)
        r, v = w * (y - mu), w * mu * (1 - mu)
        grad_s = np.bincount(a, r, size) - np.bincount(b, r, size)
        games = np.bincount(a * size + b, v, size * size).reshape(size, size)
        laplacian = np.diag(np.bincount(a, v, size) + np.bincount(b, v, size)) - games - games.T
        cross = np.zeros((size, d.shape[1]))
        for k, col in enumerate(d.T):
            cross[:, k] = np.bincount(a, v * col, size) - np.bincount(b, v * col, size)
        hessian = np.block([[laplacian[1:, 1:], cross[1:]], [cross[1:].T, (d * v[:, None]).T @ d]])
        try:
            step = np.linalg.solve(hessian, np.concatenate([grad_s[1:], d.T @ r]))
        except np.linalg.LinAlgError:
            return StyleFit(np.full(size, np.nan), np.full(diffs.shape[1], np.nan))
        s[1:] += step[: size - 1]
        beta += step[size - 1 :]
        if np.abs(step).max(initial=0) < 1e-12:
            break
    else:
        return StyleFit(np.full(size, np.nan), np.full(diffs.shape[1], np.nan))
    coefficients = np.full(diffs.shape[1], np.nan)
    coefficients[varies] = beta
    return StyleFit(s - s.mean(), coefficients)


def _separable(size: int, a: np.ndarray, b: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """Return which features add a direction to the design (models first, then in order).

    Ranks of principal blocks of the Gram matrix X'X, which has X's rank and costs one
    pass over the comparisons; a direction smaller than 1e-5 of the largest (in X's
    singular values) counts as none.
    """
    models = np.zeros((len(a), size))
    models[np.arange(len(a)), a] += 1
    models[np.arange(len(a)), b] -= 1
    full = np.hstack([models[:, 1:], diffs])
    gram = full.T @ full
    tol = 1e-10 * max(np.abs(gram).max(initial=0), 1e-300)

    def rank(columns: list[int]) -> int:
        return int(np.linalg.matrix_rank(gram[np.ix_(columns, columns)], tol=tol)) if columns else 0

    chosen = list(range(size - 1))
    have = rank(chosen)
    keep = np.zeros(diffs.shape[1], dtype=bool)
    for k in range(diffs.shape[1]):
        trial = [*chosen, size - 1 + k]
        if rank(trial) > have:
            chosen, have, keep[k] = trial, have + 1, True
    return keep


def bootstrap_style(
    size: int,
    coded: Coded,
    diffs: np.ndarray,
    *,
    units: np.ndarray,
    n_boot: int,
    seed: int = 0,
    prior: float = PRIOR,
) -> tuple[StyleFit, np.ndarray, np.ndarray]:
    """Return the fit and 95% percentile intervals (low, high) over resampled units.

    Units (items) are drawn with replacement, so every comparison of one item moves together.
    Each interval array holds the strengths, then the coefficients.
    """
    point = fit_style(size, coded, diffs, prior=prior)
    _, unit = np.unique(units, return_inverse=True)
    unit = unit.reshape(-1)
    n_units = int(unit.max(initial=-1)) + 1
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, size + diffs.shape[1]))
    for k in range(n_boot):
        taken = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
        with np.errstate(all="ignore"):
            fit = fit_style(
                size,
                coded,
                diffs,
                prior=prior,
                multiplicity=taken[unit].astype(float),
                start=point,
                keep=np.isfinite(point.coefficients),
            )
        draws[k] = np.concatenate([fit.strengths, fit.coefficients])
    bounds = [percentile_interval(draws[:, c]) for c in range(draws.shape[1])]
    low = np.array([np.nan if lo is None else lo for lo, _ in bounds])
    high = np.array([np.nan if hi is None else hi for _, hi in bounds])
    return point, low, high


def length_bias(
    length: np.ndarray,
    score: np.ndarray,
    offset: np.ndarray,
    *,
    rater: np.ndarray,
    units: np.ndarray,
    size: int,
    n_boot: int,
    seed: int = 0,
) -> list[tuple[float, float, float, int] | None]:
    """Per rater: the coefficient of the length difference in their verdicts, with an interval.

    For each rater, a logistic regression of their comparisons' outcomes on the normalised
    length difference, with ``offset`` (the models' strength difference) held fixed: how
    much more than the models' strengths explain the rater's verdicts follow length.
    Returns (value, low, high, comparisons) per rater, None where the lengths never differ.
    Intervals: percentile bootstrap over the rater's units (items).
    """
    out: list[tuple[float, float, float, int] | None] = []
    rng = np.random.default_rng(seed)
    for k in range(size):
        mine = np.flatnonzero(rater == k)
        d, s, o = length[mine], score[mine], offset[mine]
        if _separated(d, s):
            out.append(None)
            continue
        x = np.concatenate([d, d])[:, None]
        y = np.concatenate([np.ones(len(d)), np.zeros(len(d))])
        w = np.concatenate([s, 1 - s])
        off = np.concatenate([o, o])
        value = _fit_one(x, y, w, off)
        if not np.isfinite(value):
            out.append(None)
            continue
        _, unit = np.unique(units[mine], return_inverse=True)
        n_units = int(unit.max()) + 1
        draws = np.full(n_boot, np.nan)
        for b in range(n_boot):
            taken = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)[unit]
            if _separated(d[taken > 0], s[taken > 0]):
                continue  # this resample cannot pin the coefficient; it counts as missing
            repeat = np.concatenate([taken, taken]).astype(float)
            draws[b] = _fit_one(x, y, w * repeat, off)
        low, high = percentile_interval(draws)
        out.append(
            (value, np.nan if low is None else low, np.nan if high is None else high, len(mine))
        )
    return out


def _fit_one(x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray) -> float:
    """Return the one coefficient, NaN when the data cannot pin it (a singular or runaway fit)."""
    with np.errstate(all="ignore"):
        try:
            value = float(logistic_fit(x, y, w, offset=offset)[0])
        except np.linalg.LinAlgError:
            return np.nan
    return value if np.isfinite(value) and abs(value) < 50 else np.nan


def _separated(d: np.ndarray, s: np.ndarray) -> bool:
    """Tell whether the longer side always won, or always lost (no finite coefficient).

    Comparisons of equal length do not inform the coefficient; a tie is half a win to each
    side, so one tie on a pair of different lengths is enough for a finite estimate.
    """
    moving = d != 0
    longer_won = np.where(d[moving] > 0, s[moving], 1 - s[moving])
    return bool((longer_won == 1).all() or (longer_won == 0).all())
