"""Position consistency: does a judge say the same thing when the responses swap places?

A judge sees each item twice, its responses in one order and then reversed (runner.py).
Its two verdicts, stored with response ids (not labels, see rating/labels.py), are
*position-consistent* when they say the same thing about the responses themselves:

- pairwise: the same response preferred, or a tie both times; the strength does not
  count ("slightly" and "much" better on one side agree, as rating/agreement_rule.py
  says of two raters);
- ranking: the same ranking, groups of tied responses included;
- rating: the same score for every response, on the main rating dimension when given
  (``rubric.Rubric.main_rating``), else on every numeric per-response value.

A flip is recorded as inconsistent, never averaged away. Pure: it takes the stored
verdicts (``JudgeVerdict`` rows or anything with ``shown_order``, ``verdict`` and
``rubric``) and imports nothing of the service, so any layer may call it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Protocol


class StoredVerdict(Protocol):
    """What a position check reads of a judge's verdict (a ``JudgeVerdict`` has it)."""

    shown_order: Sequence[str]
    verdict: dict[str, Any]
    rubric: dict[str, Any]


def position_consistent(
    a: StoredVerdict | None, b: StoredVerdict | None, *, main: str | None = None
) -> bool | None:
    """Tell whether two verdicts of one item in two orders agree on the responses.

    None when they cannot be compared: one is missing, they show different responses,
    or they show them in the same order (that is a repeat, not a position check).
    ``main`` names a rating project's main rating dimension.
    """
    if a is None or b is None:
        return None
    if sorted(a.shown_order) != sorted(b.shown_order) or list(a.shown_order) == list(b.shown_order):
        return None
    return _said(a, main) == _said(b, main)


def _said(v: StoredVerdict, main: str | None) -> Hashable:
    """Return what a verdict says of the responses, whatever order they were shown in."""
    verdict = v.verdict or {}
    if "preferred" in verdict:
        return ("preferred", verdict["preferred"])
    if "ranking" in verdict:
        return ("ranking", tuple(frozenset(group) for group in verdict["ranking"]))
    scores = (v.rubric or {}).get("response") or {}
    return (
        "ratings",
        tuple(sorted((rid, _scores(values, main)) for rid, values in scores.items())),
    )


def _scores(values: dict[str, Any] | None, main: str | None) -> Hashable:
    values = values or {}
    if main is not None:
        return values.get(main)
    return tuple(
        sorted(
            (name, value)
            for name, value in values.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        )
    )
