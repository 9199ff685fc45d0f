"""Row shapes per format: the exact keys and types each trainer reads.

Every trainer trap in ``shared/reference/trl-dataset-formats.md`` is avoided here:
a file is either all strings (standard) or all message lists (conversational),
decided before the first row; conversational prompts end with a user turn (items
are validated so on import); string completions carry their own separator because
TRL joins prompt and completion with none; ``margin`` is in every reward row or none;
KTO labels are JSON booleans; no row has an ``image`` key (``images`` only when the
projects hold images: ``export/vision.py`` rewrites those rows). ``tools`` only when an
exported item uses tools (``export/tool_rows.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from service.export import tool_rows
from service.export.rules import strength_of
from service.export.source import ItemData

Message = dict[str, Any]


def encode(row: dict[str, Any]) -> bytes:
    """Serialise one row as a JSON Lines line (UTF-8, compact, key order kept)."""
    try:
        # orjson writes the same bytes as json.dumps(ensure_ascii=False), several times faster.
        return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # A lone surrogate cannot be UTF-8, an integer past 64 bits is beyond orjson:
        # escape this row instead of writing bad bytes. NaN and infinity raise ValueError
        # (no JSON reader accepts them), and the export skips the row and names it.
        return (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode()


def messages_of(item: ItemData) -> list[Message]:
    """Return the item's conversation; a plain-text prompt becomes one user turn."""
    if item.messages is not None:
        return [tool_rows.message(m) for m in item.messages]
    return [{"role": "user", "content": item.prompt or ""}]


def hh_transcript(messages: list[Message], reply: str) -> str:
    """Render a conversation and a reply as an Anthropic HH transcript.

    System text opens the next Human turn (HH has no system role); tool turns are
    shown as Human turns.
    """
    parts: list[str] = []
    system: list[str] = []
    for m in messages:
        if m["role"] == "system":
            system.append(m["content"])
            continue
        speaker = "Assistant" if m["role"] == "assistant" else "Human"
        text = m["content"]
        if speaker == "Human" and system:
            text = "\n\n".join([*system, text])
            system = []
        parts.append(f"\n\n{speaker}: {text}")
    parts.append(f"\n\nAssistant: {reply}")
    return "".join(parts)


# Summary key of the pairs ``degenerate`` leaves out, in every pair format and in kto.
IDENTICAL = "pairs_with_identical_responses"


def degenerate(first: Any, second: Any) -> bool:
    """Tell whether a preference pair is degenerate: both sides are the same exported value.

    The one rule every pairwise-derived format applies (dpo, reward, openai, hh, and kto
    between a desirable and an undesirable row of one verdict). It compares exactly what
    the file would hold, after the format's rendering (separator, implicit prompt, HH
    transcript, message list): such a row tells a trainer that a text is both better and
    worse than itself. Texts that differ only in whitespace the rendering keeps are not
    degenerate; ``"x"`` and ``"\\nx"`` after a prompt ending in a letter both become
    ``"\\nx"`` in the standard variant, and are.
    """
    return bool(first == second)


