"""The ``judges`` section of the agreement report: model judges against the human raters.

Per judge: human-judge agreement on the verdict and on each rubric dimension, with the
statistics and bootstrap intervals of the human-human section, computed on cross pairs
(``stats/judges.py``); Cohen's kappa with each rater; a confusion matrix of the judge's
verdict against the human majority (``export/consensus.py``'s majority rule); the share
of items whose two orders got the same verdict; and the model leaderboard fitted to the
judge's verdicts beside the humans' (``leaderboard.leaderboard_of``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from service.dashboards.agreement_report import (
    agreement_judgments,
    agreement_report,
    alpha_entry,
    categorical_stats,
    dimension_stats,
)
from service.dashboards.columns import JudgmentColumns
from service.dashboards.filters import Filters
from service.dashboards.judge_columns import concat, judges_of, load_verdicts, newest_verdicts
from service.dashboards.leaderboard import leaderboard_of
from service.dashboards.lookups import load_raters
from service.dashboards.summaries import rounded, stat_dict
from service.dashboards.verdicts import (
    PAIRWISE_CATEGORIES,
    Labels,
    dimension_labels,
    main_labels,
    pairwise_direction,
    position_labels,
    rank_positions,
)
from service.export import consensus
from service.models import Judge, Project
from service.rubric import Dimension
from service.stats import judges as judge_stats
from service.stats.agreement import cohen_kappa

METHOD = (
    "Each judge label is paired with every human label on the same unit (the same pair "
    "of responses, or the same response's score): each such cross pair is a unit coded "
    "by two, the judge and that human, and the statistics and intervals are those of the "
    "human-human section (bootstrap over items). A judge judged each pair in both orders: "
    "both verdicts count, so a verdict that flips with the order lowers its agreement."
)


def agreement_with_judges(
    *, session: Session, project: Project, filters: Filters
) -> dict[str, Any]:
    """Return the agreement report with its ``judges`` section (None without judges)."""
    report = agreement_report(session=session, project=project, filters=filters)
    return report | {"judges": judges_section(session=session, project=project, filters=filters)}


def judges_section(
    *, session: Session, project: Project, filters: Filters
) -> dict[str, Any] | None:
    """Return every judge's agreement with the humans, and the leaderboards side by side."""
    judges = judges_of(session=session, project=project)
    if not judges:
        return None
    dims, humans = agreement_judgments(session=session, project=project, filters=filters)
    per_judge = [_judge(session, project, humans, judge, dims) for judge in judges]
    human_board = leaderboard_of(session=session, project=project, cols=humans, dimension=None)
    boards = [{"source": "humans", "judge_id": None, **_board(human_board)}]
    boards += [{"source": j["name"], "judge_id": j["id"], **j.pop("board")} for j in per_judge]
    return {"method": METHOD, "judges": per_judge, "leaderboards": boards}


def _judge(
    session: Session, project: Project, humans: JudgmentColumns, judge: Judge, dims: list[Dimension]
) -> dict[str, Any]:
    assert judge.id is not None
    mine = load_verdicts(
        session=session, project=project, judge_id=judge.id, like=humans, dims=dims
    )
    both = concat(humans, mine)
    raters = load_raters(session=session, ids=sorted(set(humans.rater.tolist())))
    main = main_labels(both, project, None)
    board = leaderboard_of(session=session, project=project, cols=mine, dimension=None)
    return {
        "id": judge.id,
        "name": judge.name,
        "verdicts": len(mine),
        "position_consistency": _consistency(session, project, judge.id),
        "overall": _overall(both, project),
        "dimensions": [_dimension(both, d) for d in dims],
        "raters": _per_rater(main, raters) if main is not None else [],
        "confusion": _confusion(pairwise_direction(both)) if project.mode == "pairwise" else None,
        "board": _board(board),
    }


def _cross(labels: Labels) -> Labels:
    """Return the cross pairs of judge and human labels as two-coder Labels (see METHOD)."""
    pairs = judge_stats.cross_pairs(labels.unit, labels.rater, labels.value, labels.rater < 0)
    unit, coder, value = judge_stats.two_coder_arrays(pairs)
    return labels._replace(
        unit=unit,
        rater=coder,
        value=value,
        row=np.repeat(np.arange(len(pairs.unit)), 2),
        unit_item=labels.unit_item[pairs.unit],
        unit_parts=labels.unit_parts[pairs.unit],
    )


