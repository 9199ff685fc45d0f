"""The adaptive overlap rule on literals: verdicts, agreement, a unit's target, the audit draw."""

from __future__ import annotations

import pytest

from service.rating import agreement_rule as rule

A, B, TIE = ("preferred", "a"), ("preferred", "b"), ("preferred", None)


@pytest.mark.parametrize(
    ("verdicts", "agreed"),
    [
        ([], False),
        ([A], False),  # one rater is not an agreement
        ([A, A], True),
        ([A, B], False),
        ([A, TIE], False),  # a tie against a side straddles the tie
        ([A, B, A], False),  # 2:1 leads by one
        ([A, B, A, A], True),  # 3:1 leads by two
        ([A, B, A, B], False),
        ([A, B, TIE, A, A], True),  # 3 against 1 and 1
        ([A, A, A], True),
    ],
)
def test_agreed_means_the_leading_verdict_is_two_ahead(verdicts, agreed):
    assert rule.agreed(verdicts) is agreed


@pytest.mark.parametrize(
    ("verdicts", "audit", "target"),
    [
        ([], False, 2),  # every unit starts at the minimum
        ([A], False, 2),
        ([A, A], False, 2),  # two agreeing raters finish it
        ([A, B], False, 3),  # a split opens one more slot
        ([A, B, A], False, 4),
        ([A, B, A, A], False, 4),  # settled at 3:1
        ([A, B, A, B], False, 5),
        ([A, B, A, B, TIE], False, 5),  # never past the maximum
        ([A, B, A, B, A, B], False, 5),  # more than allowed (a lowered maximum): still 5
        ([], True, 5),  # the audit sample always wants the maximum
        ([A, A], True, 5),
    ],
)
def test_unit_target_from_overlap_2_to_5(verdicts, audit, target):
    assert rule.unit_target(verdicts, low=2, high=5, audit=audit) == target


def test_unit_target_with_a_minimum_of_3():
    assert rule.unit_target([A, A, B], low=3, high=4, audit=False) == 4
    assert rule.unit_target([A, A, A], low=3, high=4, audit=False) == 3
    assert rule.unit_target([A, A], low=3, high=4, audit=False) == 3


@pytest.mark.parametrize(
    ("mode", "verdict", "rubric", "expected"),
    [
        ("pairwise", {"preferred": "a", "strength": 3, "scale_value": 1}, {}, A),
        ("pairwise", {"preferred": "a", "strength": 1, "scale_value": 3}, {}, A),  # same side
        ("pairwise", {"preferred": None, "strength": 0, "scale_value": 4}, {}, TIE),
        ("ranking", {"ranking": [["b", "a"], ["c"]]}, {}, ("first", frozenset("ab"))),
        (
            "rating",
            {},
            {"response": {"b": {"q": 4, "note": "x"}, "a": {"q": 2}}, "item": {}},
            ("ratings", (("a", 2), ("b", 4))),
        ),
    ],
)
def test_verdict_of_each_mode(mode, verdict, rubric, expected):
    assert rule.verdict_of(mode, verdict, rubric, "q") == expected


def test_a_ranking_agrees_on_what_it_ranks_first():
    first = rule.verdict_of("ranking", {"ranking": [["a"], ["b"], ["c"]]}, {}, None)
    other = rule.verdict_of("ranking", {"ranking": [["a"], ["c", "b"]]}, {}, None)
    assert rule.agreed([first, other])


def test_the_audit_draw_is_seeded_uniform_and_nested():
    draws = [rule.audit_draw(7, i) for i in range(4000)]
    assert draws == [rule.audit_draw(7, i) for i in range(4000)]  # the same every time
    assert all(0 <= d < 1 for d in draws)
    share = sum(d < 0.1 for d in draws) / len(draws)
    assert 0.08 < share < 0.12  # ~10% (binomial sd 0.5%): a uniform draw
    small = {i for i in range(4000) if rule.in_audit(7, i, 0.05)}
    large = {i for i in range(4000) if rule.in_audit(7, i, 0.2)}
    assert small < large  # a larger share keeps every item already in the sample
    assert not any(rule.in_audit(7, i, 0.0) for i in range(100))
    assert all(rule.in_audit(7, i, 1.0) for i in range(100))
