"""Per-rater quality: volume, time, agreement with peers, gold, skips, bias and self-consistency."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from service.dashboards.columns import load_judgments
from service.dashboards.consistency import contradictions, model_triads
from service.dashboards.filters import Filters
from service.dashboards.gold import gold_needs, gold_scores
from service.dashboards.leases import assignment_counts
from service.dashboards.lookups import load_gold, load_models, load_raters
from service.dashboards.style import rater_length_bias
from service.dashboards.summaries import histogram, quantiles, share, stat_dict
from service.dashboards.verdicts import (
    Pairs,
    main_label_name,
    main_labels,
    main_needs,
    main_pairs,
)
from service.models import LeaseStatus, Project
from service.rubric import RubricScope, rubric_of
from service.stats.rater_quality import leave_one_out_from_codes, position_bias_many
from service.stats.resampling import Stat, no_value

THRESHOLDS = {
    # Too fast: median time per item below this share of the median rater's median.
    "too_fast_share": 0.35,
    "min_timed": 5,
    # Position bias: two-sided binomial p below this, Bonferroni-corrected over raters tested.
    "bias_alpha": 0.05,
    # Outlier: agreement with the others below Q1 - 1.5 IQR of all raters' (Tukey's fences).
    "outlier_iqr": 1.5,
    "min_items": 10,
    # Contradicts own scores: more than this share of verdicts, over at least min_items.
    "contradiction_share": 0.2,
    # Low gold accuracy: below the project's qualification threshold over at least min_gold.
    "min_gold": 5,
}
NOT_COMPARED = "not enough data: no item where the others have a majority"
TIME_EDGES = np.array([0, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200], dtype=float)


def raters_report(*, session: Session, project: Project, filters: Filters) -> dict[str, Any]:
    """Return one row of quality signals per rater, with flags and the thresholds behind them."""
    needs = main_needs(project, filters.dimension)
    scored = rubric_of(project).likert(RubricScope.RESPONSE)
    for_gold = gold_needs(project)
    needs["dims"] = list({d.name: d for d in [*needs["dims"], *scored, *for_gold["dims"]]}.values())
    needs["rankings"] = needs["rankings"] or for_gold["rankings"]
    cols = load_judgments(session=session, project=project, filters=filters, **needs)
    counts = assignment_counts(session=session, project=project, filters=filters)
    gold = load_gold(session=session, project=project)
    models = load_models(session=session, project=project)
    ids = np.union1d(cols.rater, [rater for rater, _ in counts]).astype(np.int64)
    people = load_raters(session=session, ids=ids)
    at = np.searchsorted(ids, cols.rater)
    size = len(ids)
    labels = main_labels(cols, project, filters.dimension)
    loo = leave_one_out_from_codes(labels.codes()) if labels is not None else {}
    pairs = main_pairs(cols, project, filters.dimension)
    bias = _position_bias(pairs, at[pairs.row], size)
    pair_items = cols.item[pairs.row]
    length = rater_length_bias(
        session=session,
        project=project,
        pairs=pairs,
        items=pair_items,
        model_a=models.codes_of(pair_items, pairs.a),
        model_b=models.codes_of(pair_items, pairs.b),
        rater_at=at[pairs.row],
        size=size,
    )
    triads = model_triads(pairs, cols, at, models, size)
    contradicted = contradictions(cols, project) if scored else np.full(len(cols), np.nan)
    gold_accuracy = _means(at, gold_scores(cols, gold, project), size, "no judgments on gold items")
    contradiction = _means(at, contradicted, size, "no verdicts with scores to compare")
    skipped = [counts.get((rater, LeaseStatus.SKIPPED), 0) for rater in ids.tolist()]
    submitted = [counts.get((rater, LeaseStatus.SUBMITTED), 0) for rater in ids.tolist()]
    judged = np.bincount(at, minlength=size)
    seconds = cols.active_ms / 1000
    by_rater = np.split(seconds[np.argsort(at, kind="stable")], np.cumsum(judged)[:-1])
    rows = []
    for k, rater in enumerate(ids.tolist()):
        person = people.get(rater)
        rows.append(
            {
                "id": rater,
                "username": person.username if person else str(rater),
                "name": person.name if person else str(rater),
                "expertise": person.expertise if person else [],
                "judgments": int(judged[k]),
                "time": {
                    "timed": int(np.isfinite(by_rater[k]).sum()),
                    "quantiles": quantiles(by_rater[k]),
                },
                "loo_agreement": stat_dict(loo.get(rater, no_value(NOT_COMPARED))),
                "gold_accuracy": gold_accuracy[k],
                "skip_rate": share(
                    int(skipped[k]), int(skipped[k] + submitted[k]), "nothing submitted or skipped"
                ),
                "position_bias": stat_dict(bias[k]),
                "length_bias": length[k],
                "intransitive_triads": stat_dict(triads[k]),
                "contradictions": contradiction[k],
            }
        )
    _flag(rows, project)
    rows.sort(key=lambda r: (-r["judgments"], r["username"]))
    return {
        "skipped_rows": cols.skipped,
        "on": main_label_name(project, filters.dimension),
        "thresholds": THRESHOLDS | {"gold_threshold": project.qualification_threshold},
        "time_histogram": histogram(seconds, TIME_EDGES),
        # Every rater's first-versus-second verdicts pooled: the project's position bias.
        "position_bias": stat_dict(_position_bias(pairs, np.zeros_like(at[pairs.row]), 1)[0]),
        "raters": rows,
    }


def _means(at: np.ndarray, values: np.ndarray, size: int, reason: str) -> list[dict[str, Any]]:
    """Per rater: the mean of their finite values, as Stat dicts."""
    finite = np.isfinite(values)
    total = np.bincount(at[finite], weights=values[finite], minlength=size)
    count = np.bincount(at[finite], minlength=size)
    return [
        stat_dict(Stat(float(t / n), n=int(n)))
        if n
        else stat_dict(no_value(f"not enough data: {reason}"))
        for t, n in zip(total, count, strict=True)
    ]


def _position_bias(pairs: Pairs, rater_at: np.ndarray, size: int) -> list[Stat]:
    """Per rater: how often the response shown first won the first-versus-second comparison."""
    first = (pairs.a_pos == 0) & (pairs.b_pos == 1) & (pairs.score != 0.5)
    decided = np.bincount(rater_at[first], minlength=size)
    left_wins = np.bincount(rater_at[first & (pairs.score == 1.0)], minlength=size)
    return position_bias_many(left_wins, decided)


def _value(stat: dict[str, Any], min_n: int) -> float | None:
    """Return a Stat dict's value when it rests on at least min_n units."""
    return stat["value"] if stat["value"] is not None and stat["n"] >= min_n else None


