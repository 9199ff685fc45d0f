"""Parquet files of an export, written in record batches from its rows as built.

The rows (``Export.row_chunks``) become Arrow columns directly: no JSON text is made
and parsed back. pyarrow is imported only when a file is written: light commands never
load it.
"""

from __future__ import annotations

import gc
import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from service.errors import DomainError
from service.export.arrow_values import Unfit, build, fields_of
from service.export.columns import IMAGE, JSON, arrow_schema
from service.export.vision import image_value

# Arrow data buffered before it becomes one row group (bounds memory, keeps groups large).
ROW_GROUP_BYTES = 16 * 1024 * 1024
# Row groups waiting for the writer thread: bounds memory.
QUEUE_GROUPS = 1


class ParquetPart:
    """One Parquet file written from lists of rows, a row group per ~16 MB of Arrow data.

    Each column is built from the rows' values in the explicit schema (``arrow_values``:
    a value of another type is an error); a key the schema lacks, at any depth, is an
    error too instead of being dropped. The JSON columns hold each object as compact
    JSON text. ``background``: where the row groups are encoded and written (a
    ``WriterThread``), or here.
    """

    def __init__(self, path: Path, cols: dict[str, Any], background: WriterThread | None = None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.schema = arrow_schema(cols)
        self.names = tuple(cols)
        self.convert = [_converter(kind, self.schema.field(n).type) for n, kind in cols.items()]
        # zstd: a third of snappy's size on export rows for a little more CPU (see
        # scripts/bench_export.py); the Hub and datasets read both.
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.background = background
        self.batches: list[pa.RecordBatch] = []
        self.buffered = 0
        self.nbytes = 0  # Arrow bytes written: the card's num_bytes

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Add rows (as the JSON Lines export builds them) to the file."""
        if not rows:
            return
        # The columns are acyclic lists and tuples: pause CPython's cycle collector while
        # they are made (as ``Export`` does while it builds the rows), or it walks the
        # whole heap every few batches, tripling the cost of a batch.
        enabled = gc.isenabled()
        gc.disable()
        try:
            batch = self._batch(rows)
        finally:
            if enabled:
                gc.enable()
        self.batches.append(batch)
        self.buffered += batch.nbytes
        self.nbytes += batch.nbytes
        if self.buffered >= ROW_GROUP_BYTES:
            self._flush()

    def _batch(self, rows: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        try:
            values = fields_of(rows, self.names)
        except Unfit as exc:
            raise self._unfit(str(exc)) from exc
        arrays = []
        for name, convert, column in zip(self.names, self.convert, values, strict=True):
            try:
                arrays.append(convert(column))
            except Unfit as exc:
                raise self._unfit(f"{name}: {exc}") from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _unfit(self, why: str) -> DomainError:
        return DomainError(f"A row does not fit the {self.path.parent.name} schema: {why}.")

    def _flush(self) -> None:
        import pyarrow as pa

        if self.batches:
            table = pa.Table.from_batches(self.batches, schema=self.schema)
            self._run(self.writer.write_table, table)
        self.batches, self.buffered = [], 0

    def _run(self, job: Callable[..., Any], *args: Any) -> None:
        if self.background is None:
            job(*args)
        else:
            self.background.put(job, *args)

    def close(self) -> None:
        """Write what is buffered and the file's footer (done once the background is finished)."""
        self._flush()
        self._run(self.writer.close)

    def abort(self) -> None:
        """Close the file after a failure (the folder it is in is thrown away)."""
        self.batches = []
        self.writer.close()


def _converter(kind: Any, arrow_type: Any) -> Callable[[list[Any]], Any]:
    """Return how one column's values (None for a row without the key) become an Arrow array."""
    if kind == JSON:
        return lambda values: build(
            JSON, arrow_type, [None if v is None else _json(v) for v in values]
        )
    if kind == [IMAGE]:
        # Images travel in the rows as data URIs; the file keeps their bytes (export/vision.py).
        return lambda values: build(
            kind, arrow_type, [[image_value(u) for u in v or []] for v in values]
        )
    return lambda values: build(kind, arrow_type, values)


def _json(value: Any) -> str:
    """Compact JSON text of a free-form object, as the JSON Lines export writes it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # An integer past 64 bits is beyond orjson (a lone surrogate is refused as UTF-8).
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class WriterThread:
    """Encode and write row groups on a second thread, while the export builds the next.

    The Parquet encoder and zstd release the GIL, so on two cores writing costs little
    wall time beside building the rows. The queue is short, so memory stays flat; the
    first error stops the writing and is raised to the caller.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(
            maxsize=QUEUE_GROUPS
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is None:  # after an error, drain so the producer never blocks
                try:
                    job[0](*job[1])
                except BaseException as exc:  # raised in the caller's thread by put/finish
                    self.error = exc

    def put(self, job: Callable[..., Any], *args: Any) -> None:
        """Queue a job (raise the writer's error, if it had one)."""
        if self.error is not None:
            raise self.error
        self.queue.put((job, args))

    def stop(self) -> None:
        """Stop after a failure elsewhere: drop what is queued and end the thread."""
        if self.error is None:
            self.error = RuntimeError("the export stopped")
        self.queue.put(None)
        self.thread.join()

    def finish(self) -> None:
        """Wait for every queued job to be done; raise the writer's error, if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
