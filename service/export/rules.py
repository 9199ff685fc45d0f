"""The rules that turn judgments into preferences: pairs, ties, votes, consensus, agreement.

Pure functions over plain lists and dicts, so each rule is tested on literals. A
*ranking* is a list of groups of response ids, best group first; responses in one
group are tied. Every verdict becomes a ranking first (``service.stats.rankings.verdict_ranking``):
a pairwise verdict is ``[[winner], [loser]]`` (or ``[[left, right]]`` for a tie), a rating
verdict groups responses by their score on one rubric dimension.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from service.stats import agreement

# The rules the export shares with gold scoring and the dashboards live in service.stats.rankings;
# re-exported so the export reads every rule through this module.
from service.stats.rankings import Ranking
from service.stats.rankings import dimension_scores as dimension_scores
from service.stats.rankings import is_number as is_number
from service.stats.rankings import ranks as ranks
from service.stats.rankings import scores_ranking as scores_ranking
from service.stats.rankings import verdict_ranking as verdict_ranking

# (better, worse, tied): better and worse are in rank order; a tied pair has no winner.
Pair = tuple[str, str, bool]


def restrict(ranking: Ranking, keep: set[str]) -> Ranking | None:
    """Drop responses not in ``keep``; None when fewer than two remain."""
    groups = [[r for r in g if r in keep] for g in ranking]
    groups = [g for g in groups if g]
    return groups if sum(len(g) for g in groups) >= 2 else None


def ranking_pairs(ranking: Ranking, rule: str) -> list[Pair]:
    """Return the pairs a ranking yields under ``rule`` (all, best-vs-rest, adjacent).

    ``all`` compares every two responses; ``best-vs-rest`` compares the best group
    with each response below it; ``adjacent`` compares each group with the next.
    Compared responses that share a group come out as tied pairs.
    """
    if len(ranking) == 2 and len(ranking[0]) == 1 and len(ranking[1]) == 1:
        return [(ranking[0][0], ranking[1][0], False)]  # the common pairwise verdict, fast
    pairs: list[Pair] = []
    tied_groups = ranking if rule in ("all", "adjacent") else ranking[:1]
    for group in tied_groups:
        pairs.extend((a, b, True) for a, b in combinations(group, 2))
    for i, upper in enumerate(ranking):
        if rule == "all":
            lower = [r for g in ranking[i + 1 :] for r in g]
        elif rule == "best-vs-rest":
            lower = [r for g in ranking[1:] for r in g] if i == 0 else []
        else:
            lower = ranking[i + 1] if i + 1 < len(ranking) else []
        pairs.extend((a, b, False) for a in upper for b in lower)
    return pairs


def strength_of(verdict: dict[str, Any]) -> int | None:
    """Return a pairwise verdict's strength (0 tie .. 3 much better), or None if unknown."""
    strength = verdict.get("strength")
    if isinstance(strength, int) and not isinstance(strength, bool):
        return strength
    scale_value = verdict.get("scale_value")
    if isinstance(scale_value, int) and not isinstance(scale_value, bool):
        return abs(scale_value - 4)
    return None


class PairVotes:
    """Weighted votes on one unordered pair of responses ``(a, b)`` with ``a < b``."""

    __slots__ = ("a", "b", "for_a", "for_b", "tie", "count", "strengths_a", "strengths_b")

    def __init__(self, a: str, b: str) -> None:
        self.a, self.b = a, b
        self.for_a = self.for_b = self.tie = 0.0
        self.count = 0
        self.strengths_a: list[int | None] = []
        self.strengths_b: list[int | None] = []

    def add(self, winner: str | None, weight: float, strength: int | None) -> None:
        """Count one judgment's vote: the winner's id, or None for a tie."""
        self.count += 1
        if winner is None:
            self.tie += weight
        elif winner == self.a:
            self.for_a += weight
            self.strengths_a.append(strength)
        else:
            self.for_b += weight
            self.strengths_b.append(strength)

    def plurality(self) -> tuple[str, str] | str | None:
        """Return (winner, loser) by weighted plurality, "tie" if tie votes lead, None if no lead."""
        options = sorted([(self.for_a, "a"), (self.for_b, "b"), (self.tie, "tie")], reverse=True)
        if options[0][0] <= 0 or math.isclose(options[0][0], options[1][0]):
            return None
        top = options[0][1]
        if top == "tie":
            return "tie"
        return (self.a, self.b) if top == "a" else (self.b, self.a)

    def mean_strength(self, winner: str) -> float | None:
        """Mean strength of the votes for ``winner``; None if any of them is unknown."""
        values = self.strengths_a if winner == self.a else self.strengths_b
        if not values or any(v is None for v in values):
            return None
        return sum(values) / len(values)  # type: ignore[arg-type]


def tally(votes: Iterable[tuple[Ranking, float, int | None]]) -> dict[tuple[str, str], PairVotes]:
    """Turn (ranking, rater weight, strength) per judgment into votes on every compared pair."""
    table: dict[tuple[str, str], PairVotes] = {}
    for ranking, weight, strength in votes:
        for better, worse, tied in ranking_pairs(ranking, "all"):
            key = (better, worse) if better < worse else (worse, better)
            pv = table.get(key)
            if pv is None:
                pv = table[key] = PairVotes(*key)
            pv.add(None if tied else better, weight, 0 if tied else strength)
    return table


