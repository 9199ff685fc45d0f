"""Load the columns dashboards need: one query per table, filtered in SQL, NumPy arrays out.

Only current judgments (no later version supersedes them) are loaded. Rows come through
SQLAlchemy Core (no ORM objects); times come back as epoch seconds and rubric values are
pulled out of the JSON by the database (see sql_expressions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.filters import Filters
from service.dashboards.sql_expressions import (
    epoch_seconds,
    json_list_contains,
    response_number,
    response_text,
)
from service.models import Item, Judgment, Project, Response, User


@dataclass(frozen=True)
class JudgmentColumns:
    """Current judgments as parallel arrays.

    ``shown`` holds the response id at each screen position (None past the last one);
    ``scores`` maps a rubric dimension to its values: (judgments, positions) for per-response
    dimensions, (judgments,) for item ones; numbers as floats (NaN: not given), choices as
    text. ``verdict`` is the decoded verdict, loaded for rankings only.
    """

    id: np.ndarray
    item: np.ndarray
    rater: np.ndarray
    created: np.ndarray  # epoch seconds
    active_ms: np.ndarray  # float, NaN when the client sent no timing
    gold: np.ndarray  # judged as gold, or the item is gold now
    shown: np.ndarray  # (judgments, positions) object array of response ids
    preferred: np.ndarray  # pairwise: preferred response id, None for a tie
    strength: np.ndarray  # likert7 pairwise: 0..3, NaN otherwise
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    verdict: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self.id)

    @property
    def left(self) -> np.ndarray:
        """The response id shown first (left)."""
        return self.shown[:, 0] if self.shown.shape[1] else np.full(len(self), None, object)

    @property
    def right(self) -> np.ndarray:
        """The response id shown second (right)."""
        return self.shown[:, 1] if self.shown.shape[1] > 1 else np.full(len(self), None, object)


def item_filters(filters: Filters) -> list[sa.ColumnElement[bool]]:
    """Return conditions on Item for the tag filter (any of the tags)."""
    conditions = []
    if filters.tags:
        conditions.append(sa.or_(*(json_list_contains(Item.tags, t) for t in filters.tags)))
    return conditions


def rater_filter(column: Any, filters: Filters) -> list[sa.ColumnElement[bool]]:
    """Return conditions keeping rater ids in ``column`` whose user has the expertise."""
    if not filters.expertise:
        return []
    experts = sa.select(User.id).where(json_list_contains(User.expertise, filters.expertise))
    return [column.in_(experts)]


def gold_filter(gold: sa.ColumnElement[bool], filters: Filters) -> list[sa.ColumnElement[bool]]:
    """Return conditions including, excluding or keeping only rows where ``gold`` holds."""
    if filters.gold == "exclude":
        return [~gold]
    if filters.gold == "only":
        return [gold]
    return []


def date_filter(column: Any, filters: Filters) -> list[sa.ColumnElement[bool]]:
    """Return conditions keeping timestamps in ``column`` inside the date range."""
    conditions = []
    if filters.start():
        conditions.append(column >= filters.start())
    if filters.end():
        conditions.append(column < filters.end())
    return conditions


def current_judgment_filter(filters: Filters) -> list[sa.ColumnElement[bool]]:
    """Return conditions selecting current judgments that pass the filters (Item joined)."""
    newer = sa.orm.aliased(Judgment)
    return [
        ~sa.exists(sa.select(newer.id).where(newer.supersedes_id == Judgment.id)),
        *date_filter(Judgment.created_at, filters),
        *gold_filter(sa.or_(Judgment.is_gold, Item.is_gold), filters),
        *item_filters(filters),
        *rater_filter(Judgment.rater_id, filters),
    ]


def positions(*, session: Session, project: Project) -> int:
    """Return how many responses a judgment can show: 2 for pairwise, else the most any item has."""
    if project.mode == "pairwise":
        return 2
    per_item = (
        sa.select(sa.func.count(Response.id).label("n"))
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
        .group_by(Response.item_id)
        .subquery()
    )
    return int(session.connection().execute(sa.select(sa.func.max(per_item.c.n))).scalar() or 0)


def _dimension_columns(dims: Sequence[dict[str, Any]], width: int) -> list[Any]:
    columns: list[Any] = []
    for dim in dims:
        text = dim["kind"] == "choice"
        if dim["scope"] == "response":
            kind = response_text if text else response_number
            columns += [
                kind(Judgment.rubric, Judgment.shown_order, p, dim["name"]) for p in range(width)
            ]
        else:
            value = Judgment.rubric[("item", dim["name"])]
            columns.append(value.as_string() if text else value.as_float())
    return columns


def load_judgments(
    *,
    session: Session,
    project: Project,
    filters: Filters,
    verdicts: bool = True,
    dims: Sequence[dict[str, Any]] = (),
    rankings: bool = False,
) -> JudgmentColumns:
    """Load the project's current judgments that pass the filters, in one query, by id.

    ``verdicts`` adds the display order and pairwise verdict, ``dims`` those rubric
    dimensions' values (extracted in SQL), ``rankings`` the decoded ranking verdicts.
    """
    width = positions(session=session, project=project) if verdicts or dims or rankings else 0
    base: list[Any] = [
        Judgment.id,
        Judgment.item_id,
        Judgment.rater_id,
        epoch_seconds(Judgment.created_at),
        Judgment.active_ms,
        sa.or_(Judgment.is_gold, Item.is_gold),
        Judgment.verdict["preferred"].as_string(),
        Judgment.verdict["strength"].as_float(),
    ]
    shown = [Judgment.shown_order[p].as_string() for p in range(width)]
    scored = _dimension_columns(dims, width)
    ranking = [Judgment.verdict] if rankings else []
    query = (
        sa.select(*base, *shown, *scored, *ranking)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.project_id == project.id, *current_judgment_filter(filters))
        .order_by(Judgment.id)
    )
    n_cols = len(base) + len(shown) + len(scored) + len(ranking)
    rows, cols = fetch_columns(session, query, n_cols)
    k = len(base)
    shown_ids = np.array(cols[k : k + width], dtype=object).T.reshape(len(rows), width)
    scores = _scores(cols[k + width : n_cols - len(ranking)], dims, width, len(rows))
    return JudgmentColumns(
        id=np.array(cols[0], dtype=np.int64),
        item=np.array(cols[1], dtype=np.int64),
        rater=np.array(cols[2], dtype=np.int64),
        created=np.array(cols[3], dtype=float),
        active_ms=_floats([cols[4]])[0],
        gold=np.array(cols[5], dtype=bool),
        shown=shown_ids,
        preferred=np.array(cols[6], dtype=object),
        strength=_floats([cols[7]])[0],
        scores=scores,
        verdict=[_json(v) for v in cols[-1]] if rankings else None,
    )


def _scores(
    cols: list[tuple], dims: Sequence[dict[str, Any]], width: int, n: int
) -> dict[str, np.ndarray]:
    """Split the rubric columns into one array per dimension (see JudgmentColumns.scores)."""
    scores, k = {}, 0
    for dim in dims:
        span = width if dim["scope"] == "response" else 1
        block = cols[k : k + span]
        k += span
        text = dim["kind"] == "choice"
        values = (np.array(block, dtype=object) if text else _floats(block)).T.reshape(n, span)
        scores[dim["name"]] = values if dim["scope"] == "response" else values[:, 0]
    return scores


def fetch_columns(session: Session, query: sa.Select, n_cols: int) -> tuple[list, list[tuple]]:
    """Run a query and return (rows, columns) as plain tuples.

    Rows are read straight from the DB-API cursor: SQLAlchemy's result rows and type
    processing would double the time for 100,000 rows, and every column selected here is
    already a plain number or string (JSON is decoded by the caller).
    """
    result = session.connection().execute(query)
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    return rows, list(zip(*rows, strict=True)) if rows else [()] * n_cols


def _json(value: Any) -> Any:
    # SQLite hands back JSON as text; psycopg decodes it already.
    return json.loads(value) if isinstance(value, str) else value


def _floats(columns: Sequence[Sequence[Any]]) -> np.ndarray:
    """Return columns of numbers or None as a float matrix with NaN for None."""
    if not columns:
        return np.zeros((0, 0))
    return np.array(
        [[np.nan if v is None else v for v in column] for column in columns], dtype=float
    ).reshape(len(columns), -1)


def count_revisions(*, session: Session, project: Project) -> int:
    """Count judgments that are corrections of earlier ones."""
    query = sa.select(sa.func.count(Judgment.id)).where(
        Judgment.project_id == project.id, Judgment.supersedes_id.is_not(None)
    )
    return int(session.execute(query).scalar_one())
