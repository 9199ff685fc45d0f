"""The record of how the data was made, as Markdown sections and as plain sentences.

The card (``card.render_card``) appends these sections; croissant.json and the HTML report
use the same sentences, so every document says the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.export.record import JudgeBudget, Record
from service.stats.resampling import Stat


def number(value: float | None, digits: int = 3) -> str:
    """Format a figure for people: ``digits`` decimals, "n/a" when missing."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(stat: Stat | None, digits: int = 3) -> str:
    """Format a statistic with its 95% interval and n, or the reason it is missing."""
    if stat is None:
        return "not measured"
    if stat.value is None:
        return f"n/a ({stat.reason})"
    ci = (
        f" (95% CI {number(stat.low, digits)} to {number(stat.high, digits)})"
        if stat.low is not None and stat.high is not None
        else ""
    )
    return f"{number(stat.value, digits)}{ci}, n = {stat.n}"


def pairs(counts: Mapping[Any, Any]) -> str:
    """Format counts as "key: value, ..." ("none" when empty)."""
    return ", ".join(f"{k}: {v}" for k, v in counts.items()) or "none"


def collection(r: Record) -> str:
    """Say how the judgments were collected, and when."""
    protocol = r.protocol
    return (
        f"{r.coverage.judgments} current judgments ({r.coverage.revisions} revisions) by "
        f"{r.pool.raters} raters in Rankroom project {r.slug!r}, from {r.first_judgment or 'n/a'} "
        f"to {r.last_judgment or 'n/a'}. Task: {protocol.task}; verdicts on a {protocol.scale} scale. "
        f"{r.coverage.items} items ({r.coverage.gold_items} gold items apart)."
    )


def protocol(r: Record) -> str:
    """Say what raters were asked and under which guidelines."""
    versions = "; ".join(
        f"v{g.version} sha256 {g.sha256} saved {g.created_at} ({g.judgments} judgments)"
        for g in r.protocol.guidelines
    )
    rubric = ", ".join(f"{d.name} ({d.kind}, {d.scope})" for d in r.protocol.rubric) or "none"
    return (
        f"{r.protocol.task}. Guideline versions: {versions or 'none'}. Rubric: {rubric}. "
        f"Pairs collected: {r.protocol.pairs}. Qualification: {r.pool.qualification}"
    )


def per_item(r: Record) -> str:
    """Say how many judgments each item was planned to get and got."""
    c = r.coverage
    text = (
        f"Planned overlap: {c.overlap} current judgments per item (per compared pair). "
        f"Achieved: {c.complete} of {c.items} items complete, {c.in_progress} in progress, "
        f"{c.untouched} untouched; judgments per item: {pairs(c.per_item)} "
        f"(mean {number(c.mean_per_item, 2)})."
    )
    return text + (judge_budget(c.judge_budget) if c.judge_budget else "")


def judge_budget(b: JudgeBudget) -> str:
    """State the judges' budget mode: the rule and its audit sample."""
    return (
        f" Budget mode: an item every model judge judged in both orders, all agreeing, "
        f"wanted {b.overlap} rater(s) instead of the planned overlap (or the raters it already "
        f"had), except a uniform random audit sample of {number(b.audit_share * 100, 1)}% of "
        f"items (a seeded draw per item; {b.audit_items} items) that kept the full overlap; "
        f"{b.lowered_items} items were collected at the lower overlap."
    )


def demographics(r: Record) -> str:
    """Describe the rater pool by expertise only: no names, no personal data."""
    p = r.pool
    gold = pairs({k: number(v) for k, v in (p.gold_accuracy or {}).items()})
    return (
        f"{p.raters} raters; by expertise tag: {pairs(p.by_expertise)}. Qualification standing: "
        f"{pairs(p.standing)}. Gold accuracy over the {p.raters_with_gold} raters with gold "
        f"judgments (quantiles): {gold}. No names or personal data are recorded here."
    )


def biases(r: Record) -> str:
    """Say what biases were measured and how large they are."""
    b = r.biases
    return (
        f"Position bias: share of decided first-versus-second verdicts won by the response "
        f"shown first {interval(b.position)} (0.5 is none). Length preference "
        f"(style-controlled coefficient of the length difference; 0 is none): "
        f"{interval(b.length)}; raters' own length coefficients: {pairs(b.raters_length)}."
    )


def limitations(r: Record) -> str:
    """State what the data cannot show."""
    weak = [f.label for f in r.quality.agreement if f.stat.value is not None and f.stat.value < 0.4]
    return (
        f"Judgments come from {r.pool.raters} raters and reflect their expertise and the "
        f"guidelines they read; agreement below 0.4 on: {', '.join(weak) or 'none'}. Items short "
        f"of the planned overlap: {r.coverage.items - r.coverage.complete}. Active time is measured "
        "in the rater's browser and may under- or over-count."
    )


