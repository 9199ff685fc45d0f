"""Export options: every rule and filter, its default, and the one schema that reads them.

The CLI and ``GET /api/v1/export`` both load their arguments through
``ExportOptionsSchema``, so a default or a message is the same at every door.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates_schema,
)

from service.errors import InvalidInput
from service.schemas import TextBoolean, TextFloat, TextInteger, flatten_messages

FORMATS = ("dpo", "reward", "kto", "openai", "hh", "ranking", "ratings", "votes", "sft", "raw")
PAIR_FORMATS = ("dpo", "reward", "openai", "hh")
# Formats with a string variant and a message-list variant of the prompt.
CONVERSATIONAL_FORMATS = ("dpo", "reward", "kto", "ranking", "ratings", "votes")
PAIRING = ("all", "best-vs-rest", "adjacent")
TIES = ("drop", "both-orders")
AGGREGATION = ("per-judgment", "consensus")
CONSENSUS = ("majority", "bradley-terry")
WEIGHTS = ("equal", "gold")
KTO_FROM = ("auto", "verdict", "ratings")
_SPLIT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how; see the README's option table for every default."""

    format: str
    projects: tuple[str, ...]
    # Rules
    pairs: str = "all"
    ties: str = "drop"
    include_both_bad: bool = False
    aggregation: str = "per-judgment"
    consensus: str = "majority"
    rater_weights: str = "equal"
    min_judgments: int = 1
    min_agreement: float | None = None
    margin: bool = True
    kto_from: str = "auto"
    rating_dimension: str | None = None
    kto_threshold: float | None = None
    conversational: bool = False
    separator: str = "\n"
    metadata: bool = True
    with_votes: bool = False
    with_rewrites: bool = False
    min_edit_words: int = 1
    include_judges: bool = False
    # Filters
    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    raters: tuple[str, ...] = ()
    expertise: tuple[str, ...] = ()
    exclude_gold: bool = False
    min_gold_accuracy: float | None = None
    complete_only: bool = False
    # Splits and privacy
    split: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    part: str | None = None
    real_usernames: bool = False

    def split_names(self) -> list[str]:
        """Return the output parts: the split names, or one unnamed part."""
        if not self.split:
            return [""]
        return [self.part] if self.part else [name for name, _ in self.split]

    def as_dict(self) -> dict[str, Any]:
        """Return the options as JSON-ready data (for the audit log and the card)."""
        out = asdict(self)
        for key in ("since", "until"):
            out[key] = out[key].isoformat() if out[key] else None
        out["split"] = dict(self.split)
        for key in ("projects", "tags", "models", "raters", "expertise"):
            out[key] = list(out[key])
        return out


class _When(fields.Field):
    """An ISO date (midnight UTC) or datetime (naive means UTC)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, datetime):
            when = value
        else:
            text = str(value).strip()
            try:
                when = (
                    datetime.fromisoformat(text)
                    if "T" in text or " " in text
                    else datetime.combine(date.fromisoformat(text), datetime.min.time())
                )
            except ValueError as exc:
                raise ValidationError("give an ISO date (2024-05-01) or datetime") from exc
        if not when.tzinfo:
            return when.replace(tzinfo=UTC)
        try:
            when.astimezone(UTC)  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        except OverflowError as exc:
            raise ValidationError("not a time that exists in UTC (years 1 to 9999)") from exc
        return when


class _Split(fields.Field):
    """``train=0.9,test=0.1``: named fractions that add up to 1."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[tuple[str, float], ...]:
        parts: list[tuple[str, float]] = []
        for chunk in str(value).split(","):
            name, sep, frac = chunk.strip().partition("=")
            if not sep or not _SPLIT_NAME.match(name):
                raise ValidationError(f"{chunk.strip()!r}: write name=fraction, e.g. train=0.9")
            try:
                share = float(frac)
            except ValueError as exc:
                raise ValidationError(f"{frac!r} is not a number") from exc
            if not 0 < share <= 1:
                raise ValidationError(f"{name}: fraction must be in (0, 1]")
            parts.append((name, share))
        names = [n for n, _ in parts]
        if len(set(names)) != len(names):
            raise ValidationError("split names must differ")
        if abs(sum(s for _, s in parts) - 1) > 1e-6:
            raise ValidationError("fractions must add up to 1")
        return tuple(parts)


def _doc(text: str) -> dict[str, Any]:
    return {"metadata": {"description": text}}


def _names(text: str) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(1, 200)), load_default=list, **_doc(text)
    )


def _choice(default: str, choices: tuple[str, ...], text: str) -> fields.String:
    return fields.String(load_default=default, validate=validate.OneOf(choices), **_doc(text))


def _flag(default: bool, text: str) -> fields.Boolean:
    return TextBoolean(load_default=default, **_doc(text))


