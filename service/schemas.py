"""Marshmallow schemas: the one source of truth for request and file shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from service.models import EditPolicy, JudgeDisplay, Mode, Pairing, PairSet, ProjectStatus, Scale
from service.rubric import NUMBER_LIMIT, RubricKind, RubricScope

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
IDENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ROLES_IN_CONVERSATION = ("system", "user", "assistant", "tool")


def flatten_messages(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Turn marshmallow's nested error messages into (dotted field, message) pairs."""
    if isinstance(messages, dict):
        out: list[tuple[str, str]] = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            out.extend(flatten_messages(value, name))
        return out
    if isinstance(messages, list):
        return [pair for m in messages for pair in flatten_messages(m, prefix)]
    return [(prefix, str(messages))]


# Strict fields: a value of the wrong JSON type is refused (422 naming the field), never
# coerced: marshmallow's own Boolean reads "false" as False but Python's bool("false") as
# True, its Integer reads 1.5 as 1 and "12" as 12, its Float reads true as 1.0. Every
# schema uses these (tests/test_schemas_strict.py walks them all). JSON bodies and files
# take the JSON types; query strings and command lines are text by nature, so their
# fields take the canonical spelling only (true/false, ASCII digits) or the typed value
# a command-line parser already made.
INT64 = validate.Range(-(2**63), 2**63 - 1)
_TEXT_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_TEXT_FLOAT = re.compile(
    r"^[+-]?([0-9]{1,300}(\.[0-9]{0,300})?|\.[0-9]{1,300})([eE][+-]?[0-9]{1,3})?$"
)


def _bounded(kwargs: dict[str, Any]) -> dict[str, Any]:
    # A whole number past 64 bits fits no column; a field's own range is usually narrower.
    if not kwargs.get("validate"):
        kwargs["validate"] = INT64
    return kwargs


class StrictBoolean(fields.Boolean):
    """A JSON boolean: true or false; "false", 0 and 1 are refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid", input=value)


class StrictInteger(fields.Integer):
    """A JSON whole number: no strings, no floats (not even 1.0), no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **_bounded(kwargs))


class StrictFloat(fields.Float):
    """A finite JSON number: no strings, no booleans, no NaN or Infinity."""

    def _validated(self, value: Any) -> float:
        if not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class TextBoolean(fields.Boolean):
    """A query-string or command-line boolean: the words true or false (or a bool)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if value is True or value is False:
            return value
        if value in ("true", "false"):
            return value == "true"
        raise self.make_error("invalid", input=value)


class TextInteger(fields.Integer):
    """A query-string or command-line whole number: ASCII digits, an optional sign (or an int)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **_bounded(kwargs))

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and _TEXT_INTEGER.match(value):
            try:
                value = int(value)
            except ValueError as exc:  # past Python's 4300 digits
                raise self.make_error("invalid", input=value) from exc
        return super()._validated(value)


