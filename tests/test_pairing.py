"""Adaptive model pairing: the variance-reduction rule on known answers, and the simulation."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from service.stats.bradley_terry import PRIOR, fit_wins
from service.stats.pairing import (
    choose_pairs,
    covariance,
    information,
    mix,
    model_pairs,
    pair_probabilities,
    variance_reduction,
)


def _wins(size: int, counts: dict[tuple[int, int], tuple[float, float]]) -> np.ndarray:
    """Wins matrix from {(i, j): (i's wins, j's wins)}."""
    wins = np.zeros((size, size))
    for (i, j), (won, lost) in counts.items():
        wins[i, j], wins[j, i] = won, lost
    return wins


def test_model_pairs_order():
    assert model_pairs(3) == [(0, 1), (0, 2), (1, 2)]


def test_no_data_is_uniform():
    probs = pair_probabilities(np.zeros((8, 8)))
    assert probs.shape == (28,)
    assert probs == pytest.approx(np.full(28, 1 / 28), abs=1e-12)


def test_a_pair_with_huge_data_gets_less_than_an_unseen_pair():
    wins = _wins(4, {(0, 1): (5000, 5000)})
    probs = dict(zip(model_pairs(4), pair_probabilities(wins, uniform_share=0.3), strict=True))
    assert sum(probs.values()) == pytest.approx(1, abs=1e-12)
    # (0, 1) is pinned down: only the uniform share, and barely more, is left for it.
    assert probs[(0, 1)] == pytest.approx(0.3 / 6, rel=1e-3)
    assert probs[(0, 1)] < min(p for pair, p in probs.items() if pair != (0, 1))
    # The pair of the two models nobody has seen narrows the intervals most.
    assert probs[(2, 3)] == max(probs.values())


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_uniform_share_is_a_floor_and_probabilities_sum_to_one(share):
    wins = _wins(5, {(0, 1): (900, 100), (1, 2): (40, 60), (3, 4): (2, 1)})
    probs = pair_probabilities(wins, uniform_share=share)
    assert probs.sum() == pytest.approx(1, abs=1e-12)
    assert (probs >= share / 10 - 1e-15).all()
    if share == 1.0:
        assert probs == pytest.approx(np.full(10, 0.1), abs=1e-15)


def test_mix_keeps_to_the_allowed_pairs():
    probs = mix(
        np.array([1.0, 3.0, 0.0, 5.0]), uniform_share=0.2, allowed=np.array([1, 1, 1, 0]) > 0
    )
    assert probs == pytest.approx([0.2 / 3 + 0.8 / 4, 0.2 / 3 + 0.8 * 3 / 4, 0.2 / 3, 0.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        mix(np.ones(3), uniform_share=1.5)


def test_information_is_the_curvature_of_the_likelihood():
    """The information matrix equals minus the numerical Hessian of the penalised
    Bradley–Terry log-likelihood (every pair with PRIOR virtual tied games) at the fit."""
    wins = _wins(4, {(0, 1): (7, 3), (0, 2): (4, 4), (1, 3): (2, 9), (2, 3): (5, 1)})
    games = wins + wins.T
    s = fit_wins(wins)

    def loglik(x: np.ndarray) -> float:
        total = 0.0
        for i, j in model_pairs(4):
            won = wins[i, j] + PRIOR / 2
            lost = wins[j, i] + PRIOR / 2
            p = 1 / (1 + math.exp(x[j] - x[i]))
            total += won * math.log(p) + lost * math.log(1 - p)
        return total

    h = 1e-4
    hess = np.zeros((4, 4))
    for a in range(4):
        for b in range(4):
            e_a, e_b = np.eye(4)[a] * h, np.eye(4)[b] * h
            hess[a, b] = (
                loglik(s + e_a + e_b)
                - loglik(s + e_a - e_b)
                - loglik(s - e_a + e_b)
                + loglik(s - e_a - e_b)
            ) / (4 * h * h)
    assert information(s, games) == pytest.approx(-hess, abs=1e-5)


def test_variance_reduction_matches_refitting_the_covariance():
    """Sherman–Morrison's answer equals the trace of the covariance recomputed directly with
    one more comparison of each pair."""
    wins = _wins(5, {(0, 1): (30, 10), (1, 2): (12, 11), (2, 3): (3, 0), (0, 4): (50, 49)})
    s = fit_wins(wins)
    info = information(s, wins + wins.T)
    cov = covariance(info)
    assert cov @ np.ones(5) == pytest.approx(np.zeros(5), abs=1e-10)  # centred strengths
    for weight in (1.0, 3.0):
        direct = []
        for i, j in model_pairs(5):
            more = np.zeros((5, 5))
            more[i, j] = more[j, i] = weight
            cov_after = np.linalg.pinv(information(s, wins + wins.T + more))
            direct.append(np.trace(cov) - np.trace(cov_after))
        assert variance_reduction(s, cov, weight=weight) == pytest.approx(direct, rel=1e-8)


def test_a_batch_spreads_over_pairs_through_planned_comparisons():
    """Each choice counts as planned comparisons for the next: with no uniform share, a batch
    from no data still covers every pair instead of repeating one."""
    chosen = choose_pairs(
        np.zeros((4, 4)), [None] * 60, rng=np.random.default_rng(3), weight=5, uniform_share=0
    )
    counts = np.bincount(chosen, minlength=6)
    assert counts.min() >= 5, counts
    # Planned comparisons lower a pair's weight like real ones (without their outcomes).
    planned = _wins(4, {(0, 1): (500, 500)})
    probs = pair_probabilities(np.zeros((4, 4)), planned=planned, uniform_share=0)
    assert probs[0] == min(probs)


def test_choices_keep_to_each_prompts_available_pairs():
    only = np.array([False, False, False, False, False, True])  # pair (2, 3)
    chosen = choose_pairs(np.zeros((4, 4)), [only, None, only], rng=np.random.default_rng(0))
    assert chosen[0] == chosen[2] == 5


def _simulation():
    path = Path(__file__).resolve().parent.parent / "scripts" / "simulate_collection.py"
    spec = importlib.util.spec_from_file_location("simulate_collection", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_simulation_adaptive_never_ends_with_a_worse_ranking_than_uniform():
    """At a small size (8 models, 400 judgments, 24 seeds) adaptive pairing's final rankings
    have no more pairs in the wrong order than uniform pairing's, summed over the seeds, and
    its widest intervals are narrower on average (what it is designed to shrink)."""
    sim = _simulation()
    truth = sim.true_strengths(8, 50.0)
    wrong, widest = {}, {}
    for strategy in sim.STRATEGIES:
        runs = [
            sim.simulate(strategy, truth=truth, seed=seed, target=0, refit=50, budget=400)
            for seed in range(24)
        ]
        assert all(r.needed is None and r.judgments == 400 for r in runs)
        wrong[strategy] = sum(r.inversions for r in runs)
        widest[strategy] = np.mean([r.widest for r in runs])
    assert wrong["adaptive"] <= wrong["uniform"], wrong
    assert widest["adaptive"] < widest["uniform"], widest
