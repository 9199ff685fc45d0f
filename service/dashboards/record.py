"""Build the record of how a project's data was made, from the dashboards' own reports.

Every figure the dashboards also show is read from the report that shows it
(``build_report`` with no filters), so the dataset card, croissant.json and the HTML report
state the numbers an admin sees on the dashboards; what no report holds (guideline hashes,
generation runs, qualification standing) is read here, once. No person is named.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, select

from service.dashboards import build_report
from service.dashboards.cost import Rates
from service.dashboards.filters import Filters
from service.dashboards.summaries import quantiles
from service.export.record import (
    AgreementFigure,
    Biases,
    Coverage,
    DimensionRecord,
    Exclusion,
    GuidelineRecord,
    JudgeBudget,
    Machine,
    Protocol,
    Quality,
    RaterPool,
    Record,
    TimeCost,
    stat_of,
)
from service.export.summary import ExportSummary
from service.models import (
    Adjudication,
    Generation,
    GuidelineVersion,
    Item,
    ItemSlots,
    JudgeVerdict,
    Judgment,
    Project,
    Response,
    Source,
    User,
)
from service.projects import guideline_versions
from service.rating import agreement_rule, gold
from service.rubric import rubric_of
from service.stats import rankings

# The cost dashboard's time rule (service/dashboards/cost.py), as the card states it.
TIME_RULE = (
    "Active time as the rating screen measured it: the clock runs only while the tab is "
    "visible and the rater gave input (key, pointer, wheel, scroll) in the last 5 minutes. "
    "A judgment's time is the sum over its versions; a judgment with no recorded time is "
    "charged the project's median."
)
TASKS = {
    "pairwise": "Compare two responses to the same prompt and say which is better (or a tie)",
    "ranking": "Rank the responses to the same prompt from best to worst (ties allowed)",
    "rating": "Score each response to a prompt on the rubric",
}


def build_record(
    *, session: Session, project: Project, summary: ExportSummary | None = None
) -> Record:
    """Return the record of how ``project``'s data was made; ``summary``: what an export left out."""
    guideline_versions.ensure_current(session=session, project=project)
    reports = {
        name: build_report(
            session=session,
            project=project,
            name=name,
            filters=Filters(),
            options={"rates": Rates()} if name == "cost" else None,
        )[0]
        for name in ("progress", "agreement", "raters", "items", "cost", "leaderboard")
    }
    raters = [r for r in reports["raters"]["raters"] if r["judgments"] > 0]
    first, last = _period(session, project)
    return Record(
        slug=project.slug,
        name=project.name,
        protocol=_protocol(session, project),
        coverage=_coverage(session, project, reports["progress"]),
        pool=_pool(session, project, raters),
        quality=_quality(session, project, reports),
        time=_time(reports["cost"]),
        machine=_machine(session, project),
        first_judgment=first,
        last_judgment=last,
        biases=_biases(reports["raters"], reports["leaderboard"], raters),
        exclusions=_exclusions(summary),
        unreadable_rows=len(reports["progress"]["skipped_rows"]),
        excluded_raters=summary.excluded_raters if summary is not None else None,
    )


def export_records(*, session: Session, summary: ExportSummary) -> list[Record]:
    """Return the record of every project an export read, in the export's order."""
    return [
        build_record(session=session, project=project, summary=summary)
        for described in summary.projects
        if (
            project := session.exec(
                select(Project).where(Project.slug == described["slug"])
            ).first()
        )
    ]


def _protocol(session: Session, project: Project) -> Protocol:
    rubric = rubric_of(project)
    under = dict(
        session.execute(
            sa.select(Judgment.guideline_version, sa.func.count())
            .where(Judgment.project_id == project.id, _current())
            .group_by(Judgment.guideline_version)
        ).all()
    )
    versions = session.execute(
        sa.select(GuidelineVersion)
        .where(GuidelineVersion.project_id == project.id)
        .order_by(GuidelineVersion.version)
    ).scalars()
    return Protocol(
        mode=project.mode,
        scale=rankings.collected_scale(project.mode, project.scale, rubric),
        pairs=project.pairs,
        task=TASKS.get(project.mode, project.mode),
        guidelines=tuple(
            GuidelineRecord(
                version=v.version,
                sha256=guideline_sha256(v.text),
                created_at=v.created_at.isoformat(),
                judgments=under.get(v.version, 0),
            )
            for v in versions
        ),
        rubric=tuple(
            DimensionRecord(
                name=d.name,
                label=d.label,
                kind=d.kind.value,
                scope=d.scope.value,
                points=d.points,
                options=tuple(o.value for o in d.options),
            )
            for d in rubric.dimensions
        ),
    )


