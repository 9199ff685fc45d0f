"""The record of how a dataset was made: its typed shape, as the card and croissant.json read it.

``service.dashboards.record.build_record`` fills it from the database with the dashboards' own
reports (one rule, one home: the card's figures are the dashboards' figures); this module only
holds the shape, so the export can render it without importing the dashboards. No field
names a person: raters are counted, grouped by expertise, never listed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from service.stats.resampling import Stat


@dataclass(frozen=True)
class GuidelineRecord:
    """One stored version of the guidelines: its number, hash, date and judgments under it."""

    version: int
    sha256: str  # of the text's UTF-8 bytes, as stored
    created_at: str
    judgments: int  # current judgments whose rater saw this version


@dataclass(frozen=True)
class DimensionRecord:
    """One rubric dimension as raters saw it."""

    name: str
    label: str
    kind: str
    scope: str
    points: int | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protocol:
    """What raters were asked to do: the task, the guidelines they read, the rubric."""

    mode: str
    scale: str
    pairs: str
    task: str
    guidelines: tuple[GuidelineRecord, ...]
    rubric: tuple[DimensionRecord, ...]


@dataclass(frozen=True)
class JudgeBudget:
    """Budget mode (rating/judge_rule.py): fewer raters where every model judge agreed."""

    overlap: int  # raters an item the judges settled wants
    audit_share: float  # share of items drawn to keep the full overlap
    lowered_items: int  # items whose capacity the judges lowered
    audit_items: int  # items in the audit sample


@dataclass(frozen=True)
class Coverage:
    """Annotations per item: the overlap planned and what was achieved."""

    overlap: int
    items: int
    gold_items: int
    complete: int
    in_progress: int
    untouched: int
    judgments: int
    revisions: int
    # judgments on an item -> how many regular items have that many current judgments
    per_item: dict[int, int]
    mean_per_item: float | None
    # UTC day -> current judgments submitted that day (the progress dashboard's per_day)
    per_day: dict[str, int] = field(default_factory=dict)
    # The judges' budget mode, when on: the rule and its audit sample, for the card.
    judge_budget: JudgeBudget | None = None


@dataclass(frozen=True)
class RaterPool:
    """Who judged, without names: how many, their expertise, how they qualified."""

    raters: int
    by_expertise: dict[str, int]
    qualification: str
    qualification_items: int
    qualification_threshold: float
    # Contributing raters by qualification status: passed, qualifying, failed, admin override.
    standing: dict[str, int]
    raters_with_gold: int
    # Quantiles (p10..p90) of the raters' gold accuracy, over raters with gold judgments.
    gold_accuracy: dict[str, float] | None
    low_gold_flagged: int


@dataclass(frozen=True)
class AgreementFigure:
    """One agreement statistic of one scope (overall or a rubric dimension), with its interval."""

    scope: str
    key: str
    label: str
    on: str
    stat: Stat


@dataclass(frozen=True)
class Quality:
    """Quality assurance: gold checks, agreement with intervals, adjudications."""

    gold_rate: float
    gold_judgments: int
    agreement: tuple[AgreementFigure, ...]
    n_boot: int
    adjudications: int
    adjudicated_items: int
    overrode_majority: int
    promoted_to_gold: int


@dataclass(frozen=True)
class TimeCost:
    """Active time spent judging, by the cost dashboard's rule (stated in ``rule``)."""

    hours: float
    median_seconds: float | None
    judgments: int
    imputed_times: int
    rule: str


@dataclass(frozen=True)
class Machine:
    """Machine involvement: responses by model, generation runs, model judges."""

    responses_by_model: dict[str, int]
    generated: dict[str, int]  # kept generations per "generator (model)"
    failed_generations: int
    # Judgments by the role of the account that submitted them: every judgment was made
    # through a person's account. Model judges' verdicts are kept apart (judge_verdict).
    judgments_by_role: dict[str, int]
    judge_judgments: int  # verdicts of the project's model judges (service/judging/)


@dataclass(frozen=True)
class Exclusion:
    """What an export's rules left out, how much, and why."""

    reason: str
    count: int
    why: str


@dataclass(frozen=True)
class Biases:
    """Known biases measured: position (first-shown wins) and length preference."""

    position: Stat  # share of decided first-vs-second verdicts won by the first shown
    length: Stat | None  # style-controlled coefficient of length (leaderboard), None: no models
    length_method: str
    # Raters whose own length coefficient's interval lies above 0, below 0, spans 0, or none.
    raters_length: dict[str, int]


@dataclass(frozen=True)
class Record:
    """Everything the card, croissant.json and the HTML report state about one project."""

    slug: str
    name: str
    protocol: Protocol
    coverage: Coverage
    pool: RaterPool
    quality: Quality
    time: TimeCost
    machine: Machine
    first_judgment: str | None
    last_judgment: str | None
    biases: Biases
    exclusions: tuple[Exclusion, ...] = ()
    unreadable_rows: int = 0
    # What the export's filters did to raters (None: the record is not of an export).
    excluded_raters: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (no NaN: a missing value is None)."""
        return _clean(dataclasses.asdict(self))


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stat_of(data: dict[str, Any]) -> Stat:
    """Return the Stat a dashboard's stat dict describes."""
    return Stat(**{f.name: data.get(f.name) for f in dataclasses.fields(Stat)} | {"n": data["n"]})
