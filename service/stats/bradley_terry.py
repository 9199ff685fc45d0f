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

import math
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

from service.stats.resampling import Stat, no_value, resample_sums

Outcome = tuple[Hashable, Hashable, float]  # (a, b, a's score: 1 win, 0.5 tie, 0 loss)

PRIOR = 0.5
# The Elo-like scale strengths are also shown on: 1000 + 400 * log10 of the odds.
ELO_BASE = 1000.0
ELO_SCALE = 400 / math.log(10)


class Coded(NamedTuple):
    """Outcomes as arrays: a's and b's indices into the models, and a's score."""

    a: np.ndarray
    b: np.ndarray
    score: np.ndarray


def fit_bradley_terry(
    models: Sequence[Hashable], outcomes: Sequence[Outcome], *, prior: float = PRIOR
) -> dict[Hashable, float]:
    """Return each model's Bradley–Terry log-strength, centred at 0, by Hunter's (2004) MM.

    exp(s_a - s_b) is the odds that a beats b. A model with no comparisons sits at the centre.
    """
    if not models:
        return {}
    coded = code_outcomes(models, outcomes)
    strengths = _fit(wins_matrix(len(models), coded)[None], prior)[0]
    return {m: float(s) for m, s in zip(models, strengths, strict=True)}


def fit_wins(wins: np.ndarray, *, prior: float = PRIOR) -> np.ndarray:
    """Return the centred log-strengths fitted to a wins matrix (see ``wins_matrix``)."""
    return _fit(np.asarray(wins, dtype=float)[None], prior)[0]


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
    coded = code_outcomes(models, outcomes)
    unit = None
    if units is not None:
        seen: dict[Hashable, int] = {}
        unit = np.array([seen.setdefault(u, len(seen)) for u in units], dtype=np.int64)
    stats = bootstrap_coded(len(models), coded, units=unit, n_boot=n_boot, seed=seed, prior=prior)
    return dict(zip(models, stats, strict=True))


def bootstrap_coded(
    size: int,
    coded: Coded,
    *,
    units: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int | None = 0,
    prior: float = PRIOR,
) -> list[Stat]:
    """Return bootstrap_bradley_terry's result, model by model, for outcomes already coded.

    ``units`` names each outcome's unit (any values NumPy can sort); units are numbered in the
    order they first appear, as bootstrap_bradley_terry numbers them.
    """
    if units is not None and len(units) != len(coded.a):
        raise ValueError("units must name the unit of every outcome")
    wins = wins_matrix(size, coded)
    point = _fit(wins[None], prior)[0] if size else np.zeros(0)
    played = np.bincount(coded.a, minlength=size) + np.bincount(coded.b, minlength=size)
    low = high = np.full(size, np.nan)
    if len(coded.a) and n_boot > 0:
        cells, terms = _unit_terms(size, coded, _first_seen(units))
        sums = resample_sums(terms, n_boot, np.random.default_rng(seed))
        resampled = np.zeros((n_boot, size * size))
        resampled[:, cells] = sums
        fits = _fit(resampled.reshape(n_boot, size, size), prior)
        low, high = np.percentile(fits, [2.5, 97.5], axis=0)
    return [
        Stat(float(point[k]), _opt(low[k]), _opt(high[k]), n=int(played[k]))
        if played[k]
        else no_value("not enough data: no comparisons")
        for k in range(size)
    ]


def win_rate_matrix(
    models: Sequence[Hashable], outcomes: Sequence[Outcome]
) -> dict[Hashable, dict[Hashable, Stat]]:
    """Return result[a][b]: a's share of the score against b, ties as half, over their games.

    n counts the games between a and b; pairs never compared have no value. The diagonal is
    left out.
    """
    return win_rates(models, wins_matrix(len(models), code_outcomes(models, outcomes)))


def win_rates(models: Sequence[Hashable], wins: np.ndarray) -> dict[Hashable, dict[Hashable, Stat]]:
    """Return win_rate_matrix from a wins matrix (see wins_matrix)."""
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


def code_outcomes(models: Sequence[Hashable], outcomes: Sequence[Outcome]) -> Coded:
    """Code (a, b, score) outcomes as indices into ``models``; refuse unknown models, a model
    against itself and scores outside [0, 1]."""
    index = {m: k for k, m in enumerate(models)}
    if len(index) != len(models):
        raise ValueError("models must be distinct")
    a = np.empty(len(outcomes), dtype=np.int64)
    b = np.empty(len(outcomes), dtype=np.int64)
    score = np.empty(len(outcomes))
    for k, (first, second, s) in enumerate(outcomes):
        if first not in index or second not in index:
            raise ValueError(f"outcome names a model not in models: {first!r} or {second!r}")
        if first == second or not 0 <= s <= 1:
            raise ValueError(f"outcome must be two different models and a score in [0, 1]: {k}")
        a[k], b[k], score[k] = index[first], index[second], s
    return Coded(a, b, score)


def wins_matrix(size: int, coded: Coded) -> np.ndarray:
    """Return wins[i, j]: i's total score against j."""
    a, b, score = coded
    flat = np.bincount(a * size + b, weights=score, minlength=size * size)
    flat += np.bincount(b * size + a, weights=1 - score, minlength=size * size)
    return flat.reshape(size, size)


def _first_seen(units: np.ndarray | None) -> np.ndarray | None:
    """Number units 0, 1, ... in the order they first appear."""
    if units is None or len(units) == 0:
        return units
    _, first, inverse = np.unique(units, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _unit_terms(size: int, coded: Coded, unit: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Return the wins-matrix cells in use and each unit's score in them (units × cells)."""
    a, b, score = coded
    if unit is None:
        unit = np.arange(len(a))
    cell = np.concatenate([a * size + b, b * size + a])
    cells, column = np.unique(cell, return_inverse=True)
    n_units = int(unit.max()) + 1
    flat = np.concatenate([unit, unit]) * len(cells) + column.reshape(-1)
    terms = np.bincount(
        flat, weights=np.concatenate([score, 1 - score]), minlength=n_units * len(cells)
    )
    return cells, terms.reshape(n_units, len(cells))


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


def elo(strength: Stat) -> dict[str, float | None]:
    """Return a log-odds strength and its interval on the Elo-like scale."""

    def scale(value: float | None) -> float | None:
        return None if value is None else ELO_BASE + ELO_SCALE * value

    return {
        "value": scale(strength.value),
        "low": scale(strength.low),
        "high": scale(strength.high),
    }


def _opt(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
