"""Consensus over one item's judgments: weighted majority, or Bradley–Terry.

Both take every judgment's verdict as a ranking and look at every pair of responses
it orders. ``majority`` decides a pair by the weighted plurality of its win / lose /
tie votes (a tie vote is its own option, so two ties and one win is a tie) and orders
the item by Copeland score (pairwise-majority wins, half for a tie). ``bradley-terry``
fits one strength per response with ``service.stats.bradley_terry`` (a tie is half a win to
each side, each judgment counts once: rater weights do not apply) and decides every
pair, and the order, by strength.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.export import rules
from service.export.rules import Ranking
from service.stats.bradley_terry import fit_bradley_terry

# (ranking, rater weight, strength) per judgment
Votes = Sequence[tuple[Ranking, float, int | None]]
# (better, worse, tied, mean strength of the votes for better)
Decision = tuple[str, str, bool, float | None]

_SAME = 1e-6  # strengths closer than this are a tie


def order(votes: Votes, method: str) -> Ranking:
    """Return the item's consensus ranking, best group first (ties share a group)."""
    if method == "bradley-terry":
        return _groups(_strengths(votes))
    return rules.copeland_ranking(rules.tally(votes))


def decide(votes: Votes, method: str, rule: str) -> list[Decision]:
    """Decide each compared pair that ``rule`` picks from the consensus order.

    ``all`` takes every pair some judgment compared; ``best-vs-rest`` and ``adjacent``
    take the pairs of the consensus order that some judgment compared.
    """
    table = rules.tally(votes)
    strengths = _strengths(votes) if method == "bradley-terry" else {}
    if rule == "all":
        keys = sorted(table)
    else:
        groups = _groups(strengths) if strengths else rules.copeland_ranking(table)
        keys = [(b, w) if b < w else (w, b) for b, w, _ in rules.ranking_pairs(groups, rule)]
    decisions: list[Decision] = []
    for key in keys:
        pv = table.get(key)
        if pv is None:
            continue
        if strengths:
            gap = strengths[pv.a] - strengths[pv.b]
            outcome = (pv.a, pv.b) if gap > _SAME else (pv.b, pv.a) if gap < -_SAME else None
        else:
            plurality = pv.plurality()
            outcome = plurality if isinstance(plurality, tuple) else None
        if outcome is None:
            decisions.append((pv.a, pv.b, True, 0.0))
        else:
            decisions.append((*outcome, False, pv.mean_strength(outcome[0])))
    return decisions


def _strengths(votes: Votes) -> dict[str, float]:
    ids = sorted({r for ranking, _, _ in votes for group in ranking for r in group})
    outcomes = [
        (better, worse, 0.5 if tied else 1.0)
        for ranking, _, _ in votes
        for better, worse, tied in rules.ranking_pairs(ranking, "all")
    ]
    return {str(k): v for k, v in fit_bradley_terry(ids, outcomes).items()}


def _groups(strengths: dict[str, float]) -> Ranking:
    ranking: Ranking = []
    for rid in sorted(strengths, key=lambda r: (-strengths[r], r)):
        if ranking and abs(strengths[ranking[-1][0]] - strengths[rid]) <= _SAME:
            ranking[-1].append(rid)
        else:
            ranking.append([rid])
    return ranking
