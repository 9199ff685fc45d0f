"""Model judges' rows, added to an export only when asked (``include_judges``).

Judge verdicts live in their own table (``JudgeVerdict``), so the human rows of an
export never see them: they count for no overlap, no consensus and no agreement. With
``include_judges`` each verdict also becomes rows of its own, one verdict at a time,
built by the same rules as a human judgment's per-judgment rows (pair formats) or raw
row, and every row says who made it: ``annotator_type`` "model" and the ``judge``'s name
here, ``annotator_type`` "human" on the human rows (``mark_human``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.export import rules
from service.export.item_rows import ItemRows
from service.export.options import PAIR_FORMATS
from service.export.rows import raw_row
from service.export.source import BATCH, ItemData, RaterData, _json, _load_items, _time
from service.export.votes import Vote
from service.models import Item, Judge, JudgeVerdict, Project

# The formats a judge's verdict makes rows in: one row stands for one verdict.
JUDGE_FORMATS = (*PAIR_FORMATS, "raw")

# A verdict read as a judgment row: the fields rows.raw_row and the pair rules read.
_Row = namedtuple(
    "_Row",
    "id item_id mode shown_order verdict rubric rationale guideline_version shown_sha256 "
    "created_at judge both_bad flags confidence active_ms started_at version supersedes_id "
    "spans rewrite_response_id",
)
_NO_RATER_FIELDS = dict(
    both_bad=False,
    flags=[],
    confidence=None,
    active_ms=None,
    started_at=None,
    version=1,
    supersedes_id=None,
    spans=[],
    rewrite_response_id=None,
)


def mark_human(row: dict[str, Any]) -> dict[str, Any]:
    """Mark a human judgment's row (only when judges' rows are in the same file)."""
    row["annotator_type"] = "human"
    return row


def judge_groups(
    session: Session, project_ids: Sequence[int], *, exclude_gold: bool
) -> Iterator[tuple[ItemData, list[Any]]]:
    """Yield each judged item with its judges' verdicts as rows, items in id order."""
    v = JudgeVerdict.__table__.c
    query = (
        sa.select(
            v.id,
            v.item_id,
            Project.mode,
            _json(v.shown_order),
            _json(v.verdict),
            _json(v.rubric),
            v.rationale,
            v.guideline_version,
            v.shown_sha256,
            _time(v.created_at),
            Judge.name,
        )
        .join(Judge, Judge.id == v.judge_id)
        .join(Project, Project.id == v.project_id)
        .where(v.project_id.in_(project_ids))
        .order_by(v.item_id, v.id)
    )
    if exclude_gold:
        query = query.join(Item, Item.id == v.item_id).where(Item.is_gold.is_(False))
    conn = session.connection()
    result = conn.execute(query, execution_options={"yield_per": BATCH})
    pending: list[Any] = []
    for batch in result.partitions():
        rows = pending + [_Row(*r, **_NO_RATER_FIELDS) for r in batch]
        # The last item of a batch may continue in the next one: keep it pending.
        cut = len(rows)
        while cut > 0 and rows[cut - 1].item_id == rows[-1].item_id:
            cut -= 1
        yield from _with_items(conn, rows[:cut])
        pending = rows[cut:]
    yield from _with_items(conn, pending)


def _with_items(conn: sa.Connection, rows: list[Any]) -> Iterator[tuple[ItemData, list[Any]]]:
    items = _load_items(conn, {r.item_id for r in rows})
    for item_id, group in groupby(rows, key=lambda r: r.item_id):
        yield items[item_id], list(group)


def _kept(items: ItemRows, item: ItemData, verdicts: list[Any]) -> list[Any]:
    """Apply the export's item and time filters, and its model filter, to judge verdicts.

    The rater filters (raters, expertise, gold accuracy) are about people: a judge's
    verdict is neither kept nor dropped by them. A verdict on a response the model filter
    leaves out is dropped whole, as it cannot be told apart from the comparison it made.
    """
    o = items.o
    if items.tags and not items.tags.intersection(item.tags):
        return []
    keep = items.keep(item)
    return [
        row
        for row in verdicts
        if set(row.shown_order) <= keep
        and (o.since is None or row.created_at >= o.since)
        and (o.until is None or row.created_at < o.until)
    ]


def judge_rows(items: ItemRows, item: ItemData, verdicts: list[Any]) -> Iterator[dict[str, Any]]:
    """Return the rows of an item's judge verdicts, each marked with its judge."""
    verdicts = _kept(items, item, verdicts)
    project = items.projects[item.project_id]
    base = {
        "project": project.slug,
        "item_id": item.external_id,
        "n_judgments": 1,
        "agreement": None,
    }
    for row in verdicts:
        judge = RaterData(0, row.judge, row.judge, [])
        if items.o.format == "raw":
            built = [raw_row(item, row, project.slug, row.judge, [])]
        else:
            scores = None
            if row.mode == "rating" and project.dimension:
                scores = rules.dimension_scores(row.rubric, project.dimension)
            ranking = rules.verdict_ranking(row.mode, row.verdict, row.shown_order, scores)
            if ranking is None:
                continue
            vote = Vote(row, judge, ranking, 1.0, rules.strength_of(row.verdict))
            built = items._judgment_pairs(item, [vote], base)
        for out in built:
            out["annotator_type"] = "model"
            out["judge"] = row.judge
            yield out
