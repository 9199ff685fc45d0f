"""Seed projects with judgments through the rating domain functions, for dashboard tests.

Raters speak in screen labels (A, B, ...), so a wanted verdict in response ids is translated
through the lease's display order, exactly as the rating screen would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from flask import Flask

from service import db
from service.models import Item, Project, User
from service.rating import assignment, judgments, leases
from service.rating.labels import labels_for

_client_ids = itertools.count(1)

Verdict = Any  # pairwise: "a" | "b" | "tie" | a likert7 scale point; ranking: [["a"], ["b", "c"]]


def _payload(lease: Any, project: Project, verdict: Verdict, extra: dict[str, Any]) -> dict:
    label_of = {rid: label for label, rid in labels_for(lease.shown_order).items()}
    # Simulated raters keep their verdict when asked about a contradiction (a careless
    # one's verdict often disagrees with its scores); the server records that it asked.
    payload: dict[str, Any] = {
        "client_id": f"seed-{next(_client_ids):08d}",
        "contradiction": {"confirmed": True},
        **extra,
    }
    if project.mode == "ranking":
        payload["verdict"] = {"ranking": [[label_of[r] for r in group] for group in verdict]}
    elif project.scale == "likert7":
        # ``verdict`` is (preferred id or None, strength 0..3)
        preferred, strength = verdict
        side = -1 if preferred == lease.shown_order[0] else 1
        payload["verdict"] = {"scale_value": 4 + side * strength if preferred else 4}
    elif project.mode == "pairwise":
        payload["verdict"] = {"choice": label_of.get(verdict, "tie")}
    if "scores" in extra:
        payload.pop("scores")
        payload["rubric"] = {
            **payload.get("rubric", {}),
            "response": {label_of[rid]: dims for rid, dims in extra["scores"].items()},
        }
    return payload


def judge_all(
    app: Flask,
    project: Project,
    rater: User,
    decide: Callable[[str, list[str]], tuple[Verdict, dict[str, Any]] | None],
    *,
    limit: int | None = None,
) -> int:
    """Let ``rater`` take items until none are left (or ``limit`` judgments are made);
    ``decide(item external id, shown order)`` returns (verdict, extra payload fields) or None
    to skip the item. Returns the number of judgments made."""
    made = 0
    with app.app_context():
        while limit is None or made < limit:
            with db.write_session() as s:
                fresh_project = s.get(Project, project.id)
                fresh_rater = s.get(User, rater.id)
                lease = assignment.next_assignment(
                    session=s, project=fresh_project, rater=fresh_rater
                )
                if isinstance(lease, assignment.NoWork):
                    return made
                item = s.get(Item, lease.item_id)
                decision = decide(item.external_id, list(lease.shown_order))
                if decision is None:
                    leases.skip(session=s, lease=lease, reason="expertise")
                    continue
                verdict, extra = decision
                judgments.record_judgment(
                    session=s,
                    assignment_id=lease.id,
                    rater=fresh_rater,
                    payload=_payload(lease, fresh_project, verdict, extra),
                )
                made += 1
    return made


def judge_table(
    app: Flask,
    project: Project,
    raters: list[User],
    table: dict[str, list[Verdict]],
    *,
    seconds: list[float] | None = None,
    scores: dict[str, list[dict[str, dict[str, int]]]] | None = None,
) -> None:
    """Have raters[k] give table[item][k] to every item (None: skip it)."""
    for k, rater in enumerate(raters):

        def decide(ext: str, shown: list[str], k: int = k) -> Any:
            verdict = table[ext][k]
            if verdict is None:
                return None
            extra: dict[str, Any] = {}
            if seconds is not None:
                extra["active_ms"] = int(seconds[k] * 1000)
            if scores is not None:
                extra["scores"] = scores[ext][k]
            return verdict, extra

        judge_all(app, project, rater, decide)


TINY_TABLE = {  # item -> what raters 1, 2, 3 preferred
    "q1": ["a", "a", "a"],
    "q2": ["a", "a", "b"],
    "q3": ["b", "b", "b"],
    "q4": ["tie", "a", "b"],
}
TINY_SCORES = [  # per rater: correctness of a and b on every item
    {"a": {"correctness": 4}, "b": {"correctness": 2}},
    {"a": {"correctness": 5}, "b": {"correctness": 2}},
    {"a": {"correctness": 3}, "b": {"correctness": 3}},
]
TINY_SECONDS = [30.0, 60.0, 6.0]
TINY_RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {"name": "rationale", "label": "Rationale", "scope": "item", "kind": "text"},
]


def tiny_campaign(app: Flask, make: Any) -> dict[str, Any]:
    """Three raters judge four two-response items, as TINY_TABLE says (hand-computable)."""
    from tests.factories import item_row

    project = make.project(
        slug="tiny", name="Tiny", mode="pairwise", scale="ternary", overlap=3, rubric=TINY_RUBRIC
    )
    rows = [item_row(q, tags=["x"] if q in ("q1", "q2") else ["y"]) for q in TINY_TABLE]
    items = make.items(project, rows)
    raters = [
        make.user("rater", username="r1", expertise=["law"]),
        make.user("rater", username="r2", expertise=["law"]),
        make.user("rater", username="r3", expertise=["medicine"]),
    ]
    scores = {q: TINY_SCORES for q in TINY_TABLE}
    judge_table(app, project, raters, TINY_TABLE, seconds=TINY_SECONDS, scores=scores)
    return {"project": project, "raters": raters, "items": {i.external_id: i for i in items}}
