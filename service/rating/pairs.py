"""Which two responses a pairwise rater sees, and in which order.

Pure functions over response ids and the display orders already handed out for the
item. A pairwise project collects a fixed set of *pair units* per item (its ``pairs``
setting: every pair, a round-robin cycle, or each response against a reference), and
each unit wants ``overlap`` raters. A new lease gets a unit that still wants raters:
with the "complete-first" order the most advanced one (so units are finished, and
raters agree or disagree on them, before new ones start), with "spread" the least
advanced one (every unit once before any twice). It is shown in the orientation seen
less often (so each ordered pair alternates A/B across raters); among equals, in the
orientation that brings each response's left and right counts closer; then random.

Exactness: an item's capacity is ``overlap`` × its units (``slots.py``), and the history
counts the same leases as the item's ``taken`` counter (submitted and active). A lease
is only ever given a unit below ``overlap``, so once every slot is taken every unit has
exactly ``overlap`` raters; a slot given back (expiry, skip, release) is free again in
the unit that lost it, and only there once the others are full. Under adaptive
overlap each unit has its own target (adaptive.py) and the capacity is their sum.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

from service.models import PairSet

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Pair = tuple[str, str]
# A unit an item is collected on, as the set of its responses: a pair, or the whole item.
Unit = frozenset[str]


def units(
    ids: Sequence[str], pair_set: str = PairSet.ALL, reference: str | None = None
) -> list[Pair]:
    """Return the pair units of an item whose responses are ``ids`` (in imported order)."""
    if len(ids) < 2:
        raise ValueError("a pairwise item needs at least two responses")
    if pair_set == PairSet.ROUND_ROBIN and len(ids) > 2:
        return [(ids[k], ids[(k + 1) % len(ids)]) for k in range(len(ids))]
    if pair_set == PairSet.REFERENCE:
        if reference not in ids:
            raise ValueError(f"reference {reference!r} is not a response of this item")
        return [(reference, r) for r in ids if r != reference]
    return list(combinations(ids, 2))


def unit_count(n_responses: int, pair_set: str = PairSet.ALL) -> int:
    """Return how many pair units an item of ``n_responses`` has (as ``units`` lists them)."""
    if pair_set == PairSet.ROUND_ROBIN and n_responses > 2:
        return n_responses
    if pair_set == PairSet.REFERENCE:
        return n_responses - 1
    return n_responses * (n_responses - 1) // 2


def item_units(
    ids: Sequence[str],
    *,
    pairwise: bool,
    pair_set: str = PairSet.ALL,
    reference: str | None = None,
    gold: bool = False,
) -> list[Unit]:
    """Return the units an item is collected on, each wanting ``overlap`` judgments.

    A pairwise item has its pair units (``units``); a ranking or rating item, and a gold
    item (served to any number of raters, on the pairs its answer knows), is one unit.
    """
    if not pairwise or gold or len(ids) < 2:
        return [frozenset(ids)]
    return [frozenset(p) for p in units(ids, pair_set, reference)]


def unit_of(shown: Sequence[str], of: Sequence[Unit]) -> int | None:
    """Return the index in ``of`` of the unit a judgment that showed ``shown`` belongs to.

    An item of one unit takes every judgment; otherwise a judgment belongs to the pair it
    showed, and to no unit (None) when the item does not collect that pair.
    """
    if len(of) == 1:
        return 0
    pair = frozenset(shown[:2])
    return next((k for k, unit in enumerate(of) if unit == pair), None)


def unit_counts(of: Sequence[Unit], shown: Iterable[Sequence[str]]) -> list[int]:
    """Count the judgments on each unit of ``of``, given what each judgment showed."""
    counts = [0] * len(of)
    for order in shown:
        k = unit_of(order, of)
        if k is not None:
            counts[k] += 1
    return counts


def missing(counts: npt.ArrayLike, overlap: npt.ArrayLike) -> np.ndarray:
    """Return how many more judgments each unit wants; an item is complete when all are 0.

    The one rule of completeness: every unit needs ``overlap`` judgments of its own (a unit
    judged past overlap makes up for no other). Works element-wise on arrays of counts;
    ``overlap`` is one number, or each unit's own target (adaptive overlap).
    """
    # Imported here: numpy costs a tenth of a second, and the slot rules that import this
    # module run in light CLI commands (users, tokens, db) that never count a unit.
    import numpy as np

    return np.maximum(overlap - np.asarray(counts, dtype=np.int64), 0)


def gold_pairs(ids: Sequence[str], gold: dict[str, Any] | None) -> list[Pair]:
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


def coverage(history: Sequence[Sequence[str]]) -> Counter[frozenset[str]]:
    """Count the leases (display orders) on each unordered pair."""
    return Counter(frozenset(h[:2]) for h in history if len(h) >= 2)


def choose_pair(
    ids: Sequence[str],
    history: Sequence[Sequence[str]],
    *,
    pair_units: Sequence[Pair] | None = None,
    overlap: int | Mapping[Unit, int] | None = None,
    fill_first: bool = False,
    gold: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> list[str]:
    """Return [left, right]: a unit still below ``overlap``, counterbalanced across raters.

    ``pair_units`` defaults to every pair (the gold pairs for a gold item); without
    ``overlap`` no unit is ever full (gold items go to any number of raters). Under
    adaptive overlap ``overlap`` maps each unit to its own target.
    ``fill_first`` prefers the unit with the most raters, else the one with the fewest.
    """
    if len(ids) < 2:
        raise ValueError("a pairwise item needs at least two responses")
    draw = rng.random if rng is not None else random.random
    shown = [tuple(h[:2]) for h in history if len(h) >= 2]
    unordered = coverage(shown)
    ordered = Counter(shown)
    net_left = Counter()  # times shown left minus times shown right
    for left, right in shown:
        net_left[left] += 1
        net_left[right] -= 1
    candidates = list(pair_units) if pair_units is not None else gold_pairs(ids, gold)

    def target(p: Pair) -> float:
        if overlap is None:
            return float("inf")
        return overlap if isinstance(overlap, int) else overlap[frozenset(p)]

    wanting = [p for p in candidates if unordered[frozenset(p)] < target(p)]
    # None wanting means the counters drifted from the leases: never fail the rater.
    candidates = wanting or candidates
    sign = -1 if fill_first else 1
    best: tuple[Any, ...] | None = None
    choice: list[str] = []
    for a, b in candidates:
        for left, right in ((a, b), (b, a)):
            key = (
                sign * unordered[frozenset((a, b))],
                ordered[(left, right)] - ordered[(right, left)],
                abs(net_left[left] + 1) + abs(net_left[right] - 1),
                draw(),
            )
            if best is None or key < best:
                best, choice = key, [left, right]
    return choice


def shuffled(ids: Sequence[str], rng: random.Random | None = None) -> list[str]:
    """Return every response in a random display order (ranking and rating screens)."""
    # The random module's own generator, not a new one per call (which seeds from the OS:
    # 11 us a lease); Python reseeds it in each forked worker.
    return (rng.sample if rng is not None else random.sample)(list(ids), len(ids))
