"""Parquet files of an export, written in record batches from its JSON Lines chunks.

pyarrow is imported only when a file is written: light commands never load it.
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from typing import Any

import orjson

from service.errors import DomainError
from service.export.columns import IMAGE, JSON, arrow_schema
from service.export.vision import image_value

# Arrow data buffered before it becomes one row group (bounds memory, keeps groups large).
ROW_GROUP_BYTES = 16 * 1024 * 1024
# Chunks (about 256 kB each) waiting for the writer thread: bounds memory.
QUEUE_CHUNKS = 8


class ParquetPart:
    """One Parquet file written from JSON Lines chunks, a row group per ~16 MB of Arrow data.

    Arrow's JSON reader parses each chunk straight into columns of the explicit schema
    (in C++, several times faster than building Python rows), and refuses a key the
    schema lacks, at any depth, instead of dropping it. Only the JSON columns go through
    Python: their objects are written back as compact JSON text.
    """

    def __init__(self, path: Path, cols: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.json as pj
        import pyarrow.parquet as pq

        self.path = path
        self.schema = arrow_schema(cols)
        self.json_cols = [n for n, k in cols.items() if k == JSON]
        # Images travel in the rows as data URIs; the file keeps their bytes (export/vision.py).
        self.image_cols = [n for n, k in cols.items() if k == [IMAGE]]
        self.json_cols += self.image_cols
        typed = pa.schema([f for f in self.schema if f.name not in self.json_cols])
        # With JSON columns present their keys are unknown to the reader: it skips them,
        # and the top-level names are checked in Python instead.
        self.parse = pj.ParseOptions(
            explicit_schema=typed,
            unexpected_field_behavior="ignore" if self.json_cols else "error",
        )
        self.names = frozenset(cols)
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.batches: list[Any] = []
        self.buffered = 0
        self.nbytes = 0  # Arrow bytes written: the card's num_bytes

    def write(self, chunk: bytes) -> None:
        """Add the rows of a chunk of JSON Lines (whole lines, each ending in a newline)."""
        if not chunk:
            return
        batch = self._batch(chunk)
        self.batches.append(batch)
        self.buffered += batch.nbytes
        self.nbytes += batch.nbytes
        if self.buffered >= ROW_GROUP_BYTES:
            self._flush()

    def _batch(self, chunk: bytes) -> Any:
        import pyarrow as pa
        import pyarrow.json as pj

        # A block holds whole lines only; the chunk is one block however long a line is.
        read = pj.ReadOptions(use_threads=False, block_size=max(len(chunk) + 1, 1 << 20))
        try:
            table = pj.read_json(pa.py_buffer(chunk), read_options=read, parse_options=self.parse)
        except pa.ArrowInvalid as exc:
            raise DomainError(
                f"A row does not fit the {self.path.parent.name} schema: {exc}"
            ) from exc
        columns = {n: table.column(n).combine_chunks() for n in table.column_names}
        if self.json_cols:
            columns.update(self._json_columns(chunk))
        return pa.RecordBatch.from_arrays(
            [columns[f.name] for f in self.schema], schema=self.schema
        )

    def _json_columns(self, chunk: bytes) -> dict[str, Any]:
        import pyarrow as pa

        try:
            # One parse per chunk: a newline only ever ends a line (JSON escapes it in text).
            rows = orjson.loads(b"[" + chunk[:-1].replace(b"\n", b",") + b"]")
        except orjson.JSONDecodeError:
            # A row the encoder escaped (a lone surrogate) is beyond orjson's reader.
            rows = [json.loads(line) for line in chunk.splitlines()]
        for row in rows:
            if not self.names.issuperset(row):
                extra = ", ".join(sorted(set(row) - self.names))
                raise DomainError(
                    f"A row has a key the {self.path.parent.name} schema lacks: {extra}."
                )
        out = {}
        for name in self.image_cols:
            values = [[image_value(u) for u in row.get(name) or []] for row in rows]
            out[name] = pa.array(values, type=self.schema.field(name).type)
        for name in [n for n in self.json_cols if n not in self.image_cols]:
            text = [
                None if (v := row.get(name)) is None else orjson.dumps(v).decode() for row in rows
            ]
            out[name] = pa.array(text, type=pa.json_())
        return out

    def _flush(self) -> None:
        import pyarrow as pa

        if self.batches:
            self.writer.write_table(pa.Table.from_batches(self.batches, schema=self.schema))
        self.batches, self.buffered = [], 0

    def close(self) -> None:
        """Write what is buffered and the file's footer."""
        self._flush()
        self.writer.close()

    def abort(self) -> None:
        """Close the file after a failure (the folder it is in is thrown away)."""
        self.batches = []
        self.writer.close()


class WriterThread:
    """Write chunks into their parts on a second thread, while the export builds the next.

    Arrow's JSON reader and the Parquet encoder release the GIL, so on two cores the
    conversion costs little wall time beside building the rows. The queue is short, so
    memory stays flat; the first error stops the writing and is raised to the caller.
    """

    def __init__(self, parts: dict[str, ParquetPart]) -> None:
        self.parts = parts
        self.queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            if self.error is None:  # after an error, drain so the producer never blocks
                try:
                    self.parts[job[0]].write(job[1])
                except BaseException as exc:  # raised in the caller's thread by put/finish
                    self.error = exc

    def put(self, part: str, chunk: bytes) -> None:
        """Queue a chunk for a part (raise the writer's error, if it had one)."""
        if self.error is not None:
            raise self.error
        self.queue.put((part, chunk))

    def stop(self) -> None:
        """Stop after a failure elsewhere: drop what is queued and end the thread."""
        if self.error is None:
            self.error = RuntimeError("the export stopped")
        self.queue.put(None)
        self.thread.join()

    def finish(self) -> None:
        """Wait for every queued chunk to be written; raise the writer's error, if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