def _overall(both: JudgmentColumns, project: Project) -> list[dict[str, Any]]:
    """Return judge-human agreement on the verdict, as the human section's ``overall``."""
    if project.mode == "pairwise":
        out = categorical_stats(_cross(pairwise_direction(both)), "which response, or a tie")
        if project.scale == "likert7":
            strength = _cross(pairwise_direction(both, signed_strength=True))
            out.append(alpha_entry("ordinal", strength, "7-point preference scale"))
        return out
    if project.mode == "ranking":
        ranks = _cross(position_labels(both, rank_positions(both)))
        return [alpha_entry("ordinal", ranks, "ranks of each response")]
    return []


def _dimension(both: JudgmentColumns, dim: Dimension) -> dict[str, Any]:
    labels = _cross(dimension_labels(both, dim))
    return {
        "name": dim.name,
        "label": dim.label,
        "kind": dim.kind.value,
        "scope": dim.scope.value,
        "cross_pairs": len(labels.value) // 2,
        "stats": dimension_stats(labels, dim),
    }


def _per_rater(main: Labels, raters: dict[int, Any]) -> list[dict[str, Any]]:
    """Return, per human rater, the judge's percent agreement and Cohen's kappa with them."""
    pairs = judge_stats.cross_pairs(main.unit, main.rater, main.value, main.rater < 0)
    out = []
    for rater_id in sorted(set(pairs.rater.tolist())):
        mask = pairs.rater == rater_id
        judge, human = pairs.judge[mask], pairs.human[mask]
        out.append(
            {
                "id": rater_id,
                "name": raters[rater_id].name if rater_id in raters else str(rater_id),
                "cross_pairs": int(mask.sum()),
                "percent_agreement": rounded(float(np.mean(judge == human))),
                "kappa": stat_dict(cohen_kappa(judge.tolist(), human.tolist())),
            }
        )
    return out


def _confusion(labels: Labels) -> dict[str, Any]:
    """Count the judge's verdicts against the human majority on each pair (pairwise only).

    The majority is the export's rule (``consensus.decide``, majority, one vote per
    judgment): a pair whose votes split evenly between the two sides is a tie.
    """
    human = labels.rater > 0
    votes: dict[int, list[tuple[list[list[str]], float, None]]] = {}
    for unit, value in zip(labels.unit[human], labels.value[human], strict=True):
        lo, hi = labels.part_names[labels.unit_parts[unit]].tolist()
        ranking = [[lo], [hi]] if value > 0 else [[hi], [lo]] if value < 0 else [[lo, hi]]
        votes.setdefault(int(unit), []).append((ranking, 1.0, None))
    majority = {}
    for unit, unit_votes in votes.items():
        better, _, tied, _ = consensus.decide(unit_votes, "majority", "all")[0]
        lo = labels.part_names[labels.unit_parts[unit]][0]
        majority[unit] = 0.0 if tied else 1.0 if better == lo else -1.0
    judge = np.flatnonzero(labels.rater < 0)
    kept = [k for k in judge if int(labels.unit[k]) in majority]
    matrix = judge_stats.confusion(
        [labels.value[k] for k in kept],
        [majority[int(labels.unit[k])] for k in kept],
        [-1.0, 0.0, 1.0],
    )
    return {
        "on": "rows: the human majority; columns: the judge (one count per order judged)",
        "categories": PAIRWISE_CATEGORIES,
        "matrix": matrix,
        "n": len(kept),
    }


def _consistency(session: Session, project: Project, judge_id: int) -> dict[str, Any]:
    """Return the share of the judge's order pairs (an order and its reverse) that agree."""
    by_order = {
        (v.item_id, tuple(v.shown_order)): v
        for v in newest_verdicts(session=session, project=project, judge_id=judge_id)
    }
    flags = []
    for (item_id, order), v in by_order.items():
        other = by_order.get((item_id, order[::-1]))
        if other is not None and order < order[::-1]:
            flags.append(
                judge_stats.position_consistent(v.verdict, other.verdict, v.rubric, other.rubric)
            )
    out = judge_stats.consistency_rate(flags)
    return out | {"rate": rounded(out["rate"])}


def _board(board: dict[str, Any]) -> dict[str, Any]:
    """Return the part of a leaderboard shown side by side: each model's strength."""
    return {
        "reason": board["reason"],
        "comparisons": board["comparisons"],
        "models": [
            {"model": m["model"], "strength": m["strength"], "rating": m["rating"]}
            for m in board["models"]
        ],
    }
