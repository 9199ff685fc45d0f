"""Generation prompt sets: JSON Lines of prompts or conversations, checked as a whole.

A prompt set lives at an http(s) URL, an absolute path on the worker's host, or a
path relative to PROMPTS_DIR; gzip is fine. Lines without an id get one derived
from their content, so re-pulling the same set finds the same prompts.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from marshmallow import ValidationError

from service.errors import InvalidInput
from service.items.importing import RowError, read_jsonl
from service.projects.source_config import PromptRowSchema
from service.pull import fetch
from service.pull.context import PullContext, open_jsonl
from service.schemas import flatten_messages


@dataclass(frozen=True)
class Prompt:
    """One line of the prompt set, and the messages sent for it."""

    line: int
    id: str
    row: dict[str, Any]
    messages: list[dict[str, Any]]
    hash: str


def load_prompts(ctx: PullContext, config: dict[str, Any]) -> list[Prompt]:
    """Read and check the whole prompt set; refuse it, naming every bad line, if any is bad."""
    where = config["prompts"]
    schema = PromptRowSchema(max_chars=ctx.max_chars)
    prompts: list[Prompt] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    with _open_prompts(ctx, config) as fileobj:
        for line, obj in read_jsonl(open_jsonl(fileobj, where), limits=ctx.input_limits):
            if isinstance(obj, RowError):
                errors.append(obj.as_dict())
                continue
            try:
                data = schema.load(obj)
            except ValidationError as exc:
                errors.extend(
                    {"line": line, "field": f, "message": m}
                    for f, m in flatten_messages(exc.messages)
                )
                continue
            prompt = _prompt(line, data, config.get("system"))
            if prompt.id in seen:
                errors.append(
                    {"line": line, "field": "id", "message": f"duplicate id {prompt.id!r}"}
                )
            seen.add(prompt.id)
            prompts.append(prompt)
    if errors:
        raise InvalidInput(
            f"{len(errors)} problem(s) in the prompt set {where}; nothing was generated.",
            errors=errors,
        )
    return prompts


def _open_prompts(ctx: PullContext, config: dict[str, Any]) -> IO[bytes]:
    where = config["prompts"]
    if where.startswith(("http://", "https://")):
        with fetch.make_client() as client:
            sent = fetch.send(
                client,
                "GET",
                where,
                policy=fetch.RetryPolicy.from_config(config),
                read=lambda r, d: fetch.read_capped(r, ctx.max_bytes, d),
                stop=ctx.stop,
            )
        return io.BytesIO(sent.value)
    path = Path(where) if Path(where).is_absolute() else Path(ctx.prompts_dir) / where
    try:
        return path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read the prompt set {path}: {exc.strerror}") from exc


def _prompt(line: int, data: dict[str, Any], system: str | None) -> Prompt:
    asked = data.get("messages") or [{"role": "user", "content": data["prompt"]}]
    messages = asked
    if system and not any(m["role"] == "system" for m in asked):
        messages = [{"role": "system", "content": system}, *asked]
    pid = data.get("id") or f"p-{_digest(asked)[:16]}"
    return Prompt(line, pid, data, messages, _digest(messages))


def _digest(messages: list[dict[str, Any]]) -> str:
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
