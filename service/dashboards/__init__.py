"""Admin dashboards: every report by name, cached, as JSON-ready dicts or CSV tables.

The API, the pages and any script call :func:`build_report` and :func:`report_csv`, so a
page shows exactly the figures its JSON and CSV carry.
"""

from __future__ import annotations

import csv
import functools
import gc
import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from threadpoolctl import ThreadpoolController

from service.dashboards.active_time import active_time_report
from service.dashboards.agreement_report import kappa_report
from service.dashboards.cache import ReportCache, data_version
from service.dashboards.cost import cost_report, parse_rates
from service.dashboards.filters import Filters, parse_filters
from service.dashboards.items import LIMIT, items_report
from service.dashboards.judges_report import agreement_with_judges
from service.dashboards.leaderboard import leaderboard_report
from service.dashboards.progress import progress_report
from service.dashboards.raters import raters_report
from service.errors import InvalidInput, NotFound
from service.models import Project

Rows = Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Report:
    """A dashboard report: what builds it, its title, and the tables its CSV offers."""

    build: Callable[..., dict[str, Any]]
    title: str
    tables: dict[str, Rows] = field(default_factory=dict)


def _agreement_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"scope": "overall"} | s for s in report["overall"]]
    if report.get("audit_sample"):
        rows += [{"scope": "audit sample"} | s for s in report["audit_sample"]["overall"]]
    for dim in report["dimensions"]:
        rows += [{"scope": dim["name"]} | s for s in dim["stats"]]
    for judge in (report.get("judges") or {}).get("judges", []):
        scope = f"judge {judge['name']}"
        rows += [{"scope": scope} | s for s in judge["overall"]]
        for dim in judge["dimensions"]:
            rows += [{"scope": f"{scope}: {dim['name']}"} | s for s in dim["stats"]]
    return rows


def _kappa_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    raters = report["raters"]
    return [
        {
            "rater_a": a["name"],
            "rater_a_id": a["id"],
            "rater_b": b["name"],
            "rater_b_id": b["id"],
            "kappa": report["kappa"][i][j],
            "shared_items": report["shared"][i][j],
        }
        for i, a in enumerate(raters)
        for j, b in enumerate(raters)
        if i < j
    ]


def _win_rate_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    names = report["win_rate"]["models"]
    return [
        {"model": a, "opponent": b, "win_rate": cell["value"], "comparisons": cell["n"]}
        for a, row in zip(names, report["win_rate"]["matrix"], strict=True)
        for b, cell in zip(names, row, strict=True)
        if cell is not None
    ]


REPORTS: dict[str, Report] = {
    "progress": Report(progress_report, "Progress", {"per_day": lambda r: r["per_day"]}),
    "agreement": Report(
        agreement_with_judges,
        "Agreement",
        {"statistics": _agreement_rows, "spans": lambda r: r["spans"]},
    ),
    "kappa": Report(kappa_report, "Rater × rater agreement", {"pairs": _kappa_rows}),
    "raters": Report(raters_report, "Raters", {"raters": lambda r: r["raters"]}),
    "items": Report(
        items_report,
        "Items",
        {"disputed": lambda r: r["disputed"], "skipped": lambda r: r["skipped"]},
    ),
    "cost": Report(
        cost_report,
        "Cost",
        {
            "raters": lambda r: r["per_rater"],
            "groups": lambda r: r["per_source"],
            "per_day": lambda r: r["per_day"],
        },
    ),
    "active-time": Report(
        active_time_report,
        "Active time",
        {"per_rater_day": lambda r: r["per_rater_day"], "per_rater": lambda r: r["per_rater"]},
    ),
    "leaderboard": Report(
        leaderboard_report,
        "Model leaderboard",
        {"models": lambda r: r["models"], "win_rate": _win_rate_rows},
    ),
}


def get_report(name: str) -> Report:
    """Return the report called ``name`` or raise NotFound listing the others."""
    if name not in REPORTS:
        raise NotFound(f"No report {name!r}; available: {', '.join(REPORTS)}.")
    return REPORTS[name]


def parse_options(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Read the query parameters one report takes besides the filters."""
    if name == "cost":
        return {"rates": parse_rates(args)}
    if name == "items":
        raw = args.get("limit") or LIMIT
        if not str(raw).isdigit() or not 1 <= int(raw) <= 1000:
            raise InvalidInput(
                "Invalid limit.", errors=[{"field": "limit", "message": "a number from 1 to 1000"}]
            )
        return {"limit": int(raw)}
    return {}


def build_report(
    *,
    session: Session,
    project: Project,
    name: str,
    filters: Filters,
    options: dict[str, Any] | None = None,
    cache: ReportCache | None = None,
) -> tuple[dict[str, Any], bool]:
    """Return (report, served from cache) for one project, its filters and options."""
    spec = get_report(name)
    options = options or {}

    def build() -> dict[str, Any]:
        with _collector_paused(), _blas().limit(limits=1, user_api="blas"):
            body = spec.build(session=session, project=project, filters=filters, **options)
        return {"project": project.slug, "report": name, "filters": filters.as_dict(), **body}

    if cache is None:
        return build(), False
    key = (
        project.id,
        name,
        filters,
        tuple(sorted(options.items())),
        data_version(session=session, project=project),
    )
    return cache.get_or_build(key, build)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a report is built.

    Reading 100,000 rows allocates 100,000 tuples, which sets off hundreds of collections,
    each walking every object the process holds: a fifth of a report's time. Reports build no
    reference cycles worth collecting early; whatever they leave is collected afterwards.
    The switch is process-wide, so a thread that finds it already off leaves it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@functools.cache  # (a bare "cache" here would be the dashboards.cache submodule)
def _blas() -> ThreadpoolController:
    """Return the process's BLAS thread pools, found once.

    Reports multiply small matrices (bootstrap resamples); OpenBLAS would split each product
    over every core and leave its threads spinning afterwards, which on a server whose
    workers already share the cores made reports a fifth slower, never faster. Builds use
    one BLAS thread; results are the same (products are split by rows, not summed
    differently). Like the GC switch this is process-wide, and overlapping builds in threads
    may leave it at one thread, which is what a multi-worker server wants anyway.
    """
    return ThreadpoolController()


def report_csv(report: dict[str, Any], table: str | None = None) -> tuple[str, str]:
    """Return (CSV text, file name) for one table of a built report (default: its first)."""
    spec = get_report(report["report"])
    table = table or next(iter(spec.tables))
    if table not in spec.tables:
        raise InvalidInput(
            "Invalid table.",
            errors=[{"field": "table", "message": f"one of {', '.join(spec.tables)}"}],
        )
    rows = [_flatten(row) for row in spec.tables[table](report)]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), f"{report['project']}-{report['report']}-{table}.csv"


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted columns and lists into "; "-joined text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out[name] = "; ".join(str(v) for v in value)
        else:
            out[name] = "" if value is None else value
    return out


__all__ = [
    "REPORTS",
    "Filters",
    "ReportCache",
    "build_report",
    "get_report",
    "parse_filters",
    "parse_options",
    "report_csv",
]
