"""Error spans: stretches of a response a rater marks with a label from the project's set.

A span is stored as character offsets into the response text exactly as stored and
shown (``Response.content``; the rating screen shows that text as plain text in span
projects, so what the rater selects is what is counted). Offsets are Unicode code
points, Python ``str`` indices: ``text[start:end]`` is the marked text. The browser
counts UTF-16 units and converts (static/js/rate/spans.js). Each stored span carries
the sha256 of that text (UTF-8), so a consumer of the export can check the offsets
point into the text they hold.

Spans are part of the judgment row, so they are append-only with it: a revision is a
new version carrying its own spans. A label once used in any stored judgment stays in
the project's set (``check_label_change``): renaming or removing it would change what
those spans mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.errors import Conflict
from service.models import Judgment, Project, Response
from service.rating import shown
from service.rating.labels import labels_for

# Spans one rater may mark on one response: enough for a long answer, bounded so one
# submission cannot grow a judgment row without limit.
MAX_PER_RESPONSE = 50


def _texts(session: Session, item_id: int) -> dict[str, str]:
    rows = session.execute(
        sa.select(Response.external_id, Response.content).where(Response.item_id == item_id)
    )
    return dict(rows.all())


def _overlapping(spans: Sequence[dict[str, Any]], overlap: bool) -> list[tuple[int, int, bool]]:
    """Return (i, j, same) for each span j that may not overlap an earlier span i.

    ``same``: j repeats i (same stretch, same label), refused even where overlap is allowed.
    """
    found = []
    for j, b in enumerate(spans):
        for i, a in enumerate(spans[:j]):
            if a["response"] != b["response"] or a["start"] >= b["end"] or b["start"] >= a["end"]:
                continue
            same = (a["start"], a["end"], a["label"]) == (b["start"], b["end"], b["label"])
            if same or not overlap:
                found.append((i, j, same))
                break
    return found


def check_spans(
    *,
    session: Session,
    project: Project,
    item_id: int,
    shown_order: Sequence[str],
    given: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Check submitted spans (``SpanInSchema``, by label) against the project and the text.

    Return the spans in stored form (response ids, the text's hash), ordered by response
    position and offsets, and the errors found (field, message), all of them at once.
    """
    if not given:
        return [], []
    if not project.span_labels:
        return [], [{"field": "spans", "message": "this project does not collect error spans"}]
    errors: list[dict[str, str]] = []
    labels = labels_for(shown_order)
    texts = _texts(session, item_id)
    allowed = set(project.span_labels)
    per_response: dict[str, int] = {}
    for i, span in enumerate(given):
        rid = labels.get(span["response"])
        if rid is None:
            errors.append({"field": f"spans.{i}.response", "message": "no such response here"})
            continue
        per_response[span["response"]] = per_response.get(span["response"], 0) + 1
        size = len(texts.get(rid, ""))
        if span["end"] > size:
            errors.append(
                {
                    "field": f"spans.{i}.end",
                    "message": f"past the end of response {span['response']} ({size} characters)",
                }
            )
        if span["start"] >= span["end"]:
            errors.append({"field": f"spans.{i}.start", "message": "a span starts before it ends"})
        if span["label"] not in allowed:
            errors.append(
                {
                    "field": f"spans.{i}.label",
                    "message": f"not a span label of this project: {', '.join(project.span_labels)}",
                }
            )
    for label, n in sorted(per_response.items()):
        if n > MAX_PER_RESPONSE:
            errors.append(
                {
                    "field": "spans",
                    "message": f"{n} spans on response {label}, over {MAX_PER_RESPONSE}",
                }
            )
    if errors:
        return [], errors
    for i, j, same in _overlapping(given, project.span_overlap):
        why = "repeats" if same else "overlaps"
        rule = "" if same else " (this project allows no overlapping spans)"
        errors.append({"field": f"spans.{j}", "message": f"{why} span {i}{rule}"})
    if errors:
        return [], errors
    position = {label: k for k, label in enumerate(labels)}
    ordered = sorted(
        given, key=lambda s: (position[s["response"]], s["start"], s["end"], s["label"])
    )
    stored = [
        {
            "response": labels[s["response"]],
            "start": s["start"],
            "end": s["end"],
            "label": s["label"],
            "note": s["note"].strip(),
            "text_sha256": shown.text_sha256(texts[labels[s["response"]]]),
        }
        for s in ordered
    ]
    return stored, []


def used_labels(*, session: Session, project: Project) -> set[str]:
    """Return the span labels used in any stored judgment of the project (every version)."""
    # JSON columns have no equality on PostgreSQL: read them all (a settings change is rare).
    rows = session.execute(sa.select(Judgment.spans).where(Judgment.project_id == project.id))
    return {s["label"] for (spans,) in rows for s in spans or []}


def check_label_change(*, session: Session, project: Project, labels: Sequence[str]) -> None:
    """Refuse a new span label set that drops (or renames) a label stored judgments use."""
    dropped = set(project.span_labels) - set(labels)
    if not dropped:
        return
    used = sorted(dropped & used_labels(session=session, project=project))
    if used:
        raise Conflict(
            f"Span label(s) {', '.join(used)} cannot be removed or renamed: stored "
            "judgments use them. Labels can be added at any time.",
            errors=[{"field": "span_labels", "message": f"in use: {', '.join(used)}"}],
        )