class TextFloat(fields.Float):
    """A query-string or command-line number in decimal notation, finite (or a number)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str) and _TEXT_FLOAT.match(value):
            value = float(value)
        if not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 time with its offset, one that exists in UTC (not 0001-01-01T00:00+05:00)."""

    default_error_messages = {"range": "Not a time that exists in UTC (years 1 to 9999)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=None, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        when = super()._deserialize(value, attr, data, **kwargs)
        try:
            return when.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("range") from exc


class Strict(Schema):
    class Meta:
        unknown = RAISE


class OptionSchema(Strict):
    value = fields.String(required=True, validate=validate.Regexp(IDENT))
    label = fields.String(required=True, validate=validate.Length(1, 200))


class RubricDimensionSchema(Strict):
    name = fields.String(required=True, validate=validate.Regexp(IDENT, error="must be snake_case"))
    label = fields.String(required=True, validate=validate.Length(1, 200))
    help = fields.String(load_default="", validate=validate.Length(max=2000))
    scope = fields.String(required=True, validate=validate.OneOf([s.value for s in RubricScope]))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in RubricKind]))
    required = StrictBoolean(load_default=False)
    points = StrictInteger(validate=validate.Range(2, 11))
    anchors = fields.Dict(keys=fields.String(), values=fields.String())
    options = fields.List(fields.Nested(OptionSchema), validate=validate.Length(1, 50))
    min = StrictFloat(validate=validate.Range(-NUMBER_LIMIT, NUMBER_LIMIT))
    max = StrictFloat(validate=validate.Range(-NUMBER_LIMIT, NUMBER_LIMIT))

    @validates_schema
    def _check_kind(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("kind")
        if kind == RubricKind.LIKERT and "points" not in data:
            raise ValidationError("likert dimensions need points", "points")
        if kind in (RubricKind.CHOICE, RubricKind.FLAGS) and not data.get("options"):
            raise ValidationError(f"{kind} dimensions need options", "options")
        for key in data.get("anchors") or {}:
            if not key.isdigit() or not 1 <= int(key) <= data.get("points", 0):
                raise ValidationError(f"anchor {key!r} is not a point of the scale", "anchors")


# A ranking or rating item shows every reply; only a pairwise item is about one pair.
PAIRING_PAIRWISE_ONLY = "only pairwise projects choose which models an item compares"
# Error spans: the bounds of their shape (the rules against the project and the text
# are in service/rating/spans.py).
SPAN_LABELS_MAX = 9
SPAN_LABEL_LENGTH = 60
SPAN_NOTE_LENGTH = 2000
SPANS_IN_LIMIT = 500


class ProjectSchema(Schema):
    """A project (rating campaign) as created and shown through the API and CLI."""

    class Meta:
        unknown = RAISE

    id = StrictInteger(dump_only=True)
    slug = fields.String(
        required=True, validate=validate.Regexp(SLUG, error="lowercase letters, digits and dashes")
    )
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    mode = fields.String(
        load_default=Mode.PAIRWISE.value, validate=validate.OneOf([m.value for m in Mode])
    )
    scale = fields.String(
        load_default=Scale.TERNARY.value, validate=validate.OneOf([s.value for s in Scale])
    )
    rubric = fields.List(fields.Nested(RubricDimensionSchema), load_default=list)
    guidelines = fields.String(load_default="", validate=validate.Length(max=200_000))
    guideline_version = StrictInteger(load_default=1, validate=validate.Range(1, 1_000_000))
    overlap = StrictInteger(load_default=3, validate=validate.Range(1, 100))
    status = fields.String(
        load_default=ProjectStatus.ACTIVE.value,
        validate=validate.OneOf([s.value for s in ProjectStatus]),
    )
    lease_minutes = StrictInteger(load_default=30, validate=validate.Range(1, 24 * 60))
    order_strategy = fields.String(
        load_default="complete-first", validate=validate.OneOf(["complete-first", "spread"])
    )
    pairs = fields.String(
        load_default=PairSet.ALL.value, validate=validate.OneOf([p.value for p in PairSet])
    )
    pair_reference = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(1, 200)
    )
    gold_rate = StrictFloat(load_default=0.0, validate=validate.Range(0, 1))
    qualification_items = StrictInteger(load_default=0, validate=validate.Range(0, 1000))
    qualification_threshold = StrictFloat(load_default=0.8, validate=validate.Range(0, 1))
    daily_cap = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(1, 1_000_000)
    )
    rater_cap = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(1, 1_000_000)
    )
    skip_flag_threshold = StrictInteger(load_default=3, validate=validate.Range(1, 1000))
    confirm_contradictions = StrictBoolean(load_default=True)
    pairing = fields.String(
        load_default=Pairing.ALL.value, validate=validate.OneOf([p.value for p in Pairing])
    )
    pairing_uniform_share = StrictFloat(load_default=0.3, validate=validate.Range(0, 1))
    span_labels = fields.List(
        fields.String(validate=validate.Length(1, SPAN_LABEL_LENGTH)),
        load_default=list,
        validate=validate.Length(max=SPAN_LABELS_MAX),
        metadata={
            "description": f"Error span labels (up to {SPAN_LABELS_MAX}, keys 1-9 on the "
            "rating screen); empty: raters mark no spans. Once a label is used it stays."
        },
    )
    span_overlap = StrictBoolean(
        load_default=False,
        metadata={"description": "Whether two error spans of one response may overlap."},
    )
    edit = fields.String(
        load_default=EditPolicy.OFF.value,
        validate=validate.OneOf([e.value for e in EditPolicy]),
        metadata={
            "description": "Rewrites after the verdict: off, preferred (the response "
            "the verdict puts first) or any response."
        },
    )
    # Adaptive overlap (rating/agreement_rule.py): ``overlap`` is then each unit's minimum.
    adaptive_overlap = StrictBoolean(load_default=False)
    overlap_max = StrictInteger(load_default=5, validate=validate.Range(1, 100))
    audit_share = StrictFloat(load_default=0.1, validate=validate.Range(0, 1))
    # Model judges (service/rating/judge_rule.py): what raters see, triage, budget mode.
    judge_display = fields.String(
        load_default=JudgeDisplay.HIDDEN.value,
        validate=validate.OneOf([d.value for d in JudgeDisplay]),
        metadata={
            "description": "What raters see of the model judges: hidden, after (their "
            "verdict once the rater submitted) or suggestion (pre-filled)."
        },
    )
    judge_triage = StrictBoolean(load_default=False)
    judge_budget = StrictBoolean(load_default=False)
    judge_budget_overlap = StrictInteger(load_default=1, validate=validate.Range(1, 100))
    judge_audit_share = StrictFloat(load_default=0.1, validate=validate.Range(0, 1))
    # Tokens (the endpoints' usage.total_tokens) the project's judges may spend in all.
    judge_token_budget = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(1, 10**12)
    )
    created_at = fields.DateTime(dump_only=True)

    @validates_schema
    def _check_pairs(self, data: dict[str, Any], **_: Any) -> None:
        pair_set, reference = data.get("pairs", PairSet.ALL), data.get("pair_reference")
        if pair_set != PairSet.ALL and data.get("mode", Mode.PAIRWISE) != Mode.PAIRWISE:
            raise ValidationError("only pairwise projects choose their pairs", "pairs")
        if pair_set == PairSet.REFERENCE and reference is None:
            raise ValidationError(
                "name the response every other is compared with (its id in each item)",
                "pair_reference",
            )
        if pair_set != PairSet.REFERENCE and reference is not None:
            raise ValidationError("only with pairs 'reference'", "pair_reference")
        adaptive = data.get("pairing", Pairing.ALL) != Pairing.ALL
        if adaptive and data.get("mode", Mode.PAIRWISE) != Mode.PAIRWISE:
            # A settings change has no mode: update_settings checks the project's.
            raise ValidationError(PAIRING_PAIRWISE_ONLY, "pairing")

    @validates_schema
    def _check_span_labels(self, data: dict[str, Any], **_: Any) -> None:
        names = [" ".join(n.split()) for n in data.get("span_labels") or []]
        if any(not n for n in names):
            raise ValidationError("a label must not be blank", "span_labels")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"duplicate span label(s): {', '.join(dupes)}", "span_labels")

    @post_load
    def _tidy_span_labels(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "span_labels" in data:
            data["span_labels"] = [" ".join(n.split()) for n in data["span_labels"]]
        return data

    @validates_schema
    def _check_overlap_range(self, data: dict[str, Any], **_: Any) -> None:
        # A partial change is checked against the project's values in settings.py.
        if data.get("adaptive_overlap") and data.get("overlap", 0) > data.get("overlap_max", 100):
            raise ValidationError("at least overlap (each unit's minimum)", "overlap_max")

    @validates_schema
    def _check_rubric_names(self, data: dict[str, Any], **_: Any) -> None:
        names = [d["name"] for d in data.get("rubric") or []]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"duplicate rubric dimension(s): {', '.join(dupes)}", "rubric")


