"""The dashboard filters as SQL conditions, shared by every query the reports run."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.dashboards.filters import Filters
from service.dashboards.sql_expressions import json_list_contains
from service.models import Item, Judgment, User


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
