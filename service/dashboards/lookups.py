"""Small lookups the reports join to judgments: items, gold answers, models and raters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.dashboards.columns import fetch_columns
from service.dashboards.conditions import gold_filter, item_filters
from service.dashboards.filters import Filters
from service.models import Item, ItemSlots, Project, Response, User


@dataclass(frozen=True)
class ItemColumns:
    """Items as parallel arrays."""

    id: np.ndarray
    external_id: np.ndarray  # object array
    gold: np.ndarray  # bool
    units: np.ndarray  # int: pair units, each wanting ``overlap`` judgments


def load_items(*, session: Session, project: Project, filters: Filters) -> ItemColumns:
    """Load the project's items that pass the tag and gold filters."""
    query = (
        sa.select(Item.id, Item.external_id, Item.is_gold, ItemSlots.units)
        .join(ItemSlots, ItemSlots.item_id == Item.id)
        .where(
            Item.project_id == project.id,
            *gold_filter(Item.is_gold, filters),
            *item_filters(filters),
        )
    )
    _, cols = fetch_columns(session, query.order_by(Item.id), 4)
    return ItemColumns(
        id=np.array(cols[0], dtype=np.int64),
        external_id=np.array(cols[1], dtype=object),
        gold=np.array(cols[2], dtype=bool),
        units=np.array(cols[3], dtype=np.int64),
    )


def load_gold(*, session: Session, project: Project) -> dict[int, dict[str, Any]]:
    """Return the known answer of every gold item, by item id."""
    query = sa.select(Item.id, Item.gold).where(Item.project_id == project.id, Item.is_gold)
    return {item_id: gold for item_id, gold in session.execute(query) if gold}


@dataclass(frozen=True)
class Models:
    """The model behind every response of a project's items, looked up many at a time.

    Models are coded by their place in ``names`` (sorted), so comparing codes compares names.
    """

    names: np.ndarray  # distinct model names, sorted (text); unnamed ones as "response <id>"
    ids: np.ndarray  # distinct response ids, sorted (text)
    keys: np.ndarray  # sorted: item id * len(ids) + the response id's index in ids
    codes: np.ndarray  # the model of each key, as its index in names

    def codes_of(self, items: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """Return the model code of each (item id, response id), -1 where there is no such
        response."""
        out = np.full(len(items), -1, dtype=np.int64)
        given = np.flatnonzero(np.not_equal(responses, None))
        if not len(self.keys) or not len(given):
            return out
        text = responses[given].astype(str)
        code = np.minimum(np.searchsorted(self.ids, text), len(self.ids) - 1)
        key = np.asarray(items)[given].astype(np.int64) * len(self.ids) + code
        at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        found = (self.ids[code] == text) & (self.keys[at] == key)
        out[given[found]] = self.codes[at[found]]
        return out


def load_models(*, session: Session, project: Project) -> Models:
    """Return the model behind every (item id, response id); unnamed ones by response id."""
    query = (
        sa.select(Response.item_id, Response.external_id, Response.model)
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
    )
    _, (item, rid, model) = fetch_columns(session, query, 3)
    ids, id_code = np.unique(np.array(rid, dtype=str), return_inverse=True)
    named = [m or f"response {r}" for r, m in zip(rid, model, strict=True)]
    names, name_code = np.unique(np.array(named, dtype=str), return_inverse=True)
    keys = np.array(item, dtype=np.int64) * max(len(ids), 1) + id_code.reshape(-1)
    order = np.argsort(keys, kind="stable")
    return Models(names, ids, keys[order], name_code.reshape(-1)[order])


@dataclass(frozen=True)
class Rater:
    """A person who judged, as dashboards show them."""

    id: int
    username: str
    name: str
    expertise: list[str]
    hourly_rate: float | None


def load_raters(*, session: Session, ids: np.ndarray | list[int]) -> dict[int, Rater]:
    """Return the users with these ids, by id."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    query = sa.select(
        User.id, User.username, User.display_name, User.expertise, User.hourly_rate
    ).where(User.id.in_(wanted))
    return {
        uid: Rater(uid, username, name or username, list(expertise or []), rate)
        for uid, username, name, expertise, rate in session.execute(query)
    }


def expertise_groups(*, session: Session) -> list[str]:
    """Return every expertise tag any rater has, for the filter menu."""
    query = sa.select(User.expertise).where(User.role == "rater")
    return sorted({e for (tags,) in session.execute(query) for e in tags or []})
