"""Load the judgments dashboards need: one query, filtered in SQL, NumPy arrays out.

Only current judgments (no later version supersedes them) are loaded. Rows come through
SQLAlchemy Core (no ORM objects); times come back as epoch seconds and rubric values are
pulled out of the JSON by the database (see sql_expressions).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from service.dashboards import unreadable
from service.dashboards.conditions import current_judgment_filter
from service.dashboards.filters import Filters
from service.dashboards.sql_expressions import epoch_seconds, response_number, response_text
from service.models import Item, Judgment, Project, Response
from service.rating.turns import most_turns
from service.rubric import Dimension, RubricKind


@dataclass(frozen=True)
class JudgmentColumns:
    """Current judgments as parallel arrays.

    ``shown`` holds the response id at each screen position (None past the last one);
    ``scores`` maps a rubric dimension to its values: (judgments, positions) for per-response
    dimensions, (judgments, turns) for per-turn ones (column i: assistant turn i, see
    rating/turns.py), (judgments,) for item ones; numbers as floats (NaN: not given), choices
    as text. ``verdict`` is the decoded verdict, loaded for rankings only. ``created`` is NaN and
    ``strength`` NaN unless asked for (see load_judgments).
    """

    id: np.ndarray
    item: np.ndarray
    rater: np.ndarray
    created: np.ndarray  # epoch seconds
    active_ms: np.ndarray  # float, NaN when the client sent no timing
    shown: np.ndarray  # (judgments, positions) object array of response ids
    preferred: np.ndarray  # pairwise: preferred response id, None for a tie
    strength: np.ndarray  # likert7 pairwise: 0..3, NaN otherwise
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    verdict: list[dict[str, Any]] | None = None
    # Judgments left out because a stored value could not be read: {judgment_id, field, reason}.
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.id)

    def finite(self) -> bool:
        """Tell whether no number read holds infinity (SQLite reads ``1e400`` so)."""
        numbers = [self.strength, *(v for v in self.scores.values() if v.dtype != object)]
        return not any(np.isinf(v).any() for v in numbers)

    @property
    def left(self) -> np.ndarray:
        """The response id shown first (left)."""
        return self.shown[:, 0] if self.shown.shape[1] else np.full(len(self), None, object)

    @property
    def right(self) -> np.ndarray:
        """The response id shown second (right)."""
        return self.shown[:, 1] if self.shown.shape[1] > 1 else np.full(len(self), None, object)


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


def response_ids(*, session: Session, project: Project, limit: int) -> list[str] | None:
    """Return the distinct response ids of the project's items, or None if there are more
    than ``limit``."""
    query = (
        sa.select(Response.external_id)
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
        .distinct()
        .limit(limit + 1)
    )
    ids = sorted(session.connection().execute(query).scalars())
    return ids if len(ids) <= limit else None


def _rubric_document(session: Session) -> tuple[Any, Any]:
    """Return what to read per-response rubric values from, and the FROM item it needs."""
    if session.connection().dialect.name != "postgresql":
        return Judgment.rubric, None
    # PostgreSQL parses json text again for every value looked up in it. Parsed once per row
    # into jsonb (in a LATERAL subquery that OFFSET 0 keeps from being inlined into every
    # lookup), four scores cost a third less.
    doc = sa.select(sa.cast(Judgment.rubric, JSONB).label("rubric")).correlate(Judgment)
    doc = doc.offset(0).lateral("doc")
    return doc.c.rubric, doc


def _score_columns(
    dims: Sequence[Dimension], rubric: Any, keys: Sequence[Any], turns: int = 0
) -> tuple[list[Any], list[int]]:
    """Return SQL columns for the dimensions' values, and how many columns each one takes.

    A per-response dimension takes one column per key: the response ids, or the screen
    positions' ids read from the shown order; a per-turn one a column per assistant turn.
    """
    columns: list[Any] = []
    spans = []
    for dim in dims:
        text = dim.kind == RubricKind.CHOICE
        if dim.per_response:
            kind = response_text if text else response_number
            columns += [kind(rubric, key, dim.name) for key in keys]
            spans.append(len(keys))
            continue
        # A turn dimension takes one column per turn, none when no item has a turn.
        paths = [("turn", str(t), dim.name) for t in range(turns)] if dim.per_turn else []
        for path in paths if dim.per_turn else [("item", dim.name)]:
            value = Judgment.rubric[path]
            columns.append(value.as_string() if text else value.as_float())
        spans.append(len(paths) if dim.per_turn else 1)
    return columns, spans


def load_judgments(
    *,
    session: Session,
    project: Project,
    filters: Filters,
    verdicts: bool = True,
    dims: Sequence[Dimension] = (),
    rankings: bool = False,
    created: bool = False,
) -> JudgmentColumns:
    """Load the project's current judgments that pass the filters, in one query, by id.

    ``verdicts`` adds the display order and pairwise verdict (with its strength on a 7-point
    scale), ``dims`` those rubric dimensions' values (extracted in SQL), ``rankings`` the
    decoded ranking verdicts, ``created`` the submission times.
    """
    width = positions(session=session, project=project) if verdicts or dims or rankings else 0
    turns = (
        most_turns(session=session, project_id=project.id) if any(d.per_turn for d in dims) else 0
    )
    ids = None
    if any(d.per_response for d in dims):
        # A score looked up by a literal response id costs SQLite a third of one looked up by
        # the id a row shows (PostgreSQL a quarter less): worth it while there are no more
        # ids than positions (pairwise "a"/"b", rankings of a fixed set).
        ids = response_ids(session=session, project=project, limit=width)

    def load(exclude: Sequence[int] = ()) -> JudgmentColumns:
        args = (filters, width, turns, dims, rankings, created, exclude)
        cols = _load(session, project, ids, *args)
        if ids is not None and _unknown_ids(cols.shown, ids):
            # An order names a response the items no longer have: read those by position.
            cols = _load(session, project, None, *args)
        return cols

    cols = unreadable.attempt(session, load)
    if cols is not None and cols.finite():
        return cols
    # A stored value the database could not read, or read as infinity: leave out (and
    # name) the judgments holding one, and read the rest.
    skipped = unreadable.unreadable_judgments(session=session, project=project, filters=filters)
    if not skipped:
        return load()  # not a stored value after all: let the error speak
    return replace(load([s["judgment_id"] for s in skipped]), skipped=skipped)


def _load(
    session: Session,
    project: Project,
    ids: list[str] | None,
    filters: Filters,
    width: int,
    turns: int,
    dims: Sequence[Dimension],
    rankings: bool,
    created: bool,
    exclude: Sequence[int] = (),
) -> JudgmentColumns:
    shown = [Judgment.shown_order[p].as_string() for p in range(width)]
    keys = [sa.literal(rid, sa.String) for rid in ids] if ids is not None else shown
    per_response = any(d.per_response for d in dims)
    rubric, doc = _rubric_document(session) if per_response else (Judgment.rubric, None)
    scored, spans = _score_columns(dims, rubric, keys, turns)
    strength = project.mode == "pairwise" and project.scale == "likert7" and width > 0
    optional = {
        "created": epoch_seconds(Judgment.created_at) if created else None,
        "preferred": Judgment.verdict["preferred"].as_string() if width else None,
        "strength": Judgment.verdict["strength"].as_float() if strength else None,
        "verdict": Judgment.verdict if rankings else None,
    }
    extra = {name: column for name, column in optional.items() if column is not None}
    base = [Judgment.id, Judgment.item_id, Judgment.rater_id, Judgment.active_ms]
    query = (
        sa.select(*base, *extra.values(), *shown, *scored)
        .join(Item, Item.id == Judgment.item_id)
        .where(Judgment.project_id == project.id, *current_judgment_filter(filters))
        .order_by(Judgment.id)
    )
    if doc is not None:
        query = query.join(doc, sa.true())
    if exclude:
        query = query.where(Judgment.id.not_in(exclude))
    rows, cols = fetch_columns(session, query, len(base) + len(extra) + len(shown) + len(scored))
    n = len(rows)
    named = dict(zip(extra, cols[len(base) : len(base) + len(extra)], strict=True))
    k = len(base) + len(extra)
    shown_ids = np.array(cols[k : k + width], dtype=object).T.reshape(n, width)
    nan = np.full(n, np.nan)
    return JudgmentColumns(
        id=np.array(cols[0], dtype=np.int64),
        item=np.array(cols[1], dtype=np.int64),
        rater=np.array(cols[2], dtype=np.int64),
        active_ms=np.array(cols[3], dtype=float),
        created=np.array(named["created"], dtype=float) if created else nan,
        shown=shown_ids,
        preferred=np.array(named.get("preferred", [None] * n), dtype=object),
        strength=np.array(named["strength"], dtype=float) if strength else nan,
        scores=_scores(cols[k + width :], dims, spans, shown_ids, ids),
        verdict=[_json(v) for v in named["verdict"]] if rankings else None,
    )


def _unknown_ids(shown: np.ndarray, ids: list[str]) -> bool:
    """Whether some shown response id is not among ``ids``."""
    known = np.equal(shown, None)
    for rid in ids:
        known |= shown == rid
    return not known.all()


def _scores(
    cols: list[tuple],
    dims: Sequence[Dimension],
    spans: list[int],
    shown: np.ndarray,
    ids: list[str] | None,
) -> dict[str, np.ndarray]:
    """Split the rubric columns into one array per dimension (see JudgmentColumns.scores)."""
    scores, k = {}, 0
    n = len(shown)
    for dim, span in zip(dims, spans, strict=True):
        block = cols[k : k + span]
        k += span
        text = dim.kind == RubricKind.CHOICE
        values = np.array(block, dtype=object if text else float).T.reshape(n, span)
        if dim.per_turn:
            scores[dim.name] = values
        elif not dim.per_response:
            scores[dim.name] = values[:, 0]
        elif ids is None:
            scores[dim.name] = values
        else:
            scores[dim.name] = _by_position(values, shown, ids)
    return scores


def _by_position(by_id: np.ndarray, shown: np.ndarray, ids: list[str]) -> np.ndarray:
    """Turn (judgments, ids) values into (judgments, positions): each position's id's value."""
    out = np.full(shown.shape, None if by_id.dtype == object else np.nan, dtype=by_id.dtype)
    for j, rid in enumerate(ids):
        rows, pos = np.nonzero(shown == rid)
        out[rows, pos] = by_id[rows, j]
    return out


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


def count_revisions(*, session: Session, project: Project) -> int:
    """Count judgments that are corrections of earlier ones."""
    # "+ 0" keeps SQLite off the (project, created) index, which would fetch every row of
    # the project to test it; a scan is ten times faster. PostgreSQL uses the supersedes index.
    query = sa.select(sa.func.count(Judgment.id)).where(
        Judgment.project_id + sa.literal_column("0") == project.id,
        Judgment.supersedes_id.is_not(None),
    )
    return int(session.execute(query).scalar_one())
