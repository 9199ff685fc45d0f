"""Tool calls in imported conversations: their shape, and that every call is answered.

An item may carry ``tools`` (OpenAI function definitions); its conversation may hold
assistant turns with ``tool_calls`` (``[{"id", "type": "function", "function": {"name",
"arguments"}}]``, ``arguments`` a JSON object as a string) each answered by a ``tool``
turn (``{"role": "tool", "tool_call_id", "content"}``). A response may be a tool-using
answer: its tool turns are kept in ``tool_turns`` and its final text in ``content``,
so spans, rewrites and text hashes work on the text the rater reads as before.

The one rule for a conversation, prompt and a response's tool turns read together: the
turns right after an assistant turn with tool calls are ``tool`` turns answering each of
those calls exactly once, and a tool turn answers only a call of that assistant turn.
Every refusal is a ValidationError naming the field.
"""

from __future__ import annotations

import json
import re
from typing import Any

from marshmallow import ValidationError

# OpenAI's rule for a function name.
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DEFINITION_KEYS = {"name", "description", "parameters", "strict"}


def normalise(row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row`` with a native response's ``messages`` split into tool turns and text.

    A tool-call turn's null content (as the OpenAI API writes it) becomes "": every
    stored message has a text.
    """
    if isinstance(row.get("messages"), list):
        row = {**row, "messages": [_with_text(m) for m in row["messages"]]}
    responses = row.get("responses")
    if isinstance(responses, list):
        row = {
            **row,
            "responses": [_response(r, f"responses.{i}") for i, r in enumerate(responses)],
        }
    return row


def _with_text(message: Any) -> Any:
    if isinstance(message, dict) and message.get("content") is None and "tool_calls" in message:
        return {**message, "content": ""}
    return message


def _response(response: Any, field: str) -> Any:
    """Turn a response given as ``messages`` into ``content`` and ``tool_turns``."""
    if not isinstance(response, dict):
        return response
    if isinstance(response.get("tool_turns"), list):
        response = {**response, "tool_turns": [_with_text(m) for m in response["tool_turns"]]}
    if "messages" not in response:
        return response
    if "content" in response or "tool_turns" in response:
        raise ValidationError("give messages, or content (and tool_turns), not both", field)
    messages = response["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ValidationError("must be a list of messages", f"{field}.messages")
    turns, text = split_reply([_with_text(m) for m in messages], f"{field}.messages")
    out = {k: v for k, v in response.items() if k != "messages"}
    out["content"] = text
    if turns:
        out["tool_turns"] = turns
    return out


def split_reply(messages: list[dict[str, Any]], field: str) -> tuple[list[dict[str, Any]], str]:
    """Split an answer's turns into its tool turns and its final text.

    The tool turns run to the last ``tool`` turn; the assistant turns after it are the
    text (joined by blank lines, as a plain multi-turn answer is).
    """
    last_tool = max((i for i, m in enumerate(messages) if m.get("role") == "tool"), default=-1)
    turns, final = messages[: last_tool + 1], messages[last_tool + 1 :]
    if not final or any(m.get("role") != "assistant" for m in final):
        raise ValidationError("a tool-using answer must end with the assistant's final text", field)
    if any(m.get("tool_calls") for m in final):
        raise ValidationError(
            "a tool call without its tool result: the answer must end with the final text", field
        )
    for k, m in enumerate(final, start=last_tool + 1):
        if not isinstance(m.get("content") or "", str):
            raise ValidationError(
                "must be text (or a list of content parts)", f"{field}.{k}.content"
            )
    return turns, "\n\n".join(m.get("content") or "" for m in final)


def check_item(data: dict[str, Any]) -> None:
    """Refuse an item whose tools or tool turns are malformed or unanswered (data: loaded)."""
    names = _check_tools(data["tools"]) if "tools" in data else None
    prompt = data.get("messages") or []
    _check_turns(prompt, "messages", names)
    for i, r in enumerate(data["responses"]):
        turns = r.get("tool_turns")
        if turns is None:
            continue
        field = f"responses.{i}.tool_turns"
        if turns[-1]["role"] != "tool":
            raise ValidationError("must end with a tool result (the answer is content)", field)
        if any(m["role"] not in ("assistant", "tool") for m in turns):
            raise ValidationError("may hold only assistant and tool turns", field)
        _check_turns(prompt + turns, field, names, offset=len(prompt))


def _check_tools(tools: Any) -> set[str]:
    """Check OpenAI function definitions; return their names."""
    if not isinstance(tools, list) or not tools:
        raise ValidationError("must be a non-empty list of function definitions", "tools")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        field = f"tools.{i}"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise ValidationError('must be {"type": "function", "function": {...}}', field)
        if set(tool) - {"type", "function"}:
            raise ValidationError("unknown key(s): give type and function", field)
        fn = tool.get("function")
        if not isinstance(fn, dict) or set(fn) - _DEFINITION_KEYS:
            raise ValidationError(
                "must be an object of name, description, parameters", f"{field}.function"
            )
        name = fn.get("name")
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise ValidationError("1-64 letters, digits, _ or -", f"{field}.function.name")
        if name in names:
            raise ValidationError(f"duplicate tool {name!r}", f"{field}.function.name")
        if not isinstance(fn.get("description", ""), str):
            raise ValidationError("Not a valid string.", f"{field}.function.description")
        if not isinstance(fn.get("parameters", {}), dict):
            raise ValidationError("must be a JSON Schema object", f"{field}.function.parameters")
        names.add(name)
    return names


def _check_turns(
    messages: list[dict[str, Any]],
    field: str,
    names: set[str] | None,
    *,
    offset: int = 0,
) -> None:
    """Check every call is answered right after its turn, and every result answers a call.

    ``offset``: where ``field``'s own turns start in ``messages`` (a response's tool turns
    follow the prompt), so a message is named by its index in the field the input gave.
    """
    seen: set[str] = set()
    open_calls: dict[str, int] = {}  # call id -> index of the turn that made it
    for i, m in enumerate(messages):
        where = f"{field}.{i - offset}" if i >= offset else f"messages.{i}"
        if m["role"] == "tool":
            call_id = m.get("tool_call_id")
            if not call_id:
                raise ValidationError("a tool turn needs the tool_call_id it answers", where)
            if call_id not in open_calls:
                raise ValidationError(
                    f"answers no tool call of the assistant turn before it: {call_id!r}",
                    f"{where}.tool_call_id",
                )
            del open_calls[call_id]
            continue
        if "tool_call_id" in m:
            raise ValidationError("only a tool turn answers a tool call", f"{where}.tool_call_id")
        _unanswered(open_calls, messages, field, offset)
        if "tool_calls" not in m:
            continue
        if m["role"] != "assistant":
            raise ValidationError("only an assistant turn calls tools", f"{where}.tool_calls")
        for k, call in enumerate(m["tool_calls"]):
            call_id = _check_call(call, f"{where}.tool_calls.{k}", names)
            if call_id in seen:
                raise ValidationError(
                    f"duplicate tool call id {call_id!r}", f"{where}.tool_calls.{k}.id"
                )
            seen.add(call_id)
            open_calls[call_id] = i
    _unanswered(open_calls, messages, field, offset)


def _unanswered(
    open_calls: dict[str, int], messages: list[dict[str, Any]], field: str, offset: int
) -> None:
    """Refuse a tool call left without its result when the conversation moves on."""
    if not open_calls:
        return
    call_id, i = next(iter(open_calls.items()))
    k = [c["id"] for c in messages[i]["tool_calls"]].index(call_id)
    where = f"{field}.{i - offset}" if i >= offset else f"messages.{i}"
    raise ValidationError(
        f"tool call {call_id!r} has no tool result right after its turn",
        f"{where}.tool_calls.{k}",
    )


def _check_call(call: Any, field: str, names: set[str] | None) -> str:
    """Check one tool call's shape, tool and arguments; return its id."""
    if not isinstance(call, dict) or set(call) - {"id", "type", "function"}:
        raise ValidationError('must be {"id", "type": "function", "function"}', field)
    call_id = call.get("id")
    if not isinstance(call_id, str) or not 1 <= len(call_id) <= 200:
        raise ValidationError("a tool call needs an id (1-200 characters)", f"{field}.id")
    if call.get("type", "function") != "function":
        raise ValidationError('only "function" calls', f"{field}.type")
    fn = call.get("function")
    if not isinstance(fn, dict) or set(fn) != {"name", "arguments"}:
        raise ValidationError("must be {name, arguments}", f"{field}.function")
    name = fn["name"]
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise ValidationError("1-64 letters, digits, _ or -", f"{field}.function.name")
    if names is not None and name not in names:
        raise ValidationError(f"calls {name!r}, which is not in tools", f"{field}.function.name")
    arguments = fn["arguments"]
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValidationError(
            "must be a JSON object written as a string", f"{field}.function.arguments"
        )
    return call_id