class MessageSchema(Strict):
    role = fields.String(required=True, validate=validate.OneOf(ROLES_IN_CONVERSATION))
    content = fields.String(required=True)
    # Tool calls and results; their shape and pairing: service/items/tool_calls.py.
    tool_calls = fields.List(fields.Raw(), validate=validate.Length(min=1))
    tool_call_id = fields.String()


class ResponseRowSchema(Strict):
    id = fields.String(required=True, validate=validate.Length(1, 200))
    model = fields.String(load_default="", validate=validate.Length(max=200))
    content = fields.String(required=True)
    metadata = fields.Dict(load_default=dict)
    # A tool-using answer's turns before its final text (service/items/tool_calls.py).
    tool_turns = fields.List(fields.Nested(MessageSchema), validate=validate.Length(min=1))


class ItemRowSchema(Strict):
    """One line of the native import format."""

    id = fields.String(required=True, validate=validate.Length(1, 200))
    prompt = fields.String()
    messages = fields.List(fields.Nested(MessageSchema), validate=validate.Length(min=1))
    # OpenAI function definitions (service/items/tool_calls.py); absent when unused.
    tools = fields.List(fields.Raw())
    responses = fields.List(fields.Nested(ResponseRowSchema), required=True)
    tags = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)
    expertise = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)
    metadata = fields.Dict(load_default=dict)
    priority = StrictInteger(load_default=0, validate=validate.Range(-1000, 1000))
    gold = fields.Dict(load_default=None, allow_none=True)

    def __init__(self, *, max_chars: int = 200_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_chars = max_chars

    @validates_schema
    def _check_item(self, data: dict[str, Any], **_: Any) -> None:
        check_prompt(data, self.max_chars)
        responses = data["responses"]
        if not 2 <= len(responses) <= 9:
            raise ValidationError(f"need 2 to 9 responses, got {len(responses)}", "responses")
        ids = [r["id"] for r in responses]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValidationError(f"duplicate response id(s): {', '.join(dupes)}", "responses")
        for i, r in enumerate(responses):
            if not r["content"].strip():
                raise ValidationError("must not be empty", f"responses.{i}.content")
            if len(r["content"]) > self.max_chars:
                raise ValidationError(
                    f"{len(r['content'])} characters, over the limit of {self.max_chars}",
                    f"responses.{i}.content",
                )
        gold = data.get("gold")
        if gold is not None:
            _check_gold(gold, set(ids))

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["tags"] = sorted(set(data["tags"]))
        data["expertise"] = sorted({e.strip().lower() for e in data["expertise"]})
        return data


def check_prompt(data: dict[str, Any], max_chars: int) -> None:
    """Check that a row has exactly one of prompt and messages, and that it can be answered."""
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt == has_messages:
        raise ValidationError(
            "give exactly one of prompt (text) or messages (a conversation)", "prompt"
        )
    if has_prompt and not data["prompt"].strip():
        raise ValidationError("must not be empty", "prompt")
    if has_messages:
        turns = [m for m in data["messages"] if m["role"] != "system"]
        if not turns or turns[-1]["role"] not in ("user", "tool"):
            raise ValidationError("a conversation must end with a user (or tool) turn", "messages")
    texts = [data.get("prompt") or ""] + [m["content"] for m in data.get("messages") or []]
    if any(len(t) > max_chars for t in texts):
        field = "prompt" if has_prompt else "messages"
        raise ValidationError(f"over the limit of {max_chars} characters", field)


def _check_gold(gold: dict[str, Any], ids: set[str]) -> None:
    """A gold answer names responses of its own item: preferred, ranking or ratings."""
    known = {"preferred", "ranking", "ratings", "tie", "note"}
    unknown = sorted(set(gold) - known)
    if unknown:
        raise ValidationError(
            f"unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(known))}", "gold"
        )
    _check_gold_types(gold)
    if "preferred" in gold and gold["preferred"] not in ids:
        raise ValidationError(
            f"preferred {gold['preferred']!r} is not a response id of this item", "gold"
        )
    if "ranking" in gold:
        ranking = gold["ranking"]
        flat = [r for group in ranking for r in (group if isinstance(group, list) else [group])]
        if sorted(flat) != sorted(ids):
            raise ValidationError("ranking must list every response id exactly once", "gold")


def _check_gold_types(gold: dict[str, Any]) -> None:
    """Refuse a gold answer of the wrong JSON types (a list where an id belongs, "yes" for true)."""
    ranking = gold.get("ranking", [])
    if "preferred" in gold and not isinstance(gold["preferred"], str):
        raise ValidationError("a response id (a string)", "gold.preferred")
    if not isinstance(ranking, list) or not all(
        isinstance(g, str) or (isinstance(g, list) and g and all(isinstance(r, str) for r in g))
        for g in ranking
    ):
        raise ValidationError("a list of response ids or groups of ids, best first", "gold.ranking")
    if "tie" in gold and not isinstance(gold["tie"], bool):
        raise ValidationError("Not a valid boolean.", "gold.tie")
    if "ratings" in gold and not isinstance(gold["ratings"], dict):
        raise ValidationError("Not a valid mapping type.", "gold.ratings")
    if "note" in gold and not isinstance(gold["note"], str):
        raise ValidationError("Not a valid string.", "gold.note")


USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,119}$")
USERNAME_RULE = "1-120 letters, digits and . _ @ + - (starting with a letter or digit)"
EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,200}\.[^@\s]{1,60}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(value: str) -> None:
    if _CONTROL.search(value):
        raise ValidationError("must not contain control characters")


