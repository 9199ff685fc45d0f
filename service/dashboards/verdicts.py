"""Turn stored judgments into what the statistics take: labels on units, ranks, and pairs.

A *unit* is what raters agree or disagree about: for pairwise verdicts the item and the pair
of responses shown (items with more than two responses may show raters different pairs), for
a per-response rubric score the item and the response, for a per-turn rubric value the item
and the assistant turn's index (rating/turns.py), for a ranking's top choice the item.
Pairwise labels are oriented by response id, never by screen side, so two raters who saw the
same pair in opposite orders still agree when they prefer the same response.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, NamedTuple

import numpy as np

from service.dashboards.columns import JudgmentColumns
from service.models import Project
from service.rubric import Dimension, rubric_of
from service.stats import rankings
from service.stats.agreement import Codes, code_arrays


class Labels(NamedTuple):
    """One label per (unit, judgment), as parallel arrays, and what the units are."""

    unit: np.ndarray  # integer code of the unit
    rater: np.ndarray
    value: np.ndarray  # float; categories are coded as numbers
    row: np.ndarray  # index of the judgment in the columns it came from
    unit_item: np.ndarray  # unit code -> the item it belongs to (what bootstraps resample)
    unit_parts: np.ndarray  # unit code -> codes into part_names (the responses it is about)
    part_names: np.ndarray
    categories: list[str] | None = None  # value -> name, for nominal labels

    def name(self, unit: int) -> tuple[Any, ...]:
        """Return a unit as (item id, response id, ...)."""
        parts = self.part_names[self.unit_parts[unit]].tolist()
        return (int(self.unit_item[unit]), *parts)

    def codes(self) -> Codes:
        """Return the labels coded for the agreement functions (items are unit codes)."""
        return code_arrays(self.unit, self.rater, self.value)


class Pairs(NamedTuple):
    """Two responses of one judgment compared: score 1 when ``a`` came out better, 0.5 a tie."""

    row: np.ndarray
    a: np.ndarray  # response ids (object arrays)
    b: np.ndarray
    a_pos: np.ndarray  # screen positions (0 = left / first)
    b_pos: np.ndarray
    score: np.ndarray


def _labels(
    item: np.ndarray,
    parts: list[np.ndarray],
    rater: np.ndarray,
    value: np.ndarray,
    row: np.ndarray,
    categories: list[str] | None = None,
) -> Labels:
    """Code units (item, *parts) to integers without a Python loop over labels."""
    # Response ids are strings: coded by one sort of fixed-width text, not a dict per label.
    text = np.concatenate([p.astype(str) for p in parts]) if parts else np.zeros(0, str)
    uniq_names, codes = np.unique(text, return_inverse=True)
    part_codes = list(codes.reshape(len(parts), -1)) if parts else []
    names = uniq_names.astype(object)
    width = max(len(names), 1)
    item = item.astype(np.int64)
    if item.size and int(item.max()) < 2**62 // width ** len(parts):
        key = item  # one integer per unit: item, then each part, in mixed radix
        for codes in part_codes:
            key = key * width + codes
        uniq_key, unit = np.unique(key, return_inverse=True)
        columns = []
        for _ in parts:
            uniq_key, digit = np.divmod(uniq_key, width)
            columns.insert(0, digit)
        uniq = np.column_stack([uniq_key, *columns]).astype(np.int64)
    elif item.size:
        uniq, unit = np.unique(np.column_stack([item, *part_codes]), axis=0, return_inverse=True)
    else:
        uniq, unit = np.zeros((0, 1 + len(parts)), np.int64), np.zeros(0, np.int64)
    return Labels(
        unit=unit.reshape(-1).astype(np.int64),
        rater=rater.astype(np.int64),
        value=value.astype(float),
        row=row.astype(np.int64),
        unit_item=uniq[:, 0],
        unit_parts=uniq[:, 1:],
        part_names=names,
        categories=categories,
    )


PAIRWISE_CATEGORIES = ["second preferred", "tie", "first preferred"]


def pairwise_direction(cols: JudgmentColumns, *, signed_strength: bool = False) -> Labels:
    """Label each pairwise verdict +1 (lower response id preferred), 0 (tie) or -1.

    With ``signed_strength`` the label is the 7-point scale instead: direction × strength
    (-3..3), so that "much better" and "slightly better" differ.
    """
    left, right, preferred = cols.left, cols.right, cols.preferred
    ok = np.not_equal(left, None) & np.not_equal(right, None)
    if signed_strength:
        ok &= np.isfinite(cols.strength)
    rows = np.flatnonzero(ok)
    left, right, preferred = left[rows], right[rows], preferred[rows]
    first = (left <= right).astype(bool)
    lo, hi = np.where(first, left, right), np.where(first, right, left)
    direction = np.where(preferred == lo, 1.0, np.where(preferred == hi, -1.0, 0.0))
    if signed_strength:
        direction = direction * cols.strength[rows]
    categories = None if signed_strength else PAIRWISE_CATEGORIES
    return _labels(cols.item[rows], [lo, hi], cols.rater[rows], direction, rows, categories)


def rank_positions(cols: JudgmentColumns) -> np.ndarray:
    """Return the (judgments, positions) ranks each ranking gave the responses it showed."""
    out = np.full(cols.shown.shape, np.nan)
    for k, verdict in enumerate(cols.verdict or []):
        ranks = rankings.ranks((verdict or {}).get("ranking") or [])
        for p, rid in enumerate(cols.shown[k]):
            if rid in ranks:
                out[k, p] = ranks[rid]
    return out


def position_labels(cols: JudgmentColumns, values: np.ndarray, **kw: Any) -> Labels:
    """Label every (judgment, position) value; the unit is (item, response shown there)."""
    rows, pos = np.nonzero(np.isfinite(values))
    return _labels(
        cols.item[rows], [cols.shown[rows, pos]], cols.rater[rows], values[rows, pos], rows, **kw
    )


def ranking_top_choice(cols: JudgmentColumns) -> Labels:
    """Label each ranking by its top group (nominal); the unit is the item."""
    tops = [" = ".join(sorted(((v or {}).get("ranking") or [[]])[0])) for v in cols.verdict or []]
    rows = np.array([k for k, top in enumerate(tops) if top], dtype=np.int64)
    names, codes = np.unique(np.array([tops[k] for k in rows], dtype=str), return_inverse=True)
    return _labels(cols.item[rows], [], cols.rater[rows], codes.astype(float), rows, names.tolist())


def rank_matrices(labels: Labels) -> tuple[list[np.ndarray], list[int]]:
    """Return each item's raters × responses rank matrix, from (item, response) rank labels."""
    if len(labels.unit) == 0:
        return [], []
    item = labels.unit_item[labels.unit]
    order = np.lexsort((labels.unit, labels.rater, item))
    item, rater, unit, value = (
        item[order],
        labels.rater[order],
        labels.unit[order],
        labels.value[order],
    )
    starts = np.flatnonzero(np.diff(item, prepend=item[0] - 1))
    matrices, items = [], []
    for block in np.split(np.arange(len(item)), starts[1:]):
        units, column = np.unique(unit[block], return_inverse=True)
        raters, row = np.unique(rater[block], return_inverse=True)
        matrix = np.full((len(raters), len(units)), np.nan)
        matrix[row, column] = value[block]
        matrices.append(matrix)
        items.append(int(item[block[0]]))
    return matrices, items