def markdown(r: Record) -> list[str]:
    """Return the record as Markdown sections (level 2 and 3 headings) for the card."""
    lines = [f"## How the data was made: {r.name} (`{r.slug}`)", ""]
    lines += _protocol(r) + _coverage(r) + _pool(r) + _quality(r) + _time(r)
    lines += _machine(r) + _period(r) + _biases(r)
    return lines


def _protocol(r: Record) -> list[str]:
    protocol = r.protocol
    lines = [
        "### Annotation protocol",
        "",
        f"- Task: {protocol.task} (mode {protocol.mode}, scale {protocol.scale}, pairs {protocol.pairs}).",
        "",
        "| Guideline version | SHA-256 of the text | Saved | Current judgments under it |",
        "|---|---|---|---|",
        *(
            f"| {g.version} | `{g.sha256}` | {g.created_at} | {g.judgments} |"
            for g in protocol.guidelines
        ),
        "",
    ]
    if protocol.rubric:
        lines += ["| Rubric dimension | Label | Kind | Scope | Points or options |", *_rule(5)]
        for d in protocol.rubric:
            scale = str(d.points) if d.points else ", ".join(d.options)
            lines.append(f"| {_cell(d.name)} | {_cell(d.label)} | {d.kind} | {d.scope} | {scale} |")
    else:
        lines.append("No rubric: the verdict only.")
    return [*lines, ""]


def _coverage(r: Record) -> list[str]:
    return ["### Annotations per item", "", per_item(r), ""]


def _pool(r: Record) -> list[str]:
    p = r.pool
    gold = p.gold_accuracy
    return [
        "### Rater pool",
        "",
        f"- Raters: {p.raters} (by expertise tag: {pairs(p.by_expertise)}).",
        f"- Qualification: {p.qualification}",
        f"- Qualification standing: {pairs(p.standing)}.",
        f"- Gold accuracy over the {p.raters_with_gold} raters with gold judgments: "
        + (pairs({k: number(v) for k, v in gold.items()}) if gold else "n/a")
        + f"; flagged for low gold accuracy: {p.low_gold_flagged}.",
        "",
    ]


def _quality(r: Record) -> list[str]:
    q = r.quality
    lines = [
        "### Quality assurance",
        "",
        f"- Gold rate (share of items served that are gold checks): {number(q.gold_rate, 2)}; "
        f"current judgments on gold items: {q.gold_judgments}.",
        f"- Adjudications: {q.adjudications} on {q.adjudicated_items} items "
        f"({q.overrode_majority} overruled the raters' majority, {q.promoted_to_gold} promoted "
        "the item to gold).",
        "",
        f"Agreement (95% intervals: percentile bootstrap over items, {q.n_boot} resamples):",
        "",
        "| Scope | Statistic | On | Value | 95% interval | n |",
        *_rule(6),
    ]
    for f in q.agreement:
        s = f.stat
        ci = f"{number(s.low)} to {number(s.high)}" if s.low is not None else "n/a"
        value = number(s.value) if s.value is not None else f"n/a ({s.reason})"
        lines.append(f"| {f.scope} | {f.label} | {_cell(f.on)} | {value} | {ci} | {s.n} |")
    if not q.agreement:
        lines.append("| (none) | | | | | |")
    return [*lines, ""]


def _time(r: Record) -> list[str]:
    t = r.time
    return [
        "### Time and cost",
        "",
        f"- Active hours: {number(t.hours, 2)} over {t.judgments} judgments; median seconds "
        f"per judgment: {number(t.median_seconds, 1)} ({t.imputed_times} without recorded "
        "time, charged the median).",
        f"- Rule: {t.rule}",
        "",
    ]


def _machine(r: Record) -> list[str]:
    m = r.machine
    return [
        "### Machine involvement",
        "",
        f"- Responses by model: {pairs(m.responses_by_model)}.",
        f"- Responses generated by Rankroom's pull sources: {pairs(m.generated)} "
        f"({m.failed_generations} failed generations).",
        f"- Model judges: {m.judge_judgments} judgments; every judgment was submitted through "
        f"an account, by role: {pairs(m.judgments_by_role)}.",
        "",
    ]


def _period(r: Record) -> list[str]:
    return [
        "### Collection period",
        "",
        f"First judgment {r.first_judgment or 'n/a'}, last {r.last_judgment or 'n/a'}.",
        "",
    ]


def _biases(r: Record) -> list[str]:
    return ["### Known biases measured", "", biases(r), ""]


def _rule(columns: int) -> list[str]:
    return ["|" + "---|" * columns]


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split()).replace("|", "\\|")
