"""Who a report names: admins see raters by name, a stats token by pseudonym only.

A ``stats`` scope grants a project's statistics, not its people: the raters it shows
are named by the same keyed pseudonym an export gives them (``export.rules.pseudonym``),
so a stats report joins a dataset without revealing who wrote it, and the real names
stay with admins (a session or an ``admin``-scoped token). Rater ids stay, because the
drill-down routes take them; they identify nobody without the accounts, which only
admins may list. Every place a report or judgment list carries a person's name is
rewritten here; ``tests/test_stats_identities.py`` scans every report for a name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.export.rules import pseudonym

Rename = Callable[[int], str]


def _people(rows: list[dict[str, Any]], rename: Rename, keys: tuple[str, ...]) -> list[dict]:
    """Return ``rows`` (each with the person's ``id``) with ``keys`` set to the pseudonym."""
    return [row | {k: rename(row["id"]) for k in keys if k in row} for row in rows]


# Lists ordered by name are ordered again by pseudonym: the old order would hint at names.
def _raters(report: dict[str, Any], rename: Rename) -> dict[str, Any]:
    rows = _people(report["raters"], rename, ("username", "name"))
    return report | {"raters": sorted(rows, key=lambda r: (-r["judgments"], r["username"]))}


def _kappa(report: dict[str, Any], rename: Rename) -> dict[str, Any]:
    # Ordered by mean kappa, then id: nothing to hide in the order.
    return report | {"raters": _people(report["raters"], rename, ("name",))}


def _cost(report: dict[str, Any], rename: Rename) -> dict[str, Any]:
    rows = _people(report["per_rater"], rename, ("name",))
    return report | {"per_rater": sorted(rows, key=lambda r: (-(r["spend"] or 0), r["name"]))}


def _active_time(report: dict[str, Any], rename: Rename) -> dict[str, Any]:
    keys = ("username", "name")
    days = _people(report["per_rater_day"], rename, keys)
    raters = _people(report["per_rater"], rename, keys)
    return report | {
        "per_rater_day": sorted(days, key=lambda r: (r["name"], r["date"])),
        "per_rater": sorted(raters, key=lambda r: r["name"]),
    }


# Reports not listed here name nobody (progress, agreement, items, leaderboard).
_REPORTS: dict[str, Callable[[dict[str, Any], Rename], dict[str, Any]]] = {
    "raters": _raters,
    "kappa": _kappa,
    "cost": _cost,
    "active-time": _active_time,
}


def _renamer(secret_key: str) -> Rename:
    return lambda rater_id: pseudonym(secret_key, rater_id)


def pseudonymous_report(report: dict[str, Any], *, secret_key: str) -> dict[str, Any]:
    """Return a copy of a built report that names raters by pseudonym (the cached one stays)."""
    rewrite = _REPORTS.get(report["report"])
    return rewrite(report, _renamer(secret_key)) if rewrite else report


def pseudonymous_rater_judgments(data: dict[str, Any], *, secret_key: str) -> dict[str, Any]:
    """Return a rater's judgment list naming the rater by pseudonym."""
    (rater,) = _people([data["rater"]], _renamer(secret_key), ("username", "name"))
    return data | {"rater": rater}


def pseudonymous_item_judgments(data: dict[str, Any], *, secret_key: str) -> dict[str, Any]:
    """Return an item's judgments naming raters by pseudonym, and adjudicating admins by role."""
    rename = _renamer(secret_key)
    return data | {
        "judgments": [j | {"rater": rename(j["rater_id"])} for j in data["judgments"]],
        "adjudications": [a | {"admin": "admin"} for a in data["adjudications"]],
    }
