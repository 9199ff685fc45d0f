"""A per-process cache of built reports, keyed by a fingerprint of the data they read.

The fingerprint is one cheap query: counts and newest ids/times of the project's judgments,
assignments, adjudications and items, and of the users (rates, expertise). Any new judgment,
skip, lease, adjudication, import or gold promotion changes it, so a cached report is never
served for data that changed. Entries also expire after ``ttl`` seconds, because some figures
move with the clock alone (a lease expiring, the last 7 days sliding).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from service.models import (
    Adjudication,
    Assignment,
    Item,
    Judge,
    JudgeVerdict,
    Judgment,
    LeaseStatus,
    Project,
    User,
)

T = TypeVar("T")


class ReportCache:
    """A small thread-safe LRU of reports with a time to live."""

    def __init__(self, max_entries: int = 64, ttl: float = 300.0) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> tuple[T, bool]:
        """Return (value, True) from the cache, or build, store and return (value, False)."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.ttl:
                self._entries.move_to_end(key)
                return entry[1], True
        value = build()
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value, False

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()


def cache_in(extensions: MutableMapping[str, Any]) -> ReportCache:
    """Return the report cache kept in an app's extensions, creating it on first use."""
    return extensions.setdefault("rankroom.report_cache", ReportCache())


def data_version(*, session: Session, project: Project) -> tuple[Any, ...]:
    """Return a fingerprint that changes whenever data a report reads changes."""

    def scalar(*columns: Any, where: Any = None, join: Any = None) -> Any:
        query = sa.select(*columns)
        if join is not None:
            query = query.select_from(join)
        if where is not None:
            query = query.where(where)
        return query.scalar_subquery()

    judgments = Judgment.project_id == project.id
    leases = Assignment.project_id == project.id
    items = Item.project_id == project.id
    adjudicated = sa.join(Adjudication, Item, Item.id == Adjudication.item_id)
    row = session.execute(
        sa.select(
            scalar(sa.func.count(Judgment.id), where=judgments),
            scalar(sa.func.max(Judgment.id), where=judgments),
            scalar(sa.func.count(Assignment.id), where=leases),
            scalar(sa.func.max(Assignment.id), where=leases),
            scalar(sa.func.max(Assignment.finished_at), where=leases),
            scalar(
                sa.func.count(Assignment.id),
                where=sa.and_(leases, Assignment.status == LeaseStatus.ACTIVE),
            ),
            scalar(sa.func.count(Adjudication.id), where=items, join=adjudicated),
            scalar(sa.func.max(Adjudication.id), where=items, join=adjudicated),
            scalar(sa.func.count(Item.id), where=items),
            scalar(sa.func.max(Item.updated_at), where=items),
            scalar(sa.func.max(User.id)),
            scalar(sa.func.sum(User.hourly_rate)),
            scalar(sa.func.sum(User.session_epoch)),
            # Model judges' verdicts, and a judge renamed or added (the judges section).
            scalar(sa.func.max(JudgeVerdict.id), where=JudgeVerdict.project_id == project.id),
            scalar(sa.func.max(Judge.updated_at), where=Judge.project_id == project.id),
        )
    ).one()
    settings = (
        project.updated_at,
        project.overlap,
        project.mode,
        project.scale,
        repr(project.rubric),
    )
    return (*row, *settings)
