"""Judgments against gold answers: the share of response pairs ordered as the gold orders them."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from service.dashboards.columns import JudgmentColumns
from service.dashboards.verdicts import ranks_of


def verdict_ranks(verdict: dict[str, Any], shown: list[str]) -> dict[str, float]:
    """Return the ranks a verdict gave the responses shown (a pairwise verdict ranks two)."""
    if "ranking" in verdict:
        return ranks_of(verdict["ranking"] or [])
    if len(shown) < 2 or shown[0] is None or shown[1] is None or "preferred" not in verdict:
        return {}
    left, right, preferred = shown[0], shown[1], verdict["preferred"]
    return {left: 1.0 if preferred != right else 2.0, right: 1.0 if preferred != left else 2.0}


def _gold_ranks(gold: dict[str, Any], responses: list[str]) -> dict[str, float]:
    if gold.get("ranking"):
        return ranks_of([g if isinstance(g, list) else [g] for g in gold["ranking"]])
    if gold.get("preferred") is not None:
        return {r: 1.0 if r == gold["preferred"] else 2.0 for r in responses}
    if gold.get("tie"):
        return dict.fromkeys(responses, 1.0)
    return {}


def gold_score(ranks: dict[str, float], gold: dict[str, Any]) -> float | None:
    """Return the share of response pairs ranked as the gold answer ranks them (ties must be
    ties), or None when the gold answer orders none of them.

    For a pairwise verdict that is 1 when it names the gold response (or a gold tie), else 0.
    """
    truth = _gold_ranks(gold, list(ranks))
    pairs = [(a, b) for a, b in combinations(sorted(ranks), 2) if a in truth and b in truth]
    if not pairs:
        return None
    same = [np.sign(ranks[a] - ranks[b]) == np.sign(truth[a] - truth[b]) for a, b in pairs]
    return float(np.mean(same))


def gold_scores(cols: JudgmentColumns, gold: dict[int, dict[str, Any]]) -> np.ndarray:
    """Return gold_score for every judgment, NaN where its item has no gold answer."""
    scores = np.full(len(cols), np.nan)
    for k in np.flatnonzero(np.isin(cols.item, list(gold))):
        verdict = cols.verdict[k] if cols.verdict is not None else {"preferred": cols.preferred[k]}
        score = gold_score(
            verdict_ranks(verdict or {}, list(cols.shown[k])), gold[int(cols.item[k])]
        )
        scores[k] = np.nan if score is None else score
    return scores
