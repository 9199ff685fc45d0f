"""Bradley–Terry fits: closed-form cases, choix as a reference, recovery of simulated strengths."""

from __future__ import annotations

import math

import choix  # test-only reference implementation
import numpy as np
import pytest

from service.stats.bradley_terry import (
    PRIOR,
    Coded,
    bootstrap_bradley_terry,
    bootstrap_coded,
    fit_bradley_terry,
    win_rate_matrix,
    win_rates,
    wins_matrix,
)

# scipy.stats is imported by the tests that use it: ~0.6 s less at collection, in every worker.

TINY = 1e-9  # a prior small enough that the fit is the maximum-likelihood estimate


def _simulate(
    strengths: np.ndarray, comparisons: int, seed: int, tie_share: float = 0.0
) -> list[tuple[int, int, float]]:
    """Draw outcomes from a Bradley–Terry model; ``tie_share`` of them become ties at random.

    Random ties shrink the fitted strengths towards 0, so only tests that compare two fits of
    the same data (not a fit against the generating strengths) use them.
    """
    rng = np.random.default_rng(seed)
    outcomes = []
    for _ in range(comparisons):
        a, b = rng.choice(len(strengths), size=2, replace=False)
        a_wins = 1 / (1 + math.exp(strengths[b] - strengths[a]))
        if rng.random() < tie_share:
            outcomes.append((int(a), int(b), 0.5))
        else:
            outcomes.append((int(a), int(b), 1.0 if rng.random() < a_wins else 0.0))
    return outcomes


def test_two_models_closed_form() -> None:
    # 3 wins to 1: the odds p_a / p_b are 3, so log-strengths are +-log(3)/2.
    outcomes = [("a", "b", 1.0)] * 3 + [("a", "b", 0.0)]
    fit = fit_bradley_terry(["a", "b"], outcomes, prior=TINY)
    assert fit["a"] == pytest.approx(math.log(3) / 2, abs=1e-8)
    assert fit["b"] == pytest.approx(-math.log(3) / 2, abs=1e-8)


def test_prior_is_virtual_tied_games() -> None:
    # With the default prior, each pair has PRIOR extra games split evenly.
    outcomes = [("a", "b", 1.0)] * 3 + [("b", "a", 1.0)]
    fit = fit_bradley_terry(["a", "b"], outcomes)
    odds = (3 + PRIOR / 2) / (1 + PRIOR / 2)
    assert fit["a"] == pytest.approx(math.log(odds) / 2, abs=1e-8)


def test_ties_count_as_half_a_win() -> None:
    # One win and two ties: a scores 2 of 3, odds 2.
    outcomes = [("a", "b", 1.0), ("a", "b", 0.5), ("b", "a", 0.5)]
    fit = fit_bradley_terry(["a", "b"], outcomes, prior=TINY)
    assert fit["a"] - fit["b"] == pytest.approx(math.log(2), abs=1e-8)


