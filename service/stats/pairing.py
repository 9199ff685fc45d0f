"""Adaptive model pairing: which pair of models the next comparisons should be about.

Chatbot Arena (Chiang et al. 2024, section 5) samples the pair of models to show next with
probability proportional to how much one more vote on that pair would shrink its confidence
interval. Here the same idea is applied to the leaderboard itself, the Bradley–Terry fit of
:mod:`service.stats.bradley_terry`: a pair's weight is how much one more comparison of it
would shrink the *total variance* of the centred log-strengths.

The covariance of the strengths is the pseudo-inverse Σ of the Fisher information, the
weighted graph Laplacian L = Σ_{i<j} c_ij p_ij (1 − p_ij) (e_i − e_j)(e_i − e_j)ᵀ, with c_ij the
comparisons of i and j (real, planned, and the fit's ``prior`` virtual ones) and p_ij the
fitted chance that i beats j (Hunter 2004; pseudo-inverse because strengths are centred).
One more comparison adds w uuᵀ with u = e_i − e_j and w = p_ij (1 − p_ij), and by the
Sherman–Morrison formula the trace of Σ falls by

    Δ_ij = w ‖Σu‖² / (1 + w uᵀΣu).

For centred strengths Σ_{i<j} Var(s_i − s_j) = n · tr Σ, so Δ_ij is also (over n) the fall
in the summed variance of every strength difference, what a ranking and its intervals rest on. Comparisons of close
models (p near ½) and of models with few comparisons weigh most; a pair compared thousands of
times weighs little.

To stay robust when the fit is wrong (a model drifts, raters change), a ``uniform_share`` of
the probability is spread evenly over the pairs: every pair keeps at least
uniform_share / pairs. With uniform_share = 1 this is plain uniform pairing.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from service.stats.bradley_terry import PRIOR, fit_wins

UNIFORM_SHARE = 0.3


def model_pairs(size: int) -> list[tuple[int, int]]:
    """List the pairs (i, j), i < j, of ``size`` models: the order probabilities come in."""
    return list(combinations(range(size), 2))


def information(strengths: np.ndarray, games: np.ndarray, *, prior: float = PRIOR) -> np.ndarray:
    """Return the Fisher information of the centred log-strengths (a weighted Laplacian).

    ``games[i, j]`` counts the comparisons of i and j (symmetric); each pair also has the
    fit's ``prior`` virtual games.
    """
    size = len(strengths)
    diff = strengths[:, None] - strengths[None, :]
    p = 1 / (1 + np.exp(-diff))
    weight = (np.asarray(games, dtype=float) + prior) * p * (1 - p)
    np.fill_diagonal(weight, 0)
    return np.diag(weight.sum(1)) - weight if size else np.zeros((0, 0))


def covariance(info: np.ndarray) -> np.ndarray:
    """Return the covariance of the centred strengths: the pseudo-inverse of the information."""
    if len(info) == 0:
        return info
    return np.linalg.pinv(info, hermitian=True)


def variance_reduction(
    strengths: np.ndarray, cov: np.ndarray, *, weight: float = 1.0
) -> np.ndarray:
    """Return, pair by pair (``model_pairs`` order), how much ``weight`` more comparisons of
    the pair would shrink the trace of ``cov`` (Sherman–Morrison, see the module docstring)."""
    pairs = np.array(model_pairs(len(strengths)), dtype=np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    p = 1 / (1 + np.exp(strengths[j] - strengths[i]))
    w = weight * p * (1 - p)
    su = cov[:, i] - cov[:, j]  # Σu for every pair, one column each
    spread = cov[i, i] + cov[j, j] - 2 * cov[i, j]  # uᵀΣu
    return w * (su**2).sum(0) / (1 + w * spread)


def mix(
    reduction: np.ndarray, *, uniform_share: float, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Return probabilities: ``uniform_share`` spread evenly, the rest in proportion to
    ``reduction``; pairs not ``allowed`` get none (all pairs are, if not given)."""
    if not 0 <= uniform_share <= 1:
        raise ValueError("uniform_share must be between 0 and 1")
    allowed = np.ones(len(reduction), dtype=bool) if allowed is None else allowed
    if not allowed.any():
        raise ValueError("no pair is allowed")
    gain = np.where(allowed, np.clip(reduction, 0, None), 0.0)
    even = allowed / allowed.sum()
    total = gain.sum()
    if not np.isfinite(total) or total <= 0:
        return even
    return uniform_share * even + (1 - uniform_share) * gain / total


def pair_probabilities(
    wins: np.ndarray,
    *,
    planned: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
    weight: float = 1.0,
    uniform_share: float = UNIFORM_SHARE,
    prior: float = PRIOR,
) -> np.ndarray:
    """Return the chance of each pair (``model_pairs`` order) being chosen next.

    ``wins[i, j]`` is i's score against j (``bradley_terry.wins_matrix``); ``planned[i, j]``
    counts comparisons already asked for but not yet made (they add information, not
    outcomes); a choice stands for ``weight`` comparisons.
    """
    strengths, info = _state(wins, planned, prior)
    reduction = variance_reduction(strengths, covariance(info), weight=weight)
    return mix(reduction, uniform_share=uniform_share, allowed=allowed)


def choose_pairs(
    wins: np.ndarray,
    available: Sequence[np.ndarray | None],
    *,
    rng: np.random.Generator,
    planned: np.ndarray | None = None,
    weight: float = 1.0,
    uniform_share: float = UNIFORM_SHARE,
    prior: float = PRIOR,
) -> list[int]:
    """Choose one pair per entry of ``available``, one after the other; return their indices
    (``model_pairs`` order).

    ``available[k]`` masks the pairs choice k may take (None: any). Each choice is drawn from
    ``pair_probabilities`` and then counts as ``weight`` planned comparisons for the choices
    after it, so a batch spreads over the pairs instead of all going to the one that was
    best before the batch. Outcomes are only learnt from ``wins``: the caller refits when
    judgments come in.
    """
    strengths, info = _state(wins, planned, prior)
    pairs = model_pairs(len(strengths))
    chosen: list[int] = []
    for allowed in available:
        reduction = variance_reduction(strengths, covariance(info), weight=weight)
        probs = mix(reduction, uniform_share=uniform_share, allowed=allowed)
        k = int(rng.choice(len(pairs), p=probs))
        chosen.append(k)
        i, j = pairs[k]
        u = np.zeros(len(strengths))
        u[i], u[j] = 1.0, -1.0
        p = 1 / (1 + np.exp(strengths[j] - strengths[i]))
        info += weight * p * (1 - p) * np.outer(u, u)
    return chosen


def _state(
    wins: np.ndarray, planned: np.ndarray | None, prior: float
) -> tuple[np.ndarray, np.ndarray]:
    """Fit the strengths to ``wins``; return them and the information of real, planned and
    prior comparisons."""
    wins = np.asarray(wins, dtype=float)
    if len(wins) < 2:
        raise ValueError("pairing needs at least two models")
    strengths = fit_wins(wins, prior=prior)
    games = wins + wins.T + (0 if planned is None else np.asarray(planned, dtype=float))
    return strengths, information(strengths, games, prior=prior)
