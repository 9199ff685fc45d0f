"""The columns of each format's Parquet file: one type description, two readers of it.

A column's type is written once, in a small description (``STRING``, ``[MESSAGE]``,
a dict for a struct, ``JSON`` for free-form objects), and turned into both the Arrow
schema and the Hugging Face ``features``, so the file and the card cannot disagree. The
schema is explicit, not inferred from the first batch: a column that is empty or null
in one batch keeps its type in the next. Free-form objects (rubric scores, a stored
verdict) are ``datasets.Json`` columns.

pyarrow is imported only when a schema is built: light commands never load it.
"""

from __future__ import annotations

import json
from typing import Any

STRING, INT, FLOAT, BOOL, JSON = "string", "int64", "float64", "bool", "json"
MESSAGE = {"role": STRING, "content": STRING}
# An image as ``datasets.Image`` keeps it (its bytes and a file name): PIL images on load.
IMAGE = "image"
# Messages of a vision export (export/vision.py): content is a list of parts.
TRL_PART = {"type": STRING, "text": STRING}
OPENAI_PART = {"type": STRING, "text": STRING, "image_url": {"url": STRING}}
RESPONSE = {"id": STRING, "model": STRING, "content": STRING}


def columns(
    fmt: str,
    *,
    conversational: bool,
    margin: bool,
    with_votes: bool,
    metadata: bool,
    with_source: bool = False,
    vision: bool = False,
    tools: bool = False,
) -> dict[str, Any]:
    """Return the columns of a format's rows, in the JSON Lines key order, with their types.

    ``vision``: the rows hold images (export/vision.py): message contents are lists of
    parts and the TRL formats have an ``images`` column first.

    ``metadata`` is a struct typed per format (so ``metadata.agreement`` is a float column
    a reader can filter on); the free-form objects (rubric scores, a stored verdict) are
    JSON. ``with_source``: the pair formats' ``source`` column ("judgment" or "rewrite",
    ``--with-rewrites``); a rewrite row's metadata has a judgment row's keys. ``tools``:
    an exported item uses tools (export/tool_rows.py): TRL rows have a ``tools`` JSON
    string, and message lists are JSON, because a struct would give every message
    ``tool_calls: null`` and chat templates that test ``'tool_calls' in message`` then
    fail; as JSON each message reads back exactly as in the JSON Lines file.
    """
    messages: Any = JSON if tools else [MESSAGE]
    text: Any = messages if conversational else STRING
    trl_tools = {"tools": STRING} if tools else {}
    # In the rows' key order (rows.RowBuilder._pair): source, then the vote columns.
    extra = {"source": STRING} if with_source else {}
    extra |= {"vote_share": FLOAT, "vote_count": INT} if with_votes else {}
    if fmt == "dpo":
        cols = {"prompt": text, "chosen": text, "rejected": text, **trl_tools, **extra}
    elif fmt == "reward":
        margin_col = {"margin": FLOAT} if margin else {}
        cols = {"chosen": text, "rejected": text, **margin_col, **trl_tools, **extra}
    elif fmt == "openai":
        cols = {
            "input": JSON if tools else {"messages": messages},
            "preferred_output": messages,
            "non_preferred_output": messages,
            **extra,
        }
    elif fmt == "hh":
        cols = {"chosen": STRING, "rejected": STRING, **extra}
    elif fmt == "sft":
        # TRL's conversational SFT rows: the prompt's turns, then the rewrite as the reply.
        cols = {"messages": messages, **trl_tools}
    elif fmt == "kto":
        cols = {"prompt": text, "completion": text, "label": BOOL, **trl_tools}
    elif fmt == "ranking":
        ranked = {**RESPONSE, "rank": FLOAT}
        cols = {"prompt": text, "responses": [ranked], "n_raters": INT, "agreement": FLOAT}
    elif fmt == "ratings":
        cols = {
            "prompt": text,
            "response_id": STRING,
            "model": STRING,
            "response": STRING,
            "scores": JSON,  # keyed by the projects' rubric dimensions
            "per_rater": JSON,
            "n_raters": INT,
        }
    elif fmt == "votes":
        cols = {"prompt": text, **_VOTES}
    elif fmt == "raw":
        if not tools:
            return dict(_RAW)
        # As stored, with each response's tool turns; the item's tools last.
        return {**_RAW, "responses": JSON, "tools": JSON}
    else:
        raise ValueError(f"no Parquet columns for format {fmt!r}")
    if vision:
        cols = _vision(fmt, cols)
    return {**cols, "metadata": _metadata(fmt)} if metadata else cols


def _vision(fmt: str, cols: dict[str, Any]) -> dict[str, Any]:
    """Give a format's message columns contents of parts, and TRL's ``images`` column."""
    part = OPENAI_PART if fmt == "openai" else TRL_PART
    message = {"role": STRING, "content": [part]}

    def swap(kind: Any) -> Any:
        if kind == [MESSAGE]:
            return [message]
        if isinstance(kind, dict):
            return {n: swap(k) for n, k in kind.items()}
        return kind

    swapped = {n: swap(k) for n, k in cols.items()}
    return swapped if fmt == "openai" else {"images": [IMAGE], **swapped}


