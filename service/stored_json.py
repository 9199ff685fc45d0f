"""Read stored JSON strictly: a value no standard reader accepts is named, not raised.

Python's own parser wrote ``NaN`` and ``Infinity`` (and reads ``1e400`` as infinity)
before submissions were checked for them (see ``rubric.NUMBER_LIMIT``); orjson,
PostgreSQL and a trainer's loader refuse all three. Exports and reports skip a row
holding one and name it, so one stored row never takes a whole export or report down.
"""

from __future__ import annotations

from typing import Any

import orjson

UNREADABLE = "not standard JSON (NaN, Infinity or a number past float range)"


class Unreadable:
    """A stored JSON value orjson refuses, with the reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def strict_loads(text: str | bytes) -> Any:
    """Parse JSON text with orjson; return ``Unreadable`` instead of raising."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return Unreadable(f"{UNREADABLE}: {exc}")
