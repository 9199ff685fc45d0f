"""Turn one item's current judgments into the rows of one format, applying every rule.

Order of the rules for each item: item filters (tags, gold, complete overlap),
judgment filters (dates, raters, expertise, gold accuracy), the model filter, then
min-judgments and min-agreement on what is left, then the format's rows.

Complete overlap is decided per unit (``pairs.item_units``, ``pairs.missing``): a
pairwise item of several pair units wants ``overlap`` judgments on each (under adaptive
overlap, each unit's own target: ``_targets``). Formats whose
rows stand for one pair or one judgment (``PER_UNIT``) keep the judgments of the item's
complete units; formats whose rows sum up the whole item need every unit complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from service.export import consensus, response_rows, rewrite_rows, rules
from service.export.options import PAIR_FORMATS, ExportOptions
from service.export.rows import IDENTICAL, RowBuilder, raw_row, shown_hashes
from service.export.source import ItemData, RaterData
from service.export.summary import ExportSummary
from service.export.votes import ProjectInfo, Vote
from service.rating import adaptive, agreement_rule, pairs

# Formats whose rows each stand for one pair unit: complete-only keeps the complete units.
PER_UNIT = (*PAIR_FORMATS, "raw", "sft")


def _targets(item: ItemData, project: ProjectInfo, units: list[Any], judgments: list[Any]) -> Any:
    """Return what each unit of the item wants: the overlap, or its adaptive target.

    An item of one unit wants ``overlap`` plus the raise its slot row holds (kept by
    ``rating.adaptive`` under the row's lock, checked by ``rankroom doctor``). The units
    of a pairwise item of several pairs share the row, so each unit's own target comes
    from the same rule applied to the judgments on it (pairwise verdicts need no rubric).
    """
    if not (project.adaptive_overlap or project.judge_budget) or item.is_gold:
        return project.overlap
    if len(units) == 1:
        return project.overlap + item.raised
    if not project.adaptive_overlap:
        # Budget mode on pair units: each unit's target needs the judges' verdicts per
        # pair, not read here; such a unit is complete at the full overlap.
        return project.overlap
    judged = [
        (j.shown_order or [], agreement_rule.verdict_of("pairwise", j.verdict or {}, {}, None))
        for j in judgments
    ]
    return np.array(
        adaptive.unit_targets(
            units, judged, low=project.overlap, high=project.overlap_max, audit=item.audit
        )
    )


class ItemRows:
    """Apply the export's rules to one item at a time and build its rows."""

    def __init__(
        self,
        *,
        options: ExportOptions,
        projects: dict[int, ProjectInfo],
        raters: dict[int, RaterData],
        weights: dict[int, float],
        excluded: set[int],
        dimensions: list[tuple[str, bool]],
        builder: RowBuilder,
        turn_dimensions: list[tuple[str, bool]] | None = None,
        summary: ExportSummary,
    ) -> None:
        self.o = options
        self.projects = projects
        self.raters = raters
        self.weights = weights
        self.excluded = excluded
        self.dimensions = dimensions
        # Per-turn dimensions (name, numeric), for the ratings format's turn rows.
        self.turn_dimensions = turn_dimensions or []
        self.build = builder
        self.summary = summary
        self.rater_ids = {r.id for r in raters.values() if r.username in options.raters}
        self.tags = set(options.tags)
        self.models = set(options.models)
        self.expertise = set(options.expertise)
        self.judgment_filters = bool(
            options.since or options.until or options.raters or self.expertise or excluded
        )

    def rows(self, item: ItemData, judgments: list[Any]) -> Iterable[dict[str, Any]]:
        """Return the rows this item contributes (none when a filter drops it)."""
        project = self.projects[item.project_id]
        if self.tags and not self.tags.intersection(item.tags):
            self.summary.dropped["items_without_tags"] += 1
            return ()
        if self.o.complete_only:
            judgments = self._complete(item, project, judgments)
            if not judgments:
                self.summary.dropped["items_incomplete"] += 1
                return ()
        votes = self._votes(item, project, judgments)
        if len(votes) < self.o.min_judgments or not votes:
            self.summary.dropped["items_below_min_judgments"] += 1
            return ()
        rankings = [v.ranking for v in votes if v.ranking]
        pairwise = all(v.row.mode == "pairwise" for v in votes)
        agreement = rules.majority_share(rankings) if pairwise else rules.mean_kendall_tau(rankings)
        if self.o.min_agreement is not None and (
            agreement is None or agreement < self.o.min_agreement
        ):
            self.summary.dropped["items_below_min_agreement"] += 1
            return ()
        self._count(project.slug, votes, agreement, pairwise)
        return self._format_rows(item, project, votes, agreement)

    def _complete(self, item: ItemData, project: ProjectInfo, judgments: list[Any]) -> list[Any]:
        """Return the judgments on the item's complete units (none: the item is incomplete)."""
        units = pairs.item_units(
            list(item.responses),
            pairwise=project.mode == "pairwise",
            pair_set=project.pairs,
            reference=project.pair_reference,
            gold=item.is_gold,
        )
        shown = [j.shown_order or [] for j in judgments]
        wanting = pairs.missing(
            pairs.unit_counts(units, shown), _targets(item, project, units, judgments)
        )
        if self.o.format not in PER_UNIT:
            return judgments if not wanting.any() else []
        unit = [pairs.unit_of(order, units) for order in shown]
        kept = [j for j, k in zip(judgments, unit, strict=True) if k is not None and not wanting[k]]
        if kept and len(kept) < len(judgments):
            self.summary.dropped["judgments_on_incomplete_pairs"] += len(judgments) - len(kept)
        return kept

    def _format_rows(
        self, item: ItemData, project: ProjectInfo, votes: list[Vote], agreement: float | None
    ) -> Iterable[dict[str, Any]]:
        base = {
            "project": project.slug,
            "item_id": item.external_id,
            "n_judgments": len(votes),
            "agreement": agreement,
        }
        fmt = self.o.format
        if fmt in PAIR_FORMATS:
            if self.o.aggregation == "consensus":
                yield from self._consensus_pairs(item, votes, base)
            else:
                yield from self._judgment_pairs(item, votes, base)
            if self.o.with_rewrites:
                yield from rewrite_rows.pairs(self, item, votes, base)
        elif fmt == "sft":
            yield from rewrite_rows.sft(self, item, votes, base)
        elif fmt == "kto":
            yield from response_rows.kto(self, item, project, votes, base)
        elif fmt == "ranking":
            yield from self._ranking(item, votes, agreement, base)
        elif fmt == "ratings":
            yield from response_rows.ratings(self, item, votes, base)
        elif fmt == "votes":
            yield from self._vote_rows(item, votes, base)
        else:
            for v in votes:
                yield raw_row(
                    item, v.row, project.slug, v.rater.name, v.rater.expertise, self.build.tools
                )

    def _votes(self, item: ItemData, project: ProjectInfo, judgments: list[Any]) -> list[Vote]:
        keep = self.keep(item) if self.models else None
        raters, weights, dropped = self.raters, self.weights, self.summary.dropped
        filtered = self.judgment_filters
        # Looked up once per item, not once per judgment.
        verdict_ranking, strength_of = rules.verdict_ranking, rules.strength_of
        votes: list[Vote] = []
        for j in judgments:
            if filtered:
                reason = self._filtered(j)
                if reason:
                    dropped[reason] += 1
                    continue
            verdict = j.verdict or {}
            if j.mode == "pairwise":
                ranking = verdict_ranking("pairwise", verdict, j.shown_order or [])
                strength = strength_of(verdict)
            else:
                scores = None
                if j.mode == "rating" and project.dimension:
                    scores = rules.dimension_scores(j.rubric, project.dimension)
                ranking = rules.verdict_ranking(j.mode, verdict, j.shown_order or [], scores)
                strength = None
            if ranking is not None and keep is not None:
                ranking = rules.restrict(ranking, keep)
            if ranking is None and self._needs_ranking(j):
                dropped["judgments_without_preference"] += 1
                continue
            votes.append(
                Vote(j, raters[j.rater_id], ranking, weights.get(j.rater_id, 1.0), strength)
            )
        return votes

    def _needs_ranking(self, j: Any) -> bool:
        if self.o.format in ("raw", "ratings", "sft"):
            return False
        return self.o.format != "kto" or not self.labels_from_ratings(j)

    def labels_from_ratings(self, j: Any) -> bool:
        """Tell whether this judgment's KTO labels come from rubric ratings."""
        return self.o.kto_from == "ratings" or (self.o.kto_from == "auto" and j.mode == "rating")

    def keep(self, item: ItemData) -> set[str]:
        """Return the ids of the item's responses that pass the model filter."""
        if not self.models:
            return set(item.responses)
        return {rid for rid, (model, _) in item.responses.items() if model in self.models}

    def _filtered(self, j: Any) -> str | None:
        o = self.o
        if o.since is not None and j.created_at < o.since:
            return "judgments_before_since"
        if o.until is not None and j.created_at >= o.until:
            return "judgments_after_until"
        if o.raters and j.rater_id not in self.rater_ids:
            return "judgments_by_other_raters"
        if self.expertise and not self.expertise.intersection(self.raters[j.rater_id].expertise):
            return "judgments_without_expertise"
        if j.rater_id in self.excluded:
            return "judgments_by_low_gold_accuracy_raters"
        return None

    def _count(
        self, project: str, votes: list[Vote], agreement: float | None, pairwise: bool
    ) -> None:
        s = self.summary
        s.items += 1
        s.judgments_used += len(votes)
        times = [v.row.created_at for v in votes]
        first, last = min(times), max(times)
        if s.first_judgment is None or first < s.first_judgment:
            s.first_judgment = first
        if s.last_judgment is None or last > s.last_judgment:
            s.last_judgment = last
        versions, raters = s.guideline_versions, s.raters
        for v in votes:
            versions[project, v.row.guideline_version] += 1
            raters.setdefault(v.rater.name, v.rater.expertise)
        if agreement is not None:
            (s.agreement_pairwise if pairwise else s.agreement_ranking).append(agreement)

    def _pair_row(
        self,
        item: ItemData,
        better: str,
        worse: str,
        margin: float | None,
        meta: dict[str, Any],
        tied: bool = False,
    ) -> dict[str, Any]:
        # Takes ownership of ``meta``: every caller passes a fresh dict.
        responses = item.responses
        meta["response_ids"] = [better, worse]
        meta["models"] = [responses[better][0], responses[worse][0]]
        votes = self._share(better, worse, tied) if self.o.with_votes else None
        return self.build.pair(item, better, worse, margin, meta, votes)

    def _share(self, better: str, worse: str, tied: bool) -> tuple[float, int]:
        """Return the share of the pair's voters who ordered it this way (tied: who tied it)."""
        key = (better, worse) if better < worse else (worse, better)
        verdicts = self._verdicts.get(key, {})
        n = sum(verdicts.values())
        agreeing = verdicts.get(None if tied else better, 0)
        return (round(agreeing / n, 4) if n else 0.0), n

    def _judgment_pairs(
        self, item: ItemData, votes: list[Vote], base: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if self.o.with_votes:
            both_bad = self.o.include_both_bad
            self._verdicts = rules.pair_verdicts(
                v.ranking for v in votes if v.ranking and (both_bad or not v.row.both_bad)
            )
        dropped = self.summary.dropped
        identical = self.build.identical
        for v in votes:
            if v.row.both_bad and not self.o.include_both_bad:
                dropped["judgments_both_bad"] += 1
                continue
            for better, worse, tied in rules.ranking_pairs(v.ranking, self.o.pairs):
                if identical(item, better, worse):
                    dropped[IDENTICAL] += 1
                    continue
                meta = {
                    **base,
                    "rater": v.rater.name,
                    "judgment_id": v.row.id,
                    "strength": v.strength,
                    # shown_hashes of this one judgment, without a generator per row
                    "shown_sha256": [v.row.shown_sha256],
                }
                if tied:
                    yield from self._tie(item, better, worse, meta)
                elif self.build.margin and v.strength is None:
                    dropped["pairs_without_strength"] += 1
                else:
                    yield self._pair_row(item, better, worse, v.strength, meta)

    def _tie(
        self, item: ItemData, a: str, b: str, meta: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if self.o.ties == "drop":
            self.summary.dropped["tied_pairs"] += 1
            return
        yield self._pair_row(item, a, b, 0.0, meta, tied=True)
        yield self._pair_row(item, b, a, 0.0, dict(meta), tied=True)

    def _consensus_pairs(
        self, item: ItemData, votes: list[Vote], base: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        counted = [v for v in votes if self.o.include_both_bad or not v.row.both_bad]
        self.summary.dropped["judgments_both_bad"] += len(votes) - len(counted)
        if self.o.with_votes:
            self._verdicts = rules.pair_verdicts(v.ranking for v in counted if v.ranking)
        voted = [(v.ranking, v.weight, v.strength) for v in counted if v.ranking]
        if item.adjudicated:
            # An admin settled this item: their verdict is the consensus.
            voted = [(item.adjudicated, 1.0, None)]
        decisions = consensus.decide(voted, self.o.consensus, self.o.pairs)
        meta = {**base, "rater": None, "judgment_id": None}
        meta["shown_sha256"] = shown_hashes(v.row for v in counted)
        for better, worse, tied, strength in decisions:
            if self.build.identical(item, better, worse):
                self.summary.dropped[IDENTICAL] += 1
                continue
            if tied:
                yield from self._tie(item, better, worse, {**meta, "strength": 0.0})
            elif self.build.margin and strength is None:
                self.summary.dropped["pairs_without_strength"] += 1
            else:
                yield self._pair_row(item, better, worse, strength, {**meta, "strength": strength})

    def _vote_rows(
        self, item: ItemData, votes: list[Vote], base: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """One row per compared pair: every vote on it, their spread, and the consensus."""
        ranked = [v for v in votes if v.ranking]
        voted = [(v.ranking, v.weight, v.strength) for v in ranked]
        if item.adjudicated:
            voted = [(item.adjudicated, 1.0, None)]
        outcome = {
            (b, w) if b < w else (w, b): None if tied else b
            for b, w, tied, _ in consensus.decide(voted, self.o.consensus, "all")
        }
        ballots: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for v in ranked:
            for better, worse, tied in rules.ranking_pairs(v.ranking, "all"):
                a, b = (better, worse) if better < worse else (worse, better)
                choice = "tie" if tied else "a" if better == a else "b"
                ballots.setdefault((a, b), []).append(
                    {
                        "rater": v.rater.name,
                        "judgment_id": v.row.id,
                        "choice": choice,
                        "strength": None if tied else v.strength,
                        "weight": v.weight,
                        "both_bad": bool(v.row.both_bad),
                    }
                )
        verdicts = rules.pair_verdicts(v.ranking for v in ranked)
        meta = {**base, "shown_sha256": shown_hashes(v.row for v in ranked)}
        for (a, b), cast in sorted(ballots.items()):
            spread = verdicts[a, b]
            tally = {
                "votes": cast,
                "distribution": {
                    "a": spread.get(a, 0),
                    "b": spread.get(b, 0),
                    "tie": spread.get(None, 0),
                },
                "n_votes": len(cast),
                "agreement": rules.pair_agreement(spread),
                # The consensus rule's outcome on this pair, as the pair formats' consensus
                # rows have it: a, b, or tie (tie votes lead, or no option leads).
                "consensus": _side(outcome.get((a, b)), a),
            }
            yield self.build.votes(item, a, b, tally, dict(meta))

    def _ranking(
        self,
        item: ItemData,
        votes: list[Vote],
        agreement: float | None,
        base: dict[str, Any],
    ) -> Iterator[dict[str, Any]]:
        voted = [(v.ranking, v.weight, v.strength) for v in votes if v.ranking]
        if item.adjudicated:
            voted = [(item.adjudicated, 1.0, None)]
        rank = rules.ranks(consensus.order(voted, self.o.consensus))
        n_raters = len({v.row.rater_id for v in votes})
        meta = {
            "project": base["project"],
            "item_id": base["item_id"],
            "n_judgments": len(votes),
            "shown_sha256": shown_hashes(v.row for v in votes if v.ranking),
        }
        yield self.build.ranking(item, rank, n_raters, agreement, meta)


def _side(winner: str | None, a: str) -> str:
    return "tie" if winner is None else "a" if winner == a else "b"
