"""Load model judges' verdicts in the shape of human judgment columns (columns.py).

A ``JudgeVerdict`` stores its verdict and rubric in a human judgment's shapes, so once
read into ``JudgmentColumns`` every label and pair function in verdicts.py applies to it
unchanged. A judge's rows carry ``rater = -judge_id``: never a human's id. Only each
judge's newest verdict per item and order counts (a re-run after a guideline change
appends new rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import JudgmentColumns
from service.models import Judge, JudgeVerdict, Project
from service.rubric import Dimension, RubricKind


def judges_of(*, session: Session, project: Project) -> list[Judge]:
    """Return the project's judges that have verdicts, by name."""
    has = sa.select(JudgeVerdict.id).where(JudgeVerdict.judge_id == Judge.id).exists()
    query = sa.select(Judge).where(Judge.project_id == project.id, has).order_by(Judge.name)
    return list(session.execute(query).scalars())


def newest_verdicts(
    *, session: Session, project: Project, judge_id: int | None = None
) -> list[JudgeVerdict]:
    """Return each judge's newest verdict per (item, shown order), by id."""
    query = sa.select(JudgeVerdict).where(JudgeVerdict.project_id == project.id)
    if judge_id is not None:
        query = query.where(JudgeVerdict.judge_id == judge_id)
    newest: dict[tuple[int, int, tuple[str, ...]], JudgeVerdict] = {}
    for v in session.execute(query.order_by(JudgeVerdict.id)).scalars():
        newest[v.judge_id, v.item_id, tuple(v.shown_order or [])] = v
    return sorted(newest.values(), key=lambda v: v.id or 0)


def load_verdicts(
    *,
    session: Session,
    project: Project,
    judge_id: int,
    like: JudgmentColumns,
    dims: Sequence[Dimension] = (),
) -> JudgmentColumns:
    """Return one judge's verdicts on the items of ``like`` as columns shaped like it."""
    items = set(like.item.tolist())
    rows = [
        v
        for v in newest_verdicts(session=session, project=project, judge_id=judge_id)
        if v.item_id in items
    ]
    n, width = len(rows), like.shown.shape[1]
    shown = np.full((n, width), None, dtype=object)
    for k, v in enumerate(rows):
        order = list(v.shown_order or [])[:width]
        shown[k, : len(order)] = order
    likert = project.mode == "pairwise" and project.scale == "likert7"
    return JudgmentColumns(
        id=np.array([v.id for v in rows], dtype=np.int64),
        item=np.array([v.item_id for v in rows], dtype=np.int64),
        rater=np.full(n, -judge_id, dtype=np.int64),
        created=np.full(n, np.nan),
        active_ms=np.full(n, np.nan),
        shown=shown,
        preferred=np.array([(v.verdict or {}).get("preferred") for v in rows], dtype=object),
        strength=np.array(
            [_number((v.verdict or {}).get("strength")) if likert else np.nan for v in rows],
            dtype=float,
        ),
        scores={d.name: _scores(rows, shown, d) for d in dims if d.name in like.scores},
        verdict=None if like.verdict is None else [v.verdict or {} for v in rows],
    )


def concat(a: JudgmentColumns, b: JudgmentColumns) -> JudgmentColumns:
    """Return the rows of ``a`` then those of ``b`` (columns of one shape)."""
    return replace(
        a,
        id=np.concatenate([a.id, b.id]),
        item=np.concatenate([a.item, b.item]),
        rater=np.concatenate([a.rater, b.rater]),
        created=np.concatenate([a.created, b.created]),
        active_ms=np.concatenate([a.active_ms, b.active_ms]),
        shown=np.concatenate([a.shown, b.shown]),
        preferred=np.concatenate([a.preferred, b.preferred]),
        strength=np.concatenate([a.strength, b.strength]),
        scores={k: np.concatenate([v, b.scores[k]]) for k, v in a.scores.items()},
        verdict=None if a.verdict is None else [*a.verdict, *(b.verdict or [])],
    )


def _scores(rows: list[JudgeVerdict], shown: np.ndarray, dim: Dimension) -> np.ndarray:
    """Return one dimension's values as load_judgments gives them (see JudgmentColumns)."""
    text = dim.kind == RubricKind.CHOICE
    read = _text if text else _number
    empty = None if text else np.nan
    if not dim.per_response:
        values = [read(((v.rubric or {}).get("item") or {}).get(dim.name)) for v in rows]
        return np.array(values, dtype=object if text else float)
    out = np.full(shown.shape, empty, dtype=object if text else float)
    for k, v in enumerate(rows):
        per = (v.rubric or {}).get("response") or {}
        for p, rid in enumerate(shown[k]):
            if rid is not None:
                out[k, p] = read((per.get(rid) or {}).get(dim.name))
    return out


def _number(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else np.nan


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
