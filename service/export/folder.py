"""A Hub-ready folder: one Parquet config per format, split files, and a README card.

``write_folder`` runs one ``Export`` per format (the same rows as the JSON Lines export
of the same options: each chunk of rows becomes an Arrow record batch), writes
``<format>/<split>-00000-of-00001.parquet`` and ``README.md`` into a temporary sibling
folder, and renames it into place only when everything is written: a failed or refused
export leaves nothing behind. ``datasets.load_dataset(folder, format)`` loads it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlmodel import Session

from service import db
from service.errors import Conflict, DomainError, InvalidInput
from service.export import record_text
from service.export.card import FileInfo, render_card
from service.export.columns import columns
from service.export.croissant import ConfigFiles, croissant, parquet_columns
from service.export.exporter import Export
from service.export.folder_options import FolderOptions
from service.export.hub import Config, front_matter
from service.export.parquet import ParquetPart, WriterThread
from service.export.record import Record
from service.export.summary import ExportSummary
from service.images import ImageStore
from service.models import User

# progress(format, judgments read so far, judgments in all)
Progress = Callable[[str, int, int], None]
# The record of each project an export read (``dashboards.record.export_records``). The
# caller computes it (export/ does not import dashboards/), from the first config's
# summary: every config reads the same projects.
RecordsOf = Callable[[ExportSummary], Sequence[Record]]


@dataclass
class FolderResult:
    """What a folder holds: its configs with their export summaries, and what was left out."""

    path: Path
    configs: list[Config] = field(default_factory=list)
    summaries: list[ExportSummary] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # format: why (default formats)
    records: Sequence[Record] = ()
    refused: list[InvalidInput] = field(default_factory=list)  # default formats refused


def check_destination(dest: Path, overwrite: bool) -> None:
    """Refuse a destination that is a file, or a folder with something in it (unless overwrite)."""
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder.")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise Conflict(f"{dest} exists and is not empty: give --overwrite to replace it.")


def write_folder(
    *,
    session: Session,
    options: FolderOptions,
    dest: Path,
    secret_key: str,
    overwrite: bool = False,
    actor: User | None = None,
    via: str = "cli folder",
    address: str | None = None,
    progress: Progress | None = None,
    records: RecordsOf | None = None,
    images: ImageStore | None = None,
) -> FolderResult:
    """Write the folder for ``options`` at ``dest`` (all or nothing); return what it holds.

    ``records``: called once, with the first export's summary, for the record of how the
    data was made: the card states it once, after the configs, and ``croissant.json``
    (written only with it, its Responsible AI fields being the record) describes every file.
    """
    check_destination(dest, overwrite)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    result = FolderResult(path=dest)
    try:
        who = ExportArgs(session, secret_key, actor, via, address, images)
        for _ in fill_folder(result, temp, who, options, progress=progress, records=records):
            pass
        _install(temp, dest, overwrite)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return result


@dataclass(frozen=True)
class ExportArgs:
    """What every config's ``Export`` of one folder shares: the reader and who asked."""

    session: Session
    secret_key: str
    actor: User | None
    via: str
    address: str | None
    images: ImageStore | None = None


def fill_folder(
    result: FolderResult,
    root: Path,
    who: ExportArgs,
    options: FolderOptions,
    *,
    progress: Progress | None = None,
    records: RecordsOf | None = None,
    alive: Callable[[], None] | None = None,
) -> Iterator[list[str]]:
    """Write the folder's files under ``root``; yield the names of each batch once final.

    The first batch is empty: every option is checked by then (a refusal is raised before
    any file is written). Then each config's files as it is written, then the card (and
    ``croissant.json``). Every config and the record are read from one snapshot of the
    database, so a judgment stored meanwhile is in every config or in none. ``alive`` is
    called as rows are read (a long request's heartbeat).
    """
    with db.read_snapshot(who.session):
        exports = _exports(result, who, options)
        if not exports and not options.allow_empty:
            raise result.refused[0]
        if not options.allow_empty and not exports[0].any_judgments():
            # Nothing to read in any config (they share the projects): the error the end
            # would give, before any file is written.
            first = exports[0].o
            if options.explicit:
                raise _empty_splits(first.format, [p or "train" for p in first.split_names()])
            raise _no_rows()
        yield []
        for export in exports:
            config = _write_config(export, root, _step(export, progress, alive))
            kept = _add(result, config, export.summary, options, root)
            yield [f.name for f in kept.files] if kept else []
        if not result.configs and not options.allow_empty:
            raise _no_rows()
        if records is not None and exports:
            result.records = records(exports[0].summary)
    names = []
    if result.records and result.configs:  # the card alone (no rows) describes no file
        text = json.dumps(_croissant(result, options.license), indent=2, ensure_ascii=False)
        (root / "croissant.json").write_text(text + "\n", encoding="utf-8")
        names.append("croissant.json")
    (root / "README.md").write_text(_readme(result, options.license), encoding="utf-8")
    yield [*names, "README.md"]


def _exports(result: FolderResult, who: ExportArgs, options: FolderOptions) -> list[Export]:
    """Check and resolve every config's export up front; leave out a default one it refuses."""
    exports = []
    for opts in options.configs:
        try:
            exports.append(Export(options=opts, **vars(who)))
        except InvalidInput as exc:
            if options.explicit:
                raise
            # A default format this data cannot give (kto with no rating scale...).
            result.refused.append(exc)
            result.left_out[opts.format] = exc.message
    return exports