class NewUserSchema(Strict):
    """A user an admin invites: by form, API body or one line of a raters CSV."""

    username = fields.String(validate=validate.Regexp(USERNAME, error=USERNAME_RULE))
    email = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(EMAIL, error="not an email")
    )
    display_name = fields.String(load_default="", validate=[validate.Length(max=200), _printable])
    role = fields.String(
        load_default="rater", validate=validate.OneOf(["rater", "engineer", "admin"])
    )
    expertise = fields.List(
        fields.String(validate=[validate.Length(1, 100), _printable]),
        load_default=list,
        validate=validate.Length(max=50),
    )

    @validates_schema
    def _check_identity(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("username") and not data.get("email"):
            raise ValidationError("give a username or an email", "username")

    @post_load
    def _tidy(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # An email alone is the username too (raters sign in with it).
        data["username"] = data.get("username") or data["email"]
        if not USERNAME.match(data["username"]):
            raise ValidationError("this email cannot be a username; give one", "username")
        data["expertise"] = sorted({e.strip().lower() for e in data["expertise"] if e.strip()})
        data["display_name"] = data["display_name"].strip()
        return data


# Active time is stored in a 32-bit integer column (on PostgreSQL): 24.8 days of milliseconds.
ACTIVE_MS_LIMIT = 2**31 - 1
ACTIVE_MS_MESSAGE = f"milliseconds of active time, a whole number up to {ACTIVE_MS_LIMIT}"


class VerdictInSchema(Strict):
    """A verdict in position labels: which key applies depends on the project's mode and scale."""

    choice = fields.String(metadata={"description": "Pairwise: A, B or tie."})
    scale_value = StrictInteger(metadata={"description": "Pairwise likert7: 1 to 7."})
    ranking = fields.List(
        fields.List(fields.String()), metadata={"description": "Groups of labels, best first."}
    )


class RubricInSchema(Strict):
    """Rubric answers: per response label, for the item, and per assistant turn (its index
    among the conversation's assistant messages, from "0"); values depend on each dimension."""

    response = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String()), load_default=dict
    )
    item = fields.Dict(keys=fields.String(), load_default=dict)
    turn = fields.Dict(
        keys=fields.String(), values=fields.Dict(keys=fields.String()), load_default=dict
    )


