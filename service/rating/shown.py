"""What a rater was shown, as one checkable hash stored with every judgment.

``shown_sha256`` is the sha256 of a canonical JSON serialisation of the prompt (or
conversation), the responses' texts in the order the rater saw them (the lease's
``shown_order``) and the guideline version; for an item that uses tools, also its tool
definitions and each shown response's tool turns (keys absent otherwise, so hashes of
items without tools are as before). An image is part of its text, as a marker holding
its sha256 (``service/images.py``), so the hash covers the images' bytes too.
Exports carry it, so a consumer can check
that a row's text is exactly what its rater judged, by recomputing it from the raw
export (see the README). The same function serves submission, revision and the
migration that backfilled older judgments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Item, Response


def canonical(
    *,
    prompt: str | None,
    messages: list[dict[str, Any]] | None,
    responses: Sequence[str | None],
    guideline_version: int,
    tools: list[dict[str, Any]] | None = None,
    tool_turns: Sequence[list[dict[str, Any]] | None] = (),
) -> bytes:
    """Return the canonical bytes that ``shown_sha256`` hashes.

    JSON with sorted keys, no whitespace and non-ASCII escaped as ``\\uXXXX`` (Python's
    ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``), so any language can
    rebuild it byte for byte. A response no longer stored is ``null`` (only in rows
    backfilled from content changed before the hash existed). An item with tools adds
    ``tools`` and ``tool_turns`` (each shown response's tool turns, in display order,
    ``null`` for a plain answer).
    """
    obj: dict[str, Any] = {
        "guideline_version": guideline_version,
        "messages": messages,
        "prompt": prompt,
        "responses": list(responses),
    }
    if tools is not None or any(t is not None for t in tool_turns):
        obj["tools"] = tools
        obj["tool_turns"] = list(tool_turns)
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("ascii")


def shown_sha256(
    *,
    prompt: str | None,
    messages: list[dict[str, Any]] | None,
    responses: Sequence[str | None],
    guideline_version: int,
    tools: list[dict[str, Any]] | None = None,
    tool_turns: Sequence[list[dict[str, Any]] | None] = (),
) -> str:
    """Return the hex sha256 of what a rater was shown (see ``canonical``)."""
    data = canonical(
        prompt=prompt,
        messages=messages,
        responses=responses,
        guideline_version=guideline_version,
        tools=tools,
        tool_turns=tool_turns,
    )
    return hashlib.sha256(data).hexdigest()


# Built once: building a statement costs more than running it (see slots.py).
_CONTENT = (
    sa.select(
        Item.prompt,
        Item.messages,
        Item.tools,
        Response.external_id,
        Response.content,
        Response.tool_turns,
    )
    .select_from(Item)
    .outerjoin(Response, Response.item_id == Item.id)
    .where(Item.id == sa.bindparam("b_item"))
)


def text_sha256(text: str) -> str:
    """Return the hex sha256 of one text's UTF-8 bytes (a rewritten response's original,
    a span's response)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Content(NamedTuple):
    """An item's stored content: what a rater of it is shown."""

    prompt: str | None
    messages: list[dict[str, Any]] | None
    texts: dict[str, str | None]  # response text by response id
    tools: list[dict[str, Any]] | None
    tool_turns: dict[str, list[dict[str, Any]] | None]  # by response id


def content(*, session: Session, item_id: int) -> Content:
    """Return an item's stored prompt, messages, tools and responses by response id."""
    rows = session.execute(_CONTENT, {"b_item": item_id}).all()
    return Content(
        rows[0].prompt,
        rows[0].messages,
        {r.external_id: r.content for r in rows},
        rows[0].tools,
        {r.external_id: r.tool_turns for r in rows},
    )


def of_item(
    *, session: Session, item_id: int, shown_order: Sequence[str], guideline_version: int
) -> str:
    """Return ``shown_sha256`` of an item's stored content in this display order."""
    return of_content(content(session=session, item_id=item_id), shown_order, guideline_version)


def of_content(stored: Content, shown_order: Sequence[str], guideline_version: int) -> str:
    """Return ``shown_sha256`` of content read with ``content``, in this display order."""
    return shown_sha256(
        prompt=stored.prompt,
        messages=stored.messages,
        responses=[stored.texts.get(rid) for rid in shown_order],
        guideline_version=guideline_version,
        tools=stored.tools,
        tool_turns=[stored.tool_turns.get(rid) for rid in shown_order],
    )