def test_a_perfect_cycle_gives_equal_strengths() -> None:
    outcomes = [("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 1.0)]
    assert fit_bradley_terry(["a", "b", "c"], outcomes) == pytest.approx(
        {"a": 0.0, "b": 0.0, "c": 0.0}, abs=1e-9
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_choix_maximum_likelihood(seed: int) -> None:
    strengths = np.random.default_rng(seed).normal(size=7)
    outcomes = _simulate(strengths, 2000, seed, tie_share=0.2)
    # choix takes (winner, loser) pairs only: doubling every decisive outcome and writing a tie
    # as one win each way has the same likelihood up to a factor of 2, so the same maximum.
    pairs = []
    for a, b, score in outcomes:
        if score == 0.5:
            pairs += [(a, b), (b, a)]
        else:
            pairs += [(a, b) if score == 1 else (b, a)] * 2
    expected = choix.ilsr_pairwise(7, pairs, alpha=0.0, max_iter=10_000, tol=1e-12)
    fit = fit_bradley_terry(list(range(7)), outcomes, prior=TINY)
    got = np.array([fit[m] for m in range(7)])
    np.testing.assert_allclose(got, expected - expected.mean(), atol=1e-7)


def test_recovers_the_order_of_simulated_strengths() -> None:
    from scipy.stats import kendalltau

    strengths = np.array([-1.5, -0.9, -0.3, 0.3, 0.9, 1.5])
    models = ["m0", "m1", "m2", "m3", "m4", "m5"]
    outcomes = [(models[a], models[b], s) for a, b, s in _simulate(strengths, 6000, seed=4)]
    fit = fit_bradley_terry(models, outcomes)
    assert [fit[m] for m in models] == sorted(fit.values())
    assert kendalltau(strengths, [fit[m] for m in models]).statistic == pytest.approx(1.0)
    assert sum(fit.values()) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose([fit[m] for m in models], strengths, atol=0.15)


def test_undefeated_and_disconnected_models_stay_finite() -> None:
    outcomes = [("a", "b", 1.0)] * 10 + [("c", "d", 0.5)]
    fit = fit_bradley_terry(["a", "b", "c", "d", "unseen"], outcomes)
    assert all(math.isfinite(v) for v in fit.values())
    assert fit["a"] > fit["c"] > fit["b"]
    assert fit["c"] == pytest.approx(fit["d"])
    assert fit["unseen"] == pytest.approx(fit["c"], abs=1e-6)


def test_bootstrap_intervals_cover_the_truth() -> None:
    strengths = np.array([-1.0, -0.2, 0.4, 0.8])
    outcomes = _simulate(strengths, 3000, seed=5)
    result = bootstrap_bradley_terry(list(range(4)), outcomes, n_boot=400, seed=1)
    for model, truth in enumerate(strengths - strengths.mean()):
        stat = result[model]
        assert stat.low < stat.value < stat.high
        assert stat.low < truth < stat.high
        assert stat.high - stat.low < 0.4
        assert stat.n == sum(model in (a, b) for a, b, _ in outcomes)


def test_bootstrap_by_item_resamples_whole_items() -> None:
    # Each item is judged 5 times identically, so resampling items is resampling fewer,
    # heavier units than resampling comparisons: the interval must be wider.
    base = _simulate(np.array([0.0, 0.5, 1.0]), 300, seed=6)
    outcomes = [o for o in base for _ in range(5)]
    items = [k for k in range(len(base)) for _ in range(5)]
    by_item = bootstrap_bradley_terry([0, 1, 2], outcomes, units=items, n_boot=300)
    by_comparison = bootstrap_bradley_terry([0, 1, 2], outcomes, n_boot=300)
    for m in range(3):
        assert by_item[m].value == by_comparison[m].value
        width_item = by_item[m].high - by_item[m].low
        assert width_item > 1.5 * (by_comparison[m].high - by_comparison[m].low)


def test_bootstrap_without_comparisons_gives_reasons() -> None:
    result = bootstrap_bradley_terry(["a", "b", "c"], [("a", "b", 1.0)], n_boot=50)
    assert result["c"].value is None
    assert result["c"].reason == "not enough data: no comparisons"
    assert result["a"].value is not None and result["a"].n == 1
    empty = bootstrap_bradley_terry(["a"], [])
    assert empty["a"].value is None


def test_degenerate_fits() -> None:
    assert fit_bradley_terry([], []) == {}
    assert fit_bradley_terry(["a"], []) == {"a": 0.0}
    assert fit_bradley_terry(["a", "b"], []) == {"a": 0.0, "b": 0.0}


def test_win_rate_matrix() -> None:
    outcomes = [("a", "b", 1.0), ("b", "a", 0.5), ("b", "a", 1.0), ("a", "c", 0.0)]
    matrix = win_rate_matrix(["a", "b", "c"], outcomes)
    assert matrix["a"]["b"].value == pytest.approx(1.5 / 3)
    assert matrix["b"]["a"].value == pytest.approx(1.5 / 3)
    assert matrix["a"]["b"].n == 3
    assert matrix["c"]["a"].value == 1.0
    assert matrix["b"]["c"].value is None
    assert matrix["b"]["c"].reason == "not enough data: never compared"
    assert "a" not in matrix["a"]


@pytest.mark.parametrize(
    "outcome",
    [("a", "zzz", 1.0), ("a", "a", 1.0), ("a", "b", 2.0)],
)
def test_bad_outcomes_are_rejected(outcome: tuple[str, str, float]) -> None:
    with pytest.raises(ValueError):
        fit_bradley_terry(["a", "b"], [outcome])


def test_coded_outcomes_give_the_same_fits_and_win_rates() -> None:
    rng = np.random.default_rng(8)
    names = ["m0", "m1", "m2", "m3"]
    outcomes = [
        (names[a], names[b], s) for a, b, s in _simulate(np.zeros(3), 400, seed=8, tie_share=0.2)
    ]
    units = rng.integers(1000, 1100, len(outcomes))[::-1].tolist()  # not in first-seen order
    index = {m: k for k, m in enumerate(names)}
    coded = Coded(
        np.array([index[a] for a, _, _ in outcomes]),
        np.array([index[b] for _, b, _ in outcomes]),
        np.array([s for _, _, s in outcomes]),
    )
    expected = bootstrap_bradley_terry(names, outcomes, units=units, n_boot=200, seed=5)
    got = bootstrap_coded(len(names), coded, units=np.array(units), n_boot=200, seed=5)
    assert dict(zip(names, got, strict=True)) == expected  # m3 never played: a reason
    assert win_rates(names, wins_matrix(len(names), coded)) == win_rate_matrix(names, outcomes)
