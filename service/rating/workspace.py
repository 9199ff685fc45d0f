"""What the rater's workspace shows: their projects with progress, and one item's screen.

The item screen is built from ``assignment.describe()`` (labels only, never response
ids or model names) with every text rendered to sanitised HTML here, on the server.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.models import (
    Assignment,
    Item,
    Judgment,
    LeaseStatus,
    Project,
    ProjectStatus,
    User,
    utcnow,
)
from service.projects import members
from service.rating import assignment, judgments, leases, slots, tool_view
from service.rating.image_html import render_with_images
from service.rating.rendering import plain_excerpt, render_markdown
from service.rubric import Dimension, RubricKind, rubric_of

ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
MODE_NAMES = {"pairwise": "Pairwise", "ranking": "Ranking", "rating": "Rating"}

# The verdict control per pairwise scale: (value sent, label shown, keys that choose it).
VERDICT_OPTIONS: dict[str, list[tuple[Any, str, str]]] = {
    "binary": [("A", "A is better", "1 or A"), ("B", "B is better", "2 or B")],
    "ternary": [
        ("A", "A is better", "1 or A"),
        ("tie", "Tie", "0"),
        ("B", "B is better", "2 or B"),
    ],
    "likert7": [
        (1, "A much better", "1"),
        (2, "A better", "2"),
        (3, "A slightly better", "3"),
        (4, "About the same", "4 or 0"),
        (5, "B slightly better", "5"),
        (6, "B better", "6"),
        (7, "B much better", "7"),
    ],
}

# The keys that pick a rubric scale's points (or a choice's options), in order: the row
# under the digits, so "1" is the verdict and "q" the first point, wherever focus is.
SCALE_KEYS = "qwertyuiop["


@dataclass(frozen=True)
class ProjectProgress:
    """One project on a rater's home page, with that rater's own progress."""

    project: Project
    items: int
    done_today: int
    done_total: int
    median_seconds: float | None
    has_live_item: bool
    # Items this rater could be handed now: open, of their expertise, not yet theirs.
    # Caps and qualification are not counted in: "next item" says those in words.
    available: int = 0

    @property
    def has_work(self) -> bool:
        """Tell whether the rater has something to do here: a live item or one to take."""
        return self.has_live_item or self.available > 0


def rater_projects(
    *, session: Session, rater: User, now: datetime | None = None, count_available: bool = False
) -> list[ProjectProgress]:
    """Return the active projects with the rater's progress: today, in total, time per item.

    "Today" is the current UTC day. ``count_available`` also counts the items waiting for
    the rater in each project (one query per project, so only the home page asks).
    """
    now = now or utcnow()
    midnight = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    active = list(
        session.exec(
            select(Project)
            .where(
                Project.status == ProjectStatus.ACTIVE.value,
                members.may_rate(Project.id, rater.id),
            )
            .order_by(Project.name, Project.id)
        )
    )
    ids = [p.id for p in active]
    if not ids:
        return []
    items = dict(
        session.exec(
            select(Item.project_id, sa.func.count())
            .where(Item.project_id.in_(ids), ~Item.is_gold)
            .group_by(Item.project_id)
        ).all()
    )
    done = {
        pid: (total, today or 0)
        for pid, total, today in session.exec(
            select(
                Assignment.project_id,
                sa.func.count(),
                sa.func.sum(sa.case((Assignment.finished_at >= midnight, 1), else_=0)),
            )
            .where(
                Assignment.rater_id == rater.id,
                Assignment.status == LeaseStatus.SUBMITTED,
                Assignment.project_id.in_(ids),
            )
            .group_by(Assignment.project_id)
        ).all()
    }
    times: dict[int, list[int]] = {}
    for pid, ms in session.exec(
        select(Judgment.project_id, Judgment.active_ms).where(
            Judgment.rater_id == rater.id,
            Judgment.version == 1,
            Judgment.active_ms.is_not(None),
            Judgment.project_id.in_(ids),
        )
    ):
        times.setdefault(pid, []).append(ms)
    live = set(
        session.exec(
            select(Assignment.project_id).where(
                Assignment.rater_id == rater.id,
                Assignment.status == LeaseStatus.ACTIVE,
                Assignment.expires_at > now,
            )
        )
    )
    return [
        ProjectProgress(
            project=p,
            items=items.get(p.id, 0),
            done_today=done.get(p.id, (0, 0))[1],
            done_total=done.get(p.id, (0, 0))[0],
            median_seconds=statistics.median(times[p.id]) / 1000 if p.id in times else None,
            has_live_item=p.id in live,
            available=_available(session, p, rater) if count_available else 0,
        )
        for p in active
    ]


def _available(session: Session, project: Project, rater: User) -> int:
    """Count the items ``slots.take_next`` could hand this rater in this project now."""
    tags = members.standing(session=session, project_id=project.id, rater=rater).expertise
    keys = slots.allowed_keys(session=session, project=project, expertise=tags)
    return slots.waiting(session=session, project=project, rater_id=rater.id, keys=keys)


def submit_and_next(
    *, session: Session, assignment_id: int, rater: User, payload: Any
) -> tuple[Judgment, bool, Project, Assignment | assignment.NoWork]:
    """Record a judgment on a lease, then lease the rater's next item in its project.

    Returns the judgment, whether it was created now, the project and the next lease
    (or why there is none).

    One transaction: the rater's screen moves on in one round trip instead of two. The
    rater's lock is taken before the lease's row lock, the order "next item" takes its
    locks in, so the two paths never wait on each other in opposite orders. A repeated
    client id returns the stored judgment and the live lease its first submission was
    given, so a retry after a lost answer lands on the same next item.
    """
    lease, project = leases.lock_with_project(
        session=session, assignment_id=assignment_id, rater=rater, lock_rater=True
    )
    judgment, created = judgments.record_on(
        session=session, lease=lease, project=project, rater=rater, payload=payload
    )
    work = assignment.next_assignment(session=session, project=project, rater=rater, locked=True)
    return judgment, created, project, work


def _dimension(dim: Dimension) -> dict[str, Any]:
    """Return a rubric dimension with what its control needs spelled out."""
    out = dim.as_dict()
    if dim.kind == RubricKind.LIKERT and dim.points is not None:
        out["points_list"] = [
            {"value": i, "anchor": dim.anchor(i), "key": SCALE_KEYS[i - 1]}
            for i in range(1, dim.points + 1)
        ]
    out["help_html"] = render_markdown(dim.help or "")
    return out


def _turns(messages: list[dict[str, Any]], project_id: int) -> list[dict[str, Any]]:
    """Return turns for the screen, each tool result under its call (rating/tool_view.py)."""
    turns = tool_view.blocks(messages, render=lambda text: render_with_images(text, project_id))
    for t in turns:
        t["role_name"] = ROLE_NAMES.get(t["role"], t["role"].title())
    return turns


def item_screen(*, session: Session, lease: Assignment) -> dict[str, Any]:
    """Return everything the rating screen shows for one lease, text rendered to safe HTML."""
    shown = assignment.describe(session=session, lease=lease)
    project = session.get(Project, lease.project_id)
    rubric = rubric_of(project)
    # With error spans on, responses are shown as the plain text they are stored as:
    # span offsets count its characters, and a selection in rendered markdown could not
    # be mapped back to them exactly (see rating/spans.py).
    marking = bool(project.span_labels)
    responses = [
        {
            "label": r["label"],
            "html": None if marking else render_with_images(r["content"], project.id),
            "text": r["content"] if marking else None,
            "excerpt": plain_excerpt(r["content"]),
            # A tool-using answer's calls and results, shown before its text.
            "steps": _turns(r.get("tool_turns") or [], project.id),
        }
        for r in shown["responses"]
    ]
    thread = _turns(shown["messages"] or [], project.id)
    scale = shown["scale"] if shown["mode"] == "pairwise" else None
    return {
        "id": shown["id"],
        "project": shown["project"],
        "project_name": project.name,
        "mode": shown["mode"],
        "mode_name": MODE_NAMES.get(shown["mode"], shown["mode"]),
        "scale": scale,
        "status": shown["status"],
        "expires_at": shown["expires_at"],
        "lease_seconds_left": leases.seconds_left(lease),
        "lease_minutes": project.lease_minutes,
        "guideline_version": shown["guideline_version"],
        "prompt_html": render_markdown(shown["prompt"]) if shown["prompt"] else None,
        "thread": thread,
        "tools": tool_view.tool_list(shown.get("tools")),
        "responses": responses,
        "labels": [r["label"] for r in responses],
        "span_labels": list(project.span_labels),
        # The model judges' verdicts, pre-filled (judge_display.py); absent by default.
        "judge_suggestion": shown.get("judge_suggestion"),
        # Rewrites (rating/rewrites.py): the editor starts from each response's own text.
        "edit": project.edit,
        "texts": {r["label"]: r["content"] for r in shown["responses"]},
        "response_dims": [_dimension(d) for d in rubric.per_response],
        "item_dims": [_dimension(d) for d in rubric.per_item],
        # What the page's script needs of each field (see client_data).
        "fields": [
            {
                "name": d.name,
                "label": d.label,
                "scope": d.scope.value,
                "kind": d.kind.value,
                "required": d.required,
            }
            for d in (*rubric.per_response, *rubric.per_item)
        ],
        "verdict_options": [
            {"value": v, "label": label, "shortcut": keys}
            for v, label, keys in VERDICT_OPTIONS[scale]
        ]
        if scale
        else [],
    }


def client_data(screen: dict[str, Any]) -> dict[str, Any]:
    """Return the part of an item screen the page's script needs (no rendered HTML)."""
    keys = (
        "id",
        "project",
        "mode",
        "scale",
        "status",
        "lease_minutes",
        "lease_seconds_left",
        "guideline_version",
    )
    data = {k: screen[k] for k in keys}
    data["labels"] = screen["labels"]
    data["excerpts"] = {r["label"]: r["excerpt"] for r in screen["responses"]}
    data["dims"] = screen["fields"]
    if screen["span_labels"]:
        data["span_labels"] = screen["span_labels"]
    if screen["edit"] != "off":
        data["edit"] = screen["edit"]
    if screen["span_labels"] or screen["edit"] != "off":
        # Span offsets count these characters; the rewrite editor starts from them.
        data["texts"] = screen["texts"]
    return data
