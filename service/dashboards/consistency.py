"""Self-consistency of raters: cycles among models, and verdicts against their own scores."""

from __future__ import annotations

import numpy as np

from service.dashboards.columns import JudgmentColumns
from service.dashboards.lookups import Models
from service.dashboards.verdicts import Pairs, verdict_pairs
from service.models import Project
from service.rubric import RubricScope, rubric_of
from service.stats.rater_quality import intransitive_triads
from service.stats.resampling import Stat


def model_triads(
    pairs: Pairs, cols: JudgmentColumns, rater_at: np.ndarray, models: Models, size: int
) -> list[Stat]:
    """Per rater: cyclic triads among models, from their verdicts averaged per model pair.

    A rater's verdicts on different items are pooled per pair of models (mean score), so a
    cycle means they rated model A over B, B over C and C over A on the whole.
    """
    items = cols.item[pairs.row]
    ca, cb = models.codes_of(items, pairs.a), models.codes_of(items, pairs.b)
    usable = (ca >= 0) & (cb >= 0) & (ca != cb)
    names = models.names
    ca, cb = ca[usable], cb[usable]
    score = pairs.score[usable]
    swap = ca > cb  # orient every pair low code first
    lo, hi = np.where(swap, cb, ca), np.where(swap, ca, cb)
    score = np.where(swap, 1 - score, score)
    rater = rater_at[pairs.row][usable]
    m = len(names)
    key = (rater * m + lo) * m + hi
    keys, inverse = np.unique(key, return_inverse=True)
    total = np.bincount(inverse, weights=score, minlength=len(keys))
    count = np.bincount(inverse, minlength=len(keys))
    per_rater: list[list[tuple[str, str, float]]] = [[] for _ in range(size)]
    for k, s, n in zip(keys.tolist(), total.tolist(), count.tolist(), strict=True):
        r, rest = divmod(k, m * m)
        per_rater[r].append((names[rest // m], names[rest % m], s / n))
    return [intransitive_triads(outcomes) for outcomes in per_rater]


def contradictions(cols: JudgmentColumns, project: Project) -> np.ndarray:
    """Per judgment: the share of its decided verdict pairs whose loser it scored higher.

    "Scored higher" means at least as high on every likert dimension the judgment scored both
    responses on and higher on one (higher is taken as better). NaN where nothing compares.
    """
    likert = rubric_of(project).likert(RubricScope.RESPONSE)
    dims = [d.name for d in likert if d.name in cols.scores]
    pairs = verdict_pairs(cols, project)
    decided = pairs.score != 0.5
    row = pairs.row[decided]
    win = np.where(pairs.score[decided] == 1.0, pairs.a_pos[decided], pairs.b_pos[decided])
    lose = np.where(pairs.score[decided] == 1.0, pairs.b_pos[decided], pairs.a_pos[decided])
    all_ge = np.ones(len(row), dtype=bool)
    any_gt = np.zeros(len(row), dtype=bool)
    compared = np.zeros(len(row), dtype=bool)
    for name in dims:
        scores = cols.scores[name]
        diff = scores[row, lose] - scores[row, win]
        valid = np.isfinite(diff)
        compared |= valid
        all_ge &= ~valid | (diff >= 0)
        any_gt |= valid & (diff > 0)
    hits = np.bincount(row[compared], weights=(all_ge & any_gt)[compared], minlength=len(cols))
    seen = np.bincount(row[compared], minlength=len(cols))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, hits / np.maximum(seen, 1), np.nan)
