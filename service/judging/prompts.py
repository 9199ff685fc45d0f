"""What a judge is asked: its prompt, the JSON schema of its answer, and the request's hash.

A judge sees an item as a rater does: the prompt (or conversation), the responses under
blind labels (A, B, ...) in the order shown, the project's current guidelines and rubric.
Its answer speaks in those labels and has the shape of a rater's submission
(``verdict``, ``rubric``), so the rating package's own rules check it (answers.py).

The request asks for OpenAI structured output (``response_format`` of type
``json_schema``, strict), built from the project's mode, scale and rubric. Strict mode
wants every property required and no others, so an optional rubric dimension is
nullable instead. The request's canonical JSON, hashed, is the cache key: an unchanged
item, guideline text, rubric, template, model and parameters is never asked twice.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from service.judging.config import SHIPPED_TEMPLATES
from service.models import Mode, Project, Scale
from service.rating.labels import LABELS
from service.rubric import Dimension, RubricKind, rubric_of

SYSTEM = "You are a careful expert judge. Answer with a single JSON object and nothing else."
# Each scale's choices, as a rater's screen offers them (rating/judgments.py checks them).
_CHOICES = {Scale.BINARY: ["A", "B"], Scale.TERNARY: ["A", "B", "tie"]}


def template_text(config: dict[str, Any], prompts_dir: str) -> str:
    """Return a judge's template: a shipped one (prompts/judges/<mode>.txt) or its inline text."""
    name = config["template"]
    if name in SHIPPED_TEMPLATES:
        return (Path(prompts_dir) / "judges" / f"{name}.txt").read_text(encoding="utf-8")
    return name


def _nullable(schema: dict[str, Any], required: bool) -> dict[str, Any]:
    if required:
        return schema
    out = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def _dimension_schema(dim: Dimension) -> dict[str, Any]:
    if dim.kind == RubricKind.LIKERT:
        schema: dict[str, Any] = {"type": "integer", "enum": list(range(1, (dim.points or 0) + 1))}
    elif dim.kind == RubricKind.CHOICE:
        schema = {"type": "string", "enum": list(dim.option_values)}
    elif dim.kind == RubricKind.FLAGS:
        schema = {"type": "array", "items": {"type": "string", "enum": list(dim.option_values)}}
    elif dim.kind == RubricKind.TEXT:
        schema = {"type": "string"}
    else:
        bounds = {"minimum": dim.min, "maximum": dim.max}
        schema = {"type": "number", **{k: v for k, v in bounds.items() if v is not None}}
    return _nullable(schema, dim.required)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _verdict_schema(project: Project, labels: Sequence[str]) -> dict[str, Any] | None:
    if project.mode == Mode.PAIRWISE:
        if project.scale == Scale.LIKERT7:
            return _object({"scale_value": {"type": "integer", "enum": list(range(1, 8))}})
        return _object({"choice": {"type": "string", "enum": _CHOICES[Scale(project.scale)]}})
    if project.mode == Mode.RANKING:
        group = {"type": "array", "items": {"type": "string", "enum": list(labels)}}
        return _object({"ranking": {"type": "array", "items": group}})
    return None


def answer_schema(project: Project, labels: Sequence[str]) -> dict[str, Any]:
    """Return the JSON schema of a judge's answer about responses shown under ``labels``."""
    dims = rubric_of(project)
    per_response = _object({d.name: _dimension_schema(d) for d in dims.per_response})
    rubric = _object(
        {
            "response": _object({label: per_response for label in labels}),
            "item": _object({d.name: _dimension_schema(d) for d in dims.per_item}),
        }
    )
    verdict = _verdict_schema(project, labels)
    top = {"verdict": verdict} if verdict is not None else {}
    return _object({**top, "rubric": rubric, "rationale": {"type": "string"}})


def _describe_dimension(dim: Dimension) -> str:
    where = "for each response" if dim.per_response else "for the item"
    if dim.kind == RubricKind.LIKERT:
        anchors = "; ".join(f"{p} = {dim.anchor(p)}" for p in range(1, (dim.points or 0) + 1))
        what = f"a whole number from 1 to {dim.points}" + (f" ({anchors})" if dim.anchors else "")
    elif dim.kind in (RubricKind.CHOICE, RubricKind.FLAGS):
        many = "one of" if dim.kind == RubricKind.CHOICE else "a list of any of"
        what = f"{many} " + ", ".join(f'"{o.value}" ({o.label})' for o in dim.options)
    elif dim.kind == RubricKind.TEXT:
        what = "free text"
    else:
        what = "a number" + (
            f" from {dim.min:g} to {dim.max:g}"
            if dim.min is not None and dim.max is not None
            else ""
        )
    need = "required" if dim.required else "optional: null when it does not apply"
    help_text = f" {dim.help}" if dim.help else ""
    return f"- {dim.name} ({dim.label}), {where}: {what}; {need}.{help_text}"


