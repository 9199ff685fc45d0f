"""Judgments against gold answers, scored by the one rule in ``service.stats.rankings``."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.dashboards.columns import JudgmentColumns
from service.models import Project
from service.rubric import rubric_of
from service.stats.rankings import score_judgment


def gold_needs(project: Project) -> dict[str, Any]:
    """Return the load_judgments arguments gold_scores needs: ranking verdicts or main scores."""
    main = rubric_of(project).main_rating if project.mode == "rating" else None
    return {"rankings": project.mode == "ranking", "dims": [main] if main else []}


def gold_scores(
    cols: JudgmentColumns, gold: dict[int, dict[str, Any]], project: Project
) -> np.ndarray:
    """Return every judgment's gold score, NaN where it is not scored (or its item has no gold).

    ``cols`` must hold what gold_needs asks for.
    """
    rubric = rubric_of(project)
    main = rubric.main_rating if project.mode == "rating" else None
    values = cols.scores.get(main.name) if main else None
    scores = np.full(len(cols), np.nan)
    for k in np.flatnonzero(np.isin(cols.item, list(gold))):
        shown = [r for r in cols.shown[k].tolist() if r is not None]
        if project.mode == "ranking":
            verdict = cols.verdict[k] if cols.verdict is not None else None
        else:
            verdict = {"preferred": cols.preferred[k]}
        judged = None
        if values is not None:
            per_response = {r: {main.name: float(values[k, p])} for p, r in enumerate(shown)}
            judged = {"response": per_response}
        score = score_judgment(
            mode=project.mode,
            scale=project.scale,
            rubric=rubric,
            gold=gold[int(cols.item[k])],
            verdict=verdict,
            shown=shown,
            judged=judged,
        )
        scores[k] = np.nan if score is None else score
    return scores
