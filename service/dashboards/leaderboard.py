"""Model leaderboard: Bradley–Terry strengths from every pairwise outcome, with intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sqlmodel import Session

from service.dashboards.columns import JudgmentColumns, load_judgments
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_models
from service.dashboards.style import style_section
from service.dashboards.summaries import rounded, stat_dict
from service.dashboards.verdicts import main_label_name, main_needs, main_pairs
from service.models import Project
from service.rubric import rubric_of
from service.stats.bradley_terry import (
    PRIOR,
    Coded,
    bootstrap_coded,
    elo,
    win_rates,
    wins_matrix,
)

N_BOOT = 1000


def method_text(project: Project, dimension: str | None) -> str:
    """Describe how the leaderboard is computed, for the page and the JSON."""
    source = (
        f"per-response scores on {dimension} (the higher score wins the pair)"
        if dimension or project.mode == "rating"
        else "pairwise verdicts"
        if project.mode == "pairwise"
        else "rankings, each expanded into every pair of its responses"
    )
    return (
        f"Bradley–Terry model fitted to outcomes from {source}, by Hunter's (2004) "
        "minorisation–maximisation algorithm. A tie counts as half a win to each side. "
        f"Every pair of models gets {PRIOR} virtual tied games, a weak prior that keeps "
        "undefeated models finite. Strengths are log-odds centred at 0, also shown on an "
        "Elo-like scale (1000 + 400·log10 of the odds). 95% intervals: percentile bootstrap "
        f"over items ({N_BOOT} resamples), so all verdicts on one item move together."
    )


def leaderboard_report(*, session: Session, project: Project, filters: Filters) -> dict[str, Any]:
    """Return every model's strength with its interval, record and the win-rate matrix."""
    dimension = filters.dimension
    cols = load_judgments(
        session=session, project=project, filters=filters, **main_needs(project, dimension)
    )
    return leaderboard_of(session=session, project=project, cols=cols, dimension=dimension)


def leaderboard_of(
    *, session: Session, project: Project, cols: JudgmentColumns, dimension: str | None
) -> dict[str, Any]:
    """Return the leaderboard fitted to these judgments (a human's or a model judge's)."""
    models = load_models(session=session, project=project)
    pairs = main_pairs(cols, project, dimension)
    items = cols.item[pairs.row]
    a, b = models.codes_of(items, pairs.a), models.codes_of(items, pairs.b)
    keep = (a >= 0) & (b >= 0) & (a != b)
    # Models are coded in name order, so the compared ones keep that order among themselves.
    compared, codes = np.unique(np.concatenate([a[keep], b[keep]]), return_inverse=True)
    names = models.names[compared]
    codes = codes.reshape(-1)
    outcomes = Coded(codes[: keep.sum()], codes[keep.sum() :], pairs.score[keep])
    base = {
        "on": main_label_name(project, dimension),
        "method": method_text(project, dimension or _rating_dimension(project)),
        "comparisons": int(keep.sum()),
        "same_model_pairs": int((~keep).sum()),
        "judgments": len(cols),
        "skipped_rows": cols.skipped,
    }
    if len(names) < 2:
        reason = "not enough data: fewer than 2 models were compared"
        return base | {"reason": reason, "models": [], "win_rate": {"models": [], "matrix": []}}
    size = len(names)
    stats = bootstrap_coded(size, outcomes, units=items[keep], n_boot=N_BOOT, seed=0)
    fits = dict(zip(names.tolist(), stats, strict=True))
    record = _record(names.tolist(), outcomes)
    rows = [
        {
            "model": m,
            "strength": stat_dict(fits[m]),
            "rating": elo(fits[m]),
            **record[m],
        }
        for m in names.tolist()
    ]
    rows.sort(key=lambda r: (-(r["strength"]["value"] or -math.inf), r["model"]))
    order = [r["model"] for r in rows]
    perm = np.searchsorted(names, order)
    rates = win_rates(order, wins_matrix(size, outcomes)[np.ix_(perm, perm)])
    matrix = [
        [
            None if x == y else {"value": rounded(rates[x][y].value), "n": rates[x][y].n}
            for y in order
        ]
        for x in order
    ]
    style = style_section(
        session=session,
        project=project,
        names=names.tolist(),
        coded=outcomes,
        items=items[keep],
        a=pairs.a[keep],
        b=pairs.b[keep],
    )
    return base | {
        "reason": None,
        "models": rows,
        "win_rate": {"models": order, "matrix": matrix},
        "style": style,
    }


def _rating_dimension(project: Project) -> str | None:
    main = rubric_of(project).main_rating if project.mode == "rating" else None
    return main.name if main else None


def _record(names: list[str], outcomes: Coded) -> dict[str, dict]:
    a, b, s = outcomes
    size = len(names)

    def count(who: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.bincount(who[mask], minlength=size)

    wins = count(a, s == 1) + count(b, s == 0)
    losses = count(a, s == 0) + count(b, s == 1)
    ties = count(a, s == 0.5) + count(b, s == 0.5)
    return {
        m: {
            "comparisons": int(wins[k] + losses[k] + ties[k]),
            "wins": int(wins[k]),
            "losses": int(losses[k]),
            "ties": int(ties[k]),
        }
        for k, m in enumerate(names)
    }