class ExportOptionsSchema(Schema):
    """Export arguments as given on the command line or in the query string.

    Each field's description is its documentation: the CLI help, the OpenAPI
    document and the README's option table all come from here.
    """

    class Meta:
        unknown = RAISE

    format = fields.String(
        required=True,
        validate=validate.OneOf(FORMATS),
        **_doc("Row format: " + ", ".join(FORMATS) + "."),
    )
    project = fields.List(
        fields.String(validate=validate.Length(1, 200)),
        required=True,
        validate=validate.Length(min=1),
        **_doc("Slug of a project to export (repeatable)."),
    )
    pairs = _choice(
        "all",
        PAIRING,
        "How a ranking becomes pairs: every two responses (all), the best group against "
        "each lower response (best-vs-rest), or each group against the next (adjacent).",
    )
    ties = _choice(
        "drop",
        TIES,
        "Tied pairs in pair formats: drop them (counted in the summary), or write both "
        "orders with margin 0 (both-orders).",
    )
    include_both_bad = _flag(
        False,
        "Keep judgments marked both-bad in pair formats (KTO always labels them undesirable).",
    )
    aggregation = _choice(
        "per-judgment",
        AGGREGATION,
        "One row per rater's verdict (per-judgment), or one row per item and pair by "
        "weighted majority over the item's judgments (consensus).",
    )
    consensus = _choice(
        "majority",
        CONSENSUS,
        "How consensus decides a pair and orders an item: the weighted plurality of "
        "win/lose/tie votes with Copeland order (majority), or Bradley-Terry strengths "
        "fitted to the item's verdicts, a tie counting half a win (bradley-terry).",
    )
    rater_weights = _choice(
        "equal",
        WEIGHTS,
        "Consensus vote weights: equal, or each rater's gold accuracy smoothed as "
        "(hits + 1) / (gold judgments + 2) (gold).",
    )
    min_judgments = TextInteger(
        load_default=1,
        validate=validate.Range(1, 1000),
        **_doc("Drop items with fewer current judgments (after the filters)."),
    )
    min_agreement = TextFloat(
        load_default=None,
        allow_none=True,
        validate=validate.Range(-1, 1),
        **_doc(
            "Drop items whose agreement is lower or unknown (pairwise: majority share "
            "0..1; ranking and rating: mean Kendall tau-b -1..1)."
        ),
    )
    margin = _flag(
        True,
        "Reward format: add margin (the rater's strength 1-3, tie 0) when every exported "
        "project is pairwise on the likert7 scale (--no-margin leaves it out).",
    )
    kto_from = _choice(
        "auto",
        KTO_FROM,
        "KTO labels from verdicts (best group desirable, worst undesirable, both-bad all "
        "undesirable), from rubric ratings against kto-threshold, or auto (ratings for "
        "rating judgments, verdicts otherwise).",
    )
    rating_dimension = fields.String(
        load_default=None,
        allow_none=True,
        **_doc(
            "Rubric dimension that ranks rating judgments and labels KTO rows. Default: "
            "each project's first response-scope likert or number dimension."
        ),
    )
    kto_threshold = TextFloat(
        load_default=None,
        allow_none=True,
        **_doc(
            "KTO from ratings: above is desirable, below undesirable, equal gets no row. "
            "Default: the scale's midpoint ((1 + points) / 2, or (min + max) / 2)."
        ),
    )
    conversational = _flag(
        False,
        "Write message lists even when every item is plain text. Files are "
        "conversational anyway as soon as one exported project has a conversation item.",
    )
    separator = fields.String(
        load_default="\n",
        validate=validate.Length(max=20),
        **_doc(
            "Standard (string) variant: put this before a completion when neither the "
            "prompt's end nor the completion's start is whitespace (TRL joins them bare)."
        ),
    )
    metadata = _flag(
        True, "Add a compact metadata object to every row but raw's (--no-metadata omits it)."
    )
    with_votes = _flag(
        False,
        "Add vote_share (the fraction of the raters who voted on this row's pair and "
        "agreed with its order, unweighted) and vote_count (how many voted) to every row, "
        "columns trainers drop, for weighting or filtering by agreement.",
    )
    with_rewrites = _flag(
        False,
        "Add a row per rater's rewrite, the rewrite chosen over the response it rewrote, and "
        "a source column to every row: judgment (a rater's verdict) or rewrite, so a trainer "
        "can keep or drop either.",
    )
    min_edit_words = TextInteger(
        load_default=1,
        validate=validate.Range(1, 1_000_000),
        **_doc(
            "Rewrites (sft, and pair formats with --with-rewrites) count only when they "
            "change at least this many words of the original: words out plus words in, "
            "whitespace never a word, so whitespace-only edits never count."
        ),
    )
    include_judges = _flag(
        False,
        "Add a row per model judge verdict (one per order shown), marked annotator_type "
        "model with its judge's name; human rows are then marked annotator_type human. "
        "Judge verdicts never enter the human rows, consensus or agreement.",
    )
    since = _When(
        load_default=None,
        allow_none=True,
        **_doc("Only judgments made at or after this ISO date or time (UTC)."),
    )
    until = _When(
        load_default=None,
        allow_none=True,
        **_doc("Only judgments made before this ISO date or time (UTC)."),
    )
    tag = _names("Only items with one of these tags (repeatable).")
    model = _names(
        "Only responses from these models (repeatable); a verdict keeps the order of the "
        "responses that remain, and needs two of them."
    )
    rater = _names("Only judgments by these usernames (repeatable).")
    expertise = _names("Only judgments by raters with one of these expertise tags (repeatable).")
    exclude_gold = _flag(False, "Leave out gold (known-answer) items.")
    min_gold_accuracy = TextFloat(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, 1),
        **_doc(
            "Leave out raters whose mean gold score is below this (0..1); raters "
            "without gold judgments are kept."
        ),
    )
    complete_only = _flag(
        False,
        "Only fully rated data: each pair unit of a pairwise item (a ranking or rating item "
        "is one unit) needs the project's overlap of current judgments (adaptive overlap: "
        "its own target). Pair formats and "
        "raw keep an item's complete pairs; the other formats need all of them.",
    )
    split = _Split(
        load_default=(),
        allow_none=True,
        **_doc(
            "Named fractions, e.g. train=0.9,test=0.1. Each prompt goes to one split by "
            "a seeded hash of its text, so no prompt is in two splits."
        ),
    )
    seed = TextInteger(load_default=0, **_doc("Seed of the split hash."))
    part = fields.String(
        load_default=None,
        allow_none=True,
        **_doc("Write only this split (the API streams one split: give part with split)."),
    )
    real_usernames = _flag(
        False,
        "Show usernames instead of pseudonyms (a keyed hash of the rater id). Admins only.",
    )

    @validates_schema(pass_original=True)
    def _applies(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> None:
        fmt = data.get("format")
        for name, formats in APPLIES_TO.items():
            if name not in original or fmt in formats:
                continue
            flag = cli_flag(name, self.fields[name])
            raise ValidationError(
                f"{flag} changes only {', '.join(formats)} rows, not {fmt}: leave it out", name
            )

    @validates_schema(pass_original=True)
    def _check(self, data: dict[str, Any], original: dict[str, Any], **_: Any) -> None:
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise ValidationError("must be after since", "until")
        if (
            "min_edit_words" in original
            and data.get("format") in PAIR_FORMATS
            and not data.get("with_rewrites")
        ):
            raise ValidationError(
                "changes only rewrite rows: give --with-rewrites", "min_edit_words"
            )
        if data.get("consensus") == "bradley-terry" and data.get("rater_weights") == "gold":
            raise ValidationError("gold weights work with consensus=majority only", "rater_weights")
        split = data.get("split") or ()
        part = data.get("part")
        if part is not None and part not in dict(split):
            raise ValidationError("names none of the --split parts", "part")

    @post_load
    def _build(self, data: dict[str, Any], **_: Any) -> ExportOptions:
        renames = {"project": "projects", "tag": "tags", "model": "models", "rater": "raters"}
        values = {renames.get(k, k): v for k, v in data.items()}
        for key in ("projects", "tags", "models", "raters", "expertise"):
            values[key] = tuple(dict.fromkeys(values[key]))
        values["expertise"] = tuple(e.strip().lower() for e in values["expertise"])
        values["split"] = tuple(values.get("split") or ())
        return ExportOptions(**values)


def option_default(field: fields.Field) -> Any:
    """Return a schema field's default as the docs show it (None when it has none)."""
    default = field.load_default
    if callable(default):  # a factory such as ``list``: its value is the default
        default = default()
    if default is missing or default is None or default in ((), []):
        return None
    return default


def cli_flag(name: str, field: fields.Field) -> str:
    """Return an option's command-line spelling: ``--no-x`` for a flag that is on by default."""
    flag = "--" + name.replace("_", "-")
    if isinstance(field, fields.Boolean) and field.load_default:
        return f"--no-{flag[2:]}"
    return flag


# Options that change only some formats' rows; given with another format they would
# silently do nothing, so they are refused. (Filters, splits and privacy apply to all.)
APPLIES_TO: dict[str, tuple[str, ...]] = {
    "pairs": PAIR_FORMATS,
    "ties": PAIR_FORMATS,
    "include_both_bad": PAIR_FORMATS,
    "margin": ("reward",),
    "kto_from": ("kto",),
    "kto_threshold": ("kto",),
    "conversational": CONVERSATIONAL_FORMATS,
    "separator": ("dpo", "reward", "kto"),
    "metadata": tuple(f for f in FORMATS if f != "raw"),
    "with_votes": PAIR_FORMATS,
    "with_rewrites": PAIR_FORMATS,
    "min_edit_words": ("sft", *PAIR_FORMATS),
    "include_judges": (*PAIR_FORMATS, "raw"),
}


def parse_options(data: dict[str, Any]) -> ExportOptions:
    """Validate raw export arguments into options, or raise InvalidInput naming each field."""
    try:
        return ExportOptionsSchema().load(data)
    except ValidationError as exc:
        errors = [{"field": f, "message": m} for f, m in flatten_messages(exc.messages)]
        first = errors[0] if errors else {"field": "", "message": "invalid"}
        raise InvalidInput(
            f"Invalid export option {first['field']}: {first['message']}", errors=errors
        ) from exc
