"""What an export did: counts, drops, provenance. It feeds the audit log and the dataset card."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Why a count in ``dropped`` is left out, where the key alone does not say it.
REASONS = {
    "pairs_with_identical_responses": (
        "both sides would be the same exported text (after the format's rendering): a row "
        "saying a text is better and worse than itself; kto leaves out both rows of such "
        "a desirable and undesirable pair"
    ),
    "items_incomplete": (
        "complete_only: items short of the project's overlap of current judgments: on every "
        "pair unit for pair formats and raw (which keep an item's complete pairs), on some "
        "unit for the other formats (a ranking or rating item is one unit, a pairwise item "
        "has one per pair it collects)"
    ),
    "judgments_on_incomplete_pairs": (
        "complete_only, pair formats and raw: judgments on a pair of the item below the "
        "project's overlap (or on a pair the project does not collect), while other pairs "
        "of the item are complete and exported"
    ),
    "rewrites_below_min_edit": (
        "rewrites that change fewer words of the original than min_edit_words (words out "
        "plus words in; whitespace is never a word)"
    ),
    "rewrites_of_changed_responses": (
        "rewrites whose original no longer has the text the rater rewrote (its sha256 "
        "differs from the one stored with the rewrite)"
    ),
    "rewrites_of_other_models": "rewrites of a response the model filter leaves out",
}


@dataclass
class ExportSummary:
    """Counts gathered while an export streams; complete once its last chunk is out."""

    format: str
    options: dict[str, Any]
    variant: str = "standard"
    # An exported item uses tools: rows carry them (export/tool_rows.py).
    tools: bool = False
    margin: bool = False
    projects: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    judgments_read: int = 0
    judgments_used: int = 0
    items: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    first_judgment: datetime | None = None
    last_judgment: datetime | None = None
    guideline_versions: Counter[tuple[str, int]] = field(default_factory=Counter)
    raters: dict[str, list[str]] = field(default_factory=dict)
    agreement_pairwise: list[float] = field(default_factory=list)
    agreement_ranking: list[float] = field(default_factory=list)
    excluded_raters: int = 0
    # Rows left out because they could not be read or written: which, where, why.
    skipped: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False
    # Rewrite rows written (sft, or pair formats with --with-rewrites).
    rewrites: int = 0

    @property
    def total_rows(self) -> int:
        """Rows written across every part."""
        return sum(self.rows.values())

    def skip(self, *, item: str, judgment_id: int | None, field: str | None, reason: str) -> None:
        """Record a stored row the export could not use (it goes on without it)."""
        self.skipped.append(
            {"judgment_id": judgment_id, "item_id": item, "field": field, "reason": reason}
        )

    def raters_by_expertise(self) -> dict[str, int]:
        """Count contributing raters per expertise tag ("none" for raters without one)."""
        counts: Counter[str] = Counter()
        for expertise in self.raters.values():
            for tag in expertise or ["none"]:
                counts[tag] += 1
        return dict(sorted(counts.items()))

    def agreement(self) -> dict[str, Any]:
        """Mean item agreement per kind, with the number of items it covers."""
        out: dict[str, Any] = {}
        for kind, values in (
            ("pairwise_majority_share", self.agreement_pairwise),
            ("ranking_kendall_tau_b", self.agreement_ranking),
        ):
            if values:
                out[kind] = {"mean": round(sum(values) / len(values), 4), "items": len(values)}
        return out

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return {
            "format": self.format,
            "variant": self.variant,
            "margin": self.margin,
            "rows": dict(self.rows),
            "sha256": dict(self.sha256),
            "items": self.items,
            "judgments_read": self.judgments_read,
            "judgments_used": self.judgments_used,
            "raters": len(self.raters),
            "raters_by_expertise": self.raters_by_expertise(),
            "excluded_raters": self.excluded_raters,
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_reasons": {k: REASONS[k] for k in sorted(self.dropped) if k in REASONS},
            "skipped_rows": list(self.skipped),
            "agreement": self.agreement(),
            "collection_window": [
                self.first_judgment.isoformat() if self.first_judgment else None,
                self.last_judgment.isoformat() if self.last_judgment else None,
            ],
            "guideline_versions": {
                f"{slug} v{version}": n
                for (slug, version), n in sorted(self.guideline_versions.items())
            },
            "projects": self.projects,
            "options": self.options,
            "complete": self.complete,
            "rewrites": self.rewrites,
        }