def guideline_sha256(text: str) -> str:
    """Return the SHA-256 of a guideline text's UTF-8 bytes (what the card cites)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _current() -> sa.ColumnElement[bool]:
    """SQL: the judgment is the current version (no later version supersedes it)."""
    later = sa.orm.aliased(Judgment)
    return ~sa.exists().where(later.supersedes_id == Judgment.id)


def _coverage(session: Session, project: Project, progress: dict[str, Any]) -> Coverage:
    counts = session.execute(
        sa.select(Item.id, sa.func.count(Judgment.id))
        .outerjoin(Judgment, (Judgment.item_id == Item.id) & _current())
        .where(Item.project_id == project.id, ~Item.is_gold)
        .group_by(Item.id)
    ).all()
    per_item = Counter(n for _, n in counts)
    items = progress["items"]
    return Coverage(
        overlap=project.overlap,
        items=items["total"],
        gold_items=items["gold"],
        complete=items["complete"],
        in_progress=items["in_progress"],
        untouched=items["untouched"],
        judgments=progress["judgments"]["total"],
        revisions=progress["judgments"]["revisions"],
        per_item=dict(sorted(per_item.items())),
        mean_per_item=float(np.mean([n for _, n in counts])) if counts else None,
        per_day={d["date"]: d["judgments"] for d in progress["per_day"]},
        judge_budget=_judge_budget(session, project),
    )


def _judge_budget(session: Session, project: Project) -> JudgeBudget | None:
    """Return the judges' budget mode as the card states it (None when off)."""
    if not project.judge_budget:
        return None
    rows = session.execute(
        sa.select(ItemSlots.item_id, ItemSlots.raised).where(
            ItemSlots.project_id == project.id, ~ItemSlots.is_gold
        )
    ).all()
    share = project.judge_audit_share
    return JudgeBudget(
        overlap=project.judge_budget_overlap,
        audit_share=share,
        lowered_items=sum(1 for _, raised in rows if raised < 0),
        audit_items=sum(1 for i, _ in rows if agreement_rule.in_audit(project.id, i, share)),
    )


def _pool(session: Session, project: Project, raters: list[dict[str, Any]]) -> RaterPool:
    expertise: Counter[str] = Counter()
    for r in raters:
        for tag in r["expertise"] or ["none"]:
            expertise[tag] += 1
    people = session.execute(sa.select(User).where(User.id.in_([r["id"] for r in raters])))
    standing = Counter(
        gold.qualification(session=session, project=project, rater=u).status
        for u in people.scalars()
    )
    accuracy = np.array(
        [r["gold_accuracy"]["value"] for r in raters if r["gold_accuracy"]["value"] is not None]
    )
    need, threshold = project.qualification_items, project.qualification_threshold
    return RaterPool(
        raters=len(raters),
        by_expertise=dict(sorted(expertise.items())),
        qualification=(
            f"Before regular items, each rater answered {need} gold item(s) and needed a gold "
            f"accuracy of {threshold:.0%} to continue (an admin may let a rater in or keep "
            "them out)."
            if need > 0
            else "No qualification: raters started on regular items (gold items, if any, "
            "are mixed in and scored)."
        ),
        qualification_items=need,
        qualification_threshold=threshold,
        standing=dict(sorted(standing.items())),
        raters_with_gold=int(accuracy.size),
        gold_accuracy=quantiles(accuracy) if accuracy.size else None,
        low_gold_flagged=sum("low gold accuracy" in r["flags"] for r in raters),
    )


