"""A Hub-ready folder as a zip that streams while the folder is written.

``folder_zip`` writes the folder (``export.folder.fill_folder``) into a scratch folder and
yields each config's files into the zip as soon as that config is written, then the card:
a download starts after the first config, not after the whole folder, and the scratch
folder never holds more than one config. Every option is checked before the first byte,
so a refusal is an error status; what can only be known later (a later config's empty
split) ends the stream without the zip's directory, so the download fails instead of
looking complete.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlmodel import Session

from service.export.folder import ExportArgs, FolderResult, RecordsOf, fill_folder
from service.export.folder_options import FolderOptions
from service.images import ImageStore
from service.models import User


def folder_zip(
    *,
    session: Session,
    options: FolderOptions,
    secret_key: str,
    actor: User | None = None,
    via: str = "api folder",
    address: str | None = None,
    records: RecordsOf | None = None,
    alive: Callable[[], None] | None = None,
    images: ImageStore | None = None,
) -> Iterator[bytes]:
    """Yield the folder of ``options`` as a zip, config by config as each is written.

    The first item is ``b""``, once every option is checked: advance to it before
    answering, so a refusal is raised while an error status can still be sent.
    """
    scratch = Path(tempfile.mkdtemp(prefix="rankroom-folder-"))
    archive = _ZipStream()
    try:
        who = ExportArgs(session, secret_key, actor, via, address, images)
        batches = fill_folder(
            FolderResult(path=scratch), scratch, who, options, records=records, alive=alive
        )
        next(batches)  # every option checked (the first batch holds no file)
        yield b""
        for names in batches:
            for name in names:
                yield from archive.add(scratch / name, name)
                (scratch / name).unlink()  # in the zip now: free the disk
        yield archive.close()
    finally:
        archive.discard()
        shutil.rmtree(scratch, ignore_errors=True)


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what it is given until drained (zip to a generator)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class _ZipStream:
    """A zip written to a generator, a file at a time (stored: Parquet is compressed already)."""

    def __init__(self) -> None:
        self.sink = _Sink()
        self.archive = zipfile.ZipFile(self.sink, "w", compression=zipfile.ZIP_STORED)
        self.closed = False

    def add(self, path: Path, name: str) -> Iterator[bytes]:
        """Yield the zip's bytes of one file, about a megabyte at a time."""
        # A fixed time: the same folder gives the same bytes.
        info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
        with self.archive.open(info, "w", force_zip64=True) as out, path.open("rb") as src:
            while block := src.read(1 << 20):
                out.write(block)
                yield self.sink.drain()
        yield self.sink.drain()

    def close(self) -> bytes:
        """Return the zip's last bytes (its central directory)."""
        self.archive.close()
        self.closed = True
        return self.sink.drain()

    def discard(self) -> None:
        """Close an unfinished zip without sending its directory (after a failure)."""
        if not self.closed:
            self.close()
