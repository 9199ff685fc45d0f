"""Model judges spending expert time: when judges settle a unit, when they contest it.

The rule, in one place. A unit's judge verdicts (one per judge and order shown, reduced
by ``agreement_rule.verdict_of`` so strengths do not split them) are:

- *settled* when every active judge judged the unit in an order and in its reverse,
  and all those verdicts are the same: the judges agree with each other and none flips
  with the order (``settled``);
- *contested* when two verdicts differ: judges disagree with each other, or one flips
  with the order (``contested``).

Budget mode (``project.judge_budget``): a settled unit of an item outside the audit
sample wants ``judge_budget_overlap`` raters instead of ``overlap``, or as many as it
already has (``budget_target``): raters who took it before the judges settled it keep
their slots. The audit sample is the adaptive one's seeded uniform draw
(``agreement_rule.in_audit``) at ``judge_audit_share``: its items keep the full overlap,
so the judges' reliability is measured on items chosen regardless of what they said.

Triage (``project.judge_triage``): a contested item's slot priority is raised by
``TRIAGE_RAISE`` above its own, so it is handed out before every uncontested item.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from service.rating.agreement_rule import Verdict

# Far above any priority an import sets in practice, and far below the integer limit.
TRIAGE_RAISE = 1_000_000

# (judge id, order shown, verdict) of one judge verdict on a unit
JudgeVote = tuple[int, tuple[str, ...], Verdict]


def settled(votes: Sequence[JudgeVote], judges: Collection[int]) -> bool:
    """Tell whether every judge judged the unit in both orders and all verdicts agree."""
    if not judges or contested(votes):
        return False
    orders: dict[int, set[tuple[str, ...]]] = {}
    for judge, shown, _ in votes:
        orders.setdefault(judge, set()).add(shown)
    return all(
        any(order[::-1] in orders.get(judge, set()) for order in orders.get(judge, set()))
        for judge in judges
    )


def contested(votes: Sequence[JudgeVote]) -> bool:
    """Tell whether two verdicts on the unit differ (judges disagree, or one flips)."""
    return len({verdict for _, _, verdict in votes}) > 1


def budget_target(judged: int, *, low: int, overlap: int) -> int:
    """Return the raters a settled unit wants: ``low``, or the ``judged`` it already has."""
    return min(overlap, max(low, judged))
