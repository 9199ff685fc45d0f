"""When a verdict and the rubric disagree: the rule, in one place.

The rule: a verdict contradicts the rubric when it puts one response above another
(pairwise: the preferred response above the other one; ranking: every response above
each response in a lower group) although the rater scored it strictly lower on every
per-response Likert dimension that both were scored on, and there is at least one.

Only Likert dimensions count: their points run from worst to best, as their anchors
say. A per-response number has no declared direction (a count of errors goes the
other way), so it cannot show that one response was scored "lower" in the sense of
worse. A tie, and a 7-point verdict of "about the same", put nothing above anything.

Projects ask the rater to confirm (or give a rationale) when this happens, if
``Project.confirm_contradictions`` is on; ``judgments.build_judgment`` enforces it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.rubric import Rubric, RubricScope


@dataclass(frozen=True)
class Contradiction:
    """A response placed above another that the rater scored higher on every shared scale."""

    above: str  # response id (or label: the rule works on whatever keys it is given)
    below: str
    dimensions: tuple[str, ...]  # names of the Likert dimensions compared


def _placed_above(mode: str, verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the (above, below) pairs a stored verdict states."""
    if mode == "ranking":
        groups = verdict.get("ranking") or []
        return [
            (above, below)
            for i, group in enumerate(groups)
            for lower in groups[i + 1 :]
            for above in group
            for below in lower
        ]
    return []


def find_contradictions(
    *,
    mode: str,
    verdict: Mapping[str, Any],
    rubric: Mapping[str, Any],
    dimensions: Rubric,
    shown_order: Sequence[str],
) -> list[Contradiction]:
    """Return every pair the verdict orders against all of the rater's shared Likert scores.

    ``verdict`` and ``rubric`` are in stored form (response ids), as ``build_judgment``
    returns them; ``shown_order`` is the lease's display order (A, B, ... in turn).
    """
    pairs = _placed_above(mode, verdict)
    if mode == "pairwise" and verdict.get("preferred") is not None:
        preferred = verdict["preferred"]
        pairs = [(preferred, other) for other in shown_order[:2] if other != preferred]
    likert = [d.name for d in dimensions.likert(RubricScope.RESPONSE)]
    scores = rubric.get("response") or {}
    found = []
    for above, below in pairs:
        mine, theirs = scores.get(above) or {}, scores.get(below) or {}
        shared = tuple(n for n in likert if mine.get(n) is not None and theirs.get(n) is not None)
        if shared and all(mine[n] < theirs[n] for n in shared):
            found.append(Contradiction(above=above, below=below, dimensions=shared))
    return found
