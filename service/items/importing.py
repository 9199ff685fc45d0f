"""Import prompt/response sets: validate every line, then publish all or nothing.

One domain function, ``import_items``, serves the CLI, the JSON API and the pull
sources. Lines stream through in chunks, so memory stays flat whatever the size, and
the writes come in short transactions, so raters never wait for an import:

1. Stage: lines are parsed and validated outside any transaction; each chunk is
   checked against the project's items (a read) and its good lines are written to
   ``import_stage`` (a short write). Nothing is visible yet.
2. Commit: if any line is bad (and not skip-invalid), the staged lines are dropped
   and nothing happened. Otherwise one transaction applies the updates of existing
   items (all or nothing, as before) and marks the batch PUBLISHING: the point of
   no return.
3. Publish: the new items move from ``import_stage`` into ``item`` a few hundred per
   transaction. A batch that got this far is valid, so a crash is rolled forward:
   the next import into the project, the pull worker or ``rankroom serve`` finishes it
   (``recover``); a batch that crashed while staging is discarded.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session

from service import db
from service.errors import InvalidInput
from service.images import ImageStore
from service.items import import_batches, tool_calls
from service.items.images import ImageBatch
from service.items.images import link as link_images
from service.items.item_shapes import to_native
from service.json_depth import json_problem, loads, too_deep
from service.models import (
    BatchState,
    ImportBatch,
    ImportStage,
    Item,
    JudgeVerdict,
    Judgment,
    PairSet,
    Project,
    Response,
    utcnow,
)
from service.rating import adaptive, leases, slots
from service.schemas import ItemRowSchema, flatten_messages

CHUNK = 1000
# Lines staged, and new items published, per write transaction: each holds SQLite's
# write lock for about 10 ms, short enough that a rater's submission queued behind
# one is not noticeably slower (1000 at a time held it up to 130 ms).
STAGE_CHUNK = 250
PUBLISH_CHUNK = 100
# Real rows nest a few levels (messages, metadata); far deeper is hostile.
MAX_DEPTH = 64
# Core tables, not ORM entities: bulk inserts skip the ORM's per-row bookkeeping.
_ITEMS = Item.__table__
_RESPONSES = Response.__table__
MAX_REPORTED_ERRORS = 1000
NO_ITEMS = "No items: the input is empty (no lines, or an empty JSON array); nothing was imported."


@dataclass(frozen=True)
class InputLimits:
    """The longest line and the most (decompressed) bytes an import reads.

    Checked while reading, so a hostile file (a gzip bomb of one 2 GiB line) is refused
    after reading at most one line's limit, in bounded memory.
    """

    max_line_bytes: int = 16 * 2**20
    max_bytes: int = 4 * 2**30

    @classmethod
    def from_config(cls, config: Any) -> InputLimits:
        """Read the IMPORT_MAX_* settings."""
        return cls(int(config["IMPORT_MAX_LINE_BYTES"]), int(config["IMPORT_MAX_BYTES"]))


@dataclass(frozen=True)
class RowError:
    """Why one input line was refused."""

    line: int
    field: str
    message: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "field": self.field, "message": self.message}
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass
class ImportResult:
    """What an import did: counts, refused lines, and its batch (when anything was kept)."""

    batch_id: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    lines: int = 0
    checksum: str = ""

    def fail(self, errors: list[RowError]) -> None:
        """Count refused lines; keep the first MAX_REPORTED_ERRORS to report."""
        self.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(errors[: max(room, 0)])

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "error_count": self.error_count,
            "errors": [e.as_dict() for e in self.errors],
            "lines": self.lines,
            "checksum": self.checksum,
        }


@dataclass(frozen=True)
class _Row:
    line: int
    data: dict[str, Any]
    content_hash: str


def read_jsonl(
    stream: IO[bytes], hasher: Any = None, limits: InputLimits = InputLimits()
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, parsed object or error) for each non-blank line of JSON Lines.

    Raises InvalidInput, naming the line, when a line or the whole input is over
    ``limits``: the batch cannot be read, so nothing of it is imported.
    """
    total, number = 0, 0
    while raw := stream.readline(limits.max_line_bytes + 1):
        number += 1
        total += len(raw)
        if len(raw) > limits.max_line_bytes:
            _too_large(number, f"line {number} is longer than {limits.max_line_bytes} bytes")
        if total > limits.max_bytes:
            _too_large(
                number, f"the input is larger than {limits.max_bytes} bytes at line {number}"
            )
        if hasher is not None:
            hasher.update(raw)
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]  # as Windows editors save UTF-8
        if raw.strip():
            yield number, _parse_line(number, raw)


