"""How figures read on the dashboard pages: Jinja filters shared by every dashboard template."""

from __future__ import annotations

from typing import Any

from service.dashboards.judgment_lists import describe_verdict


def num(value: float | None, digits: int = 3) -> str:
    """Format a figure with fixed decimals; an em dash when there is none."""
    return "—" if value is None else f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """Format a share as a percentage."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def points(rows: list[dict[str, Any]], x: str, y: str) -> list[tuple[Any, Any]]:
    """Pair two fields of every row, for the charts."""
    return [(row[x], row[y]) for row in rows]


def bins(histogram: list[dict[str, float]], digits: int = 0) -> list[tuple[str, int]]:
    """Label histogram bins "low–high" for a bar chart."""
    return [(f"{b['low']:.{digits}f}–{b['high']:.{digits}f}", b["count"]) for b in histogram]


def forest_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn report statistics ({label, stat}) into forest-plot rows."""
    return [{"label": e["label"]} | e["stat"] for e in entries]


# Statistics on different scales get their own axes: kappa and alpha are read against
# chance (0) and the common 0.667 bar; Kendall's W is on 0..1 with no chance-corrected
# meaning for that bar; tau runs from -1; raw percent agreement has no chance line at all.
SCALES = (
    ("chance_corrected", "Chance-corrected agreement (κ, α)", 0.0, 1.0, (0.0, 0.667)),
    ("kendall_w", "Kendall's W (concordance, 0 to 1)", 0.0, 1.0, ()),
    ("kendall_tau", "Kendall's tau-b (−1 to 1)", -1.0, 1.0, (0.0,)),
    ("percent_agreement", "Percent agreement (not chance-corrected)", 0.0, 1.0, ()),
)


def _scale_of(key: str) -> str:
    return key if key in ("kendall_w", "kendall_tau", "percent_agreement") else "chance_corrected"


def forest_groups(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Split report statistics into forest plots that share a scale (see SCALES)."""
    groups = []
    for name, title, lo, hi, marks in SCALES:
        rows = [e for e in entries if _scale_of(e["key"]) == name]
        if rows:
            groups.append(
                {
                    "name": name,
                    "title": title,
                    # The caption names the scale; a row keeps its label's first part.
                    "rows": [
                        r | {"label": r["label"].split(" (mean")[0]} for r in forest_rows(rows)
                    ],
                    "lo": lo,
                    "hi": hi,
                    "marks": list(marks),
                }
            )
    return groups


def rating_rows(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn leaderboard rows into forest-plot rows on the Elo-like scale."""
    return [{"label": m["model"], **m["rating"], "reason": m["strength"]["reason"]} for m in models]


def rating_bound(models: list[dict[str, Any]], end: str) -> float:
    """Return the lowest low or highest high rating, padded, for the plot's axis."""
    values = [m["rating"][end] for m in models if m["rating"][end] is not None] or [1000.0]
    return min(values) - 20 if end == "low" else max(values) + 20


def scatter_points(raters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place each rater by median time (x) and agreement with the others (y)."""
    out = []
    for r in raters:
        q, agree = r["time"]["quantiles"], r["loo_agreement"]["value"]
        detail = f"{num(agree)} agreement, {num(q['p50'] if q else None, 0)} s median"
        flags = f"; {', '.join(r['flags'])}" if r["flags"] else ""
        out.append(
            {
                "x": q["p50"] if q else None,
                "y": agree,
                "name": r["name"],
                "flagged": bool(r["flags"]),
                "detail": detail + flags,
            }
        )
    return out


FILTERS = {
    "num": num,
    "pct": pct,
    "points": points,
    "bins": bins,
    "forest_rows": forest_rows,
    "forest_groups": forest_groups,
    "rating_rows": rating_rows,
    "rating_bound": rating_bound,
    "scatter_points": scatter_points,
    "say": describe_verdict,
}
