"""What a rater sees of the model judges (``project.judge_display``): by default nothing.

A judge's verdict seen first anchors the rater, so it is hidden unless the project shows
it *after* the rater submits, or as a *suggestion* pre-filled on the screen. Either way
the rater sees it in their own blind labels (rating/labels.py), under the words
``MODEL_JUDGE``: never the judge's admin-chosen name, its model, or a response id. Each
judgment records the display in force (``Judgment.judge_view``, set by judgments.py),
so the effect of showing it can be measured. Gold items never show a judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Judge, JudgeDisplay, JudgeVerdict, Judgment, Project
from service.rating import labels

MODEL_JUDGE = "Model judge"


def verdicts_in_labels(
    *, session: Session, project: Project, item_id: int, shown_order: Sequence[str]
) -> list[dict[str, Any]]:
    """Return each active judge's newest verdict on the item, in the rater's labels.

    A judge's verdict in the rater's own order is preferred; one on other responses
    (another pair of the item, a tie there included) is left out.
    """
    query = (
        sa.select(JudgeVerdict.judge_id, JudgeVerdict.shown_order, JudgeVerdict.verdict)
        .join(Judge, Judge.id == JudgeVerdict.judge_id)
        .where(JudgeVerdict.item_id == item_id, Judge.active, Judge.project_id == project.id)
        .order_by(JudgeVerdict.id)
    )
    shown = list(shown_order)
    best: dict[int, tuple[bool, dict[str, Any]]] = {}
    for judge_id, order, verdict in session.execute(query):
        if set(order or []) != set(shown):
            continue
        same = list(order or []) == shown
        if same or not best.get(judge_id, (False, {}))[0]:
            best[judge_id] = (same, verdict or {})
    return [
        _entry(project, labels.verdict_to_labels(v, shown)) for _, (_, v) in sorted(best.items())
    ]


def suggestion(
    *, session: Session, project: Project, item_id: int, shown_order: Sequence[str], is_gold: bool
) -> list[dict[str, Any]] | None:
    """Return the judges' verdicts to pre-fill a lease's screen with, or None."""
    if project.judge_display != JudgeDisplay.SUGGESTION or is_gold:
        return None
    found = verdicts_in_labels(
        session=session, project=project, item_id=item_id, shown_order=shown_order
    )
    return found or None


def after_submit(*, session: Session, judgment: Judgment) -> list[dict[str, Any]] | None:
    """Return the judges' verdicts to show a rater once this judgment is stored, or None."""
    if judgment.judge_view != JudgeDisplay.AFTER or judgment.is_gold:
        return None
    project = session.get(Project, judgment.project_id)
    assert project is not None
    found = verdicts_in_labels(
        session=session, project=project, item_id=judgment.item_id, shown_order=judgment.shown_order
    )
    return found or None


def _entry(project: Project, verdict: dict[str, Any]) -> dict[str, Any]:
    """Return one judge's verdict (in labels) as the screen shows it, with a sentence."""
    out: dict[str, Any] = {"label": MODEL_JUDGE, "verdict": verdict}
    if project.mode == "pairwise":
        preferred, strength = verdict.get("preferred"), verdict.get("strength") or 0
        out["choice"] = preferred or "tie"
        out["scale_value"] = (
            4 if preferred is None else 4 - strength if preferred == "A" else 4 + strength
        )
        out["text"] = (
            f"{MODEL_JUDGE}: {preferred} is better" if preferred else f"{MODEL_JUDGE}: tie"
        )
    elif project.mode == "ranking":
        groups = [" = ".join(g) for g in verdict.get("ranking") or []]
        out["text"] = f"{MODEL_JUDGE}: {' > '.join(groups)}"
    else:
        out["text"] = f"{MODEL_JUDGE} rated this item."
    return out