def _flag(rows: list[dict[str, Any]], project: Project) -> None:
    """Add each rater's flags: too fast, position bias, outlier, contradictions, low gold."""
    t = THRESHOLDS
    timed = {
        r["id"]: r["time"]["quantiles"]["p50"] for r in rows if r["time"]["timed"] >= t["min_timed"]
    }
    medians = list(timed.values())
    too_fast = t["too_fast_share"] * float(np.median(medians)) if medians else None
    tested = sum(1 for r in rows if r["position_bias"]["p_value"] is not None)
    loo = [v for r in rows if (v := _value(r["loo_agreement"], t["min_items"])) is not None]
    fence = None
    if len(loo) >= 4:
        q1, q3 = np.percentile(loo, [25, 75])
        fence = q1 - t["outlier_iqr"] * (q3 - q1)
    for r in rows:
        flags = []
        if too_fast is not None and timed.get(r["id"], too_fast) < too_fast:
            flags.append("too fast")
        p = r["position_bias"]["p_value"]
        if p is not None and p < t["bias_alpha"] / max(tested, 1):
            flags.append("position bias")
        agree = _value(r["loo_agreement"], t["min_items"])
        if fence is not None and agree is not None and agree < fence:
            flags.append("outlier")
        contra = _value(r["contradictions"], t["min_items"])
        if contra is not None and contra > t["contradiction_share"]:
            flags.append("contradicts own scores")
        gold = _value(r["gold_accuracy"], t["min_gold"])
        if gold is not None and gold < project.qualification_threshold:
            flags.append("low gold accuracy")
        r["flags"] = flags
