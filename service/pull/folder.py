"""Pull files dropped into a watched folder: each imported once, then moved aside.

Every ``*.jsonl`` or ``*.jsonl.gz`` file is imported as its own batch, all or
nothing, then moved to ``done/`` or to ``failed/`` beside a ``.errors.json``
report. A file whose bytes were imported before (same checksum) is not imported
again, whatever its name.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.errors import InvalidInput
from service.items.importing import MAX_REPORTED_ERRORS
from service.models import Project, PulledFile, PullRun, RunStatus, Source
from service.pull.context import Outcome, PullContext, import_file

DONE = "done"
FAILED = "failed"
SUFFIXES = (".jsonl", ".jsonl.gz")


def ready_files(folder: Path, min_age_seconds: float) -> list[Path]:
    """List the folder's JSON Lines files old enough to be complete, oldest first."""
    now = time.time()
    found = []
    for path in folder.iterdir():
        if path.name.startswith(".") or not path.name.endswith(SUFFIXES) or not path.is_file():
            continue
        mtime = path.stat().st_mtime
        if now - mtime >= min_age_seconds:
            found.append((mtime, path.name, path))
    return [path for _, _, path in sorted(found)]


def pull(ctx: PullContext, run: PullRun, source: Source, project: Project) -> Outcome:
    """Import each new file in the source's folder and move it to done/ or failed/."""
    folder = Path(source.config["path"])
    if not folder.is_dir():
        raise InvalidInput(
            f"folder {folder} does not exist (or is not a directory) on this worker "
            f"({socket.gethostname()})"
        )
    files = ready_files(folder, source.config["min_age_seconds"])
    tally = {"files": len(files), "imported": 0, "skipped": 0, "failed": 0}
    counts = {"created": 0, "updated": 0, "unchanged": 0, "error_count": 0}
    errors: list[dict[str, Any]] = []
    batches = []
    for done, path in enumerate(files):
        ctx.check_stop()
        ctx.report("files", done, len(files))
        record, row_errors, result_counts = _pull_file(ctx, run, source, project, path)
        tally[record.status] += 1
        for key in counts:
            counts[key] += result_counts.get(key, 0)
        if record.batch_id:
            batches.append(record.batch_id)
        if record.status == "failed":
            errors.append({"file": path.name, "message": record.error})
        errors.extend({"file": path.name, **e} for e in row_errors)
    ctx.report("files", len(files), len(files))
    return Outcome(
        status=_status(tally, counts).value,
        batch_id=batches[-1] if batches else None,
        summary={**tally, **counts, "batches": batches},
        error=_headline(tally, counts, errors),
        errors=errors[:MAX_REPORTED_ERRORS],
    )


def _status(tally: dict[str, int], counts: dict[str, int]) -> RunStatus:
    if not tally["files"]:
        return RunStatus.UNCHANGED
    if tally["failed"] == tally["files"]:
        return RunStatus.FAILED
    if tally["failed"] or counts["error_count"]:
        return RunStatus.PARTIAL
    return RunStatus.SUCCEEDED


def _headline(tally: dict[str, int], counts: dict[str, int], errors: list[dict[str, Any]]) -> str:
    parts = []
    if tally["failed"]:
        first = next(e for e in errors if "line" not in e)
        parts.append(
            f"{tally['failed']} of {tally['files']} file(s) failed (first: {first['file']}: "
            f"{first['message']})"
        )
    if counts["error_count"]:
        parts.append(f"{counts['error_count']} bad line(s) skipped")
    return "; ".join(parts)


def _pull_file(
    ctx: PullContext, run: PullRun, source: Source, project: Project, path: Path
) -> tuple[PulledFile, list[dict[str, Any]], dict[str, int]]:
    """Import one file, move it aside and record it; return the record, bad lines, counts."""
    checksum, size = _digest(path)
    about = {"source_id": source.id, "run_id": run.id, "name": path.name, "size": size}
    about["checksum"] = checksum
    with Session(ctx.engine) as s:
        earlier = s.exec(
            select(PulledFile).where(
                PulledFile.source_id == source.id,
                PulledFile.checksum == checksum,
                PulledFile.status == "imported",
            )
        ).first()
    if earlier is not None:
        moved = _move(path, path.parent / DONE, run.id)
        note = f"same bytes as {earlier.name}, imported as batch {earlier.batch_id}"
        return _save(ctx, PulledFile(**about, status="skipped", error=note, moved_to=moved)), [], {}
    try:
        with path.open("rb") as fh:
            result = import_file(
                ctx,
                project=project,
                fileobj=fh,
                label=f"{source.name}: {path.name}",
                kind="folder",
                config=source.config,
                image_dir=path.parent,
            )
        # Recorded after the import: a crash between them only re-imports the file,
        # every item unchanged.
        record = _save(ctx, PulledFile(**about, status="imported", batch_id=result.batch_id))
    except (InvalidInput, OSError) as exc:
        message = exc.message if isinstance(exc, InvalidInput) else f"could not read it: {exc}"
        row_errors = exc.errors if isinstance(exc, InvalidInput) else []
        moved = _move(path, path.parent / FAILED, run.id)
        _report(moved, source, run, message, row_errors)
        failed = PulledFile(**about, status="failed", error=message, moved_to=moved)
        return _save(ctx, failed), row_errors, {}
    row_errors = [e.as_dict() for e in result.errors]
    moved = _move(path, path.parent / DONE, run.id)
    if row_errors:
        _report(moved, source, run, f"{result.error_count} bad line(s) skipped", row_errors)
    with db.write_session(ctx.engine) as s:
        s.execute(sa.update(PulledFile).where(PulledFile.id == record.id).values(moved_to=moved))
    return record, row_errors, result.as_dict()


def _digest(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _save(ctx: PullContext, record: PulledFile) -> PulledFile:
    with db.write_session(ctx.engine) as s:
        s.add(record)
    return record


def _move(path: Path, into: Path, run_id: int) -> str:
    """Move ``path`` into ``into``, never over an older file of the same name."""
    target = into / path.name
    if target.exists():
        target = into / f"run{run_id}-{path.name}"
    try:
        into.mkdir(exist_ok=True)
        path.replace(target)
    except OSError as exc:
        # Imported already (if it was): the next pull knows its checksum and moves it then.
        raise InvalidInput(f"could not move {path.name} into {into}: {exc}") from exc
    return str(target)


def _report(
    moved: str, source: Source, run: PullRun, message: str, errors: list[dict[str, Any]]
) -> None:
    """Write the file's errors beside it, for whoever dropped it there."""
    report = {"file": Path(moved).name, "source": source.name, "run": run.id, "error": message}
    report["errors"] = errors
    Path(moved + ".errors.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
