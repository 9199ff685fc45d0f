"""Load assignments (leases) for the dashboards: the few rows needed, or counts in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import fetch_columns
from service.dashboards.conditions import date_filter, gold_filter, item_filters, rater_filter
from service.dashboards.filters import Filters
from service.dashboards.sql_expressions import epoch_seconds
from service.models import Assignment, Item, Project


@dataclass(frozen=True)
class AssignmentColumns:
    """Assignments (leases) as parallel arrays."""

    item: np.ndarray
    rater: np.ndarray
    status: np.ndarray  # object array of status strings
    skip_reason: np.ndarray  # object array, None unless skipped
    created: np.ndarray
    finished: np.ndarray  # NaN while unfinished
    expires: np.ndarray


def _lease_filter(project: Project, filters: Filters) -> list[sa.ColumnElement[bool]]:
    return [
        Assignment.project_id == project.id,
        *date_filter(Assignment.created_at, filters),
        *gold_filter(sa.or_(Assignment.is_gold, Item.is_gold), filters),
        *item_filters(filters),
        *rater_filter(Assignment.rater_id, filters),
    ]


def load_assignments(
    *, session: Session, project: Project, filters: Filters, statuses: Sequence[str]
) -> AssignmentColumns:
    """Load the project's assignments in ``statuses`` that pass the filters (dates: leased)."""
    query = (
        sa.select(
            Assignment.item_id,
            Assignment.rater_id,
            Assignment.status,
            Assignment.skip_reason,
            epoch_seconds(Assignment.created_at),
            epoch_seconds(Assignment.finished_at),
            epoch_seconds(Assignment.expires_at),
        )
        .join(Item, Item.id == Assignment.item_id)
        .where(*_lease_filter(project, filters), Assignment.status.in_(statuses))
    )
    _, cols = fetch_columns(session, query, 7)
    return AssignmentColumns(
        item=np.array(cols[0], dtype=np.int64),
        rater=np.array(cols[1], dtype=np.int64),
        status=np.array(cols[2], dtype=object),
        skip_reason=np.array(cols[3], dtype=object),
        created=np.array(cols[4], dtype=float),
        finished=np.array([np.nan if v is None else v for v in cols[5]], dtype=float),
        expires=np.array(cols[6], dtype=float),
    )


def assignment_counts(
    *, session: Session, project: Project, filters: Filters
) -> dict[tuple[int, str], int]:
    """Count the project's assignments that pass the filters, by (rater id, status)."""
    # Grouping by the bare column lets SQLite walk ix_assignment_rater_status to skip a sort,
    # fetching every row through that index to test its project: four times slower than
    # scanning the project's rows and sorting. "rater_id + 0" is not the indexed column.
    rater = Assignment.rater_id + sa.literal_column("0")
    query = (
        sa.select(rater, Assignment.status, sa.func.count(Assignment.id))
        .join(Item, Item.id == Assignment.item_id)
        .where(*_lease_filter(project, filters))
        .group_by(rater, Assignment.status)
    )
    return {(rater, status): n for rater, status, n in session.execute(query)}
