"""Model judges against human raters: pure functions on labels and verdicts.

A judge's label and a human's label on the same unit (the same pair of responses, the
same response's score) make one *cross pair*. Human-judge agreement is computed on cross
pairs with the statistics the human-human report uses (stats/agreement.py): each cross
pair is a unit of two coders, the judge and that human, and the bootstrap resamples items.
A judge judged each pair in both orders: both verdicts count, so a judge that flips with
the order agrees less (the flip is not averaged away).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from service.stats import rankings

JUDGE, HUMAN = 0, 1  # the two coders of a cross pair


class CrossPairs(NamedTuple):
    """One row per (judge label, human label) on the same unit, as parallel arrays."""

    unit: np.ndarray  # the unit both labelled (codes of the labels they came from)
    judge: np.ndarray  # the judge's value
    human: np.ndarray  # the human's value
    rater: np.ndarray  # the human rater's id


def cross_pairs(
    unit: np.ndarray, rater: np.ndarray, value: np.ndarray, is_judge: np.ndarray
) -> CrossPairs:
    """Pair every judge label with every human label on the same unit."""
    unit, rater, value = np.asarray(unit), np.asarray(rater), np.asarray(value, dtype=float)
    is_judge = np.asarray(is_judge, dtype=bool)
    ok = np.isfinite(value)
    humans: dict[int, list[int]] = {}
    for k in np.flatnonzero(ok & ~is_judge):
        humans.setdefault(int(unit[k]), []).append(int(k))
    j_rows, h_rows = [], []
    for k in np.flatnonzero(ok & is_judge):
        for h in humans.get(int(unit[k]), ()):
            j_rows.append(int(k))
            h_rows.append(h)
    j, h = np.array(j_rows, dtype=np.int64), np.array(h_rows, dtype=np.int64)
    return CrossPairs(unit[j], value[j], value[h], rater[h])


def two_coder_arrays(pairs: CrossPairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (unit, coder, value) arrays: each cross pair is a unit coded by judge and human."""
    n = len(pairs.unit)
    units = np.repeat(np.arange(n, dtype=np.int64), 2)
    coders = np.tile(np.array([JUDGE, HUMAN], dtype=np.int64), n)
    values = np.column_stack([pairs.judge, pairs.human]).reshape(-1) if n else np.zeros(0)
    return units, coders, values


def confusion(
    judge: Sequence[float], majority: Sequence[float], categories: Sequence[float]
) -> list[list[int]]:
    """Count (human majority, judge verdict) pairs: rows the majority, columns the judge."""
    index = {float(c): k for k, c in enumerate(categories)}
    out = [[0] * len(categories) for _ in categories]
    for j, m in zip(judge, majority, strict=True):
        if float(m) in index and float(j) in index:
            out[index[float(m)]][index[float(j)]] += 1
    return out


def reduced(verdict: dict[str, Any], rubric: dict[str, Any] | None = None) -> Any:
    """Return what a verdict says, whatever order its responses were shown in."""
    if "ranking" in verdict:
        return sorted(rankings.ranks(verdict.get("ranking") or []).items())
    if "preferred" in verdict:
        return verdict.get("preferred")
    scores = (rubric or {}).get("response") or {}
    return sorted((rid, sorted((v or {}).items())) for rid, v in scores.items())


def position_consistent(
    a: dict[str, Any],
    b: dict[str, Any],
    a_rubric: dict[str, Any] | None = None,
    b_rubric: dict[str, Any] | None = None,
) -> bool:
    """Tell whether two verdicts on the same responses, shown in two orders, say the same.

    Verdicts name response ids, not screen positions, so a judge that follows the
    content gives equal verdicts in both orders; one that follows the position flips.
    A pairwise verdict's strength may differ ("slightly" and "much" better agree).
    """
    return reduced(a, a_rubric) == reduced(b, b_rubric)


def consistency_rate(flags: Sequence[bool]) -> dict[str, Any]:
    """Return the share of order pairs whose two verdicts agree, with its counts."""
    n = len(flags)
    consistent = int(sum(bool(f) for f in flags))
    return {
        "rate": consistent / n if n else None,
        "pairs": n,
        "inconsistent": n - consistent,
        "reason": None if n else "no item judged in both orders yet",
    }