def _quality(session: Session, project: Project, reports: dict[str, Any]) -> Quality:
    agreement = reports["agreement"]
    figures = [("overall", s) for s in agreement["overall"]]
    figures += [(d["name"], s) for d in agreement["dimensions"] for s in d["stats"]]
    adjudications = session.execute(
        sa.select(
            sa.func.count(Adjudication.id),
            sa.func.count(sa.distinct(Adjudication.item_id)),
            sa.func.count(sa.case((Adjudication.overrode_majority, 1))),
            sa.func.count(sa.case((Adjudication.promoted_to_gold, 1))),
        )
        .join(Item, Item.id == Adjudication.item_id)
        .where(Item.project_id == project.id)
    ).one()
    gold_judgments = session.execute(
        sa.select(sa.func.count()).where(
            Judgment.project_id == project.id, Judgment.is_gold, _current()
        )
    ).scalar_one()
    return Quality(
        gold_rate=project.gold_rate,
        gold_judgments=int(gold_judgments),
        agreement=tuple(
            AgreementFigure(
                scope=scope, key=s["key"], label=s["label"], on=s["on"], stat=stat_of(s["stat"])
            )
            for scope, s in figures
        ),
        n_boot=agreement["n_boot"],
        adjudications=int(adjudications[0]),
        adjudicated_items=reports["items"]["adjudicated_items"],
        overrode_majority=int(adjudications[2]),
        promoted_to_gold=int(adjudications[3]),
    )


def _time(cost: dict[str, Any]) -> TimeCost:
    minutes = cost["median_minutes"]
    return TimeCost(
        hours=cost["hours"],
        median_seconds=minutes * 60 if minutes is not None else None,
        judgments=cost["judgments"],
        imputed_times=cost["imputed_times"],
        rule=TIME_RULE,
    )


def _machine(session: Session, project: Project) -> Machine:
    models = session.execute(
        sa.select(Response.model, sa.func.count())
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
        .group_by(Response.model)
    ).all()
    runs = session.execute(
        sa.select(Generation.generator, Generation.status, Generation.meta)
        .join(Source, Source.id == Generation.source_id)
        .where(Source.project_id == project.id)
    ).all()
    kept: Counter[str] = Counter()
    for generator, status, meta in runs:
        if status == "ok":
            model = (meta or {}).get("model")
            kept[f"{generator} ({model})" if model and model != generator else generator] += 1
    roles = session.execute(
        sa.select(User.role, sa.func.count())
        .select_from(Judgment)
        .join(User, User.id == Judgment.rater_id)
        .where(Judgment.project_id == project.id, _current())
        .group_by(User.role)
    ).all()
    return Machine(
        responses_by_model=dict(sorted((m or "(unnamed)", n) for m, n in models)),
        generated=dict(sorted(kept.items())),
        failed_generations=sum(1 for _, status, _ in runs if status != "ok"),
        judgments_by_role=dict(sorted(roles)),
        judge_judgments=session.execute(
            sa.select(sa.func.count()).where(JudgeVerdict.project_id == project.id)
        ).scalar_one(),
    )


def _period(session: Session, project: Project) -> tuple[str | None, str | None]:
    first, last = session.execute(
        sa.select(sa.func.min(Judgment.created_at), sa.func.max(Judgment.created_at)).where(
            Judgment.project_id == project.id
        )
    ).one()
    return (first.isoformat() if first else None, last.isoformat() if last else None)


def _biases(
    report: dict[str, Any], leaderboard: dict[str, Any], raters: list[dict[str, Any]]
) -> Biases:
    style = leaderboard.get("style")
    length = (
        next((f for f in style["features"] if f["feature"] == "length"), None) if style else None
    )
    leaning: Counter[str] = Counter()
    for r in raters:
        s = r["length_bias"]
        if s["value"] is None or s["low"] is None or s["high"] is None:
            leaning["not measured"] += 1
        elif s["low"] > 0:
            leaning["prefers longer"] += 1
        elif s["high"] < 0:
            leaning["prefers shorter"] += 1
        else:
            leaning["no clear preference"] += 1
    return Biases(
        position=stat_of(report["position_bias"]),
        length=stat_of(length["coefficient"]) if length else None,
        length_method=style["method"] if style else leaderboard.get("reason") or "",
        raters_length=dict(sorted(leaning.items())),
    )


def _exclusions(summary: ExportSummary | None) -> tuple[Exclusion, ...]:
    if summary is None:
        return ()
    s = summary.as_dict()
    out = [
        Exclusion(reason=k, count=v, why=s["dropped_reasons"].get(k, k.replace("_", " ")))
        for k, v in s["dropped"].items()
    ]
    if summary.skipped:
        out.append(
            Exclusion(
                reason="unreadable_rows",
                count=len(summary.skipped),
                why="stored rows the export could not read or write",
            )
        )
    return tuple(out)
