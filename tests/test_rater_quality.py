"""Rater quality signals on hand-checked cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from service.stats.rater_quality import intransitive_triads, leave_one_out_agreement, position_bias


def test_position_bias_exact_binomial() -> None:
    # 60 of 100 decided verdicts for the left side: two-sided exact p = 2 P(X >= 60) = 0.0569;
    # Clopper–Pearson 95% interval (0.497, 0.697).
    stat = position_bias(60, 100)
    assert stat.value == 0.6
    assert stat.n == 100
    assert stat.p_value == pytest.approx(0.056888, abs=1e-6)
    assert (stat.low, stat.high) == pytest.approx((0.4972, 0.6967), abs=1e-4)


def test_position_bias_balanced_is_not_significant() -> None:
    stat = position_bias(50, 100)
    assert stat.p_value == pytest.approx(1.0)


def test_position_bias_without_decided_verdicts() -> None:
    stat = position_bias(0, 0)
    assert stat.value is None
    assert stat.reason == "not enough data: no decided verdicts"


@pytest.mark.parametrize(("left", "decided"), [(-1, 3), (4, 3)])
def test_position_bias_rejects_impossible_counts(left: int, decided: int) -> None:
    with pytest.raises(ValueError):
        position_bias(left, decided)


def test_one_cycle_is_one_intransitive_triad() -> None:
    stat = intransitive_triads([("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 1.0)])
    assert (stat.value, stat.n) == (1.0, 1)


def test_reverse_cycle_written_with_losing_scores() -> None:
    stat = intransitive_triads([("a", "b", 0.0), ("b", "c", 0.0), ("c", "a", 0.0)])
    assert (stat.value, stat.n) == (1.0, 1)


def test_transitive_preferences_have_no_cycle() -> None:
    stat = intransitive_triads([("a", "b", 1.0), ("b", "c", 1.0), ("a", "c", 1.0)])
    assert (stat.value, stat.n) == (0.0, 1)


def test_ties_and_missing_pairs_leave_triads_out() -> None:
    verdicts = [("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 0.5), ("c", "d", 1.0)]
    stat = intransitive_triads(verdicts)
    assert stat.value is None
    assert stat.reason == "not enough data: no three responses with all pairs decided"


def test_a_later_verdict_replaces_an_earlier_one() -> None:
    verdicts = [("a", "b", 1.0), ("b", "c", 1.0), ("c", "a", 1.0), ("a", "c", 1.0)]
    assert intransitive_triads(verdicts).value == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_complete_tournament_matches_kendall_babington_smith(seed: int) -> None:
    # In a complete tournament of n, cyclic triads d = C(n, 3) - sum_i C(s_i, 2) where s_i is
    # the number of others that i beats (Kendall & Babington Smith 1940).
    rng = np.random.default_rng(seed)
    n = 9
    wins = dict.fromkeys(range(n), 0)
    verdicts = []
    for a, b in itertools.combinations(range(n), 2):
        a_wins = bool(rng.random() < 0.5)
        wins[a if a_wins else b] += 1
        verdicts.append((a, b, 1.0 if a_wins else 0.0))
    expected = math.comb(n, 3) - sum(math.comb(s, 2) for s in wins.values())
    stat = intransitive_triads(verdicts)
    assert stat.value == expected
    assert stat.n == math.comb(n, 3)


def test_leave_one_out_agreement() -> None:
    triples = [
        # item 1: three raters say A, r4 says B
        (1, "r1", "A"),
        (1, "r2", "A"),
        (1, "r3", "A"),
        (1, "r4", "B"),
        # item 2: three different labels, so every rater's others are tied
        (2, "r1", "A"),
        (2, "r2", "B"),
        (2, "r3", "tie"),
        # item 3: r1 alone, left out
        (3, "r1", "B"),
    ]
    result = leave_one_out_agreement(triples)
    # r1: item 1 others (A, A, B) -> A, match. Items 2 and 3 left out.
    assert (result["r1"].value, result["r1"].n) == (1.0, 1)
    # r3: item 1 others (A, A, B) -> A, match; item 2 others (A, B) tie -> left out.
    assert (result["r3"].value, result["r3"].n) == (1.0, 1)
    # r4: item 1 others (A, A, A) -> A, r4 said B.
    assert (result["r4"].value, result["r4"].n) == (0.0, 1)


def test_leave_one_out_without_a_majority_gives_a_reason() -> None:
    # Rater a's others on item 1 split B / tie; on item 2 a is alone.
    triples = [(1, "a", "A"), (1, "b", "B"), (1, "c", "tie"), (2, "a", "A")]
    result = leave_one_out_agreement(triples)
    assert result["a"].value is None
    assert result["a"].reason == "not enough data: no item where the others have a majority"
    assert leave_one_out_agreement([]) == {}
