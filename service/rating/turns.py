"""Per-turn ratings: rubric values given for each assistant turn of an item's conversation.

An item's ``messages`` hold the conversation before its responses. A ``turn`` rubric
dimension (``rubric.RubricScope.TURN``) is answered once for every assistant message in
it; the turn's index is its position among the assistant messages, counted from 0 (the
first assistant reply is turn 0, whatever system or user messages come before it). The
responses themselves are rated by ``response`` dimensions, as in any project.

A judgment stores the values as ``rubric["turn"] = {"0": {dim: value}, ...}``, keys as
strings because JSON object keys are. Only turns given a value appear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.models import Item
from service.rubric import Dimension, InvalidValue, is_blank

ASSISTANT = "assistant"


def assistant_turns(messages: Sequence[Mapping[str, Any]] | None) -> list[int]:
    """Return the positions in ``messages`` of the assistant turns, in order (turn i at [i])."""
    return [k for k, m in enumerate(messages or ()) if m.get("role") == ASSISTANT]


def turn_count(*, session: Session, item_id: int) -> int:
    """Return how many assistant turns the item's conversation holds (0 for a plain prompt)."""
    messages = session.execute(sa.select(Item.messages).where(Item.id == item_id)).scalar()
    return len(assistant_turns(messages))


def most_turns(*, session: Session, project_id: int) -> int:
    """Return the most assistant turns any of the project's conversations holds.

    Read from the items' messages: only statistics of projects with turn dimensions ask.
    """
    query = sa.select(Item.messages).where(
        Item.project_id == project_id, Item.messages.is_not(None)
    )
    return max((len(assistant_turns(m)) for m in session.execute(query).scalars()), default=0)


def check_turns(
    dims: Sequence[Dimension], given: Mapping[str, Any], turns: int
) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """Check per-turn values against the turn dimensions and the number of assistant turns.

    Return the values as stored (only turns with a value) and the errors, each naming its
    field ``rubric.turn.<index>.<dimension>``; a required dimension needs a value on every
    turn.
    """
    errors: list[dict[str, str]] = []
    indexes = {str(i) for i in range(turns)}
    for key in sorted(set(given) - indexes):
        where = f"turns 0 to {turns - 1}" if turns else "no assistant turns"
        errors.append(
            {
                "field": f"rubric.turn.{key}",
                "message": f"no such turn: this conversation has {where}",
            }
        )
    names = {d.name for d in dims}
    out: dict[str, dict[str, Any]] = {}
    for i in range(turns):
        values = given.get(str(i)) or {}
        for name in sorted(set(values) - names):
            errors.append(
                {
                    "field": f"rubric.turn.{i}.{name}",
                    "message": "not a per-turn field of this project",
                }
            )
        checked = {}
        for dim in dims:
            field = f"rubric.turn.{i}.{dim.name}"
            if is_blank(values.get(dim.name)):
                if dim.required:
                    errors.append(
                        {
                            "field": field,
                            "message": f"{dim.label} is required for assistant turn {i + 1}",
                        }
                    )
                continue
            try:
                checked[dim.name] = dim.check(values[dim.name])
            except InvalidValue as exc:
                errors.append({"field": field, "message": str(exc)})
        if checked:
            out[str(i)] = checked
    return out, errors
