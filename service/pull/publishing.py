"""Publish generated prompts as items: those with two or more good replies, all or nothing.

Publishing goes through ``importing.import_items`` like every other pull. An item
this source published earlier is updated when a retry adds replies, unless raters
have judged it already; an id owned by another import is never touched. Under adaptive
pairing (``pull/pairing.py``) a new item takes two of the replies, an updated one those it had.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.items.importing import import_items
from service.models import Generation, ImportBatch, Item, Judgment, Project, Source
from service.pull import pairing

if TYPE_CHECKING:
    from service.pull.context import PullContext
    from service.pull.prompt_sets import Prompt

CHUNK = 500


@dataclass
class Known:
    """What the database already holds for one slot."""

    id: int
    status: str
    prompt_hash: str


@dataclass
class Published:
    """What publishing did: the batch, item counts, prompts still waiting, items held back."""

    batch_id: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ready: int = 0
    waiting: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "ready": self.ready,
            "waiting": self.waiting,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "held": len(self.notes),
        }


def response_id(generator: dict[str, Any], sample: int) -> str:
    """Name the response a generator's sample becomes: its name, numbered when n > 1."""
    return generator["name"] if generator["n"] == 1 else f"{generator['name']}-{sample}"


def slots_of(generators: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """List (generator, sample) for every reply a prompt should get."""
    return [(g, k) for g in generators for k in range(1, g["n"] + 1)]


def publish(
    ctx: PullContext,
    *,
    source: Source,
    project: Project,
    prompts: list[Prompt],
    known: dict[tuple[str, str, int], Known],
    touched: set[str],
) -> Published:
    """Import every ready prompt that is new, or that this run gave new replies."""
    slots = slots_of(source.config["generators"])
    out = Published()
    ready = []
    for p in prompts:
        good = 0
        for g, k in slots:
            seen = known.get((p.id, g["name"], k))
            good += bool(seen and seen.status == "ok" and seen.prompt_hash == p.hash)
        if good >= 2:
            ready.append(p)
    out.ready, out.waiting = len(ready), len(prompts) - len(ready)
    label = f"{source.name}: generation"
    with Session(ctx.engine) as s:
        existing = _existing(s, project, [p.id for p in ready], label)
        chosen = []
        for p in ready:
            state = existing.get(p.id)
            if state is None:
                chosen.append(p)
            elif p.id not in touched:
                continue
            elif state == "foreign":
                out.notes.append(
                    _note(p, "the id is taken by an item from another import; not published")
                )
            elif state == "judged":
                out.notes.append(
                    _note(
                        p, "the item already has judgments; its new replies are kept, unpublished"
                    )
                )
            else:
                chosen.append(p)
        picks = _pairs(s, project, chosen, existing, known, slots) if chosen else {}
    if not chosen:
        return out
    hasher = hashlib.sha256()
    result = import_items(
        engine=ctx.engine,
        project=project,
        rows=_rows(ctx.engine, source, chosen, slots, hasher, picks),
        source=label,
        kind="generation",
        # Only this source's own, unjudged items reach here (see above); one judged
        # since is refused by the import, and the publication with it.
        update=True,
        checksum=hasher.hexdigest,
        max_chars=ctx.max_chars,
        progress=lambda lines: ctx.report("import", lines, len(chosen)),
    )
    out.batch_id = result.batch_id
    out.created, out.updated, out.unchanged = result.created, result.updated, result.unchanged
    return out


def _pairs(
    s: Session,
    project: Project,
    prompts: list[Prompt],
    existing: dict[str, str],
    known: dict[tuple[str, str, int], Known],
    slots: list[tuple[dict[str, Any], int]],
) -> dict[str, list[str]]:
    """Return the two replies each prompt's item compares under adaptive pairing (none
    listed: the item takes every good reply)."""
    if not pairing.adaptive(project):
        return {}
    offers = {
        p.id: [
            (response_id(g, k), g["model"])
            for g, k in slots
            if (seen := known.get((p.id, g["name"], k)))
            and seen.status == "ok"
            and seen.prompt_hash == p.hash
        ]
        for p in prompts
    }
    ours = [p.id for p in prompts if existing.get(p.id) == "ours"]
    keep = pairing.current_replies(session=s, project=project, external_ids=ours)
    return pairing.choose_replies(session=s, project=project, offers=offers, keep=keep)


def _note(prompt: Prompt, message: str) -> dict[str, Any]:
    return {"line": prompt.line, "prompt_id": prompt.id, "message": message}


def _existing(s: Session, project: Project, ids: list[str], label: str) -> dict[str, str]:
    """Map the ids already used in the project to "ours", "judged" or "foreign"."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = s.execute(
            sa.select(Item.external_id, Item.id, ImportBatch.source)
            .join(ImportBatch, Item.batch_id == ImportBatch.id, isouter=True)
            .where(Item.project_id == project.id, Item.external_id.in_(ids[start : start + CHUNK]))
        ).all()
        judged = set(
            s.execute(
                sa.select(Judgment.item_id)
                .where(Judgment.item_id.in_([item_id for _, item_id, _ in rows]))
                .distinct()
            ).scalars()
        )
        for ext, item_id, batch_source in rows:
            if batch_source != label:
                out[ext] = "foreign"
            else:
                out[ext] = "judged" if item_id in judged else "ours"
    return out


def _rows(
    engine: sa.Engine,
    source: Source,
    prompts: list[Prompt],
    slots: list[tuple[dict[str, Any], int]],
    hasher: Any,
    picks: dict[str, list[str]],
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield the native import row of each prompt, reading its good replies a chunk at a time;
    a prompt in ``picks`` gets only the replies picked."""
    system = source.config.get("system")
    for start in range(0, len(prompts), CHUNK):
        chunk = prompts[start : start + CHUNK]
        # A short read per chunk: no snapshot held open while the import writes.
        with Session(engine) as s:
            good = {
                (g.prompt_id, g.generator, g.sample): g
                for g in s.exec(
                    select(Generation).where(
                        Generation.source_id == source.id,
                        Generation.status == "ok",
                        Generation.prompt_id.in_([p.id for p in chunk]),
                    )
                )
            }
        for p in chunk:
            responses = []
            picked = picks.get(p.id)
            for g, k in slots:
                gen = good.get((p.id, g["name"], k))
                if picked is not None and response_id(g, k) not in picked:
                    continue
                if gen is not None and gen.prompt_hash == p.hash:
                    responses.append(
                        {
                            "id": response_id(g, k),
                            "model": g["model"],
                            "content": gen.content,
                            "metadata": gen.meta,
                        }
                    )
            about = {"source": source.name, **({"system": system} if system else {})}
            row = {
                "id": p.id,
                **{k: p.row[k] for k in ("prompt", "messages") if k in p.row},
                "tags": p.row["tags"],
                "expertise": p.row["expertise"],
                "priority": p.row["priority"],
                "metadata": {**p.row["metadata"], "generation": about},
                "responses": responses,
            }
            hasher.update(json.dumps(row, sort_keys=True).encode())
            yield p.line, row