def _metadata(fmt: str) -> dict[str, Any]:
    """The metadata object of a format's rows (see ``export.item_rows``): every key it may hold."""
    if fmt == "sft":  # export.rewrite_rows.sft
        return {
            "project": STRING,
            "item_id": STRING,
            "rater": STRING,
            "judgment_id": INT,
            "response_id": STRING,
            "model": STRING,
            "changed_words": INT,
            "original_sha256": STRING,
            "shown_sha256": [STRING],
        }
    base = {"project": STRING, "item_id": STRING, "n_judgments": INT}
    if fmt == "ranking":
        return {**base, "shown_sha256": [STRING]}
    base["agreement"] = FLOAT
    if fmt in ("ratings", "votes"):
        return {**base, "shown_sha256": [STRING]}
    judged = {"rater": STRING, "judgment_id": INT}
    if fmt == "kto":
        return {**base, **judged, "shown_sha256": [STRING], "response_id": STRING, "model": STRING}
    # Pair formats; a consensus row's strength is a weighted mean, so a float.
    return {
        **base,
        **judged,
        "strength": FLOAT,
        "shown_sha256": [STRING],
        "response_ids": [STRING],
        "models": [STRING],
    }


_VOTES: dict[str, Any] = {
    "response_a": RESPONSE,
    "response_b": RESPONSE,
    "votes": [
        {
            "rater": STRING,
            "judgment_id": INT,
            "choice": STRING,
            "strength": INT,
            "weight": FLOAT,
            "both_bad": BOOL,
        }
    ],
    "distribution": {"a": INT, "b": INT, "tie": INT},
    "n_votes": INT,
    "agreement": FLOAT,
    "consensus": STRING,
}

_RAW: dict[str, Any] = {
    "judgment_id": INT,
    "project": STRING,
    "item_id": STRING,
    "mode": STRING,
    "prompt": STRING,
    "messages": JSON,  # as stored: a conversation, or null for a plain prompt
    "responses": [RESPONSE],
    "shown_order": [STRING],
    "verdict": JSON,
    "preferred": STRING,
    "ranking": [[STRING]],
    "strength": INT,
    "scale_value": INT,
    "both_bad": BOOL,
    "rubric": JSON,
    "flags": [STRING],
    "rationale": STRING,
    "confidence": INT,
    "active_ms": INT,
    "guideline_version": INT,
    "shown_sha256": STRING,
    # Error spans as stored (rating.spans.check_spans): code-point offsets into a response.
    "spans": [
        {
            "response": STRING,
            "start": INT,
            "end": INT,
            "label": STRING,
            "note": STRING,
            "text_sha256": STRING,
        }
    ],
    "started_at": STRING,
    "created_at": STRING,
    "rater": STRING,
    "rater_expertise": [STRING],
    "is_gold": BOOL,
    "version": INT,
    "supersedes_id": INT,
    # A rater's rewrite of one response, or null (export.rows.raw_row).
    "rewrite": {"response_id": STRING, "text": STRING, "original_sha256": STRING},
}


def arrow_schema(cols: dict[str, Any]) -> Any:
    """Return the Arrow schema of these columns, its features recorded for ``datasets``."""
    import pyarrow as pa

    features = {"info": {"features": {n: hub_feature(k) for n, k in cols.items()}}}
    schema = pa.schema([(name, _arrow(kind)) for name, kind in cols.items()])
    return schema.with_metadata({"huggingface": json.dumps(features)})


def _arrow(kind: Any) -> Any:
    import pyarrow as pa

    if isinstance(kind, list):
        return pa.list_(_arrow(kind[0]))
    if isinstance(kind, dict):
        return pa.struct([(n, _arrow(k)) for n, k in kind.items()])
    if kind == IMAGE:
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    simple = {STRING: pa.string(), INT: pa.int64(), FLOAT: pa.float64(), BOOL: pa.bool_()}
    return pa.json_() if kind == JSON else simple[kind]


def hub_feature(kind: Any) -> Any:
    """Return a column type as ``datasets.Features.to_dict()`` writes it."""
    if isinstance(kind, list):
        return {"feature": hub_feature(kind[0]), "_type": "List"}
    if isinstance(kind, dict):
        return {n: hub_feature(k) for n, k in kind.items()}
    if kind == IMAGE:
        return {"_type": "Image"}
    return {"_type": "Json"} if kind == JSON else {"dtype": kind, "_type": "Value"}


def card_feature(name: str, kind: Any) -> dict[str, Any]:
    """Return a column as the dataset card's ``dataset_info.features`` list has it."""
    return {"name": name, **_card_type(kind)}


def _card_type(kind: Any) -> dict[str, Any]:
    if isinstance(kind, list):
        inner = _card_type(kind[0])
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else _unnamed(inner)}
    if isinstance(kind, dict):
        return {"struct": [card_feature(n, k) for n, k in kind.items()]}
    return {"dtype": kind}


def _unnamed(inner: dict[str, Any]) -> Any:
    # A list of structs lists the struct's fields; a list of lists nests the same way.
    return inner.get("struct", inner)
