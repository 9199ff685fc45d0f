"""Per-rater quality signals: position bias, intransitive preferences, agreement with peers."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np
import numpy.typing as npt

from service.stats.bradley_terry import Outcome
from service.stats.coding import Codes, Triple, code_triples, label_counts
from service.stats.resampling import Stat, no_value


def position_bias(left_wins: int, decided: int) -> Stat:
    """Return the share of decided verdicts won by the left response, with an exact binomial test.

    p_value is the two-sided exact binomial test against 0.5 and low/high the Clopper–Pearson
    95% interval (scipy.stats.binomtest). Ties are not decided verdicts; n counts decided ones.
    """
    if not 0 <= left_wins <= decided:
        raise ValueError("left_wins must be between 0 and decided")
    if decided == 0:
        return no_value("not enough data: no decided verdicts")
    # Imported here: scipy.stats takes longer to import than most commands take to run.
    from scipy.stats import binomtest

    test = binomtest(left_wins, decided, 0.5)
    interval = test.proportion_ci(confidence_level=0.95)
    return Stat(
        left_wins / decided, interval.low, interval.high, n=decided, p_value=float(test.pvalue)
    )


def position_bias_many(left_wins: npt.ArrayLike, decided: npt.ArrayLike) -> list[Stat]:
    """Return position_bias for many raters at once, vectorised (binomtest is ~5 ms a call).

    Under p = 0.5 the binomial is symmetric, so the exact two-sided p-value (summing every
    outcome no likelier than the one seen) is min(1, 2 P(X <= min(k, n - k))); the
    Clopper–Pearson bounds are the beta quantiles B(0.025; k, n - k + 1) and
    B(0.975; k + 1, n - k) (Clopper & Pearson 1934), as scipy.stats.binomtest computes them.
    """
    k = np.asarray(left_wins, dtype=np.int64)
    n = np.asarray(decided, dtype=np.int64)
    if k.shape != n.shape or np.any(k < 0) or np.any(k > n):
        raise ValueError("left_wins must be between 0 and decided, one per rater")
    from scipy.stats import beta, binom  # see position_bias

    p_value = np.minimum(1.0, 2 * binom.cdf(np.minimum(k, n - k), n, 0.5))
    with np.errstate(all="ignore"):
        low = np.where(k > 0, beta.ppf(0.025, k, n - k + 1), 0.0)
        high = np.where(k < n, beta.ppf(0.975, k + 1, n - k), 1.0)
    out = []
    for wins, total, p, lo, hi in zip(k, n, p_value, low, high, strict=True):
        if total == 0:
            out.append(no_value("not enough data: no decided verdicts"))
        else:
            out.append(Stat(wins / total, float(lo), float(hi), n=int(total), p_value=float(p)))
    return out


def intransitive_triads(verdicts: Iterable[Outcome]) -> Stat:
    """Return how many of one rater's triads are cyclic (A > B, B > C, C > A).

    ``verdicts`` are one rater's ``(a, b, score)`` pairwise preferences over one set of
    responses (score 1: a preferred, 0: b preferred, 0.5: tie); a later verdict on the same pair
    replaces an earlier one. A triad counts only when all three of its pairs were decided
    without a tie: a tie is neither consistent nor cyclic (the circular triads of Kendall &
    Babington Smith 1940, on an incomplete, untied tournament). n counts those triads, so
    value / n is the share that is cyclic.
    """
    beats: dict[Hashable, set[Hashable]] = {}
    decided: dict[frozenset[Hashable], tuple[Hashable, Hashable] | None] = {}
    for a, b, score in verdicts:
        winner_loser = (a, b) if score > 0.5 else (b, a) if score < 0.5 else None
        decided[frozenset((a, b))] = winner_loser
    for pair in decided.values():
        if pair is not None:
            beats.setdefault(pair[0], set()).add(pair[1])
            beats.setdefault(pair[1], set())
    order = {node: k for k, node in enumerate(beats)}
    neighbours = {node: beats[node] | {m for m in beats if node in beats[m]} for node in beats}
    triads = cyclic = 0
    for a in beats:
        later = {b for b in neighbours[a] if order[b] > order[a]}
        for b in later:
            for c in later & neighbours[b]:
                if order[c] <= order[b]:
                    continue
                triads += 1
                # Around a cycle every node beats exactly one of the other two.
                cyclic += (c in beats[b]) == (b in beats[a]) == (a in beats[c])
    if triads == 0:
        return no_value("not enough data: no three responses with all pairs decided")
    return Stat(float(cyclic), n=triads)


def leave_one_out_agreement(triples: Iterable[Triple]) -> dict[Hashable, Stat]:
    """Return per rater the share of their labels that match the other raters' majority.

    For each (item, rater, label), the majority is the unique most common label among the
    OTHER raters of that item (a plurality). Items where the others tie for the most common
    label, or where the rater was alone, are left out; n counts the items that remain.
    """
    return leave_one_out_from_codes(code_triples(triples))


def leave_one_out_from_codes(codes: Codes) -> dict[Hashable, Stat]:
    """Return leave_one_out_agreement for judgments already coded (e.g. by code_arrays)."""
    others = label_counts(codes)[codes.item]
    others[np.arange(len(codes.label)), codes.label] -= 1
    top = others.max(1) if others.size else np.zeros(0, dtype=np.int64)
    clear = (top > 0) & ((others == top[:, None]).sum(1) == 1)
    matches = clear & (others[np.arange(len(codes.label)), codes.label] == top)
    counted = np.bincount(codes.rater, weights=clear, minlength=len(codes.raters))
    agreed = np.bincount(codes.rater, weights=matches, minlength=len(codes.raters))
    result = {}
    for k, rater in enumerate(codes.raters):
        if counted[k] == 0:
            result[rater] = no_value("not enough data: no item where the others have a majority")
        else:
            result[rater] = Stat(float(agreed[k] / counted[k]), n=int(counted[k]))
    return result
