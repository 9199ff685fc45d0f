"""Tool use in exported rows: messages keep their tool calls, answers their tool turns.

TRL's trainers pass a row's ``tools`` to the chat template (a list, or a JSON string
they decode); the column is a JSON string here, because function definitions are
free-form JSON Schema that no one Arrow struct can hold without inventing null keys.
OpenAI's preference format takes ``input.tools`` as the list itself. An export has
these only when an exported item uses tools (``source.uses_tools``), so exports of
other items keep their exact columns.
"""

from __future__ import annotations

import json
from typing import Any

from service.export.source import ItemData

Message = dict[str, Any]
TOOL_KEYS = ("tool_calls", "tool_call_id")


def message(m: dict[str, Any]) -> Message:
    """Return a stored message as exported: role and content, and its tool keys if any."""
    out: Message = {"role": m["role"], "content": m["content"]}
    for key in TOOL_KEYS:
        if key in m:
            out[key] = m[key]
    return out


def reply(content: str, turns: list[dict[str, Any]] | None) -> list[Message]:
    """Return an answer as messages: its tool calls and results, then its final text."""
    return [message(m) for m in turns or []] + [{"role": "assistant", "content": content}]


def tools_json(item: ItemData) -> str | None:
    """Return the item's function definitions as TRL's ``tools`` column (a JSON string)."""
    return json.dumps(item.tools, ensure_ascii=False) if item.tools is not None else None