def dimension_labels(cols: JudgmentColumns, dim: Dimension) -> Labels:
    """Label each value given on one rubric dimension; choices are coded as categories."""
    values = cols.scores[dim.name]
    options = list(dim.option_values)
    if options:
        lookup = {o: float(k) for k, o in enumerate(options)}
        values = np.vectorize(lambda v: lookup.get(v, np.nan), otypes=[float])(values)
    if dim.per_response:
        return position_labels(cols, values, categories=options or None)
    if dim.per_turn:
        rows, turn = np.nonzero(np.isfinite(values))
        item, rater = cols.item[rows], cols.rater[rows]
        return _labels(item, [turn], rater, values[rows, turn], rows, options or None)
    rows = np.flatnonzero(np.isfinite(values))
    return _labels(cols.item[rows], [], cols.rater[rows], values[rows], rows, options or None)


def verdict_pairs(cols: JudgmentColumns, project: Project) -> Pairs:
    """Return the pairs each judgment's overall verdict decides, in screen positions."""
    if project.mode == "pairwise":
        rows = np.flatnonzero(np.not_equal(cols.left, None) & np.not_equal(cols.right, None))
        left, right, preferred = cols.left[rows], cols.right[rows], cols.preferred[rows]
        score = np.where(preferred == left, 1.0, np.where(preferred == right, 0.0, 0.5))
        zeros = np.zeros(len(rows), dtype=np.int64)
        return Pairs(rows, left, right, zeros, zeros + 1, score.astype(float))
    if project.mode == "ranking":
        return pairs_from_scores(cols, -rank_positions(cols))
    return _empty_pairs()


