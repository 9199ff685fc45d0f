"""One call to an OpenAI-compatible chat-completions endpoint, and what its answer means.

Works with vLLM, TGI, Ollama, llama.cpp's server and hosted APIs alike: POST
``{"model", "messages", **params}`` and read ``choices[0].message.content``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from service.models import utcnow
from service.pull import fetch

MAX_BODY_BYTES = 32 * 1024 * 1024
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True)
class Reply:
    """The useful part of a chat-completions response."""

    content: str
    finish_reason: str | None
    usage: dict[str, int]
    served_model: str | None


@dataclass(frozen=True)
class Candidate:
    """A generated response and the record of how it was made (stored in Response.meta)."""

    content: str
    meta: dict[str, Any]


def endpoint_url(url: str) -> str:
    """Return the chat-completions URL for a base URL (``.../v1``) or the full endpoint URL."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


def parse_reply(body: bytes, *, allow_truncated: bool = False) -> Reply:
    """Read a chat-completions response body; raise FetchError saying what is wrong with it."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        start = body[:80].decode("utf-8", "replace")
        raise fetch.FetchError(
            f"malformed response: not JSON ({exc}; body starts {start!r})"
        ) from exc
    if not isinstance(data, dict):
        raise fetch.FetchError(
            f"malformed response: expected a JSON object, got {type(data).__name__}"
        )
    choices = data.get("choices")
    if not choices and data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise fetch.FetchError(f"the endpoint answered with an error: {message}")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise fetch.FetchError("malformed response: no choices")
    choice = choices[0]
    finish = choice.get("finish_reason")
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if finish == "content_filter":
        raise fetch.FetchError("the reply was withheld by the endpoint's content filter")
    if not isinstance(content, str) or not content.strip():
        raise fetch.FetchError(f"malformed response: empty reply content (finish_reason={finish})")
    if finish == "length" and not allow_truncated:
        raise fetch.FetchError(
            "the reply was cut off at the token limit (finish_reason=length); "
            "raise max_tokens, or set allow_truncated to keep such replies"
        )
    raw_usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    usage = {k: raw_usage[k] for k in USAGE_KEYS if isinstance(raw_usage.get(k), int)}
    served = data.get("model") if isinstance(data.get("model"), str) else None
    return Reply(content=content, finish_reason=finish, usage=usage, served_model=served)


def complete(
    client: httpx.Client,
    generator: Mapping[str, Any],
    messages: list[dict[str, Any]],
    *,
    policy: fetch.RetryPolicy,
    api_key: str | None = None,
    allow_truncated: bool = False,
    stop: threading.Event | None = None,
) -> Candidate:
    """Ask one generator for one reply to ``messages``; raise FetchError when it fails."""
    body = {"model": generator["model"], "messages": messages, **generator["params"]}
    # The key goes in the header of this request only; it never reaches logs or records.
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def read(response: httpx.Response, deadline: fetch.Deadline | None) -> Reply:
        raw = fetch.read_capped(response, MAX_BODY_BYTES, deadline)
        return parse_reply(raw, allow_truncated=allow_truncated)

    sent = fetch.send(
        client,
        "POST",
        endpoint_url(generator["url"]),
        policy=policy,
        read=read,
        headers=headers,
        json=body,
        stop=stop,
    )
    reply = sent.value
    meta = {
        "endpoint": generator["name"],
        "model": generator["model"],
        "served_model": reply.served_model,
        "params": dict(generator["params"]),
        "latency_ms": round(sent.seconds * 1000),
        "usage": reply.usage,
        "finish_reason": reply.finish_reason,
        "attempts": sent.attempts,
        "generated_at": utcnow().isoformat(),
    }
    return Candidate(content=reply.content, meta=meta)
