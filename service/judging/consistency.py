"""Position consistency of a judge's stored verdicts: are they two orders of one item?

A judge sees each item twice, its responses in one order and then reversed (runner.py).
Whether its two verdicts say the same thing about the responses is one rule, in one
home: ``stats.judges.position_consistent`` (the reports, triage and budget mode use it
too). This module applies it to stored verdicts (``JudgeVerdict`` rows, or anything with
``shown_order``, ``verdict`` and ``rubric``), and first tells whether the two can be
compared at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from service.stats import judges


class StoredVerdict(Protocol):
    """What a position check reads of a judge's verdict (a ``JudgeVerdict`` has it)."""

    shown_order: Sequence[str]
    verdict: dict[str, Any]
    rubric: dict[str, Any]


def position_consistent(a: StoredVerdict | None, b: StoredVerdict | None) -> bool | None:
    """Tell whether two verdicts of one item in two orders agree on the responses.

    None when they cannot be compared: one is missing, they show different responses,
    or they show them in the same order (that is a repeat, not a position check).
    """
    if a is None or b is None:
        return None
    if sorted(a.shown_order) != sorted(b.shown_order) or list(a.shown_order) == list(b.shown_order):
        return None
    return judges.position_consistent(a.verdict or {}, b.verdict or {}, a.rubric, b.rubric)
