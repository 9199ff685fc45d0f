"""Verdicts as rankings, and the rules every door shares: ranks, gold scores.

The assignment (gold qualification), the dashboards and the export all call these functions,
so one judgment gets one answer wherever it is read. Pure functions on lists and dicts, and
on the project's typed ``Rubric`` (``service.rubric``, home of the main rating dimension).

A *ranking* is a list of groups of response ids, best group first; responses in one group
are tied. A pairwise verdict is ``[[winner], [loser]]`` (``[[left, right]]`` for a tie), a
ranking verdict is its groups, a rating judgment groups responses by their score on the
project's main rating dimension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from service.rubric import Rubric, RubricKind

Ranking = list[list[str]]


def verdict_ranking(
    mode: str, verdict: dict[str, Any], shown: Sequence[str], scores: dict[str, Any] | None = None
) -> Ranking | None:
    """Return a judgment's verdict as a ranking, or None when it states no preference."""
    if mode == "pairwise":
        if len(shown) != 2:
            return None
        preferred = verdict.get("preferred")
        if preferred is None:
            return [list(shown)]
        first, second = shown
        # The two usual cases without building a comprehension (an export asks per judgment).
        if preferred == first != second:
            return [[first], [second]]
        if preferred == second != first:
            return [[second], [first]]
        if preferred not in shown:
            return None
        return [[preferred], [r for r in shown if r != preferred]]
    if mode == "ranking":
        groups = verdict.get("ranking") or []
        return [list(g) for g in groups if g] or None
    if mode == "rating" and scores:
        return scores_ranking(scores)
    return None


def scores_ranking(scores: dict[str, Any]) -> Ranking | None:
    """Group response ids by numeric score, highest first (equal scores tie)."""
    numeric = {r: v for r, v in scores.items() if is_number(v)}
    if len(numeric) < 2:
        return None
    ranking: Ranking = []
    for value in sorted(set(numeric.values()), reverse=True):
        ranking.append([r for r in numeric if numeric[r] == value])
    return ranking


def is_number(value: Any) -> bool:
    """Tell whether a rubric value is a finite number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def ranks(ranking: Ranking) -> dict[str, float]:
    """Return each response's rank, 1 best; tied responses share their mean rank (1, 2.5, 2.5, 4).

    Fractional ranking, as ``scipy.stats.rankdata(method="average")`` computes it: ranks sum
    to n(n + 1)/2 however responses tie, which rank statistics (Kendall's W, Spearman) assume.
    """
    out: dict[str, float] = {}
    position = 1
    for group in ranking:
        mean = position + (len(group) - 1) / 2
        for r in group:
            out[r] = mean
        position += len(group)
    return out


def dimension_scores(rubric: dict[str, Any] | None, dimension: str) -> dict[str, Any]:
    """Return each response's value of one rubric dimension from a judgment's rubric."""
    per_response = (rubric or {}).get("response") or {}
    return {
        rid: dims.get(dimension) for rid, dims in per_response.items() if isinstance(dims, dict)
    }


def can_tie(mode: str, scale: str) -> bool:
    """Tell whether a rater can express a tie: every project but a binary pairwise one."""
    return not (mode == "pairwise" and scale == "binary")


def collected_scale(mode: str, scale: str, rubric: Rubric) -> str:
    """Say what a project's verdicts are on: the pairwise scale, a ranking, or the rated dimension.

    A project row keeps a pairwise ``scale`` whatever its mode; a dataset card must name
    what raters actually gave.
    """
    if mode == "pairwise":
        return scale
    if mode == "ranking":
        return "ranking, ties allowed"
    main = rubric.main_rating
    if main is None:
        return "rating, no response score"
    if main.kind == RubricKind.LIKERT:
        points = 5 if main.points is None else main.points
        return f"rating: {main.name}, likert 1-{points}"
    span = f" {main.min}-{main.max}" if main.min is not None and main.max is not None else ""
    return f"rating: {main.name}, number{span}"


def gold_score(
    ranking: Ranking, gold: dict[str, Any], *, ties_possible: bool = True
) -> float | None:
    """Return the share of the pairs the gold answer decides that ``ranking`` relates alike.

    Both sides say, for each pair of responses the ranking holds, better, worse or tied; a
    pair scores 1 when they say the same, so a tie where gold orders (or an order where gold
    ties) is a miss. Pairs gold does not decide are not counted: gold ``ranking`` decides
    every pair, ``preferred`` X decides X against each other response (not the order of the
    rest), ``tie`` makes every pair a tie; the first of those keys present is the answer.
    Without ``ties_possible`` (a scale with no tie) the pairs gold ties are not counted.
    Strength is not scored: gold says which response is better, not by how much.
    None when gold decides no pair of the ranking (not scored).

    This is 1 minus the normalised Kendall distance with a penalty of 1 for a pair tied on
    one side only (Fagin et al. 2006, "Comparing partial rankings"), a share from 0 to 1.
    """
    rank = ranks(ranking)
    expected = gold_relations(gold, list(rank))
    if not ties_possible:
        expected = {pair: rel for pair, rel in expected.items() if rel != 0}
    if not expected:
        return None
    hits = sum(_relation(rank, a, b) == rel for (a, b), rel in expected.items())
    return hits / len(expected)


def gold_relations(gold: dict[str, Any], shown: Sequence[str]) -> dict[tuple[str, str], int]:
    """Return how gold relates each pair of ``shown`` it decides: -1 first better, 0 tied, 1."""
    if gold.get("ranking"):
        groups = [g if isinstance(g, list) else [g] for g in gold["ranking"]]
        truth = ranks(groups)
        known = [r for r in shown if r in truth]
        return {(a, b): _relation(truth, a, b) for a, b in combinations(known, 2)}
    preferred = gold.get("preferred")
    if preferred is not None:
        if preferred not in shown:
            return {}
        return {(preferred, r): -1 for r in shown if r != preferred}
    if gold.get("tie") is True:
        return {pair: 0 for pair in combinations(shown, 2)}
    return {}


def _relation(rank: dict[str, float], a: str, b: str) -> int:
    return (rank[a] > rank[b]) - (rank[a] < rank[b])


def score_judgment(
    *,
    mode: str,
    scale: str,
    rubric: Rubric,
    gold: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
    shown: Sequence[str],
    judged: dict[str, Any] | None = None,
) -> float | None:
    """Return a judgment's gold score from 0 to 1, or None when it is not scored.

    ``rubric`` is the project's, ``judged`` the judgment's stored rubric answers: a rating
    judgment is ranked by its scores on the main rating dimension. A gold answer that
    decides no pair of the verdict (``ratings``, a preferred response not shown, a tie on a
    binary scale) leaves the judgment unscored.
    """
    if not gold:
        return None
    scores = None
    if mode == "rating":
        main = rubric.main_rating
        scores = dimension_scores(judged, main.name) if main else None
    ranking = verdict_ranking(mode, verdict or {}, shown, scores)
    if ranking is None:
        return None
    return gold_score(ranking, gold, ties_possible=can_tie(mode, scale))
