"""Which two models' replies a generated pairwise item compares, under adaptive pairing.

Generation asks every generator for every prompt. With the project's ``pairing`` set to
"adaptive", publishing then puts only two of the replies in each new item: the pair of
models drawn by ``stats.pairing.choose_pairs`` from the project's judgments so far, so that
the leaderboard's intervals narrow fastest, with ``pairing_uniform_share`` of the draws
uniform. The other replies stay stored (a later pull or a change back to "all" can use them).

What the leaderboard knows is read the way it counts it: current, non-gold pairwise
judgments, by the ``model`` of the two responses shown. Judgments still to come on items
already published (an open item's capacity less its ``taken`` leases) are *planned*
comparisons: they add information without outcomes, so a pull soon after the last one does
not pile onto the pairs the last one chose.

The draws are seeded by the project and the replies on offer, so the same pull over the
same judgments publishes the same pairs.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session

from service.models import Item, ItemSlots, Judgment, Mode, Pairing, Project, Response
from service.rating import slots
from service.rating.current import current_judgments
from service.stats.bradley_terry import Coded, wins_matrix
from service.stats.pairing import choose_pairs, model_pairs

CHUNK = 500

# The replies one prompt offers: (response id, model), in the order the item would list them.
Offer = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Evidence:
    """What the leaderboard knows about ``models``: score matrix and comparisons to come."""

    models: list[str]
    wins: np.ndarray  # wins[i, j]: i's score against j, a tie half each
    planned: np.ndarray  # symmetric: judgments open items still want, per pair of models


def adaptive(project: Project) -> bool:
    """Return whether new generated items compare an adaptively chosen pair of models."""
    return project.mode == Mode.PAIRWISE and project.pairing == Pairing.ADAPTIVE


def choose_replies(
    *,
    session: Session,
    project: Project,
    offers: dict[str, Offer],
    keep: dict[str, frozenset[str]] | None = None,
) -> dict[str, list[str]]:
    """Return, per prompt id, the two response ids its item compares.

    A prompt in ``keep`` whose kept replies are still offered keeps them: an item already
    published (and updated by a retry) neither loses nor gains models. A prompt whose
    replies come from fewer than two models is left out: its item takes every reply.
    """
    keep = keep or {}
    out: dict[str, list[str]] = {}
    todo: dict[str, Offer] = {}
    for prompt_id, offer in offers.items():
        ids = [r for r, _ in offer]
        kept = keep.get(prompt_id)
        if kept and len(kept) >= 2 and kept <= set(ids):
            out[prompt_id] = [r for r in ids if r in kept]
        elif len({m for _, m in offer}) >= 2:
            todo[prompt_id] = offer
    if not todo:
        return out
    models = sorted({m for offer in todo.values() for _, m in offer})
    evidence = model_evidence(session=session, project=project, models=models)
    pairs = model_pairs(len(models))
    index = {m: k for k, m in enumerate(models)}
    available = []
    for offer in todo.values():
        has = np.zeros(len(models), dtype=bool)
        has[[index[m] for _, m in offer]] = True
        available.append(np.array([has[i] and has[j] for i, j in pairs]))
    rng = np.random.default_rng(_seed(project, todo))
    chosen = choose_pairs(
        evidence.wins,
        available,
        rng=rng,
        planned=evidence.planned,
        weight=project.overlap,
        uniform_share=project.pairing_uniform_share,
    )
    for (prompt_id, offer), k in zip(todo.items(), chosen, strict=True):
        picked = set()
        for model in (models[pairs[k][0]], models[pairs[k][1]]):
            replies = [r for r, m in offer if m == model]
            picked.add(replies[int(rng.integers(len(replies)))])
        out[prompt_id] = [r for r, _ in offer if r in picked]
    return out


def model_evidence(*, session: Session, project: Project, models: list[str]) -> Evidence:
    """Return the outcomes among ``models`` so far and the comparisons open items will add."""
    index = {m: k for k, m in enumerate(models)}
    model_of = _response_models(session=session, project=project)
    cur = current_judgments().where(Judgment.project_id == project.id).subquery()
    rows = session.execute(
        sa.select(cur.c.item_id, cur.c.shown_order, cur.c.verdict).where(
            ~cur.c.is_gold, cur.c.mode == Mode.PAIRWISE
        )
    )
    a, b, score = [], [], []
    for item_id, shown, verdict in rows:
        if len(shown) < 2:
            continue
        left = index.get(model_of.get((item_id, shown[0])))
        right = index.get(model_of.get((item_id, shown[1])))
        if left is None or right is None or left == right:
            continue
        preferred = verdict.get("preferred")
        a.append(left)
        b.append(right)
        score.append(1.0 if preferred == shown[0] else 0.0 if preferred == shown[1] else 0.5)
    coded = Coded(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), np.array(score))
    wins = wins_matrix(len(models), coded)
    planned = _planned(session=session, project=project, index=index, model_of=model_of)
    return Evidence(models, wins, planned)


def _planned(
    *,
    session: Session,
    project: Project,
    index: dict[str, int],
    model_of: dict[tuple[int, str], str],
) -> np.ndarray:
    """Spread the judgments each open item still wants evenly over its pairs of models."""
    planned = np.zeros((len(index), len(index)))
    wanted = session.execute(
        sa.select(ItemSlots.item_id, slots.capacity() - ItemSlots.taken).where(
            ItemSlots.project_id == project.id, ItemSlots.open, ~ItemSlots.is_gold
        )
    ).all()
    replies: dict[int, list[int]] = defaultdict(list)
    for (item_id, _), model in model_of.items():
        if model in index:
            replies[item_id].append(index[model])
    for item_id, missing in wanted:
        pairs = [(i, j) for i, j in combinations(replies.get(item_id, []), 2) if i != j]
        for i, j in pairs:
            planned[i, j] += max(missing, 0) / len(pairs)
            planned[j, i] += max(missing, 0) / len(pairs)
    return planned


def _response_models(*, session: Session, project: Project) -> dict[tuple[int, str], str]:
    """Map (item id, response id) to the response's model, for the project's items."""
    rows = session.execute(
        sa.select(Response.item_id, Response.external_id, Response.model)
        .join(Item, Item.id == Response.item_id)
        .where(Item.project_id == project.id)
    )
    return {(item_id, rid): model for item_id, rid, model in rows}


def current_replies(
    *, session: Session, project: Project, external_ids: Sequence[str]
) -> dict[str, frozenset[str]]:
    """Return the response ids each of these items has now (by item external id)."""
    out: dict[str, set[str]] = defaultdict(set)
    ids = list(external_ids)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            sa.select(Item.external_id, Response.external_id)
            .join(Response, Response.item_id == Item.id)
            .where(Item.project_id == project.id, Item.external_id.in_(ids[start : start + CHUNK]))
        )
        for item, rid in rows:
            out[item].add(rid)
    return {k: frozenset(v) for k, v in out.items()}


def _seed(project: Project, offers: dict[str, Offer]) -> int:
    """Seed the draws from the project and the replies on offer: same input, same pairs."""
    digest = hashlib.sha256(f"{project.id}".encode())
    for prompt_id, offer in offers.items():
        digest.update(repr((prompt_id, list(offer))).encode())
    return int.from_bytes(digest.digest()[:8], "big")
