"""Adjudication: an admin's final verdict on a disputed item, optionally promoted to gold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service import audit
from service.dashboards.conditions import current_judgment_filter
from service.dashboards.filters import Filters
from service.errors import InvalidInput, NotFound
from service.models import Adjudication, Item, Judgment, Project, Response, User, utcnow

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


@dataclass(frozen=True)
class Consensus:
    """What the raters' current judgments say together, in the adjudication's own shape.

    ``prefill`` is the verdict the form starts from (the plurality choice, or the ranking
    by mean rank); ``majority`` is the verdict more than half of the judgments give,
    which an adjudication may overrule only with a reason and an explicit confirm.
    """

    prefill: dict[str, Any] | None
    majority: dict[str, Any] | None
    judgments: int


def _normal(verdict: dict[str, Any]) -> tuple[str, Any] | None:
    """Return a comparable key for a judgment's or adjudication's verdict; None if scores only."""
    if "ranking" in verdict:
        return ("ranking", tuple(tuple(sorted(g)) for g in verdict["ranking"] or []))
    if verdict.get("tie"):
        return ("preferred", None)
    if "preferred" in verdict:
        return ("preferred", verdict["preferred"])
    return None


def _as_verdict(key: tuple[str, Any]) -> dict[str, Any]:
    kind, value = key
    return {"ranking": [list(g) for g in value]} if kind == "ranking" else {"preferred": value}


def _mean_rank_order(rankings: list[tuple[tuple[str, ...], ...]], ids: list[str]) -> Any:
    """Group response ids best first by their mean rank (tied groups share the mean)."""
    totals: Counter[str] = Counter()
    for ranking in rankings:
        place = 1.0
        for group in ranking:
            for rid in group:
                totals[rid] += place + (len(group) - 1) / 2
            place += len(group)
    means: dict[float, list[str]] = {}
    for rid in ids:
        means.setdefault(round(totals[rid] / len(rankings), 9), []).append(rid)
    return tuple(tuple(sorted(means[m])) for m in sorted(means))


def consensus_of(verdicts: list[dict[str, Any]], ids: list[str]) -> Consensus:
    """Find the prefill and the strict majority among judgments' verdicts (pure)."""
    keys = [k for k in (_normal(v) for v in verdicts) if k is not None]
    if not keys:
        return Consensus(prefill=None, majority=None, judgments=0)
    counts = Counter(keys).most_common()
    top, n = counts[0]
    majority = _as_verdict(top) if 2 * n > len(keys) else None
    if top[0] == "ranking":
        prefill = _as_verdict(("ranking", _mean_rank_order([k[1] for k in keys], ids)))
    elif len(counts) > 1 and counts[1][1] == n:
        prefill = {"preferred": None}  # an even split between choices reads as a tie
    else:
        prefill = _as_verdict(top)
    return Consensus(prefill=prefill, majority=majority, judgments=len(keys))


def item_consensus(*, session: Session, item: Item, ids: list[str]) -> Consensus:
    """Return the consensus of the item's current judgments."""
    query = sa.select(Judgment.verdict).where(
        Judgment.item_id == item.id, *current_judgment_filter(Filters())
    )
    return consensus_of(list(session.execute(query).scalars()), ids)


def _check_override(
    clean: dict[str, Any], majority: dict[str, Any] | None, note: str, confirm: bool
) -> bool:
    """Return whether ``clean`` overrules the majority; refuse that without reason and confirm."""
    if majority is None or _normal(clean) == _normal(majority):
        return False
    errors = []
    if not note.strip():
        errors.append({"field": "note", "message": "give the reason for overruling the majority"})
    if not confirm:
        errors.append(
            {"field": "confirm_override", "message": "confirm that you overrule the majority"}
        )
    if errors:
        raise InvalidInput(
            "This verdict overrules the raters' majority: give a reason and confirm.",
            errors=errors,
        )
    return True


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
    confirm_override: bool = False,
) -> Adjudication:
    """Record an admin's final verdict on an item; with promote_to_gold make it the gold answer.

    A verdict against the raters' strict majority needs a note (the reason) and
    ``confirm_override``; it is stored as an override.
    """
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
    majority = item_consensus(session=session, item=item, ids=ids).majority
    overrides = _check_override(clean, majority, note, bool(confirm_override))
    record = Adjudication(
        item_id=item.id,
        admin_id=admin.id,
        verdict=clean,
        note=note.strip(),
        promoted_to_gold=bool(promote_to_gold),
        overrode_majority=overrides,
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
        details={
            "project": project.slug,
            "verdict": clean,
            "gold": bool(promote_to_gold),
            "overrode_majority": overrides,
        },
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
            "overrode_majority": a.overrode_majority,
            "created_at": a.created_at.isoformat(),
        }
        for a, name, username in session.execute(query)
    ]
