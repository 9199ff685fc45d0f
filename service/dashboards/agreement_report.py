"""Inter-rater agreement of a project, overall and per rubric dimension, with 95% intervals.

Every interval is a percentile bootstrap over items (1,000 resamples, seed 0, so a page and
its JSON agree): units that share an item (the pairs or responses of one item) are resampled
together.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import JudgmentColumns, load_judgments
from service.dashboards.conditions import current_judgment_filter
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_raters
from service.dashboards.summaries import histogram, rounded, stat_dict
from service.dashboards.verdicts import (
    Labels,
    dimension_labels,
    main_label_name,
    main_labels,
    main_needs,
    pairwise_direction,
    position_labels,
    rank_matrices,
    rank_positions,
)
from service.models import Item, ItemSlots, Judgment, Project
from service.rubric import Dimension, RubricKind, rubric_of
from service.stats.agreement import (
    FEW_SHARED,
    Codes,
    Level,
    ValueCounts,
    bootstrap_ci,
    cohen_kappa_matrix_from_codes,
    fleiss_kappa,
    kendall_w_overall,
    kendall_w_per_item,
    krippendorff_alpha_of_counts,
    mean_kendall_tau_overall,
    percent_agreement,
    value_counts,
)
from service.stats.resampling import Stat, bootstrap_variants
from service.stats.spans import SpanJudgment, span_f1

N_BOOT = 1000
SEED = 0

LABELS = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "alpha_nominal": "Krippendorff's alpha (nominal)",
    "alpha_ordinal": "Krippendorff's alpha (ordinal)",
    "alpha_interval": "Krippendorff's alpha (interval)",
    "kendall_w": "Kendall's W (mean over items)",
    "kendall_tau": "Kendall's tau-b (mean over items of the mean over rater pairs)",
}


def _entry(key: str, on: str, stat: Stat) -> dict[str, Any]:
    return {"key": key, "label": LABELS[key], "on": on, "stat": stat_dict(stat)}


def categorical_stats(labels: Labels, on: str) -> list[dict[str, Any]]:
    """Return percent agreement, Fleiss' kappa and nominal alpha for nominal labels."""
    codes = labels.codes()
    boot = {"n_boot": N_BOOT, "seed": SEED, "clusters": labels.unit_item[codes.items]}
    counts = value_counts(codes)  # items × labels: Fleiss' table and alpha's value counts
    return [
        _entry("percent_agreement", on, bootstrap_ci(percent_agreement, counts.counts, **boot)),
        _entry("fleiss_kappa", on, bootstrap_ci(fleiss_kappa, counts.counts, **boot)),
        alpha_entry("nominal", labels, on, codes, counts),
    ]


def alpha_entry(
    level: Level,
    labels: Labels,
    on: str,
    codes: Codes | None = None,
    counts: ValueCounts | None = None,
) -> dict[str, Any]:
    codes = codes or labels.codes()
    stat = bootstrap_ci(
        krippendorff_alpha_of_counts,
        counts or value_counts(codes),
        level=level,
        n_boot=N_BOOT,
        seed=SEED,
        clusters=labels.unit_item[codes.items],
    )
    return _entry(f"alpha_{level}", on, stat)


def agreement_judgments(
    *, session: Session, project: Project, filters: Filters
) -> tuple[list[Dimension], JudgmentColumns]:
    """Return the rubric dimensions the report compares and the judgments it reads."""
    dims = [
        d
        for d in rubric_of(project).comparable()
        if not filters.dimension or d.name == filters.dimension
    ]
    cols = load_judgments(
        session=session,
        project=project,
        filters=filters,
        dims=dims,
        rankings=project.mode == "ranking",
    )
    return dims, cols


def agreement_report(*, session: Session, project: Project, filters: Filters) -> dict[str, Any]:
    """Return the agreement statistics that fit the project's mode and rubric."""
    dims, cols = agreement_judgments(session=session, project=project, filters=filters)
    overall, per_item_w = _overall(cols, project)
    return {
        "skipped_rows": cols.skipped,
        "mode": project.mode,
        "scale": project.scale,
        "judgments": len(cols),
        "n_boot": N_BOOT,
        "overall": overall,
        "kendall_w_per_item": per_item_w,
        "dimensions": [_dimension(cols, d) for d in dims],
        "audit_sample": _audit_sample(session, project, cols),
        "spans": span_agreement(session=session, project=project, filters=filters),
    }


AUDIT_NOTE = (
    "Audit sample only: the items adaptive overlap always gives its maximum number of "
    "raters, whatever they say, drawn uniformly at random. The figures above include items "
    "that stopped early because their first raters agreed, so they lean towards agreement; "
    "these do not."
)


def _audit_sample(session: Session, project: Project, cols: Any) -> dict[str, Any] | None:
    """Return the overall statistics on the audit sample's items (adaptive overlap only)."""
    if not project.adaptive_overlap:
        return None
    audit = session.execute(
        sa.select(ItemSlots.item_id).where(ItemSlots.project_id == project.id, ItemSlots.audit)
    ).scalars()
    keep = np.isin(cols.item, np.fromiter(audit, dtype=np.int64))
    only = _rows(cols, keep)
    overall, _ = _overall(only, project) if len(only) else ([], [])
    return {
        "label": AUDIT_NOTE,
        "share": project.audit_share,
        "items": int(np.unique(only.item).size),
        "judgments": len(only),
        "overall": overall,
    }


