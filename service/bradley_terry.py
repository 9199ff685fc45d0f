"""Bradley–Terry strengths of models from pairwise outcomes.

An outcome is ``(a, b, score)``: ``score`` is a's share of the win, 1 if a won, 0 if b won and
0.5 for a tie, so a tie counts as half a win to each side (Rao & Kupper's tie models are not
used: they need an extra parameter that rater data seldom pins down).

The fit is Hunter's (2004) minorisation–maximisation (MM) update, which for the
Bradley–Terry likelihood is p_i <- W_i / sum_j N_ij / (p_i + p_j) with W_i the (half-)wins of i
and N_ij the games between i and j. To keep strengths finite when a model is undefeated,
never won, or sits in a separate component of the comparison graph, every pair of models gets
``prior`` virtual games split as a tie. That is a weak, symmetric shrinkage towards equal
strength; with thousands of real comparisons it moves strengths by well under 1%.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from service.agreement import Stat, no_value, resample_sums

Outcome = tuple[Hashable, Hashable, float]  # (a, b, a's score: 1 win, 0.5 tie, 0 loss)

PRIOR = 0.5


def fit_bradley_terry(
    models: Sequence[Hashable], outcomes: Sequence[Outcome], *, prior: float = PRIOR
) -> dict[Hashable, float]:
    """Return each model's Bradley–Terry log-strength, centred at 0, by Hunter's (2004) MM.

    exp(s_a - s_b) is the odds that a beats b. A model with no comparisons sits at the centre.
    """
    if not models:
        return {}
    strengths = _fit(_wins_matrix(models, outcomes)[None], prior)[0]
    return {m: float(s) for m, s in zip(models, strengths, strict=True)}


def bootstrap_bradley_terry(
    models: Sequence[Hashable],
    outcomes: Sequence[Outcome],
    *,
    units: Sequence[Hashable] | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    prior: float = PRIOR,
) -> dict[Hashable, Stat]:
    """Return each model's log-strength with a 95% percentile bootstrap interval.

    Resamples ``units`` (e.g. the item of each outcome, so that several raters' verdicts on one
    item move together) or, if not given, the outcomes themselves, then refits every resample
    at once. n counts the comparisons a model took part in; a model with none has no value.
    """
    if units is not None and len(units) != len(outcomes):
        raise ValueError("units must name the unit of every outcome")
    index = _model_index(models)
    point = fit_bradley_terry(models, outcomes, prior=prior)
    played = np.zeros(len(models), dtype=np.int64)
    for a, b, _ in outcomes:
        played[index[a]] += 1
        played[index[b]] += 1
    low = high = np.full(len(models), np.nan)
    if outcomes and n_boot > 0:
        cells, terms = _unit_terms(index, outcomes, units)
        sums = resample_sums(terms, n_boot, np.random.default_rng(seed))
        wins = np.zeros((n_boot, len(models) ** 2))
        wins[:, cells] = sums
        fits = _fit(wins.reshape(n_boot, len(models), len(models)), prior)
        low, high = np.percentile(fits, [2.5, 97.5], axis=0)
    result = {}
    for k, model in enumerate(models):
        if played[k] == 0:
            result[model] = no_value("not enough data: no comparisons")
        else:
            result[model] = Stat(point[model], _opt(low[k]), _opt(high[k]), n=int(played[k]))
    return result


def win_rate_matrix(
    models: Sequence[Hashable], outcomes: Sequence[Outcome]
) -> dict[Hashable, dict[Hashable, Stat]]:
    """Return result[a][b]: a's share of the score against b, ties as half, over their games.

    n counts the games between a and b; pairs never compared have no value. The diagonal is
    left out.
    """
    wins = _wins_matrix(models, outcomes)
    games = wins + wins.T
    matrix: dict[Hashable, dict[Hashable, Stat]] = {}
    for i, a in enumerate(models):
        row = matrix[a] = {}
        for j, b in enumerate(models):
            if i == j:
                continue
            played = int(round(games[i, j]))
            if played == 0:
                row[b] = no_value("not enough data: never compared")
            else:
                row[b] = Stat(float(wins[i, j] / games[i, j]), n=played)
    return matrix


def _model_index(models: Sequence[Hashable]) -> dict[Hashable, int]:
    index = {m: k for k, m in enumerate(models)}
    if len(index) != len(models):
        raise ValueError("models must be distinct")
    return index


def _coded(
    index: dict[Hashable, int], outcomes: Sequence[Outcome]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.empty(len(outcomes), dtype=np.int64)
    b = np.empty(len(outcomes), dtype=np.int64)
    score = np.empty(len(outcomes))
    for k, (first, second, s) in enumerate(outcomes):
        if first not in index or second not in index:
            raise ValueError(f"outcome names a model not in models: {first!r} or {second!r}")
        if first == second or not 0 <= s <= 1:
            raise ValueError(f"outcome must be two different models and a score in [0, 1]: {k}")
        a[k], b[k], score[k] = index[first], index[second], s
    return a, b, score


def _wins_matrix(models: Sequence[Hashable], outcomes: Sequence[Outcome]) -> np.ndarray:
    """Return wins[i, j]: i's total score against j."""
    size = len(models)
    a, b, score = _coded(_model_index(models), outcomes)
    flat = np.bincount(a * size + b, weights=score, minlength=size * size)
    flat += np.bincount(b * size + a, weights=1 - score, minlength=size * size)
    return flat.reshape(size, size)


def _unit_terms(
    index: dict[Hashable, int], outcomes: Sequence[Outcome], units: Sequence[Hashable] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the wins-matrix cells in use and each unit's score in them (units × cells)."""
    size = len(index)
    a, b, score = _coded(index, outcomes)
    if units is None:
        unit = np.arange(len(outcomes))
    else:
        seen: dict[Hashable, int] = {}
        unit = np.array([seen.setdefault(u, len(seen)) for u in units], dtype=np.int64)
    cell = np.concatenate([a * size + b, b * size + a])
    cells, column = np.unique(cell, return_inverse=True)
    terms = np.zeros((unit.max() + 1, len(cells)))
    np.add.at(terms, (np.concatenate([unit, unit]), column), np.concatenate([score, 1 - score]))
    return cells, terms


def _fit(
    wins: np.ndarray, prior: float, *, tol: float = 1e-10, max_iter: int = 10_000
) -> np.ndarray:
    """Return centred log-strengths for a stack of (fits, models, models) wins matrices."""
    if prior <= 0:
        raise ValueError("prior must be positive, or strengths can diverge")
    size = wins.shape[-1]
    if size < 2:
        return np.zeros(wins.shape[:-1])
    virtual = prior * (1 - np.eye(size))
    games = wins + wins.swapaxes(-1, -2) + virtual
    scores = wins.sum(-1) + virtual.sum(-1) / 2
    p = np.ones(wins.shape[:-1])
    for _ in range(max_iter):
        updated = scores / (games / (p[..., :, None] + p[..., None, :])).sum(-1)
        # The likelihood ignores scale, so renormalise (geometric mean 1) to keep p bounded.
        updated /= np.exp(np.log(updated).mean(-1, keepdims=True))
        done = np.abs(np.log(updated / p)).max() < tol
        p = updated
        if done:
            break
    log_p = np.log(p)
    return log_p - log_p.mean(-1, keepdims=True)


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
