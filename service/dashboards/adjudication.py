"""Adjudication: an admin's final verdict on a disputed item, optionally promoted to gold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service import audit
from service.errors import InvalidInput, NotFound
from service.models import Adjudication, Item, Project, Response, User, utcnow

NOTE_LIMIT = 5000


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput("Invalid adjudication.", errors=[{"field": field, "message": message}])


def project_item(*, session: Session, project: Project, item_id: int) -> Item:
    """Return the project's item with this id or raise NotFound."""
    item = session.get(Item, item_id)
    if item is None or item.project_id != project.id:
        raise NotFound(f"No item {item_id} in project {project.slug!r}.")
    return item


def _check_verdict(verdict: Any, ids: list[str]) -> dict[str, Any]:
    """Return the verdict in the judgments' own shape, or raise naming the field."""
    if not isinstance(verdict, dict) or len(set(verdict) & {"preferred", "ranking"}) != 1:
        raise _invalid(
            "verdict", "give exactly one of preferred (a response id, null: tie) or ranking"
        )
    if "preferred" in verdict:
        preferred = verdict["preferred"]
        if preferred is not None and preferred not in ids:
            raise _invalid("verdict.preferred", f"one of {', '.join(ids)}, or null for a tie")
        return {"preferred": preferred}
    groups = verdict["ranking"]
    flat = (
        [r for g in groups for r in g]
        if isinstance(groups, list) and all(isinstance(g, list) and g for g in groups)
        else None
    )
    if flat is None or sorted(flat) != sorted(ids):
        raise _invalid("verdict.ranking", f"groups best first naming {', '.join(ids)} once each")
    return {"ranking": [list(g) for g in groups]}


def _as_gold(verdict: dict[str, Any]) -> dict[str, Any]:
    if "ranking" in verdict:
        return {"ranking": verdict["ranking"]}
    if verdict["preferred"] is None:
        return {"tie": True}
    return {"preferred": verdict["preferred"]}


def adjudicate(
    *,
    session: Session,
    project: Project,
    item_id: int,
    admin: User,
    verdict: Any,
    note: str = "",
    promote_to_gold: bool = False,
) -> Adjudication:
    """Record an admin's final verdict on an item; with promote_to_gold make it the gold answer."""
    item = project_item(session=session, project=project, item_id=item_id)
    ids = list(
        session.execute(
            sa.select(Response.external_id)
            .where(Response.item_id == item.id)
            .order_by(Response.position)
        ).scalars()
    )
    clean = _check_verdict(verdict, ids)
    if not isinstance(note, str) or len(note) > NOTE_LIMIT:
        raise _invalid("note", f"text up to {NOTE_LIMIT} characters")
    record = Adjudication(
        item_id=item.id,
        admin_id=admin.id,
        verdict=clean,
        note=note.strip(),
        promoted_to_gold=bool(promote_to_gold),
    )
    session.add(record)
    if promote_to_gold:
        item.gold = _as_gold(clean)
        item.is_gold = True
        item.updated_at = utcnow()
        session.add(item)
    audit.record(
        session=session,
        actor_id=admin.id,
        action="item.adjudicate",
        target=f"item:{item.id}",
        details={"project": project.slug, "verdict": clean, "gold": bool(promote_to_gold)},
    )
    return record


def verdict_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Read the adjudication form: ``preferred`` (a response id or "tie"), or ``rank.<id>``.

    Responses given the same rank number share a tie group.
    """
    if "preferred" in form:
        choice = form["preferred"]
        return {"preferred": None if choice == "tie" else choice}
    ranks: dict[int, list[str]] = {}
    for key, value in form.items():
        if key.startswith("rank."):
            try:
                ranks.setdefault(int(value), []).append(key[5:])
            except ValueError:
                raise _invalid(key, "a whole number: 1 for the best") from None
    if not ranks:
        raise _invalid("verdict", "choose the better response, a tie, or rank the responses")
    return {"ranking": [sorted(ranks[r]) for r in sorted(ranks)]}


def adjudications_of(*, session: Session, item_id: int) -> list[dict[str, Any]]:
    """Return the item's adjudications, newest first, with the admin's name."""
    query = (
        sa.select(Adjudication, User.display_name, User.username)
        .join(User, User.id == Adjudication.admin_id)
        .where(Adjudication.item_id == item_id)
        .order_by(Adjudication.id.desc())
    )
    return [
        {
            "id": a.id,
            "admin": name or username,
            "verdict": a.verdict,
            "note": a.note,
            "promoted_to_gold": a.promoted_to_gold,
            "created_at": a.created_at.isoformat(),
        }
        for a, name, username in session.execute(query)
    ]
