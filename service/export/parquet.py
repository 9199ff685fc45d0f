"""Parquet files of an export, written in record batches from its rows as built.

The rows (``Export.row_chunks``) become Arrow columns directly: no JSON text is made
and parsed back. pyarrow is imported only when a file is written: light commands never
load it.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from service.errors import DomainError
from service.export.columns import IMAGE, JSON, arrow_schema
from service.export.vision import image_value

# Arrow data buffered before it becomes one row group (bounds memory, keeps groups large).
ROW_GROUP_BYTES = 16 * 1024 * 1024
# Row groups waiting for the writer thread: bounds memory.
QUEUE_GROUPS = 2

# A key check of one value: the unknown keys found in it, or None.
Check = Callable[[Any], "str | None"]


class ParquetPart:
    """One Parquet file written from lists of rows, a row group per ~16 MB of Arrow data.

    Each column is converted by pyarrow from the rows' values into the explicit schema
    (a value of the wrong type is an error); a key the schema lacks, at any depth, is an
    error too instead of being dropped. The JSON columns hold each object as compact
    JSON text. ``background``: where the row groups are encoded and written (a
    ``WriterThread``), or here.
    """

    def __init__(self, path: Path, cols: dict[str, Any], background: WriterThread | None = None):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path = path
        self.schema = arrow_schema(cols)
        self.names = frozenset(cols)
        self.convert = [
            (name, _converter(kind, self.schema.field(name).type)) for name, kind in cols.items()
        ]
        self.checks = [(name, c) for name, kind in cols.items() if (c := _check(kind))]
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
        batch = self._batch(rows)
        self.batches.append(batch)
        self.buffered += batch.nbytes
        self.nbytes += batch.nbytes
        if self.buffered >= ROW_GROUP_BYTES:
            self._flush()

    def _batch(self, rows: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        names = self.names
        for row in rows:
            if not names.issuperset(row):
                self._refuse(", ".join(sorted(set(row) - names)))
        arrays = []
        for name, convert in self.convert:
            values = [row.get(name) for row in rows]
            arrays.append(convert(values))
        for name, check in self.checks:
            for row in rows:
                if (extra := check(row.get(name))) is not None:
                    self._refuse(extra)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _refuse(self, extra: str) -> None:
        raise DomainError(f"A row has a key the {self.path.parent.name} schema lacks: {extra}.")

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
    import pyarrow as pa

    if kind == JSON:

        def json_text(values: list[Any]) -> Any:
            return _array([None if v is None else _json(v) for v in values], pa.json_())

        return json_text
    if kind == [IMAGE]:
        # Images travel in the rows as data URIs; the file keeps their bytes (export/vision.py).
        def images(values: list[Any]) -> Any:
            return _array([[image_value(u) for u in v or []] for v in values], arrow_type)

        return images
    return lambda values: _array(values, arrow_type)


def _array(values: list[Any], arrow_type: Any) -> Any:
    import pyarrow as pa

    try:
        # from_pandas: NaN is null, as the JSON Lines export writes it (orjson).
        return pa.array(values, type=arrow_type, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        # A value of another type, an integer past 64 bits, a lone surrogate.
        raise DomainError(f"A row does not fit the schema: {exc}") from exc


def _json(value: Any) -> str:
    """Compact JSON text of a free-form object, as the JSON Lines export writes it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # An integer past 64 bits is beyond orjson (a lone surrogate fails in pyarrow).
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _check(kind: Any) -> Check | None:
    """Return a check for keys the schema lacks inside a column's structs (None: no structs)."""
    if isinstance(kind, list):
        inner = _check(kind[0])
        if inner is None:
            return None

        def each(value: Any) -> str | None:
            for v in value if isinstance(value, list) else ():
                if (extra := inner(v)) is not None:
                    return extra
            return None

        return each
    if isinstance(kind, dict):
        names = frozenset(kind)
        fields = [(n, c) for n, k in kind.items() if (c := _check(k))]

        def struct(value: Any) -> str | None:
            if not isinstance(value, dict):
                return None  # null, or a wrong type pyarrow refuses
            if not names.issuperset(value):
                return ", ".join(sorted(set(value) - names))
            for n, c in fields:
                if (extra := c(value.get(n))) is not None:
                    return extra
            return None

        return struct
    return None


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