class ContradictionInSchema(Strict):
    """The rater's answer when asked about a verdict that contradicts their rubric scores."""

    confirmed = StrictBoolean(
        required=True, metadata={"description": "True: keep the verdict as it is."}
    )
    rationale = fields.String(
        load_default="",
        validate=validate.Length(max=20_000),
        metadata={"description": "Why, in the rater's words (optional)."},
    )


class SpanInSchema(Strict):
    """An error span in a rater's submission: a stretch of one response, by its label."""

    response = fields.String(
        required=True, metadata={"description": "The response's position label (A, B, ...)."}
    )
    start = StrictInteger(
        required=True,
        validate=validate.Range(0, 10_000_000),
        metadata={"description": "First character, in Unicode code points from 0."},
    )
    end = StrictInteger(
        required=True,
        validate=validate.Range(0, 10_000_000),
        metadata={"description": "One past the last character (code points)."},
    )
    label = fields.String(required=True, validate=validate.Length(1, SPAN_LABEL_LENGTH))
    note = fields.String(load_default="", validate=validate.Length(max=SPAN_NOTE_LENGTH))


class RewriteInSchema(Strict):
    """The rater's own version of one response (projects with ``edit`` on)."""

    response = fields.String(
        required=True, metadata={"description": "Label of the response rewritten (A, B, ...)."}
    )
    text = fields.String(
        required=True,
        metadata={"description": "The new text, plain text or Markdown (the original is kept)."},
    )


class JudgmentInSchema(Strict):
    """A rater's submission, the same at every door (the API and the rating page).

    The shape and types are checked here; ``judgments.build_judgment`` loads every
    submission through this schema, then checks it against the project and the lease.
    """

    client_id = fields.String(
        required=True,
        validate=validate.Length(8, 64, error="a client-generated id of 8 to 64 characters"),
    )
    verdict = fields.Nested(VerdictInSchema, load_default=dict)
    rubric = fields.Nested(RubricInSchema, load_default=dict)
    both_bad = StrictBoolean(load_default=False)
    contradiction = fields.Nested(
        ContradictionInSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Needed when the project confirms contradictions and the "
            "verdict ranks a response above one scored higher on every shared scale."
        },
    )
    spans = fields.List(
        fields.Nested(SpanInSchema),
        load_default=list,
        validate=validate.Length(max=SPANS_IN_LIMIT),
        metadata={"description": "Error spans, when the project has span labels."},
    )
    rewrite = fields.Nested(
        RewriteInSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "A rewrite of the preferred (or, per the project's edit "
            "setting, any) response; refused when the project's edit is off."
        },
    )
    active_ms = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(0, ACTIVE_MS_LIMIT, error=ACTIVE_MS_MESSAGE),
        error_messages={"invalid": ACTIVE_MS_MESSAGE},
    )
    started_at = UtcDateTime(
        load_default=None,
        allow_none=True,
        metadata={"description": "When the rater opened the item (ISO 8601 with an offset)."},
    )


# Made once: a marshmallow schema deep-copies its fields when instantiated.
JUDGMENT_IN = JudgmentInSchema()