def copeland_ranking(table: dict[tuple[str, str], PairVotes]) -> Ranking:
    """Rank responses by pairwise-majority wins (Copeland: a win 1, a tie or no majority 1/2)."""
    score: dict[str, float] = {}
    for pv in table.values():
        outcome = pv.plurality()
        score.setdefault(pv.a, 0.0)
        score.setdefault(pv.b, 0.0)
        if isinstance(outcome, tuple):
            score[outcome[0]] += 1
        else:
            score[pv.a] += 0.5
            score[pv.b] += 0.5
    ranking: Ranking = []
    for value in sorted(set(score.values()), reverse=True):
        ranking.append(sorted(r for r in score if score[r] == value))
    return ranking


# One pair's verdicts: winner's id (None for a tie) -> how many rankings gave it.
Verdicts = dict[str | None, int]


def pair_verdicts(rankings: Iterable[Ranking]) -> dict[tuple[str, str], Verdicts]:
    """Count the verdicts on every pair the rankings order (unweighted), keyed ``(a, b)``, a < b."""
    counts: dict[tuple[str, str], Verdicts] = {}
    for ranking in rankings:
        if len(ranking) == 2 and len(ranking[0]) == 1 and len(ranking[1]) == 1:
            # The common pairwise verdict (ranking_pairs' fast path, without the call).
            pairs: Iterable[Pair] = ((ranking[0][0], ranking[1][0], False),)
        else:
            pairs = ranking_pairs(ranking, "all")
        for better, worse, tied in pairs:
            key = (better, worse) if better < worse else (worse, better)
            verdicts = counts.setdefault(key, {})
            verdict = None if tied else better
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
    return counts


def pair_agreement(verdicts: Verdicts) -> float | None:
    """Share of one pair's verdicts agreeing with the most common one; None below two."""
    n = sum(verdicts.values())
    return round(max(verdicts.values()) / n, 4) if n >= 2 else None


def majority_share(rankings: Sequence[Ranking]) -> float | None:
    """Share of verdicts agreeing with the most common verdict on their pair (unweighted).

    Each ranking gives a verdict (winner, or tie) on every pair it orders; pooled over
    the pairs that at least two rankings decided. None if there is no such pair.
    """
    agreeing = total = 0
    for verdicts in pair_verdicts(rankings).values():
        n = sum(verdicts.values())
        if n >= 2:
            agreeing += max(verdicts.values())
            total += n
    return round(agreeing / total, 4) if total else None


def mean_kendall_tau(rankings: Sequence[Ranking]) -> float | None:
    """Mean Kendall tau-b over every two raters who ranked all of the item's responses.

    The same tau-b as ``scipy.stats.kendalltau``, computed by ``service.stats.agreement``. A
    ranking missing some response, or a pair where one side ties everything, is left
    out; None when no pair is left.
    """
    ids = sorted({r for ranking in rankings for group in ranking for r in group})
    matrix = []
    for ranking in rankings:
        rank = ranks(ranking)
        matrix.append([rank.get(r, math.nan) for r in ids])
    stat = agreement.mean_kendall_tau(matrix) if matrix else None
    return round(stat.value, 4) if stat is not None and stat.value is not None else None


def kto_labels(ranking: Ranking, both_bad: bool) -> list[tuple[str, bool]]:
    """Label the best group desirable and the worst undesirable; both-bad: all undesirable.

    Middle groups and all-tied verdicts give no label.
    """
    if both_bad:
        return [(r, False) for g in ranking for r in g]
    if len(ranking) < 2:
        return []
    return [(r, True) for r in ranking[0]] + [(r, False) for r in ranking[-1]]


def threshold_label(score: Any, threshold: float) -> bool | None:
    """Desirable above the threshold, undesirable below, no label at it (or when unscored)."""
    if not is_number(score) or math.isclose(score, threshold):
        return None
    return score > threshold


def majority_label(labels: Sequence[tuple[bool, float]]) -> bool | None:
    """Weighted majority of (label, weight) votes; None on a draw."""
    yes = sum(w for label, w in labels if label)
    no = sum(w for label, w in labels if not label)
    if math.isclose(yes, no):
        return None
    return yes > no


def split_of(prompt_key: str, split: Sequence[tuple[str, float]], seed: int) -> str:
    """Assign a prompt to a split from a seeded hash of its text (no prompt crosses splits)."""
    digest = hashlib.sha256(f"{seed}\x00{prompt_key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for name, share in split:
        cumulative += share
        if point < cumulative:
            return name
    return split[-1][0]


def pseudonym(secret_key: str, rater_id: int) -> str:
    """Return a rater's stable pseudonym: a keyed hash (HMAC-SHA256) of their id."""
    digest = hmac.new(secret_key.encode(), f"rater:{rater_id}".encode(), hashlib.sha256)
    return "r-" + digest.hexdigest()[:12]


def smoothed_accuracy(scores: Sequence[float]) -> float:
    """Gold accuracy with one pseudo-hit and one pseudo-miss (Laplace), used as a rater weight."""
    return (sum(scores) + 1) / (len(scores) + 2)
