"""What a rater sees of tool use: blind call ids, and the blocks the screen shows.

Tool call ids come from the imported data (``call_gpt4o_...``, a generator's run id),
so they could tell a rater which model answered or where an item came from. The rater
gets positional ids instead (``call_1``, ``call_2``... numbered through the prompt, then
through each response's own turns after it), the same in the API and on the screen.
Stored data, exports and ``shown_sha256`` keep the imported ids: they are what was
judged, and a rater never sees an id on the screen anyway (a result sits under its call).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from service.rating.rendering import render_markdown


def uses_tools(messages: list[dict[str, Any]] | None) -> bool:
    """Tell whether a list of messages has a tool call or a tool turn."""
    return any(m.get("tool_calls") or m.get("role") == "tool" for m in messages or [])


def blind(
    shown: dict[str, Any],
    tools: list[dict[str, Any]] | None,
    turns: list[list[dict[str, Any]] | None],
) -> None:
    """Add ``tools`` and each response's ``tool_turns`` to ``shown``, call ids blinded."""
    ids: dict[str, str] = {}
    shown["messages"] = _renamed(shown["messages"] or [], ids) if shown["messages"] else None
    shown["tools"] = tools
    for response, own in zip(shown["responses"], turns, strict=True):
        # A response continues the prompt: its ids number on after the prompt's.
        response["tool_turns"] = _renamed(own, dict(ids)) if own else None


def _renamed(messages: list[dict[str, Any]], ids: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls"):
            m["tool_calls"] = [
                {**c, "id": ids.setdefault(c["id"], f"call_{len(ids) + 1}")}
                for c in m["tool_calls"]
            ]
        if "tool_call_id" in m:
            m["tool_call_id"] = ids.get(m["tool_call_id"], "call_0")
        out.append(m)
    return out


def pretty_arguments(arguments: str) -> str:
    """Return a call's arguments indented for reading (as given if they are not JSON)."""
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return arguments


def _result_text(content: str) -> tuple[str, bool]:
    """Return a tool result for display and whether it is JSON (shown as code)."""
    try:
        return json.dumps(json.loads(content), indent=2, ensure_ascii=False), True
    except (TypeError, ValueError):
        return content, False


def blocks(
    messages: list[dict[str, Any]], render: Callable[[str | None], Markup] = render_markdown
) -> list[dict[str, Any]]:
    """Return turns for the screen: text turns, and each call with its result under it.

    A text turn is ``{"role", "html"}``; a tool-calling assistant turn also has ``calls``,
    each ``{"name", "arguments", "result", "result_is_code"}`` (plain text: the template
    escapes it). A tool turn is folded into its call; one whose call is not in
    ``messages`` (it cannot be, after import checks) is shown on its own.
    """
    by_id: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "tool" and m.get("tool_call_id") in by_id:
            result, is_code = _result_text(m["content"])
            by_id[m["tool_call_id"]].update(result=result, result_is_code=is_code)
            continue
        turn: dict[str, Any] = {"role": m["role"], "html": render(m["content"])}
        if m.get("tool_calls"):
            turn["calls"] = []
            for c in m["tool_calls"]:
                fn = c["function"]
                block = {
                    "name": fn["name"],
                    "arguments": pretty_arguments(fn["arguments"]),
                    "result": None,
                    "result_is_code": False,
                }
                by_id[c["id"]] = block
                turn["calls"].append(block)
        out.append(turn)
    return out


def tool_list(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Return the tool definitions for the screen's collapsed list."""
    return [
        {
            "name": t["function"]["name"],
            "description": Markup(render_markdown(t["function"].get("description") or "")),
            "parameters": json.dumps(
                t["function"].get("parameters") or {}, indent=2, ensure_ascii=False
            ),
        }
        for t in tools or []
    ]
