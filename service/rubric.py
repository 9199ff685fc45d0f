"""A project's rubric: the dimensions raters fill in, typed, and the rules about them.

The rubric is stored as JSON on the project row (``Project.rubric``, a list of dicts whose
shape ``schemas.RubricDimensionSchema`` checks on the way in). ``rubric_of`` turns it into
a ``Rubric`` of frozen ``Dimension`` objects (memoised per project); the rest of the code
reads attributes (``dim.kind``), never dict keys, and asks the dimension the questions
that used to be repeated at call sites: is it numeric, is it per response, is this value
one it accepts.

A root module, next to ``models``: every package reads rubrics, and ``stats/`` (which
needs the main rating dimension) sits below ``projects/`` and ``rating/`` in the layers.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.models import Project

# Largest magnitude of a rubric number (its bounds, and every value a rater gives).
# Python's JSON parser reads ``NaN``, ``Infinity`` and ``1e400`` (as infinity) without
# complaint, but no standard JSON reader (orjson, PostgreSQL, a trainer's loader) reads
# them back; below 10^15 every whole number is exact in a float64 (and in JavaScript),
# and no mean or sum over a campaign's values can overflow.
NUMBER_LIMIT = 1e15
# Longest free-text answer a rater may give.
TEXT_LIMIT = 20_000


class RubricKind(StrEnum):
    """What a rater gives on a dimension."""

    LIKERT = "likert"  # a point from 1 to ``points``
    CHOICE = "choice"  # one of ``options``
    FLAGS = "flags"  # any of ``options``
    TEXT = "text"  # free text
    NUMBER = "number"  # a number, between ``min`` and ``max`` when given


class RubricScope(StrEnum):
    """Whether a dimension is answered once per response, once for the item, or per turn.

    A ``turn`` dimension is answered once for each assistant turn of the item's
    conversation (its ``messages``, before the responses); turn ``i`` is the i-th
    assistant message, counted from 0 (``rating/turns.py``). The responses themselves
    are rated by ``response`` dimensions.
    """

    RESPONSE = "response"
    ITEM = "item"
    TURN = "turn"


# Scores: they rank responses and have a midpoint.
NUMERIC_KINDS = frozenset({RubricKind.LIKERT, RubricKind.NUMBER})
# Raters can be compared (agreement, dashboard filters) on scales and choices, not on
# free text, sets of flags or unbounded numbers.
COMPARABLE_KINDS = frozenset({RubricKind.LIKERT, RubricKind.CHOICE})


def is_blank(value: Any) -> bool:
    """Tell whether a rater left a field empty (no value, empty text, no flags)."""
    return value is None or value == "" or value == []


class InvalidValue(ValueError):
    """A value a dimension does not accept; the message says what it accepts."""


@dataclass(frozen=True)
class Option:
    """One option of a choice or flags dimension."""

    value: str
    label: str


@dataclass(frozen=True)
class Dimension:
    """One rubric dimension, as ``schemas.RubricDimensionSchema`` accepts it."""

    name: str
    label: str
    scope: RubricScope
    kind: RubricKind
    help: str = ""
    required: bool = False
    points: int | None = None  # likert
    # likert: text under some points, keyed by the point as a string ("1", "5").
    anchors: Mapping[str, str] | None = field(default=None, hash=False)
    options: tuple[Option, ...] = ()  # choice, flags
    min: float | None = None  # number
    max: float | None = None  # number

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Dimension:
        """Return the dimension a stored rubric dict describes."""
        return cls(
            name=stored["name"],
            label=stored.get("label", ""),
            scope=RubricScope(stored["scope"]),
            kind=RubricKind(stored["kind"]),
            help=stored.get("help", ""),
            required=bool(stored.get("required", False)),
            points=stored.get("points"),
            anchors=stored.get("anchors"),
            options=tuple(Option(o["value"], o["label"]) for o in stored.get("options") or ()),
            min=stored.get("min"),
            max=stored.get("max"),
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the dimension in its stored shape (what the schema loads), keys in order."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "help": self.help,
            "scope": self.scope.value,
            "kind": self.kind.value,
            "required": self.required,
        }
        optional = {
            "points": self.points,
            "anchors": None if self.anchors is None else dict(self.anchors),
            "options": [{"value": o.value, "label": o.label} for o in self.options] or None,
            "min": self.min,
            "max": self.max,
        }
        return out | {k: v for k, v in optional.items() if v is not None}

    @property
    def per_response(self) -> bool:
        """Tell whether raters answer this dimension once per response (else once per item)."""
        return self.scope == RubricScope.RESPONSE

    @property
    def per_turn(self) -> bool:
        """Tell whether raters answer this dimension once per assistant turn of the prompt."""
        return self.scope == RubricScope.TURN

    @property
    def numeric(self) -> bool:
        """Tell whether values are scores (likert, number): they rank responses."""
        return self.kind in NUMERIC_KINDS

    @property
    def comparable(self) -> bool:
        """Tell whether raters' values can be compared (agreement): likert and choice."""
        return self.kind in COMPARABLE_KINDS

    @property
    def option_values(self) -> tuple[str, ...]:
        """Return the options' values, in rubric order."""
        return tuple(o.value for o in self.options)

    def anchor(self, point: int) -> str:
        """Return the text anchoring one likert point, or ""."""
        return (self.anchors or {}).get(str(point), "")

    def midpoint(self) -> float | None:
        """Return the middle of the scale (a likert's middle point, a number's bounds' mean).

        None when the scale has no known bounds (a number without min or max).
        """
        if self.kind == RubricKind.LIKERT and self.points is not None:
            return (1 + self.points) / 2
        if self.min is not None and self.max is not None:
            return (self.min + self.max) / 2
        return None

    def check(self, value: Any) -> Any:
        """Return a rater's value as stored (flags sorted, text stripped).

        Raise InvalidValue, saying what the dimension accepts, when it does not accept it.
        """
        if self.kind == RubricKind.LIKERT:
            points = self.points or 0
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= points:
                return value
            raise InvalidValue(f"choose a point from 1 to {self.points}")
        options = set(self.option_values)
        if self.kind == RubricKind.CHOICE:
            if isinstance(value, str) and value in options:
                return value
            raise InvalidValue(f"choose one of {', '.join(sorted(options))}")
        if self.kind == RubricKind.FLAGS:
            strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
            if strings and set(value) <= options and len(set(value)) == len(value):
                return sorted(value)
            raise InvalidValue(f"choose any of {', '.join(sorted(options))}")
        if self.kind == RubricKind.TEXT:
            if isinstance(value, str) and len(value) <= TEXT_LIMIT:
                return value.strip()
            raise InvalidValue(f"text up to {TEXT_LIMIT} characters")
        lo = max(-NUMBER_LIMIT if self.min is None else self.min, -NUMBER_LIMIT)
        hi = min(NUMBER_LIMIT if self.max is None else self.max, NUMBER_LIMIT)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        # NaN fails every comparison; ±Infinity (and 1e400, read as infinity) the bounds.
        if number and lo <= value <= hi:
            return value
        raise InvalidValue(f"a number from {lo:g} to {hi:g}")


