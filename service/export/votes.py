"""What the export's rules work on: a project's settings, and one judgment as a vote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.export import rules
from service.export.source import RaterData


@dataclass(frozen=True)
class ProjectInfo:
    """What the rules need from a project."""

    slug: str
    overlap: int
    dimension: str | None
    threshold: float | None
    mode: str
    pairs: str  # pairwise: which pairs of an item are collected (``PairSet``)
    pair_reference: str | None
    # Adaptive overlap: ``overlap`` is each unit's minimum, ``overlap_max`` its maximum.
    adaptive_overlap: bool = False
    overlap_max: int = 0
    # The judges' budget mode: an item's target is ``overlap`` plus its slot's ``raised``.
    judge_budget: bool = False


@dataclass(slots=True)
class Vote:
    """One judgment that passed the filters, with its verdict as a ranking."""

    row: Any
    rater: RaterData
    ranking: rules.Ranking | None
    weight: float
    strength: int | None