def _describe_answer(project: Project, labels: Sequence[str]) -> str:
    shown = ", ".join(labels)
    if project.mode == Mode.PAIRWISE and project.scale == Scale.LIKERT7:
        verdict = (
            '"verdict": {"scale_value": 1 to 7}, where 1 = A much better, 4 = equal, '
            "7 = B much better"
        )
    elif project.mode == Mode.PAIRWISE:
        choices = " or ".join(f'"{c}"' for c in _CHOICES[Scale(project.scale)])
        verdict = f'"verdict": {{"choice": {choices}}}, the better response'
    elif project.mode == Mode.RANKING:
        verdict = (
            f'"verdict": {{"ranking": [["A"], ["B", "C"], ...]}}, groups best first, every '
            f"response ({shown}) exactly once, tied responses in one group"
        )
    else:
        verdict = ""
    lines = ["Give a JSON object with these keys:"]
    if verdict:
        lines.append(f"- {verdict};")
    lines += [
        f'- "rubric": {{"response": {{one object per response {shown}, keyed by its label}}, '
        '"item": {the item-level dimensions}}, every rubric dimension given;',
        '- "rationale": one to three sentences on what decided your judgment.',
    ]
    return "\n".join(lines)


def _turns(messages: Sequence[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        if m.get("tool_calls"):
            text += f"\n(tool calls: {json.dumps(m['tool_calls'], ensure_ascii=False)})"
        role = m.get("role", "")
        if role == "tool":
            role = f"tool result for {m.get('tool_call_id', '')}"
        parts.append(f"[{role}]\n{text}")
    return "\n\n".join(parts)


def _conversation(
    prompt: str | None, messages: list[dict[str, Any]] | None, tools: list[dict[str, Any]] | None
) -> str:
    shown = (prompt or "") if messages is None else _turns(messages)
    if not tools:
        return shown
    listed = json.dumps(tools, ensure_ascii=False)
    return f"Tools the assistant may call: {listed}\n\n{shown}"


def _response(text: str, turns: list[dict[str, Any]] | None) -> str:
    """A response as the rater reads it: its own tool calls and results, then its text."""
    return f"{_turns(turns)}\n\n[assistant]\n{text}" if turns else text


class Requests:
    """Build a judge's requests for one project: what is the same for every item, once.

    The rubric's description, the template and each answer schema (one per number of
    responses shown) are built when first needed and reused; per request only the item's
    text is filled in.
    """

    def __init__(self, config: dict[str, Any], *, project: Project, template: str) -> None:
        self.config, self.project = config, project
        self.template = string.Template(template)
        rubric = "\n".join(_describe_dimension(d) for d in rubric_of(project))
        self.rubric = rubric or "(no rubric)"
        self._formats: dict[int, dict[str, Any]] = {}

    def render(
        self,
        *,
        prompt: str | None,
        messages: list[dict[str, Any]] | None,
        texts: Sequence[str],
        tools: list[dict[str, Any]] | None = None,
        tool_turns: Sequence[list[dict[str, Any]] | None] = (),
    ) -> str:
        """Return the judge's prompt: the template with item, guidelines and rubric filled in."""
        labels = LABELS[: len(texts)]
        responses = "\n\n".join(
            f"=== Response {label} ===\n{text}\n=== End of response {label} ==="
            for label, text in zip(labels, _with_turns(texts, tool_turns), strict=True)
        )
        return self.template.safe_substitute(
            guidelines=self.project.guidelines or "(none)",
            guideline_version=self.project.guideline_version,
            rubric=self.rubric,
            conversation=_conversation(prompt, messages, tools),
            responses=responses,
            answer=_describe_answer(self.project, labels),
        )

    def response_format(self, n_responses: int) -> dict[str, Any]:
        """Return the structured-output request for an answer about ``n_responses`` responses."""
        if n_responses not in self._formats:
            self._formats[n_responses] = {
                "type": "json_schema",
                "json_schema": {
                    "name": f"{self.project.mode}_verdict",
                    "strict": True,
                    "schema": answer_schema(self.project, LABELS[:n_responses]),
                },
            }
        return self._formats[n_responses]

    def body(self, message: str, n_responses: int) -> dict[str, Any]:
        """Return the chat-completions body asking the judge ``message`` (``render``'s)."""
        return {
            "model": self.config["model"],
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": message},
            ],
            **self.config["params"],
            "response_format": self.response_format(n_responses),
        }


def _with_turns(
    texts: Sequence[str], tool_turns: Sequence[list[dict[str, Any]] | None]
) -> list[str]:
    turns = list(tool_turns) or [None] * len(texts)
    return [_response(text, own) for text, own in zip(texts, turns, strict=True)]


def request_sha256(item_id: int, body: dict[str, Any]) -> str:
    """Return the verdict cache key: the sha256 of the item and request body's canonical JSON.

    The item is part of it: two items with the same text are still two items to judge.
    Sorted keys, no whitespace (orjson: the key is only ever compared with itself).
    """
    data = orjson.dumps({"item": item_id, "request": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()