class RowBuilder:
    """Build rows of one format in one variant (standard strings or conversational lists)."""

    def __init__(
        self,
        *,
        fmt: str,
        conversational: bool,
        separator: str,
        margin: bool,
        metadata: bool,
        with_source: bool = False,
        tools: bool = False,
    ) -> None:
        self.fmt = fmt
        # Rows carry tools and answers their tool turns (export/tool_rows.py).
        self.tools = tools
        self.with_source = with_source
        self.conversational = conversational
        self.separator = separator
        self.margin = margin
        self.metadata = metadata
        # Per-item memo for pair rows: several rows of one item share these values.
        self._item: ItemData | None = None
        self._prompt: Any = None
        self._sides: dict[str, Any] = {}

    def prompt(self, item: ItemData) -> str | list[Message]:
        """Return the prompt in this file's variant."""
        return messages_of(item) if self.conversational else (item.prompt or "")

    def completion(
        self, item: ItemData, content: str, turns: list[Message] | None = None
    ) -> str | list[Message]:
        """Return a response (its text, a tool-using answer's turns) as the completion."""
        if self.conversational:
            return tool_rows.reply(content, turns)
        prompt = item.prompt or ""
        # TRL concatenates prompt and completion with nothing between them.
        joined = not prompt or prompt[-1].isspace() or not content or content[0].isspace()
        return content if joined else self.separator + content

    def pair(
        self,
        item: ItemData,
        chosen: str,
        rejected: str,
        margin: float | None,
        meta: dict[str, Any],
        votes: tuple[float, int] | None = None,
    ) -> dict[str, Any]:
        """Return one preference row of a pair format (dpo, reward, openai, hh).

        ``votes``: the row's vote share and count (``--with-votes``), before the metadata.
        """
        if item is not self._item:
            self._prepare(item)
        side = self._sides
        return self._pair(side[chosen], side[rejected], margin, meta, votes, "judgment")

    def rewrite_pair(
        self,
        item: ItemData,
        rewrite: str,
        original: str,
        meta: dict[str, Any],
        with_votes: bool,
    ) -> dict[str, Any]:
        """Return the row "a rater's rewrite is better than the response it rewrote".

        ``source`` is "rewrite"; the reward margin is 0 (no strength was given: the plain
        pairwise loss) and the vote columns null (nobody voted on this pair).
        """
        if item is not self._item:
            self._prepare(item)
        # A rewrite is of the final text; a tool-using answer keeps its tool turns.
        chosen = self._side(item, rewrite, item.tool_turns.get(original))
        votes = (None, None) if with_votes else None
        return self._pair(chosen, self._sides[original], 0.0, meta, votes, "rewrite")

    def _pair(
        self,
        chosen: Any,
        rejected: Any,
        margin: float | None,
        meta: dict[str, Any],
        votes: tuple[Any, Any] | None,
        source: str,
    ) -> dict[str, Any]:
        if self.fmt == "dpo":
            row: dict[str, Any] = {"prompt": self._prompt, "chosen": chosen, "rejected": rejected}
            if self.tools:
                self._with_tools(row)
        elif self.fmt == "reward":
            row = {"chosen": chosen, "rejected": rejected}
            if self.margin:
                row["margin"] = float(margin if margin is not None else 0.0)
            if self.tools:
                self._with_tools(row)
        elif self.fmt == "openai":
            row = {
                "input": self._prompt,
                "preferred_output": chosen,
                "non_preferred_output": rejected,
            }
        else:
            row = {"chosen": chosen, "rejected": rejected}
        if self.with_source:
            # Which rows a rater's verdict made and which a rewrite (--with-rewrites).
            row["source"] = source
        if votes is not None:
            row["vote_share"], row["vote_count"] = votes
        if self.metadata:
            row["metadata"] = meta
        return row

    def sft(
        self, item: ItemData, text: str, meta: dict[str, Any], response: str | None = None
    ) -> dict[str, Any]:
        """Return one supervised fine-tuning row: the conversation, then ``text`` as the reply.

        ``response``: the response ``text`` rewrites, whose tool turns come before it.
        """
        turns = item.tool_turns.get(response) if response is not None else None
        row = {"messages": messages_of(item) + tool_rows.reply(text, turns)}
        return self._with_meta(self._with_tools(row, item), meta)

    def identical(self, item: ItemData, first: str, second: str) -> bool:
        """Tell whether this file would write two of the item's responses as the same completion."""
        if self.fmt == "kto":
            return degenerate(self._kto_side(item, first), self._kto_side(item, second))
        if item is not self._item:
            self._prepare(item)
        return degenerate(self._sides[first], self._sides[second])

    def _prepare(self, item: ItemData) -> None:
        """Build the item's prompt and each response's side of a pair once, for all its rows."""
        self._item = item
        if self.fmt == "dpo":
            self._prompt = self.prompt(item)
        elif self.fmt == "openai":
            self._prompt = {"messages": messages_of(item)}
            if self.tools and item.tools is not None:
                self._prompt["tools"] = item.tools
        self._sides = {
            rid: self._side(item, t, item.tool_turns.get(rid))
            for rid, (_, t) in item.responses.items()
        }

    def _side(self, item: ItemData, content: str, turns: list[Message] | None = None) -> Any:
        """Return one answer (text, tool turns) as this pair format writes a side of a pair."""
        if self.fmt == "dpo":
            return self.completion(item, content, turns)
        if self.fmt == "reward":
            return self._full(item, content, turns)
        if self.fmt == "openai":
            return tool_rows.reply(content, turns)
        return hh_transcript(messages_of(item), content)

    def _with_tools(self, row: dict[str, Any], item: ItemData | None = None) -> dict[str, Any]:
        """Add the ``tools`` column of a TRL row, when this export has tool use."""
        item = item or self._item
        if self.tools and item is not None:
            row["tools"] = tool_rows.tools_json(item)
        return row

    def _kto_side(self, item: ItemData, rid: str) -> str | list[Message]:
        return self.completion(item, item.responses[rid][1], item.tool_turns.get(rid))

    def _full(
        self, item: ItemData, content: str, turns: list[Message] | None = None
    ) -> str | list[Message]:
        """Return prompt and response as one sequence (the reward trainer's implicit prompt)."""
        if self.conversational:
            return messages_of(item) + tool_rows.reply(content, turns)
        return (item.prompt or "") + self.completion(item, content)  # type: ignore[operator]

    def kto(
        self, item: ItemData, response: str, label: bool, meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Return one unpaired KTO row; ``label`` true means desirable."""
        row = {
            "prompt": self.prompt(item),
            "completion": self._kto_side(item, response),
            "label": bool(label),
        }
        return self._with_meta(self._with_tools(row, item), meta)

    def ranking(
        self,
        item: ItemData,
        rank: dict[str, float],
        n_raters: int,
        agreement: float | None,
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """Return one item with every response and its consensus rank (None if never judged)."""
        responses = [
            {"id": rid, "model": model, "content": content, "rank": rank.get(rid)}
            for rid, (model, content) in item.responses.items()
        ]
        row = {
            "prompt": self.prompt(item),
            "responses": responses,
            "n_raters": n_raters,
            "agreement": agreement,
        }
        return self._with_meta(row, meta)

    def votes(
        self, item: ItemData, a: str, b: str, tally: dict[str, Any], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """Return one compared pair of an item with every rater's vote on it."""

        def side(rid: str) -> dict[str, Any]:
            model, content = item.responses[rid]
            return {"id": rid, "model": model, "content": content}

        row = {"prompt": self.prompt(item), "response_a": side(a), "response_b": side(b), **tally}
        return self._with_meta(row, meta)

    def ratings(
        self,
        item: ItemData,
        response: str,
        means: dict[str, float],
        per_rater: list[dict[str, Any]],
        meta: dict[str, Any],
        **turn: None,
    ) -> dict[str, Any]:
        """Return one response with its mean rubric scores and every rater's scores.

        ``turn``: given (as None) only in exports with turn rows (export/response_rows.py).
        """
        model, content = item.responses[response]
        return self._scored(
            self.prompt(item), response, model, content, means, per_rater, meta, turn
        )

    def turn_ratings(
        self,
        item: ItemData,
        before: list[Message],
        content: str,
        turn: int,
        means: dict[str, float],
        per_rater: list[dict[str, Any]],
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        """Return one assistant turn of the prompt with its mean scores and every rater's."""
        prompt = before if self.conversational else (item.prompt or "")
        return self._scored(prompt, None, None, content, means, per_rater, meta, {"turn": turn})

    def _scored(
        self,
        prompt: Any,
        response: str | None,
        model: str | None,
        content: str,
        means: dict[str, float],
        per_rater: list[dict[str, Any]],
        meta: dict[str, Any],
        turn: dict[str, int | None],
    ) -> dict[str, Any]:
        row = {
            "prompt": prompt,
            "response_id": response,
            "model": model,
            "response": content,
            "scores": means,
            "per_rater": per_rater,
            "n_raters": len(per_rater),
            **turn,
        }
        return self._with_meta(row, meta)

    def _with_meta(self, row: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        if self.metadata:
            row["metadata"] = meta
        return row


def shown_hashes(judgments: Iterable[Any]) -> list[str]:
    """Return the ``shown_sha256`` of the judgments behind a row, each once, in order.

    A list in every format and aggregation (one hash for a row of one judgment), so the
    metadata column has one type whatever the options.
    """
    return list(dict.fromkeys(j.shown_sha256 for j in judgments))


def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def raw_row(
    item: ItemData, j: Any, project: str, rater: str, expertise: list[str], tools: bool = False
) -> dict[str, Any]:
    """Return one judgment with everything stored about it: the lossless archive row.

    ``tools``: the export has tool use; the row ends with the item's ``tools`` and each
    response has its ``tool_turns`` (null for a plain answer).
    """
    verdict = j.verdict or {}
    row = {
        "judgment_id": j.id,
        "project": project,
        "item_id": item.external_id,
        "mode": j.mode,
        "prompt": item.prompt,
        "messages": item.messages,
        "responses": [
            {"id": rid, "model": model, "content": content}
            | ({"tool_turns": item.tool_turns.get(rid)} if tools else {})
            for rid, (model, content) in item.responses.items()
        ],
        "shown_order": list(j.shown_order or []),
        # The verdict as stored, and its parts as typed columns.
        "verdict": verdict,
        "preferred": verdict.get("preferred") if j.mode == "pairwise" else None,
        "ranking": verdict.get("ranking") if j.mode == "ranking" else None,
        "strength": strength_of(verdict) if j.mode == "pairwise" else None,
        "scale_value": verdict.get("scale_value") if j.mode == "pairwise" else None,
        "both_bad": bool(j.both_bad),
        "rubric": j.rubric or {},
        "flags": list(j.flags or []),
        "rationale": j.rationale,
        "confidence": j.confidence,
        "active_ms": j.active_ms,
        "guideline_version": j.guideline_version,
        # Recomputable from this row: see service/rating/shown.py and the README.
        "shown_sha256": j.shown_sha256,
        # Error spans: code-point offsets into that response's content, with its sha256.
        "spans": list(j.spans or []),
        "started_at": _iso(j.started_at),
        "created_at": _iso(j.created_at),
        "rater": rater,
        "rater_expertise": expertise,
        "is_gold": bool(item.is_gold),
        "version": j.version,
        "supersedes_id": j.supersedes_id,
        # The rater's rewrite of one response (null without one): see rating/rewrites.py.
        "rewrite": {
            "response_id": j.rewrite_response_id,
            "text": j.rewrite_text,
            "original_sha256": j.rewrite_original_sha256,
        }
        if j.rewrite_response_id is not None
        else None,
    }
    if tools:
        row["tools"] = item.tools
    return row
