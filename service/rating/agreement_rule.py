"""Adaptive overlap: how many raters a unit wants, from the judgments it already has.

The rule, in one place (``unit_target``). A project with ``adaptive_overlap`` on starts
every unit (a pair unit of a pairwise item, or a whole item, see pairs.py) at its
``overlap`` (the minimum) and stops there when its raters agree; while they disagree it
wants one rater more than it has, up to ``overlap_max``:

- a judgment's *verdict* is, in a pairwise unit, the response preferred or a tie (so
  two verdicts differ when they prefer different responses, or one calls a tie: their
  strengths straddle the tie; "slightly" and "much" better on one side agree); in a
  ranking, the group of responses ranked first; in a rating, the main rating of each
  response (``verdict_of``);
- a unit's judgments *agree* when its most frequent verdict leads every other verdict
  by at least two (``agreed``): two raters agreeing at once settle a unit; after a split
  it takes two more votes on one side than on any other ("win by two");
- the target of a unit with ``n`` settled judgments is ``overlap`` while ``n`` is below
  it, then ``n`` when they agree and ``n + 1`` when they do not, never past
  ``overlap_max``.

A uniform random sample of items, the *audit* sample, wants ``overlap_max`` on every unit
whatever the raters say, so agreement measured on it is not biased by stopping early.
Whether an item is in it is decided by a seeded draw per item (``audit_draw``): the
same every time, and an item in the sample at one share stays in it at any larger one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

Verdict = Hashable


def verdict_of(
    mode: str, verdict: dict[str, Any], rubric: dict[str, Any], main: str | None
) -> Verdict:
    """Return what a judgment says, reduced to what two raters can agree on (see above).

    ``main`` is the name of a rating project's main rating dimension
    (``rubric.Rubric.main_rating``).
    """
    if mode == "pairwise":
        return ("preferred", verdict.get("preferred"))
    if mode == "ranking":
        groups = verdict.get("ranking") or [[]]
        return ("first", frozenset(groups[0]))
    scores = (rubric or {}).get("response") or {}
    return ("ratings", tuple(sorted((rid, (v or {}).get(main)) for rid, v in scores.items())))


def agreed(verdicts: Sequence[Verdict]) -> bool:
    """Tell whether a unit's verdicts agree: the most frequent leads every other by two."""
    counts = sorted(Counter(verdicts).values(), reverse=True)
    if not counts:
        return False
    runner_up = counts[1] if len(counts) > 1 else 0
    return counts[0] - runner_up >= 2


def unit_target(verdicts: Sequence[Verdict], *, low: int, high: int, audit: bool) -> int:
    """Return how many raters a unit wants, given the verdicts of its settled judgments."""
    if audit:
        return high
    n = len(verdicts)
    if n < low:
        return low
    return min(high, n if agreed(verdicts) else n + 1)


def audit_draw(project_id: int, item_id: int) -> float:
    """Return an item's seeded uniform draw in [0, 1): it joins the audit sample below the share."""
    digest = hashlib.sha256(f"rankroom-audit:{project_id}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_audit(project_id: int, item_id: int, share: float) -> bool:
    """Tell whether an item is in the project's audit sample at this share."""
    return audit_draw(project_id, item_id) < share
