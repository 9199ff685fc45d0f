"""The filters every dashboard accepts: dates, rater expertise, rubric dimension, tags, gold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from service.errors import InvalidInput
from service.models import Project
from service.rubric import rubric_of
from service.schemas import flatten_messages

GOLD_CHOICES = ("include", "exclude", "only")


@dataclass(frozen=True)
class Filters:
    """Which judgments a dashboard looks at. Dates are UTC days, both ends included."""

    date_from: date | None = None
    date_to: date | None = None
    expertise: str | None = None
    dimension: str | None = None
    tags: tuple[str, ...] = ()
    gold: str = "include"

    def start(self) -> datetime | None:
        """Return the first instant the date range includes."""
        return datetime.combine(self.date_from, time(), UTC) if self.date_from else None

    def end(self) -> datetime | None:
        """Return the first instant after the date range."""
        if self.date_to is None:
            return None
        return datetime.combine(self.date_to + timedelta(days=1), time(), UTC)

    def as_dict(self) -> dict[str, Any]:
        """Return the filters as the query parameters that produce them."""
        return {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "expertise": self.expertise,
            "dimension": self.dimension,
            "tags": list(self.tags),
            "gold": self.gold,
        }

    def query(self) -> dict[str, str]:
        """Return the non-default filters as query-string pairs."""
        out = {k: v for k, v in self.as_dict().items() if v and k not in ("tags", "gold")}
        if self.tags:
            out["tags"] = ",".join(self.tags)
        if self.gold != "include":
            out["gold"] = self.gold
        return out


class FiltersSchema(Schema):
    """Dashboard filters as query parameters (other parameters are left to each report)."""

    class Meta:
        unknown = EXCLUDE

    date_from = fields.Date(data_key="from", load_default=None, allow_none=True)
    # The range ends at the start of the day after: 9999-12-31 has none (a 500 once).
    date_to = fields.Date(
        data_key="to",
        load_default=None,
        allow_none=True,
        validate=validate.Range(max=date.max - timedelta(days=1), error="a date up to 9999-12-30"),
    )
    expertise = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    dimension = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    tags = fields.String(load_default="", validate=validate.Length(max=2000))
    gold = fields.String(load_default="include", validate=validate.OneOf(GOLD_CHOICES))


def parse_filters(args: Mapping[str, Any], *, project: Project) -> Filters:
    """Validate query parameters into Filters; refuse bad dates or an unknown dimension."""
    blank_free = {k: v for k, v in args.items() if v not in ("", None)}
    try:
        data = FiltersSchema().load(blank_free)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        raise InvalidInput("Invalid dashboard filters.", errors=errors) from exc
    if data["date_from"] and data["date_to"] and data["date_from"] > data["date_to"]:
        raise InvalidInput(
            "Invalid dashboard filters.",
            errors=[{"field": "to", "message": "must not be before from"}],
        )
    # Raters can be compared on scales and choices, not on free text or flags.
    names = [d.name for d in rubric_of(project).comparable()]
    if data["dimension"] and data["dimension"] not in names:
        raise InvalidInput(
            "Invalid dashboard filters.",
            errors=[
                {
                    "field": "dimension",
                    "message": "not a likert or choice rubric dimension of this project; use "
                    f"one of {', '.join(names) or '(none: the project has no such dimension)'}",
                }
            ],
        )
    tags = tuple(sorted({t.strip() for t in data["tags"].split(",") if t.strip()}))
    expertise = data["expertise"].strip().lower() if data["expertise"] else None
    return Filters(
        date_from=data["date_from"],
        date_to=data["date_to"],
        expertise=expertise or None,
        dimension=data["dimension"],
        tags=tags,
        gold=data["gold"],
    )
