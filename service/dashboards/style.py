"""The leaderboard's style section: strengths with length and markdown held equal."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.summaries import stat_dict
from service.models import Item, Project, Response
from service.stats.bradley_terry import Coded, elo
from service.stats.resampling import Stat, no_value
from service.stats.style import (
    FEATURES,
    bootstrap_style,
    fit_style,
    length_bias,
    style_counts,
    style_differences,
)

N_BOOT = 200

METHOD = (
    "Style control as in Chatbot Arena: a logistic regression of each comparison's outcome "
    "on the two models (Bradley–Terry strengths) and on the normalised difference "
    "(a − b) / (a + b) of four style features of the two responses: characters, markdown "
    "headers, list items and bold spans. A feature's coefficient is the change in log-odds "
    "of winning when all of it sits on one side rather than being equal; strengths are "
    "what remains with style held equal. Ties and the prior as in the plain leaderboard. "
    f"95% intervals: percentile bootstrap over items ({N_BOOT} resamples)."
)


CONFOUNDED = (
    "cannot be separated from the models and the other features: it never differs "
    "between the two responses, or moves with them"
)

# Separation: the style terms alone decide every comparison, so the likelihood grows
# without bound and no strength or coefficient is an estimate.
DIVERGES = (
    "no estimate: the style differences predict every verdict (for example, the longer "
    "response always won), so the regression has no maximum"
)


def style_section(
    *,
    session: Session,
    project: Project,
    names: list[str],
    coded: Coded,
    items: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> dict[str, Any]:
    """Return style-controlled strengths and style coefficients for the compared models.

    ``items``, ``a`` and ``b`` give each comparison's item and response ids, in the order
    of ``coded``.
    """
    diffs = style_of_pairs(session=session, project=project, items=items, a=a, b=b)
    fit, low, high = bootstrap_style(len(names), coded, diffs, units=items, n_boot=N_BOOT)
    n, size = len(items), len(names)
    if not np.isfinite(fit.strengths).all():
        return _unfitted(names, n)
    strengths = [_stat(fit.strengths[k], low[k], high[k], n) for k in range(size)]
    models = [
        {"model": m, "strength": stat_dict(strengths[k]), "rating": elo(strengths[k])}
        for k, m in enumerate(names)
    ]
    models.sort(key=lambda r: (-r["strength"]["value"], r["model"]))
    features = [
        {
            "feature": f,
            "coefficient": stat_dict(
                _stat(fit.coefficients[k], low[size + k], high[size + k], n)
                if math.isfinite(fit.coefficients[k])
                else no_value(CONFOUNDED, n)
            ),
        }
        for k, f in enumerate(FEATURES)
    ]
    return {"method": METHOD, "models": models, "features": features}


def _unfitted(names: list[str], n: int) -> dict[str, Any]:
    """The section when the regression has no maximum: every figure absent, with why."""
    missing = no_value(DIVERGES, n)
    return {
        "method": METHOD,
        "models": [
            {"model": m, "strength": stat_dict(missing), "rating": elo(missing)}
            for m in sorted(names)
        ],
        "features": [{"feature": f, "coefficient": stat_dict(missing)} for f in FEATURES],
    }


def style_of_pairs(
    *, session: Session, project: Project, items: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Return the normalised style differences (comparisons, FEATURES) of responses a and b."""
    counts = _counts(session, project)
    none = np.zeros(len(FEATURES))
    side_a = np.array([counts.get((int(i), str(r)), none) for i, r in zip(items, a, strict=True)])
    side_b = np.array([counts.get((int(i), str(r)), none) for i, r in zip(items, b, strict=True)])
    return style_differences(side_a, side_b).reshape(len(items), len(FEATURES))


def rater_length_bias(
    *,
    session: Session,
    project: Project,
    pairs: Any,
    items: np.ndarray,
    model_a: np.ndarray,
    model_b: np.ndarray,
    rater_at: np.ndarray,
    size: int,
) -> list[dict[str, Any]]:
    """Per rater: how far their verdicts follow length beyond the models' strengths.

    The models' strengths come from the style-controlled fit over every rater; comparisons
    whose models are unknown or the same get no offset.
    """
    diffs = style_of_pairs(session=session, project=project, items=items, a=pairs.a, b=pairs.b)
    known = (model_a >= 0) & (model_b >= 0) & (model_a != model_b)
    offset = np.zeros(len(items))
    if known.any():
        compared, codes = np.unique(
            np.concatenate([model_a[known], model_b[known]]), return_inverse=True
        )
        codes = codes.reshape(-1)
        n = int(known.sum())
        coded = Coded(codes[:n], codes[n:], pairs.score[known])
        strengths = fit_style(len(compared), coded, diffs[known]).strengths
        offset[known] = strengths[codes[:n]] - strengths[codes[n:]]
    fits = length_bias(
        diffs[:, 0],
        pairs.score,
        offset,
        rater=rater_at,
        units=items,
        size=size,
        n_boot=N_BOOT,
    )
    return [
        stat_dict(
            _stat(*fit)
            if fit is not None
            else no_value(
                "not enough data: the longer response always won, always lost, or never differed"
            )
        )
        for fit in fits
    ]


def _counts(session: Session, project: Project) -> dict[tuple[int, str], np.ndarray]:
    query = (
        sa.select(Response.item_id, Response.external_id, Response.content)
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
    )
    return {
        (item, rid): np.array(style_counts(content or ""), dtype=float)
        for item, rid, content in session.execute(query)
    }


def _stat(value: float, low: float, high: float, n: int) -> Stat:
    return Stat(
        float(value),
        float(low) if math.isfinite(low) else None,
        float(high) if math.isfinite(high) else None,
        n=n,
    )