@dataclass(frozen=True)
class Rubric:
    """A project's dimensions, in rubric order (the order raters see them in)."""

    dimensions: tuple[Dimension, ...] = ()

    @classmethod
    def from_stored(cls, stored: Sequence[Mapping[str, Any]] | None) -> Rubric:
        """Return the rubric a stored list of dimension dicts describes."""
        return cls(tuple(Dimension.from_stored(d) for d in stored or ()))

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def get(self, name: str | None) -> Dimension | None:
        """Return the dimension called ``name``, or None."""
        return self._by_name.get(name) if name is not None else None

    @cached_property
    def _by_name(self) -> dict[str, Dimension]:
        return {d.name: d for d in self.dimensions}

    @property
    def names(self) -> list[str]:
        """Return the dimensions' names, in rubric order."""
        return list(self._by_name)

    @cached_property
    def per_response(self) -> tuple[Dimension, ...]:
        """Return the dimensions answered once per response."""
        return tuple(d for d in self.dimensions if d.per_response)

    @cached_property
    def per_item(self) -> tuple[Dimension, ...]:
        """Return the dimensions answered once for the item."""
        return tuple(d for d in self.dimensions if d.scope == RubricScope.ITEM)

    @cached_property
    def per_turn(self) -> tuple[Dimension, ...]:
        """Return the dimensions answered once per assistant turn of the conversation."""
        return tuple(d for d in self.dimensions if d.per_turn)

    @cached_property
    def scores(self) -> tuple[Dimension, ...]:
        """Return the per-response numeric dimensions: those that can rank a judgment."""
        return tuple(d for d in self.per_response if d.numeric)

    @property
    def main_rating(self) -> Dimension | None:
        """Return the main rating dimension: the first per-response likert or number one.

        It is what ranks a rating judgment's responses (export, gold score, leaderboard) and
        what raters of a rating project are compared on; None when no response is scored.
        """
        return self.scores[0] if self.scores else None

    def likert(self, scope: RubricScope | None = None) -> list[Dimension]:
        """Return the likert dimensions (of one scope, when given)."""
        return [
            d
            for d in self.dimensions
            if d.kind == RubricKind.LIKERT and (scope is None or d.scope == scope)
        ]

    def comparable(self) -> list[Dimension]:
        """Return the dimensions raters can be compared on (likert and choice)."""
        return [d for d in self.dimensions if d.comparable]

    def item_flags(self) -> list[str]:
        """Return the names of the item-level flags dimensions."""
        return [d.name for d in self.per_item if d.kind == RubricKind.FLAGS]


# Parsed rubrics by project id, each with a copy of the JSON it was parsed from. Every
# request loads its project row afresh, and the submit path reads the rubric on each
# submission: parsing costs about 4 µs a dimension, comparing the stored list with the
# copy about a quarter of that. The comparison makes a hit sound whatever changed the row
# (an update, another database with the same ids, as in tests). Python's == is JSON's
# here: the schema stores bounds as floats and ``required`` as a boolean, so 0 == 0.0 and
# 1 == True never stand for two different stored rubrics.
_PARSED: dict[int, tuple[list[dict[str, Any]], Rubric]] = {}
_PARSED_LIMIT = 1024


def rubric_of(project: Project) -> Rubric:
    """Return a project's rubric, typed: the one place ``Project.rubric`` is parsed."""
    stored = project.rubric
    key = project.id
    hit = _PARSED.get(key) if key is not None else None
    if hit is not None and hit[0] == stored:
        return hit[1]
    rubric = Rubric.from_stored(stored)
    if key is not None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[key] = (copy.deepcopy(stored), rubric)
    return rubric
