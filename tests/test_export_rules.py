"""The export rules on literals: pairs, ties, votes, consensus, agreement, labels, splits."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from itertools import combinations

import pytest

from service.export import consensus, rules

# scipy.stats is imported by the tests that use it: ~0.6 s less at collection, in every worker.


@pytest.mark.parametrize(
    ("mode", "verdict", "shown", "scores", "expected"),
    [
        ("pairwise", {"preferred": "b"}, ["a", "b"], None, [["b"], ["a"]]),
        ("pairwise", {"preferred": None}, ["b", "a"], None, [["b", "a"]]),
        ("pairwise", {"preferred": "z"}, ["a", "b"], None, None),
        ("pairwise", {"preferred": "a"}, ["a"], None, None),
        ("ranking", {"ranking": [["b"], [], ["a", "c"]]}, [], None, [["b"], ["a", "c"]]),
        ("ranking", {}, [], None, None),
        ("rating", {}, [], {"a": 2, "b": 5, "c": 2, "d": "n/a"}, [["b"], ["a", "c"]]),
        ("rating", {}, [], {"a": 2}, None),
    ],
)
def test_verdict_ranking(mode, verdict, shown, scores, expected):
    assert rules.verdict_ranking(mode, verdict, shown, scores) == expected


RANKING = [["b"], ["a", "c"], ["d"]]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            "all",
            [
                ("a", "c", True),
                ("b", "a", False),
                ("b", "c", False),
                ("b", "d", False),
                ("a", "d", False),
                ("c", "d", False),
            ],
        ),
        ("best-vs-rest", [("b", "a", False), ("b", "c", False), ("b", "d", False)]),
        (
            "adjacent",
            [
                ("a", "c", True),
                ("b", "a", False),
                ("b", "c", False),
                ("a", "d", False),
                ("c", "d", False),
            ],
        ),
    ],
)
def test_ranking_pairs(rule, expected):
    assert rules.ranking_pairs(RANKING, rule) == expected


def test_ranking_pairs_of_a_pairwise_verdict_and_a_tie():
    assert rules.ranking_pairs([["a"], ["b"]], "adjacent") == [("a", "b", False)]
    assert rules.ranking_pairs([["a", "b"]], "best-vs-rest") == [("a", "b", True)]


def test_restrict_keeps_order_and_needs_two():
    assert rules.restrict(RANKING, {"d", "a"}) == [["a"], ["d"]]
    assert rules.restrict(RANKING, {"d"}) is None


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ({"strength": 2, "scale_value": 6}, 2),
        ({"strength": None, "scale_value": 1}, 3),
        ({"strength": None, "scale_value": None}, None),
        ({"strength": True}, None),
    ],
)
def test_strength_of(verdict, expected):
    assert rules.strength_of(verdict) == expected


def test_tally_plurality_weights_and_strengths():
    table = rules.tally(
        [([["a"], ["b"]], 1.0, 3), ([["a"], ["b"]], 1.0, 1), ([["b"], ["a"]], 1.5, 2)]
    )
    pv = table["a", "b"]
    assert (pv.for_a, pv.for_b, pv.tie, pv.count) == (2.0, 1.5, 0.0, 3)
    assert pv.plurality() == ("a", "b")
    assert pv.mean_strength("a") == 2.0
    assert pv.mean_strength("b") == 2.0


def test_plurality_tie_leads_and_no_lead():
    tie = rules.tally([([["a", "b"]], 1.0, 0), ([["a", "b"]], 1.0, 0), ([["a"], ["b"]], 1.0, 1)])
    assert tie["a", "b"].plurality() == "tie"
    split = rules.tally([([["a"], ["b"]], 1.0, 1), ([["b"], ["a"]], 1.0, 1)])
    assert split["a", "b"].plurality() is None
    weighted = rules.tally([([["a"], ["b"]], 0.75, 1), ([["b"], ["a"]], 0.25, 1)])
    assert weighted["a", "b"].plurality() == ("a", "b")


def test_mean_strength_unknown_when_any_vote_lacks_it():
    table = rules.tally([([["a"], ["b"]], 1.0, 2), ([["a"], ["b"]], 1.0, None)])
    assert table["a", "b"].mean_strength("a") is None


def test_copeland_ranking():
    table = rules.tally([(RANKING, 1.0, None), ([["a"], ["b"], ["c"], ["d"]], 1.0, None)])
    # a-b split 1:1 and a-c tie-vs-a 1:1 are no-majority pairs, worth half a win each.
    assert rules.copeland_ranking(table) == [["b"], ["a"], ["c"], ["d"]]


def test_majority_share():
    two_to_one = [[["a"], ["b"]], [["a"], ["b"]], [["a", "b"]]]
    assert rules.majority_share(two_to_one) == 0.6667
    assert rules.majority_share([[["a"], ["b"]]]) is None
    # Pooled over pairs: (a,b) 2 of 2 agree; (c,d) 1 of 2.
    pooled = [[["a"], ["b"]], [["a"], ["b"]], [["c"], ["d"]], [["d"], ["c"]]]
    assert rules.majority_share(pooled) == 0.75


def test_mean_kendall_tau_matches_scipy():
    from scipy.stats import kendalltau

    rankings = [RANKING, [["a"], ["b"], ["c"], ["d"]], [["b"], ["a"], ["d"], ["c"]]]
    expected = []
    for first, second in combinations(rankings, 2):
        r1, r2 = rules.ranks(first), rules.ranks(second)
        ids = sorted(r1)
        expected.append(kendalltau([r1[i] for i in ids], [r2[i] for i in ids]).statistic)
    assert rules.mean_kendall_tau(rankings) == round(sum(expected) / 3, 4)
    assert rules.mean_kendall_tau([[["a", "b", "c"]], RANKING]) is None  # all tied: undefined
    assert rules.mean_kendall_tau([RANKING]) is None


def test_kto_labels():
    assert rules.kto_labels(RANKING, both_bad=False) == [("b", True), ("d", False)]
    assert rules.kto_labels([["a", "b"]], both_bad=False) == []
    assert rules.kto_labels([["a"], ["b"]], both_bad=True) == [("a", False), ("b", False)]


@pytest.mark.parametrize(
    ("score", "expected"),
    [(4, True), (2, False), (3, None), (3.0, None), ("4", None), (True, None)],
)
def test_threshold_label(score, expected):
    assert rules.threshold_label(score, 3.0) is expected


def test_majority_label():
    assert rules.majority_label([(True, 1.0), (False, 1.0), (True, 1.0)]) is True
    assert rules.majority_label([(True, 1.0), (False, 1.0)]) is None
    assert rules.majority_label([(True, 0.3), (False, 0.6)]) is False


def test_split_is_deterministic_proportional_and_seeded():
    split = (("train", 0.8), ("test", 0.2))
    keys = [f"prompt {i}" for i in range(5000)]
    first = [rules.split_of(k, split, 7) for k in keys]
    assert first == [rules.split_of(k, split, 7) for k in keys]
    share = Counter(first)["test"] / len(keys)
    assert math.isclose(share, 0.2, abs_tol=0.03)
    assert first != [rules.split_of(k, split, 8) for k in keys]


def test_pseudonym_is_a_keyed_hash_of_the_id():
    expected = hmac.new(b"secret", b"rater:42", hashlib.sha256).hexdigest()[:12]
    assert rules.pseudonym("secret", 42) == "r-" + expected
    assert rules.pseudonym("secret", 42) != rules.pseudonym("other", 42)
    assert rules.pseudonym("secret", 42) != rules.pseudonym("secret", 43)


def test_smoothed_accuracy():
    assert rules.smoothed_accuracy([]) == 0.5
    assert rules.smoothed_accuracy([1.0, 1.0]) == 0.75


# --- Consensus (service.export.consensus) ---


def test_majority_counts_a_tie_vote_as_its_own_option():
    votes = [([["a"], ["b"]], 1.0, 1), ([["a", "b"]], 1.0, 0), ([["a", "b"]], 1.0, 0)]
    assert consensus.decide(votes, "majority", "all") == [("a", "b", True, 0.0)]
    assert consensus.order(votes, "majority") == [["a", "b"]]


def test_bradley_terry_counts_a_tie_as_half_a_win():
    votes = [([["a"], ["b"]], 1.0, 1), ([["a", "b"]], 1.0, 0), ([["a", "b"]], 1.0, 0)]
    assert consensus.decide(votes, "bradley-terry", "all") == [("a", "b", False, 1.0)]
    assert consensus.order(votes, "bradley-terry") == [["a"], ["b"]]


def test_bradley_terry_even_split_is_a_tie():
    votes = [([["a"], ["b"]], 1.0, 2), ([["b"], ["a"]], 1.0, 2)]
    assert consensus.decide(votes, "bradley-terry", "all") == [("a", "b", True, 0.0)]


def test_consensus_pairs_follow_the_rule_on_the_consensus_order():
    votes = [
        ([["b"], ["a", "c"], ["d"]], 1.0, None),
        ([["a"], ["b"], ["c"], ["d"]], 1.0, None),
        ([["b"], ["a"], ["d"], ["c"]], 1.0, None),
    ]
    for method in ("majority", "bradley-terry"):
        assert consensus.order(votes, method) == [["b"], ["a"], ["c"], ["d"]]
        best = consensus.decide(votes, method, "best-vs-rest")
        assert [(b, w, t) for b, w, t, _ in best] == [
            ("b", "a", False),
            ("b", "c", False),
            ("b", "d", False),
        ]
        adjacent = consensus.decide(votes, method, "adjacent")
        assert [(b, w) for b, w, _, _ in adjacent] == [("b", "a"), ("a", "c"), ("c", "d")]


def test_pair_verdicts_and_pair_agreement():
    rankings = [[["a"], ["b"]], [["a"], ["b"]], [["a", "b"]], [["b"], ["a"], ["c"]]]
    verdicts = rules.pair_verdicts(rankings)
    assert verdicts == {
        ("a", "b"): {"a": 2, None: 1, "b": 1},
        ("a", "c"): {"a": 1},
        ("b", "c"): {"b": 1},
    }
    assert rules.pair_agreement(verdicts["a", "b"]) == 0.5
    assert rules.pair_agreement(verdicts["a", "c"]) is None  # one vote agrees with nothing
    assert rules.majority_share(rankings) == 0.5  # pooled over the pairs with two votes