def _too_large(number: int, why: str) -> None:
    raise InvalidInput(
        f"{why}; nothing was imported.",
        errors=[{"line": number, "field": "", "message": why}],
    )


def _parse_line(number: int, raw: bytes) -> dict[str, Any] | RowError:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RowError(number, "", f"not valid UTF-8 (byte {exc.start})")
    if too_deep(text, MAX_DEPTH):
        return RowError(number, "", f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
    try:
        obj = loads(text)
    except json.JSONDecodeError as exc:
        return RowError(number, "", f"invalid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return RowError(number, "", "invalid JSON: nested too deeply")
    return _checked(number, obj)


def _checked(number: int, obj: Any) -> dict[str, Any] | RowError:
    if not isinstance(obj, dict):
        return RowError(number, "", f"expected a JSON object, got {type(obj).__name__}")
    problem = json_problem(obj, MAX_DEPTH, numbers=True)
    if problem is not None:
        rid = obj.get("id") if isinstance(obj.get("id"), str) else None
        return RowError(number, problem.field, problem.message, rid)
    return obj


def read_body(
    body: bytes, limits: InputLimits = InputLimits()
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Parse an API body: a JSON array (positions count as lines) or JSON Lines."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    head = body.lstrip()[:1]
    if head != b"[":
        yield from read_jsonl(io.BytesIO(body), limits=limits)
        return
    if too_deep(body, MAX_DEPTH + 1):
        yield 1, RowError(1, "", f"invalid JSON array: nested deeper than {MAX_DEPTH} levels")
        return
    try:
        rows = loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        yield 1, RowError(1, "", f"invalid JSON array: {exc}")
        return
    except RecursionError:
        yield 1, RowError(1, "", "invalid JSON array: nested too deeply")
        return
    for number, obj in enumerate(rows, start=1):
        yield number, _checked(number, obj)


def validate_row(
    line: int, obj: dict[str, Any], schema: ItemRowSchema, images: ImageBatch
) -> _Row | list[RowError]:
    """Normalise and validate one parsed object; return the row or its errors."""
    rid = obj.get("id") if isinstance(obj.get("id"), str) else None
    try:
        obj, found = images.take(obj)
        data = schema.load(to_native(obj))
        tool_calls.check_item(data)
    except ValidationError as exc:
        messages = exc.messages
        if not isinstance(messages, dict):
            messages = {exc.field_name: messages}
        return [RowError(line, f, m, rid) for f, m in flatten_messages(messages)]
    images.keep(found)
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _Row(line, data, hashlib.sha256(canonical.encode()).hexdigest())


def import_items(
    *,
    engine: sa.Engine,
    project: Project,
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    source: str = "",
    kind: str = "file",
    user_id: int | None = None,
    skip_invalid: bool = False,
    update: bool = False,
    checksum: Callable[[], str] | None = None,
    max_chars: int = 200_000,
    progress: Callable[[int], None] | None = None,
    images: ImageStore | None = None,
    image_dir: Path | None = None,
) -> ImportResult:
    """Validate ``rows`` and publish them into ``project`` as one batch.

    All or nothing by default: any bad line raises InvalidInput listing every bad
    line, and nothing is imported. With ``skip_invalid`` the good lines are kept
    and the bad ones reported on the batch. Re-importing an unchanged item is a
    no-op; a changed one is an error unless ``update``, and an item that already has
    judgments is never altered. An update ends the leases raters hold on the item
    (``_replace_content``). Runs its own short transactions: call it outside one.

    Images in content parts are kept in ``images`` (refused when None); file names
    in them are relative to ``image_dir`` (see ``items/images.py``).
    """
    batch_id = _open(engine, project, source=source, kind=kind, user_id=user_id)
    assert project.id is not None
    pictures = ImageBatch(images, project.id, image_dir)
    try:
        pictures.sweep(engine)
        result = _stage_all(
            engine, project, batch_id, rows, update=update, skip_invalid=skip_invalid,
            max_chars=max_chars, progress=progress, images=pictures,
        )  # fmt: skip
        result.checksum = checksum() if checksum else ""
        _refuse_bad_lines(result, skip_invalid)
        _commit(engine, batch_id, result, update=update, skip_invalid=skip_invalid, images=pictures)
    except BaseException:
        import_batches.discard(engine, batch_id)
        pictures.tidy(engine)
        raise
    pictures.tidy(engine)  # the files of lines skip-invalid left out
    publish(engine, batch_id)
    with Session(engine) as s:
        batch = s.get(ImportBatch, batch_id)
        assert batch is not None
        result.created, result.unchanged = batch.created_count, batch.unchanged_count
        result.error_count = batch.error_count
        result.errors = [RowError(**e) for e in batch.errors]
    return result


def _open(engine: sa.Engine, project: Project, **values: Any) -> int:
    """Open this import's batch, first finishing or clearing one a crashed import left."""
    values = {
        "project_id": project.id,
        "kind": values["kind"],
        "source": values["source"][:1000],
        "created_by": values["user_id"],
    }
    for _ in range(3):
        opened = import_batches.open_batch(engine, values)
        if isinstance(opened, int):
            return opened
        if opened.state == BatchState.PUBLISHING.value:
            publish(engine, opened.id)  # type: ignore[arg-type]
        elif import_batches.is_abandoned(opened):
            import_batches.discard(engine, opened.id)  # type: ignore[arg-type]
        else:
            raise import_batches.busy(opened)
    raise import_batches.busy(opened)


def _stage_all(
    engine: sa.Engine,
    project: Project,
    batch_id: int,
    rows: Iterable[tuple[int, dict[str, Any] | RowError]],
    *,
    update: bool,
    skip_invalid: bool,
    max_chars: int,
    progress: Callable[[int], None] | None,
    images: ImageBatch,
) -> ImportResult:
    """Validate every line and stage the good ones a chunk at a time; count the rest."""
    schema = ItemRowSchema(max_chars=max_chars)
    result = ImportResult(batch_id=batch_id)
    seen: set[str] = set()
    chunk: list[_Row] = []

    def flush() -> None:
        # Once a line is bad the batch will be refused: only look for more bad lines.
        if chunk and (skip_invalid or not result.error_count):
            result.fail(_stage_chunk(engine, project, batch_id, chunk, update, result))
        chunk.clear()
        if progress:
            progress(result.lines)

    for line, obj in rows:
        result.lines += 1
        if isinstance(obj, RowError):
            result.fail([obj])
            continue
        row = validate_row(line, obj, schema, images)
        if isinstance(row, list):
            result.fail(row)
            continue
        refused = _check_reference(project, row)
        if refused:
            result.fail([refused])
            continue
        ext = row.data["id"]
        if ext in seen:
            result.fail([RowError(line, "id", f"duplicate id {ext!r} earlier in this batch", ext)])
            continue
        seen.add(ext)
        chunk.append(row)
        if len(chunk) >= CHUNK:
            flush()
    if not result.lines:
        # An empty file or body is a mistake upstream, not an empty batch to keep.
        raise InvalidInput(NO_ITEMS)
    flush()
    return result


def _stage_chunk(
    engine: sa.Engine,
    project: Project,
    batch_id: int,
    chunk: list[_Row],
    update: bool,
    result: ImportResult,
) -> list[RowError]:
    """Check a chunk against the project's items (a read), then stage what it would write.

    The check is repeated when the lines are written; here it finds bad lines before
    anything is visible, and skips unchanged items.
    """
    with Session(engine) as s:
        plan = _plan_chunk(s, project, chunk, update)
    result.unchanged += plan.unchanged
    staged = [
        {"line": r.line, "content_hash": r.content_hash, "data": r.data, "update": u}
        for r, u in [(r, False) for r in plan.fresh] + [(r, True) for _, r in plan.changed]
    ]
    for start in range(0, len(staged), STAGE_CHUNK):
        import_batches.stage(engine, batch_id, staged[start : start + STAGE_CHUNK])
    return plan.errors


def _refuse_bad_lines(result: ImportResult, skip_invalid: bool) -> None:
    if result.error_count and not skip_invalid:
        raise InvalidInput(
            f"{result.error_count} bad line(s); nothing was imported. "
            "Fix them, or import the good lines with skip-invalid.",
            errors=[e.as_dict() for e in result.errors],
        )


def _commit(
    engine: sa.Engine,
    batch_id: int,
    result: ImportResult,
    *,
    update: bool,
    skip_invalid: bool,
    images: ImageBatch,
) -> None:
    """Apply the batch's updates and make it PUBLISHING, in one transaction.

    Updates are all or nothing as before: each is checked again here (an item may
    have been judged since it was staged) and any refusal refuses the batch.
    """
    with db.write_session(engine) as s:
        batch = import_batches.lock(s, batch_id)
        if batch is None or batch.state != BatchState.STAGING.value:
            raise InvalidInput(f"Import batch {batch_id} was discarded as abandoned; run it again.")
        project = s.get(Project, batch.project_id)
        assert project is not None
        last = 0
        while staged := _staged(s, batch_id, update=True, after=last, limit=CHUNK):
            result.fail(_write_chunk(s, project, batch, [r for _, r in staged], update, result))
            last = staged[-1][0]
        _refuse_bad_lines(result, skip_invalid)
        images.commit(s)
        s.execute(
            sa.delete(ImportStage).where(ImportStage.batch_id == batch_id, ImportStage.update)
        )
        batch.state = BatchState.PUBLISHING.value
        batch.checksum = result.checksum
        batch.updated_count = result.updated
        batch.unchanged_count = result.unchanged
        batch.error_count = result.error_count
        batch.errors = [e.as_dict() for e in result.errors]
        batch.heartbeat_at = utcnow()
        s.add(batch)


def _staged(
    s: Session, batch_id: int, *, update: bool, after: int = 0, limit: int
) -> list[tuple[int, _Row]]:
    """Read staged lines of a batch in order: (stage id, row)."""
    query = (
        sa.select(ImportStage.id, ImportStage.line, ImportStage.data, ImportStage.content_hash)
        .where(
            ImportStage.batch_id == batch_id,
            ImportStage.update == update,
            ImportStage.id > after,
        )
        .order_by(ImportStage.id)
        .limit(limit)
    )
    return [(i, _Row(line, data, digest)) for i, line, data, digest in s.execute(query)]


def publish(engine: sa.Engine, batch_id: int) -> None:
    """Move a PUBLISHING batch's new items into the project, a short transaction at a time.

    Safe to run from several processes at once and to resume after a crash: each
    transaction claims its lines by deleting them from the stage (read beforehand,
    outside the write lock) and writes them as items, together. New items cannot
    clash (one batch per project is in flight); one that somehow does is refused and
    reported on the batch.
    """
    while True:
        with Session(engine) as s:
            staged = _staged(s, batch_id, update=False, limit=PUBLISH_CHUNK)
        try:
            if _publish_chunk(engine, batch_id, staged):
                return
        except _Taken:
            continue  # another publisher took these lines: read again


class _Taken(Exception):
    """Staged lines read for publishing were published by another process meanwhile."""


def _publish_chunk(engine: sa.Engine, batch_id: int, staged: list[tuple[int, _Row]]) -> bool:
    """Publish ``staged`` lines of a batch in one transaction; True once the batch is done."""
    with db.write_session(engine) as s:
        batch = import_batches.lock(s, batch_id)
        if batch is None or batch.state != BatchState.PUBLISHING.value:
            return True
        if not staged:
            if s.scalar(sa.select(ImportStage.id).where(ImportStage.batch_id == batch_id)):
                raise _Taken  # another publisher's claim was rolled back: read again
            batch.state, batch.heartbeat_at = BatchState.DONE.value, None
            s.add(batch)
            return True
        ids = [i for i, _ in staged]
        if s.execute(sa.delete(ImportStage).where(ImportStage.id.in_(ids))).rowcount != len(ids):
            raise _Taken
        project = s.get(Project, batch.project_id)
        assert project is not None
        counts = ImportResult()
        errors = _write_chunk(s, project, batch, [r for _, r in staged], False, counts)
        batch.created_count += counts.created
        batch.unchanged_count += counts.unchanged
        batch.error_count += len(errors)
        room = max(MAX_REPORTED_ERRORS - len(batch.errors), 0)
        batch.errors = batch.errors + [e.as_dict() for e in errors[:room]]
        batch.heartbeat_at = utcnow()
        s.add(batch)
    return False


def recover(engine: sa.Engine) -> list[str]:
    """Finish publishing the batches crashed imports left, and discard abandoned staging."""
    with Session(engine) as s:
        batches = import_batches.in_flight(session=s)
    done = []
    for batch in batches:
        assert batch.id is not None
        if batch.state == BatchState.PUBLISHING.value:
            if import_batches.is_abandoned(batch, import_batches.PUBLISH_STALE_AFTER):
                publish(engine, batch.id)
                done.append(f"import batch {batch.id}: published the rest of it")
        elif import_batches.is_abandoned(batch):
            import_batches.discard(engine, batch.id)
            done.append(f"import batch {batch.id}: discarded (its import stopped while staging)")
    return done


def _check_reference(project: Project, row: _Row) -> RowError | None:
    """Refuse an item without the response a "reference" project compares all others with."""
    reference = project.pair_reference
    if project.pairs != PairSet.REFERENCE or reference in [r["id"] for r in row.data["responses"]]:
        return None
    message = f"no response {reference!r}: the project compares every response with it"
    return RowError(row.line, "responses", message, row.data["id"])


def _item_values(project: Project, batch: ImportBatch, row: _Row) -> dict[str, Any]:
    d = row.data
    return {
        "project_id": project.id,
        "external_id": d["id"],
        "prompt": d.get("prompt"),
        "messages": d.get("messages"),
        "tools": d.get("tools"),
        "tags": d["tags"],
        "expertise": d["expertise"],
        "meta": d["metadata"],
        "priority": d["priority"],
        "gold": d["gold"],
        "is_gold": d["gold"] is not None,
        "content_hash": row.content_hash,
        "batch_id": batch.id,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }


def _response_values(item_id: int, row: _Row) -> list[dict[str, Any]]:
    return [
        {
            "item_id": item_id,
            "external_id": r["id"],
            "position": i,
            "model": r["model"],
            "content": r["content"],
            "meta": r["metadata"],
            "tool_turns": r.get("tool_turns"),
        }
        for i, r in enumerate(row.data["responses"])
    ]


@dataclass
class _Plan:
    """What writing a chunk would do: insert, update (item id, row), count, refuse."""

    fresh: list[_Row] = field(default_factory=list)
    changed: list[tuple[int, _Row]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


def _judged(session: Session, item_ids: list[int]) -> set[int]:
    """Return the items with a judgment, a rater's or a model judge's: their content stays.

    A judge's verdict counts too: budget mode and triage act on it, a rater may be shown
    it, and an export carries it with the text the judge was shown.
    """
    if not item_ids:
        return set()
    rater = sa.select(Judgment.item_id).where(Judgment.item_id.in_(item_ids))
    judge = sa.select(JudgeVerdict.item_id).where(JudgeVerdict.item_id.in_(item_ids))
    return set(session.execute(sa.union(rater, judge)).scalars())


def _plan_chunk(session: Session, project: Project, chunk: list[_Row], update: bool) -> _Plan:
    """Sort a chunk's rows into new, unchanged, to update, and refused (a read only)."""
    plan = _Plan()
    if not chunk:
        return plan
    ids = [r.data["id"] for r in chunk]
    existing = {
        ext: (item_id, digest)
        for item_id, ext, digest in session.execute(
            sa.select(Item.id, Item.external_id, Item.content_hash).where(
                Item.project_id == project.id, Item.external_id.in_(ids)
            )
        )
    }
    changed = [existing[r.data["id"]][0] for r in chunk if r.data["id"] in existing]
    judged = _judged(session, changed)
    for row in chunk:
        ext = row.data["id"]
        if ext not in existing:
            plan.fresh.append(row)
            continue
        item_id, digest = existing[ext]
        if digest == row.content_hash:
            plan.unchanged += 1
        elif item_id in judged:
            plan.errors.append(
                RowError(
                    row.line,
                    "id",
                    f"item {ext!r} already has judgments and "
                    "cannot be changed; import it under a new id",
                    ext,
                )
            )
        elif not update:
            plan.errors.append(
                RowError(
                    row.line,
                    "id",
                    f"item {ext!r} exists with different content; use update to replace it",
                    ext,
                )
            )
        else:
            plan.changed.append((item_id, row))
    return plan


def _write_chunk(
    session: Session,
    project: Project,
    batch: ImportBatch,
    chunk: list[_Row],
    update: bool,
    result: ImportResult,
) -> list[RowError]:
    """Insert new items, skip unchanged ones, update changed ones if allowed."""
    plan = _plan_chunk(session, project, chunk, update)
    result.unchanged += plan.unchanged
    _replace_content(session, project, batch, plan.changed)
    result.updated += len(plan.changed)
    fresh = plan.fresh
    touched: list[int] = []  # new items
    if fresh:
        inserted = (
            session.execute(
                _ITEMS.insert().returning(_ITEMS.c.id, sort_by_parameter_order=True),
                [_item_values(project, batch, r) for r in fresh],
            )
            .scalars()
            .all()
        )
        responses = [
            v
            for item_id, r in zip(inserted, fresh, strict=True)
            for v in _response_values(item_id, r)
        ]
        # RETURNING makes SQLAlchemy batch the rows into multi-VALUES statements on
        # every backend (psycopg's plain executemany sends one INSERT per row).
        session.execute(_RESPONSES.insert().returning(_RESPONSES.c.id), responses)
        touched = list(inserted)
        result.created += len(fresh)
    # Responses written: the items' pair units follow from their new count.
    written = [item_id for item_id, _ in plan.changed] + touched
    # Who may fetch an image follows the content that shows it (items/images.py).
    link_images(session, [(i, r.data) for i, r in plan.changed], new=False)
    link_images(session, [(i, r.data) for i, r in zip(touched, fresh, strict=True)], new=True)
    slots.set_units(session=session, project=project, item_ids=written)
    # Adaptive overlap: their audit draw, and their targets on the units they now have.
    adaptive.publish(session=session, project=project, item_ids=written)
    return plan.errors


def _replace_content(
    session: Session, project: Project, batch: ImportBatch, replaced: list[tuple[int, _Row]]
) -> None:
    """Give unjudged items their new content, ending the leases raters hold on them.

    No judgment may be stored against content its rater did not see. The leases end
    first (``leases.end_item_leases``: on PostgreSQL it waits for submissions in flight
    and keeps new leases off these items until commit); only then are the items checked
    for judgments again, since one may have been submitted after the check in
    ``_plan_chunk``, and if any has, the whole batch is refused (``_commit``'s
    transaction rolls back, which restores the leases, and the batch is discarded).
    """
    if not replaced:
        return
    ids = [item_id for item_id, _ in replaced]
    leases.end_item_leases(
        session=session,
        item_ids=ids,
        reason=leases.CONTENT_UPDATED.format(batch=batch.id),
        actor_id=batch.created_by,
    )
    # A judge run stores its verdicts holding these items' slot rows, as end_item_leases
    # now does, and checks the content is still what it judged (judging/runner.py): so a
    # verdict either committed before this check (and refuses the batch) or is stored
    # after this import, against its new content, and dropped there.
    judged = _judged(session, ids)
    if judged:
        raise InvalidInput(
            f"{len(judged)} item(s) were judged while this import ran and cannot be "
            "changed; nothing was imported. Import their new content under new ids.",
            errors=[
                RowError(
                    row.line, "id", f"item {row.data['id']!r} was judged meanwhile", row.data["id"]
                ).as_dict()
                for item_id, row in replaced
                if item_id in judged
            ],
        )
    for item_id, row in replaced:
        values = _item_values(project, batch, row)
        values.pop("created_at")
        session.execute(sa.update(Item).where(Item.id == item_id).values(**values))
        session.execute(sa.delete(Response).where(Response.item_id == item_id))
        session.execute(_RESPONSES.insert(), _response_values(item_id, row))
