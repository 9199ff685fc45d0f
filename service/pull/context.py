"""What every kind of pull shares: the run's context, its outcome, and one way to import.

Every kind ends in ``importing.import_items`` (``import_file``), so the same validation,
all-or-nothing and idempotency rules apply to every pull, and a pull that fails halfway
leaves no items behind. The kinds (``folder``, ``remote``, ``generation``) build on this
module; ``runs`` dispatches to them.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import socket
import threading
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from service.errors import InvalidInput
from service.images import ImageStore
from service.items.importing import (
    ImportResult,
    InputLimits,
    import_items,
    read_jsonl,
)
from service.models import Project, RunStatus
from service.pull.fetch import Stopped

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int | None], None]


@dataclass
class Outcome:
    """How a run ended: its status, the batch it made, counts, and what went wrong."""

    status: str
    batch_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of_import(cls, result: ImportResult, **summary: Any) -> Outcome:
        """Describe a finished import; bad lines kept out by skip-invalid make it partial."""
        counts = {k: v for k, v in result.as_dict().items() if k != "errors"}
        status = RunStatus.PARTIAL if result.error_count else RunStatus.SUCCEEDED
        error = f"{result.error_count} bad line(s) skipped" if result.error_count else ""
        return cls(
            status=status.value,
            batch_id=result.batch_id,
            summary={**counts, **summary},
            error=error,
            errors=[e.as_dict() for e in result.errors],
        )


@dataclass
class PullContext:
    """What a running pull needs besides its run: the database, limits, and the stop signal."""

    engine: sa.Engine
    worker_id: str
    max_chars: int = 200_000
    prompts_dir: str = ""
    max_bytes: int = 2 * 1024**3
    stale_seconds: float = 300.0
    input_limits: InputLimits = field(default_factory=InputLimits)
    images: ImageStore | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    on_progress: Progress | None = None
    # The latest progress, written into the run by the heartbeat.
    latest: dict[str, Any] = field(default_factory=dict)

    def report(self, phase: str, done: int, total: int | None = None) -> None:
        """Record progress (shown on the run, and by the CLI's progress bar)."""
        self.latest = {"phase": phase, "done": done, "total": total}
        if self.on_progress is not None:
            self.on_progress(phase, done, total)

    def check_stop(self) -> None:
        """Raise Stopped if the worker was asked to stop now."""
        if self.stop.is_set():
            raise Stopped("the worker is stopping")


def from_config(
    *, engine: sa.Engine, config: Mapping[str, Any], worker_id: str | None = None
) -> PullContext:
    """Build a pull context from the app's settings."""
    return PullContext(
        engine=engine,
        worker_id=worker_id or worker_name(),
        max_chars=int(config["MAX_RESPONSE_CHARS"]),
        prompts_dir=str(config["PROMPTS_DIR"]),
        max_bytes=int(config["PULL_MAX_BYTES"]),
        stale_seconds=float(config["WORKER_STALE_SECONDS"]),
        input_limits=InputLimits.from_config(config),
        images=ImageStore.from_config(config),
    )


def worker_name() -> str:
    """Name this process uniquely across hosts, for the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def key_from_env(name: str) -> str:
    """Return the API key held in environment variable ``name``; refuse an unset one."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise InvalidInput(
            f"environment variable {name} is not set on this worker ({socket.gethostname()}); "
            "API keys are read from there, never stored."
        )
    return value


class _Gunzipped:
    """A gzip stream whose damage is reported as bad input, naming the file."""

    def __init__(self, fileobj: IO[bytes], label: str) -> None:
        self.stream, self.label = gzip.GzipFile(fileobj=fileobj, mode="rb"), label

    def readline(self, size: int = -1) -> bytes:
        try:
            return self.stream.readline(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInput(
                f"{self.label}: the gzip data is damaged or cut short ({exc}); "
                "nothing was imported."
            ) from exc


def open_jsonl(fileobj: IO[bytes], label: str) -> IO[bytes]:
    """Return a reader of a seekable JSON Lines file, gunzipping it if it starts as gzip."""
    fileobj.seek(0)
    head = fileobj.read(2)
    fileobj.seek(0)
    return _Gunzipped(fileobj, label) if head == b"\x1f\x8b" else fileobj  # type: ignore[return-value]


def import_file(
    ctx: PullContext,
    *,
    project: Project,
    fileobj: IO[bytes],
    label: str,
    kind: str,
    config: Mapping[str, Any],
    image_dir: Path | None = None,
) -> ImportResult:
    """Import one JSON Lines file object (gzip or not) as one batch, all or nothing.

    Image file names in it are relative to ``image_dir`` (a folder pull's folder).
    """
    hasher = hashlib.sha256()
    return import_items(
        engine=ctx.engine,
        project=project,
        rows=read_jsonl(open_jsonl(fileobj, label), hasher, ctx.input_limits),
        source=label,
        kind=kind,
        skip_invalid=bool(config.get("skip_invalid")),
        update=bool(config.get("update")),
        checksum=hasher.hexdigest,
        max_chars=ctx.max_chars,
        progress=lambda lines: ctx.report("import", lines),
        images=ctx.images,
        image_dir=image_dir,
    )
