"""Which judgments are current: the ones no later version supersedes (revisions form a chain)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from service.models import Judgment


def current_judgments() -> sa.Select:
    """Return a query of judgments no later version supersedes."""
    newer = sa.orm.aliased(Judgment)
    return select(Judgment).where(
        ~sa.exists(select(newer.id).where(newer.supersedes_id == Judgment.id))
    )
