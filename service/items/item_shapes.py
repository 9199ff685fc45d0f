"""Turn every accepted import shape into the native item shape.

Accepted: the native ``{"id", "prompt"|"messages", "responses"}``; TRL preference
rows ``{"prompt"?, "chosen", "rejected"}`` (strings, message lists, or Anthropic
HH transcripts); and ``{"prompt", "completions": [...]}``. See the README.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from marshmallow import ValidationError

from service.items import tool_calls
from service.rating import tool_view

_PAIR_KEYS = {"prompt", "chosen", "rejected"}
_COMPLETION_KEYS = {"prompt", "completions"}
_PASSTHROUGH = {"id", "tags", "expertise", "metadata", "priority", "gold", "tools"}
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def to_native(row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row`` in the native shape, or raise ValidationError naming the field."""
    if "responses" in row:
        return tool_calls.normalise(row)
    if "chosen" in row or "rejected" in row:
        return tool_calls.normalise(_from_pair(row))
    if "completions" in row:
        return tool_calls.normalise(_from_completions(row))
    raise ValidationError(
        "no responses: give responses (native), chosen and rejected, or completions", "responses"
    )


def _carry(row: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Keep the native keys; tuck any other fields of a foreign row into metadata.original."""
    out = {k: row[k] for k in _PASSTHROUGH if k in row}
    extra = {k: v for k, v in row.items() if k not in known | _PASSTHROUGH}
    if extra:
        meta = dict(out.get("metadata") or {})
        meta["original"] = extra
        out["metadata"] = meta
    return out


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value)


def _parse_hh(text: str) -> list[dict[str, str]] | None:
    """Split an Anthropic HH transcript into messages; None if it is not one."""
    parts = _HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        return None
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts) - 1, 2)]


def _split_conversation(
    prompt: Any, completion: Any, field: str
) -> tuple[list[dict[str, Any]] | str, str | dict[str, Any]]:
    """Return (prompt, response) for one TRL completion against its prompt.

    The response is its text, or for a tool-using answer the native response fields
    ``{"content", "tool_turns"}`` (see ``tool_calls.split_reply``).
    """
    if isinstance(completion, str) and prompt is not None:
        return prompt, completion
    if isinstance(completion, str):
        completion = _parse_hh(completion)
        if completion is None:
            raise ValidationError(
                "a text completion without a prompt is ambiguous: add a prompt field "
                "(or use HH transcripts with Human:/Assistant: turns)",
                field,
            )
    if not _is_messages(completion) or not completion:
        raise ValidationError(
            "must be a string or a non-empty list of {role, content} messages", field
        )
    if prompt is None:
        # Implicit prompt: everything before the final assistant turns is the prompt;
        # a tool-using answer's tool turns belong to the answer, from its first call on.
        cut = len(completion)
        while cut > 0 and completion[cut - 1].get("role") in ("assistant", "tool"):
            cut -= 1
        while cut < len(completion) and completion[cut].get("role") != "assistant":
            cut += 1
        prompt, completion = completion[:cut], completion[cut:]
        if not prompt or not completion:
            raise ValidationError(
                "a conversation needs user turns followed by an assistant reply", field
            )
    if tool_view.uses_tools(completion):
        turns, text = tool_calls.split_reply(completion, field)
        return prompt, {"content": text, "tool_turns": turns}
    if any(m.get("role") != "assistant" for m in completion):
        raise ValidationError("the response part must contain only assistant turns", field)
    return prompt, "\n\n".join(str(m.get("content", "")) for m in completion)


def _reply(reply: str | dict[str, Any]) -> dict[str, Any]:
    """Return a response's native fields: its text, and a tool-using answer's tool turns."""
    return reply if isinstance(reply, dict) else {"content": reply}


def _prompt_fields(prompt: Any) -> dict[str, Any]:
    return {"messages": prompt} if isinstance(prompt, list) else {"prompt": prompt}


def _derived_id(prompt: Any, texts: list[Any]) -> str:
    digest = hashlib.sha256(json.dumps([prompt, texts], sort_keys=True).encode()).hexdigest()
    return "sha-" + digest[:16]


def _from_pair(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("chosen", "rejected"):
        if key not in row:
            raise ValidationError("missing: a preference row needs both chosen and rejected", key)
    given_prompt = row.get("prompt")
    if isinstance(given_prompt, str):
        given_prompt = _parse_hh(given_prompt) or given_prompt
    prompt, chosen = _split_conversation(given_prompt, row["chosen"], "chosen")
    prompt_r, rejected = _split_conversation(given_prompt, row["rejected"], "rejected")
    if prompt_r != prompt:
        raise ValidationError("chosen and rejected continue different conversations", "rejected")
    out = _carry(row, _PAIR_KEYS)
    out.update(_prompt_fields(prompt))
    out["responses"] = [
        {"id": "chosen", **_reply(chosen), "metadata": {"original_label": "chosen"}},
        {"id": "rejected", **_reply(rejected), "metadata": {"original_label": "rejected"}},
    ]
    out.setdefault("id", _derived_id(prompt, [chosen, rejected]))
    return out


def _from_completions(row: dict[str, Any]) -> dict[str, Any]:
    prompt = row.get("prompt")
    if prompt is None:
        raise ValidationError("missing: completions rows need a prompt", "prompt")
    completions = row["completions"]
    if not isinstance(completions, list):
        raise ValidationError("must be a list", "completions")
    responses = []
    for i, c in enumerate(completions):
        field = f"completions.{i}"
        model = ""
        if isinstance(c, dict) and not _is_messages([c]):
            model = str(c.get("model", ""))
            c = c.get("content", c.get("text"))
            if c is None:
                raise ValidationError("give content (or text)", field)
        elif isinstance(c, dict):
            c = [c]
        _, reply = _split_conversation(prompt, c, field)
        responses.append({"id": str(i + 1), "model": model, **_reply(reply)})
    out = _carry(row, _COMPLETION_KEYS)
    out.update(_prompt_fields(prompt))
    out["responses"] = responses
    out.setdefault("id", _derived_id(prompt, [r["content"] for r in responses]))
    return out
