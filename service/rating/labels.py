"""Blind labels: a rater knows the responses of a lease only as A, B, C... in display order.

A response's imported id can give the answer away (a TRL row's ``chosen`` and
``rejected``), name its model (generated responses are keyed by generator), or tell
the import order; so ids never reach a rater. Each lease stores ``shown_order``, the
response ids in the order its screen shows them, and the label of a response is its
position there. What a rater sends speaks in labels and is mapped to ids on the way
in (``labels_for``, used by ``judgments.build_judgment``); a stored judgment goes back
to the rater with its ids mapped to labels (``verdict_to_labels``, ``rubric_to_labels``).
Judgments themselves keep the ids: exports and statistics need them.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields

LABELS = string.ascii_uppercase


def labels_for(shown_order: Sequence[str]) -> dict[str, str]:
    """Map each label (A, B, ...) to the response id shown in that position."""
    return {LABELS[i]: rid for i, rid in enumerate(shown_order)}


def _label_of(shown_order: Sequence[str]) -> dict[str, str]:
    return {rid: LABELS[i] for i, rid in enumerate(shown_order)}


def verdict_to_labels(verdict: dict[str, Any], shown_order: Sequence[str]) -> dict[str, Any]:
    """Return a stored verdict with its response ids (preferred, ranking) as labels.

    Every id of a judgment's verdict is in its ``shown_order`` (the verdict was parsed
    from labels through it); a missing one is a bug, and fails loudly rather than leak.
    """
    label = _label_of(shown_order)
    out = dict(verdict)
    if out.get("preferred") is not None:
        out["preferred"] = label[out["preferred"]]
    if "ranking" in out:
        out["ranking"] = [[label[rid] for rid in group] for group in out["ranking"]]
    return out


def rewrite_to_labels(judgment: Any) -> dict[str, Any] | None:
    """Return a judgment's rewrite as its rater sees it: by label, with its text (or None)."""
    rid = getattr(judgment, "rewrite_response_id", None)
    if rid is None:
        return None
    return {"response": _label_of(judgment.shown_order)[rid], "text": judgment.rewrite_text}


def rubric_to_labels(rubric: dict[str, Any], shown_order: Sequence[str]) -> dict[str, Any]:
    """Return stored rubric values with the per-response values keyed by label."""
    label = _label_of(shown_order)
    per_response = rubric.get("response") or {}
    return {**rubric, "response": {label[rid]: v for rid, v in per_response.items()}}


def spans_to_labels(
    spans: Sequence[dict[str, Any]], shown_order: Sequence[str]
) -> list[dict[str, Any]]:
    """Return stored error spans with their response ids as labels (and no text hash)."""
    label = _label_of(shown_order)
    return [
        {k: label[v] if k == "response" else v for k, v in s.items() if k != "text_sha256"}
        for s in spans
    ]


class JudgmentOutSchema(Schema):
    """A stored judgment as the rater's API and screen return it: responses by label only."""

    id = fields.Integer()
    client_id = fields.String()
    assignment_id = fields.Integer()
    version = fields.Integer()
    supersedes_id = fields.Integer(allow_none=True)
    mode = fields.String()
    verdict = fields.Method("_verdict")
    rubric = fields.Method("_rubric")
    both_bad = fields.Boolean()
    spans = fields.Method("_spans")
    flags = fields.List(fields.String())
    rationale = fields.String()
    confidence = fields.Integer(allow_none=True)
    active_ms = fields.Integer(allow_none=True)
    rewrite = fields.Method("_rewrite")
    guideline_version = fields.Integer()
    created_at = fields.DateTime()

    def _verdict(self, judgment: Any) -> dict[str, Any]:
        return verdict_to_labels(judgment.verdict, judgment.shown_order)

    def _rubric(self, judgment: Any) -> dict[str, Any]:
        return rubric_to_labels(judgment.rubric, judgment.shown_order)

    def _spans(self, judgment: Any) -> list[dict[str, Any]]:
        return spans_to_labels(judgment.spans or [], judgment.shown_order)

    def _rewrite(self, judgment: Any) -> dict[str, Any] | None:
        return rewrite_to_labels(judgment)


# Made once: a marshmallow schema deep-copies its fields when instantiated.
JUDGMENT_OUT = JudgmentOutSchema()
