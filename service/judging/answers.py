"""What a judge's reply means: a checked verdict, or the reason it is none.

Nothing half-parsed becomes a verdict: the reply must be one JSON object with the keys
the answer schema asks for (prompts.answer_schema), and its verdict and rubric must
pass the rules a rater's submission passes (``rating.judgments.check_verdict``, the one
home of those rules). Otherwise ``Unusable`` says why, naming the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.models import Mode, Project
from service.rating.judgments import check_verdict


class Unusable(Exception):
    """A reply that is no verdict; the message is the attempt's reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    """A judge's checked answer, with response ids in place of its labels."""

    verdict: dict[str, Any]
    rubric: dict[str, Any]
    rationale: str


def read_answer(content: str, *, project: Project, shown_order: list[str]) -> Answer:
    """Parse and check a judge's reply about ``shown_order``; raise Unusable saying why not."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise Unusable(f"not JSON ({exc}; reply starts {content[:60]!r})") from None
    if not isinstance(data, dict):
        raise Unusable(f"schema mismatch: expected a JSON object, got {type(data).__name__}")
    wanted = ["rubric", "rationale"] + (["verdict"] if project.mode != Mode.RATING else [])
    for key in wanted:
        if key not in data:
            raise Unusable(f"schema mismatch: {key}: missing")
    if not isinstance(data["rationale"], str):
        raise Unusable("schema mismatch: rationale: expected a string")
    _check_objects(data)
    verdict, rubric, errors = check_verdict(
        project=project,
        shown_order=shown_order,
        verdict=data.get("verdict", {}),
        rubric=data["rubric"],
    )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Unusable(f"schema mismatch: {first['field']}: {first['message']}{more}")
    return Answer(verdict=verdict, rubric=rubric, rationale=data["rationale"].strip())


def _check_objects(data: dict[str, Any]) -> None:
    """Refuse a verdict or rubric that is not the nest of objects the rules read."""
    rubric = data["rubric"]
    objects = {"verdict": data.get("verdict", {}), "rubric": rubric}
    if isinstance(rubric, dict):
        objects |= {f"rubric.{k}": rubric.get(k) or {} for k in ("response", "item")}
        per_response = rubric.get("response")
        if isinstance(per_response, dict):
            objects |= {f"rubric.response.{k}": v or {} for k, v in per_response.items()}
    for field, value in objects.items():
        if not isinstance(value, dict):
            raise Unusable(f"schema mismatch: {field}: expected an object")
