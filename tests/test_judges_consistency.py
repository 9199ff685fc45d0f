"""Position consistency of a judge's two verdicts of one item (judging/consistency.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from service.judging.consistency import position_consistent


def _v(order: list[str], verdict: dict | None = None, rubric: dict | None = None):
    return SimpleNamespace(shown_order=order, verdict=verdict or {}, rubric=rubric or {})


def _pair(order: list[str], preferred: str | None, strength: int | None = None):
    return _v(order, {"preferred": preferred, "strength": strength, "scale_value": None})


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("r1", "r1", True),  # the same response wins whichever side it is on
        ("r1", "r2", False),  # the judge picked the same *position* both times: a flip
        (None, None, True),  # a tie both times
        ("r1", None, False),  # a preference and a tie straddle the tie
    ],
)
def test_pairwise_compares_the_response_preferred(first, second, expected):
    a = _pair(["r1", "r2"], first)
    b = _pair(["r2", "r1"], second)

    assert position_consistent(a, b) is expected
    assert position_consistent(b, a) is expected


def test_pairwise_strength_on_one_side_still_agrees():
    assert position_consistent(_pair(["r1", "r2"], "r1", 3), _pair(["r2", "r1"], "r1", 1))


def test_ranking_compares_the_whole_order_with_ties():
    a = _v(["x", "y", "z"], {"ranking": [["x"], ["y", "z"]]})
    same = _v(["z", "y", "x"], {"ranking": [["x"], ["z", "y"]]})
    flipped = _v(["z", "y", "x"], {"ranking": [["x"], ["z"], ["y"]]})

    assert position_consistent(a, same) is True
    assert position_consistent(a, flipped) is False


def test_rating_compares_the_scores_of_every_response():
    a = _v(["x", "y"], {}, {"response": {"x": {"q": 4}, "y": {"q": 2}}, "item": {}})
    b = _v(["y", "x"], {}, {"response": {"y": {"q": 2}, "x": {"q": 4}}, "item": {}})
    c = _v(["y", "x"], {}, {"response": {"y": {"q": 4}, "x": {"q": 4}}, "item": {}})

    assert position_consistent(a, b) is True
    assert position_consistent(a, c) is False


def test_verdicts_that_are_not_two_orders_of_one_item_are_not_compared():
    ab = _pair(["r1", "r2"], "r1")
    assert position_consistent(ab, None) is None
    assert position_consistent(None, ab) is None
    assert position_consistent(ab, _pair(["r1", "r2"], "r2")) is None  # the same order twice
    assert position_consistent(ab, _pair(["r3", "r1"], "r1")) is None  # other responses