def pairs_from_scores(cols: JudgmentColumns, scores: np.ndarray) -> Pairs:
    """Pair up the responses of each judgment in screen order; higher score wins, equal ties."""
    parts = []
    for p, q in combinations(range(scores.shape[1]), 2):
        rows = np.flatnonzero(np.isfinite(scores[:, p]) & np.isfinite(scores[:, q]))
        sp, sq = scores[rows, p], scores[rows, q]
        score = np.where(sp > sq, 1.0, np.where(sp < sq, 0.0, 0.5))
        parts.append((rows, np.full(len(rows), p), np.full(len(rows), q), score))
    if not parts:
        return _empty_pairs()
    rows, pa, pb, score = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.argsort(rows, kind="stable")
    rows, pa, pb, score = rows[order], pa[order], pb[order], score[order]
    return Pairs(rows, cols.shown[rows, pa], cols.shown[rows, pb], pa, pb, score)


def _empty_pairs() -> Pairs:
    empty_i, empty_o = np.zeros(0, np.int64), np.zeros(0, dtype=object)
    return Pairs(empty_i, empty_o, empty_o, empty_i, empty_i, np.zeros(0))


def main_dimension(project: Project, dimension: str | None) -> Dimension | None:
    """Return the dimension raters are compared on: the chosen one, or for rating projects
    (which have no overall verdict) their main rating dimension."""
    rubric = rubric_of(project)
    if dimension:
        return next(d for d in rubric if d.name == dimension)
    if project.mode == "rating":
        return rubric.main_rating
    return None


def main_needs(project: Project, dimension: str | None) -> dict[str, Any]:
    """Return the load_judgments arguments main_labels and main_pairs need."""
    dim = main_dimension(project, dimension)
    return {
        "verdicts": True,
        "dims": [dim] if dim else [],
        "rankings": project.mode == "ranking" and dim is None,
    }


def main_labels(cols: JudgmentColumns, project: Project, dimension: str | None) -> Labels | None:
    """Return the labels raters are compared on: the verdict, or a dimension when one is chosen.

    None when the project offers nothing to compare.
    """
    dim = main_dimension(project, dimension)
    if dim is not None:
        return dimension_labels(cols, dim)
    if project.mode == "pairwise":
        return pairwise_direction(cols)
    if project.mode == "ranking":
        return ranking_top_choice(cols)
    return None


def main_pairs(cols: JudgmentColumns, project: Project, dimension: str | None) -> Pairs:
    """Return the pairs main_labels compares, in screen positions (for position bias, models)."""
    dim = main_dimension(project, dimension)
    if dim is None:
        return verdict_pairs(cols, project)
    if not dim.per_response or not dim.numeric:
        return _empty_pairs()
    return pairs_from_scores(cols, cols.scores[dim.name])


def main_label_name(project: Project, dimension: str | None) -> str:
    """Describe what main_labels compares, for the pages."""
    dim = main_dimension(project, dimension)
    if dim is not None:
        return f"scores on {dim.name}"
    if project.mode == "pairwise":
        return "the preferred response (or tie)"
    if project.mode == "ranking":
        return "the top-ranked response(s)"
    return "nothing (no likert or number dimension)"