def _no_rows() -> DomainError:
    return DomainError(
        "No format has rows, so no folder was written. No judgment matched the "
        "options (or the projects have none). (--allow-empty keeps the card alone)"
    )


def _add(
    result: FolderResult,
    config: Config,
    summary: ExportSummary,
    options: FolderOptions,
    root: Path,
) -> Config | None:
    """Keep a written config, refuse its empty splits, or leave out an empty default format.

    ``datasets`` cannot load a split with no rows, so an empty split is never listed: it
    is an error, or with allow_empty it is left out (and named in the card).
    """
    empty = [f for f in config.files if not f.rows]
    if len(empty) == len(config.files) and not options.explicit:
        shutil.rmtree(root / config.format)
        result.left_out[config.format] = "no rows"
        return None
    if empty and not options.allow_empty:
        raise _empty_splits(config.format, [f.part for f in empty])
    for f in empty:
        (root / f.name).unlink()
        result.left_out[f"{config.format} ({f.part})"] = "no rows"
    kept = [f for f in config.files if f.rows]
    if not kept:
        (root / config.format).rmdir()
        return None
    result.configs.append(replace(config, files=kept))
    result.summaries.append(summary)
    return result.configs[-1]


def _empty_splits(fmt: str, parts: list[str]) -> DomainError:
    which = ", ".join(repr(p) for p in parts)
    return DomainError(
        f"{fmt}: split {which} has no rows, so no folder was written. "
        "(--allow-empty leaves empty splits out)"
    )


def _write_config(export: Export, root: Path, step: Callable[[int], None] | None) -> Config:
    """Stream one export into Parquet files, one per split part."""
    o, summary = export.o, export.summary
    cols = columns(
        o.format,
        conversational=summary.variant == "conversational",
        margin=bool(summary.margin),
        with_votes=o.with_votes,
        metadata=o.metadata and o.format != "raw",
        with_source=o.with_rewrites,
        vision=export.vision is not None,
        tools=summary.tools,
        with_turns=export.turns,
    )
    parts = o.split_names()
    names = {p: f"{o.format}/{p or 'train'}-00000-of-00001.parquet" for p in parts}
    (root / o.format).mkdir()
    writers: dict[str, ParquetPart] = {}
    thread = WriterThread()
    try:
        for p in parts:
            writers[p] = ParquetPart(root / names[p], cols, background=thread)
        for part, rows in export.row_chunks(step):
            writers[part].write(rows)
        for w in writers.values():
            w.close()
        thread.finish()
    except BaseException:
        if thread.thread.is_alive():
            thread.stop()
        for w in writers.values():
            w.abort()
        raise
    files = []
    for p in parts:
        # The checksum of the Parquet file itself (the rows are never JSON Lines here).
        digest = _sha256(root / names[p])
        files.append(
            FileInfo(name=names[p], part=p or "train", rows=summary.rows[p], sha256=digest)
        )
    sizes = {p or "train": writers[p].nbytes for p in parts}
    return Config(format=o.format, columns=cols, files=files, num_bytes=sizes)


def _step(
    export: Export, progress: Progress | None, alive: Callable[[], None] | None
) -> Callable[[int], None] | None:
    if progress is None:
        return None if alive is None else lambda _n: alive()
    total, done, fmt = export.count(), 0, export.o.format

    def step(n: int) -> None:
        nonlocal done
        done += n
        progress(fmt, done, total)
        if alive is not None:
            alive()

    return step


def _readme(result: FolderResult, license_id: str) -> str:
    """The card: the Hub's front matter, each config's rules and files, then the record once."""
    bodies = []
    for config, summary in zip(result.configs, result.summaries, strict=True):
        card = render_card(summary, config.files, file_kind="parquet")
        bodies.append(_without_front_matter(card))
    names = ", ".join(f"`{c.format}`" for c in result.configs) or "none (no rows)"
    first = result.configs[0].format if result.configs else "FORMAT"
    intro = [
        "# Rankroom export",
        "",
        f"Configs: {names}, one per format. Load one with "
        f'`datasets.load_dataset(PATH_OR_REPO, "{first}")`.',
    ]
    if result.left_out:
        left = "; ".join(f"{k}: {v}" for k, v in result.left_out.items())
        intro += ["", f"Formats left out: {left}."]
    if result.records and result.configs:
        intro += [
            "",
            "`croissant.json` describes the same files and record as Croissant 1.1 "
            "metadata with its Responsible AI fields.",
        ]
    record = [line for r in result.records for line in ["", *record_text.markdown(r)]]
    body = "\n".join([*intro, "", *bodies]) + "\n".join(record)
    return front_matter(result.configs, license_id) + body + ("\n" if record else "")


def _croissant(result: FolderResult, license_id: str) -> dict[str, Any]:
    """Croissant metadata of every config's Parquet files, typed from their columns."""
    configs = [
        ConfigFiles(summary, config.files, parquet_columns(config.columns), config.format)
        for config, summary in zip(result.configs, result.summaries, strict=True)
    ]
    return croissant(result.records, configs, license=license_id)


def _without_front_matter(card: str) -> str:
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end != -1:
            return card[end + 5 :].lstrip("\n")
    return card


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _install(temp: Path, dest: Path, overwrite: bool) -> None:
    """Move the finished folder into place (over an empty folder, or an old one if allowed)."""
    if dest.is_dir() and any(dest.iterdir()):
        check_destination(dest, overwrite)  # it may have filled up meanwhile
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        dest.rename(old)
        temp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        temp.replace(dest)  # rename(2) replaces an empty folder
