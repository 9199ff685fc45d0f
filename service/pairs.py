"""Which two responses a pairwise rater sees, and in which order.

Pure functions over response ids and the display orders already handed out for the
item. The rule: show the pair compared least often so far (so every pair is
compared once before any pair twice); show it in the orientation seen less often
(so each ordered pair alternates A/B across raters); among equals, prefer the
orientation that brings each response's left and right counts closer; then random.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from typing import Any


def gold_pairs(ids: Sequence[str], gold: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Return the pairs whose answer a gold item knows (all pairs when it knows them all)."""
    pairs = list(combinations(ids, 2))
    if not gold:
        return pairs
    if gold.get("preferred") in ids:
        return [p for p in pairs if gold["preferred"] in p] or pairs
    if "ranking" in gold:
        group = {r: k for k, g in enumerate(gold["ranking"]) for r in g}
        # A pair ranked apart makes a sharper check than a pair the gold calls a tie.
        return [p for p in pairs if group.get(p[0]) != group.get(p[1])] or pairs
    return pairs


def choose_pair(
    ids: Sequence[str],
    history: Sequence[Sequence[str]],
    *,
    gold: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> list[str]:
    """Return [left, right]: the least-compared pair, counterbalanced across raters."""
    if len(ids) < 2:
        raise ValueError("a pairwise item needs at least two responses")
    rng = rng or random.Random()
    shown = [tuple(h[:2]) for h in history if len(h) >= 2]
    unordered = Counter(frozenset(p) for p in shown)
    ordered = Counter(shown)
    net_left = Counter()  # times shown left minus times shown right
    for left, right in shown:
        net_left[left] += 1
        net_left[right] -= 1
    best: tuple[Any, ...] | None = None
    choice: list[str] = []
    for a, b in gold_pairs(ids, gold):
        for left, right in ((a, b), (b, a)):
            key = (
                unordered[frozenset((a, b))],
                ordered[(left, right)] - ordered[(right, left)],
                abs(net_left[left] + 1) + abs(net_left[right] - 1),
                rng.random(),
            )
            if best is None or key < best:
                best, choice = key, [left, right]
    return choice


def shuffled(ids: Sequence[str], rng: random.Random | None = None) -> list[str]:
    """Return every response in a random display order (ranking and rating screens)."""
    rng = rng or random.Random()
    return rng.sample(list(ids), len(ids))
