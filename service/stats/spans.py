"""Agreement on error spans: character-overlap F1 between raters, per label.

The rule, for one label L: for two raters a and b and the responses both were shown
on an item, let A and B be the characters each marked with L (the union of their L
spans, so overlapping spans of one rater count once). Over every item the two share,

    F1(a, b) = 2 |A ∩ B| / (|A| + |B|)

which is symmetric (precision of a against b is recall of b against a), undefined when
neither marked anything with L. The label's score is the mean of the defined F1 over
rater pairs, each pair weighted once however many items it shares.

Krippendorff's unitizing alpha (u-alpha) is not computed: we could not check an
implementation against a published worked example here, and an unchecked coefficient
would be worse than none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

Interval = tuple[int, int]


@dataclass(frozen=True)
class SpanJudgment:
    """One rater's spans on one item: the responses shown and the spans marked."""

    item: int
    rater: int
    shown: Sequence[str]
    spans: Sequence[dict[str, Any]]  # {"response", "start", "end", "label", ...}


@dataclass(frozen=True)
class LabelAgreement:
    """Span agreement on one label: mean pairwise F1 (None: no pair defines one)."""

    label: str
    f1: float | None
    rater_pairs: int  # pairs of raters whose F1 is defined
    spans: int  # spans with this label, over all raters


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Return the union of half-open intervals as sorted, disjoint intervals."""
    out: list[Interval] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def covered(intervals: Sequence[Interval]) -> int:
    """Return how many characters disjoint intervals cover."""
    return sum(end - start for start, end in intervals)


def overlap(a: Sequence[Interval], b: Sequence[Interval]) -> int:
    """Return how many characters two lists of sorted, disjoint intervals share."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        total += max(0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _marked(judgment: SpanJudgment, label: str) -> dict[str, list[Interval]]:
    by_response: dict[str, list[Interval]] = {}
    for s in judgment.spans:
        if s["label"] == label:
            by_response.setdefault(s["response"], []).append((s["start"], s["end"]))
    return {rid: merge(found) for rid, found in by_response.items()}


def span_f1(judgments: Sequence[SpanJudgment], labels: Sequence[str]) -> list[LabelAgreement]:
    """Return each label's mean pairwise character-overlap F1 (see the module's rule)."""
    by_item: dict[int, list[SpanJudgment]] = {}
    for j in judgments:
        by_item.setdefault(j.item, []).append(j)
    out = []
    for label in labels:
        # (rater a, rater b) -> [shared characters, |A|, |B|], a < b
        sums: dict[tuple[int, int], list[int]] = {}
        for group in by_item.values():
            marked = {j.rater: _marked(j, label) for j in group}
            for a, b in combinations(sorted(group, key=lambda j: j.rater), 2):
                acc = sums.setdefault((a.rater, b.rater), [0, 0, 0])
                for rid in set(a.shown) & set(b.shown):
                    mine, theirs = marked[a.rater].get(rid, []), marked[b.rater].get(rid, [])
                    acc[0] += overlap(mine, theirs)
                    acc[1] += covered(mine)
                    acc[2] += covered(theirs)
        scores = [2 * both / (na + nb) for both, na, nb in sums.values() if na + nb]
        count = sum(1 for j in judgments for s in j.spans if s["label"] == label)
        mean = sum(scores) / len(scores) if scores else None
        out.append(LabelAgreement(label=label, f1=mean, rater_pairs=len(scores), spans=count))
    return out