def _rows(cols: Any, keep: np.ndarray) -> Any:
    """Return the judgment columns of the rows ``keep`` marks."""
    return replace(
        cols,
        id=cols.id[keep],
        item=cols.item[keep],
        rater=cols.rater[keep],
        created=cols.created[keep],
        active_ms=cols.active_ms[keep],
        shown=cols.shown[keep],
        preferred=cols.preferred[keep],
        strength=cols.strength[keep],
        scores={k: v[keep] for k, v in cols.scores.items()},
        verdict=None
        if cols.verdict is None
        else [v for v, k in zip(cols.verdict, keep, strict=True) if k],
    )


def _overall(cols: Any, project: Project) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """Return the overall statistics of the project's mode, and Kendall's W per item."""
    overall: list[dict[str, Any]] = []
    per_item_w: list[dict[str, float]] = []
    if project.mode == "pairwise":
        on = "which response was preferred, or a tie"
        overall = categorical_stats(pairwise_direction(cols), on)
        if project.scale == "likert7":
            strength = pairwise_direction(cols, signed_strength=True)
            overall.append(alpha_entry("ordinal", strength, "7-point preference scale"))
    elif project.mode == "ranking":
        ranks = position_labels(cols, rank_positions(cols))
        matrices, _ = rank_matrices(ranks)
        boot = {"n_boot": N_BOOT, "seed": SEED}
        overall = [
            _entry("kendall_w", "rankings", bootstrap_ci(kendall_w_overall, matrices, **boot)),
            _entry(
                "kendall_tau", "rankings", bootstrap_ci(mean_kendall_tau_overall, matrices, **boot)
            ),
            alpha_entry("ordinal", ranks, "ranks of each response"),
        ]
        w = kendall_w_per_item(matrices) if matrices else np.zeros(0)
        per_item_w = histogram(w, np.linspace(0, 1, 11))
    return overall, per_item_w


def span_agreement(*, session: Session, project: Project, filters: Filters) -> list[dict]:
    """Return each span label's mean pairwise character-overlap F1 (stats/spans.py)."""
    if not project.span_labels:
        return []
    query = (
        sa.select(Judgment.item_id, Judgment.rater_id, Judgment.shown_order, Judgment.spans)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.project_id == project.id, *current_judgment_filter(filters))
    )
    rows = [SpanJudgment(*row) for row in session.execute(query)]
    return [
        {
            "label": a.label,
            "f1": rounded(a.f1),
            "rater_pairs": a.rater_pairs,
            "spans": a.spans,
        }
        for a in span_f1(rows, project.span_labels)
    ]


def _dimension(cols: Any, dim: Dimension) -> dict[str, Any]:
    labels = dimension_labels(cols, dim)
    return {
        "name": dim.name,
        "label": dim.label,
        "kind": dim.kind.value,
        "scope": dim.scope.value,
        "ratings": len(labels.value),
        "stats": dimension_stats(labels, dim),
    }


def dimension_stats(labels: Labels, dim: Dimension) -> list[dict[str, Any]]:
    """Return the statistics that fit a rubric dimension's kind, on its labels."""
    where = "per response" if dim.per_response else "per item"
    if dim.kind == RubricKind.CHOICE:
        stats = categorical_stats(labels, f"{dim.label} ({where})")
    else:
        on = f"{dim.label} ({where}, 1–{dim.points})"
        codes = labels.codes()
        ordinal, interval = bootstrap_variants(
            krippendorff_alpha_of_counts,
            value_counts(codes),
            [{"level": "ordinal"}, {"level": "interval"}],
            n_boot=N_BOOT,
            seed=SEED,
            clusters=labels.unit_item[codes.items],
        )
        stats = [_entry("alpha_ordinal", on, ordinal), _entry("alpha_interval", on, interval)]
    return stats


def kappa_report(*, session: Session, project: Project, filters: Filters) -> dict[str, Any]:
    """Return Cohen's kappa between every two raters on the items they both judged.

    Raters are ordered by their mean kappa with the others, highest first, so that raters who
    agree with nobody gather in the last rows of the heatmap.
    """
    cols = load_judgments(
        session=session,
        project=project,
        filters=filters,
        **main_needs(project, filters.dimension),
    )
    labels = main_labels(cols, project, filters.dimension)
    matrix = cohen_kappa_matrix_from_codes(labels.codes()) if labels is not None else {}
    ids = list(matrix)
    values = np.array([[_value(matrix[a].get(b)) for b in ids] for a in ids], dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a rater with no defined kappa
        means = np.nanmean(values, axis=1) if ids else np.zeros(0)
    order = sorted(range(len(ids)), key=lambda k: (-np.nan_to_num(means[k], nan=-2), ids[k]))
    ids = [ids[k] for k in order]
    raters = load_raters(session=session, ids=ids)
    defined = [s.value for a in ids for b in ids if a < b and (s := matrix[a][b]).value is not None]
    return {
        "skipped_rows": cols.skipped,
        "on": main_label_name(project, filters.dimension),
        "raters": [{"id": r, "name": raters[r].name if r in raters else str(r)} for r in ids],
        "kappa": [[None if a == b else rounded(matrix[a][b].value) for b in ids] for a in ids],
        "shared": [[0 if a == b else matrix[a][b].n for b in ids] for a in ids],
        "pairs": len(ids) * (len(ids) - 1) // 2,
        "defined_pairs": len(defined),
        "median_kappa": float(np.median(defined)) if defined else None,
        "reason": None if defined else "not enough data: no two raters share 2 or more items",
        "missing": {
            "few_shared": FEW_SHARED,
            "no_variance": "no variance: both raters gave the same single label throughout",
        },
    }


def _value(stat: Stat | None) -> float:
    return np.nan if stat is None or stat.value is None else stat.value
