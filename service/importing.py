"""Import prompt/response sets: validate every line, then write all or nothing.

One domain function, ``import_items``, serves the CLI, the JSON API and the pull
sources. Lines stream through in chunks, so memory stays flat whatever the size.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session, select

from service import slots
from service.errors import InvalidInput
from service.json_depth import too_deep
from service.models import ImportBatch, Item, Judgment, Project, Response, utcnow
from service.pairs import PairSet
from service.schemas import ItemRowSchema, flatten_messages
from service.shapes import to_native

CHUNK = 1000
# Real rows nest a few levels (messages, metadata); far deeper is hostile.
MAX_DEPTH = 64
# Core tables, not ORM entities: bulk inserts skip the ORM's per-row bookkeeping.
_ITEMS = Item.__table__
_RESPONSES = Response.__table__
MAX_REPORTED_ERRORS = 1000


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
    stream: IO[bytes], hasher: Any = None
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, parsed object or error) for each non-blank line of JSON Lines."""
    for number, raw in enumerate(stream, start=1):
        if hasher is not None:
            hasher.update(raw)
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, RowError(number, "", f"not valid UTF-8 (byte {exc.start})")
            continue
        if too_deep(text, MAX_DEPTH):
            yield (
                number,
                RowError(number, "", f"invalid JSON: nested deeper than {MAX_DEPTH} levels"),
            )
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, RowError(number, "", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            yield number, RowError(number, "", "invalid JSON: nested too deeply")
            continue
        if not isinstance(obj, dict):
            yield number, RowError(number, "", f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield number, obj


def read_body(body: bytes) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Parse an API body: a JSON array (positions count as lines) or JSON Lines."""
    head = body.lstrip()[:1]
    if head != b"[":
        yield from read_jsonl(io.BytesIO(body))
        return
    if too_deep(body, MAX_DEPTH + 1):
        yield 1, RowError(1, "", f"invalid JSON array: nested deeper than {MAX_DEPTH} levels")
        return
    try:
        rows = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        yield 1, RowError(1, "", f"invalid JSON array: {exc}")
        return
    except RecursionError:
        yield 1, RowError(1, "", "invalid JSON array: nested too deeply")
        return
    for number, obj in enumerate(rows, start=1):
        if not isinstance(obj, dict):
            yield number, RowError(number, "", f"expected a JSON object, got {type(obj).__name__}")
        else:
            yield number, obj


def validate_row(line: int, obj: dict[str, Any], schema: ItemRowSchema) -> _Row | list[RowError]:
    """Normalise and validate one parsed object; return the row or its errors."""
    rid = obj.get("id") if isinstance(obj.get("id"), str) else None
    try:
        data = schema.load(to_native(obj))
    except ValidationError as exc:
        messages = exc.messages
        if not isinstance(messages, dict):
            messages = {exc.field_name: messages}
        return [RowError(line, f, m, rid) for f, m in flatten_messages(messages)]
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return _Row(line, data, hashlib.sha256(canonical.encode()).hexdigest())


def import_items(
    *,
    session: Session,
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
) -> ImportResult:
    """Validate and write ``rows`` into ``project`` as one batch.

    All or nothing by default: any bad line raises InvalidInput listing every bad
    line, and the caller rolls back. With ``skip_invalid`` the good lines are kept
    and the bad ones reported on the batch. Re-importing an unchanged item is a
    no-op; a changed one is an error unless ``update``, and an item that already has
    judgments is never altered.
    """
    schema = ItemRowSchema(max_chars=max_chars)
    result = ImportResult()
    batch = ImportBatch(project_id=project.id, kind=kind, source=source[:1000], created_by=user_id)
    session.add(batch)
    session.flush()
    seen: set[str] = set()
    chunk: list[_Row] = []

    def fail(errors: list[RowError]) -> None:
        result.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(result.errors)
        result.errors.extend(errors[: max(room, 0)])

    for line, obj in rows:
        result.lines += 1
        if isinstance(obj, RowError):
            fail([obj])
            continue
        row = validate_row(line, obj, schema)
        if isinstance(row, list):
            fail(row)
            continue
        refused = _check_reference(project, row)
        if refused:
            fail([refused])
            continue
        ext = row.data["id"]
        if ext in seen:
            fail([RowError(line, "id", f"duplicate id {ext!r} earlier in this batch", ext)])
            continue
        seen.add(ext)
        chunk.append(row)
        if len(chunk) >= CHUNK:
            fail(_write_chunk(session, project, batch, chunk, update, result))
            chunk = []
            if progress:
                progress(result.lines)
    fail(_write_chunk(session, project, batch, chunk, update, result))
    if progress:
        progress(result.lines)

    result.checksum = checksum() if checksum else ""
    if result.error_count and not skip_invalid:
        raise InvalidInput(
            f"{result.error_count} bad line(s); nothing was imported. "
            "Fix them, or import the good lines with skip-invalid.",
            errors=[e.as_dict() for e in result.errors],
        )
    batch.checksum = result.checksum
    batch.created_count = result.created
    batch.updated_count = result.updated
    batch.unchanged_count = result.unchanged
    batch.error_count = result.error_count
    batch.errors = [e.as_dict() for e in result.errors]
    session.add(batch)
    session.flush()
    result.batch_id = batch.id
    return result


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
        }
        for i, r in enumerate(row.data["responses"])
    ]


def _write_chunk(
    session: Session,
    project: Project,
    batch: ImportBatch,
    chunk: list[_Row],
    update: bool,
    result: ImportResult,
) -> list[RowError]:
    """Insert new items, skip unchanged ones, update changed ones if allowed."""
    if not chunk:
        return []
    ids = [r.data["id"] for r in chunk]
    existing = {
        ext: (item_id, digest)
        for item_id, ext, digest in session.execute(
            sa.select(Item.id, Item.external_id, Item.content_hash).where(
                Item.project_id == project.id, Item.external_id.in_(ids)
            )
        )
    }
    judged: set[int] = set()
    changed = [existing[r.data["id"]][0] for r in chunk if r.data["id"] in existing]
    if changed:
        judged = set(
            session.execute(
                sa.select(Judgment.item_id).where(Judgment.item_id.in_(changed)).distinct()
            ).scalars()
        )
    errors: list[RowError] = []
    fresh: list[_Row] = []
    touched: list[int] = []  # items whose responses were written: their pair units change
    for row in chunk:
        ext = row.data["id"]
        if ext not in existing:
            fresh.append(row)
            continue
        item_id, digest = existing[ext]
        if digest == row.content_hash:
            result.unchanged += 1
        elif item_id in judged:
            errors.append(
                RowError(
                    row.line,
                    "id",
                    f"item {ext!r} already has judgments and "
                    "cannot be changed; import it under a new id",
                    ext,
                )
            )
        elif not update:
            errors.append(
                RowError(
                    row.line,
                    "id",
                    f"item {ext!r} exists with different content; use update to replace it",
                    ext,
                )
            )
        else:
            values = _item_values(project, batch, row)
            values.pop("created_at")
            session.execute(sa.update(Item).where(Item.id == item_id).values(**values))
            session.execute(sa.delete(Response).where(Response.item_id == item_id))
            session.execute(_RESPONSES.insert(), _response_values(item_id, row))
            touched.append(item_id)
            result.updated += 1
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
        touched.extend(inserted)
        result.created += len(fresh)
    slots.set_units(session=session, project=project, item_ids=touched)
    return errors


def list_batches(*, session: Session, project: Project) -> list[ImportBatch]:
    """Return the project's import batches, newest first."""
    query = select(ImportBatch).where(ImportBatch.project_id == project.id)
    return list(session.exec(query.order_by(ImportBatch.id.desc())))
