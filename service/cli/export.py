"""``rankroom export``: write a preference dataset to files, with a progress bar and a card.

Its options are generated from ``ExportOptionsSchema``, so the command line, the
API's query string and the README list the same options with the same defaults.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import with_appcontext
from marshmallow import fields
from sqlmodel import Session

from service import db
from service.cli.common import CLI_ADDRESS, fail
from service.errors import DomainError
from service.export.options import ExportOptionsSchema, cli_flag, option_default, parse_options
from service.images import ImageStore

if TYPE_CHECKING:
    from service.export.card import FileInfo

# The Parquet folder and the record (the dashboards' reports) are imported by the code
# that writes them: ``rankroom export --help`` and an export without a card need neither.

_TYPES = {fields.Integer: int, fields.Float: float}


def _schema_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one click option per schema field, help text and choices included."""
    schema = ExportOptionsSchema()
    for name, field in reversed(list(schema.fields.items())):
        flag = cli_flag(name, field)
        help_text = field.metadata.get("description", "")
        default = option_default(field)
        if default is not None and not isinstance(field, fields.Boolean):
            help_text += f" [default: {default!r}]"
        if isinstance(field, fields.Boolean):
            decorator = click.option(
                flag, name, flag_value=not field.load_default, default=None, help=help_text
            )
        elif isinstance(field, fields.List):
            decorator = click.option(
                flag, name, multiple=True, required=field.required, help=help_text
            )
        elif name == "format":
            # Repeatable for --to-folder (one config per format); once otherwise.
            help_text += " Repeatable with --to-folder (default there: every format with rows)."
            choices = click.Choice(list(field.validate.choices))
            decorator = click.option(flag, name, type=choices, multiple=True, help=help_text)
        else:
            choices = getattr(field.validate, "choices", None)
            number = next((t for cls, t in _TYPES.items() if isinstance(field, cls)), None)
            kind: Any = click.Choice(list(choices)) if choices else number
            decorator = click.option(flag, name, type=kind, required=field.required, help=help_text)
        command = decorator(command)
    return command


class _Progress:
    """A click progress bar opened once the export knows how many judgments it will read."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Exporting", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class _Hashing:
    """A binary stream that hashes what it writes (the file's own checksum, gzip or not)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _partial(path: Path) -> Path:
    """Where a file is written until the export succeeds (a failed one leaves nothing)."""
    return path.with_name(f".{path.name}.partial")


def _open(stack: ExitStack, path: Path) -> tuple[IO[bytes], _Hashing]:
    hashing = _Hashing(stack.enter_context(_partial(path).open("wb")))
    if path.suffix != ".gz":
        return hashing, hashing  # type: ignore[return-value]
    # mtime=0 and no name: the same export gives byte-identical .gz files.
    stream = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0))
    return stream, hashing


@click.command("export")
@_schema_options
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    help="File to write (gzip if it ends in .gz); with --split, one file per split named "
    "NAME.SPLIT.jsonl. '-' writes to standard output.",
)
@click.option(
    "--card",
    is_flag=False,
    flag_value="",
    default=None,
    help="Write a dataset card: to this path, or README.md beside the output when given no "
    "value; croissant.json (Croissant 1.1 metadata) is written beside it.",
)
@click.option(
    "--to-folder",
    "to_folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a Hub-ready folder instead: one Parquet config per --format, a file per "
    "split, README.md with the Hub's YAML header and the record of how the data was made "
    "(datasets.load_dataset(DIR, FORMAT)), and croissant.json.",
)
@click.option(
    "--overwrite", is_flag=True, help="With --to-folder: replace a folder that is not empty."
)
@click.option(
    "--push-to-hub",
    "push_to_hub",
    metavar="REPO",
    help="With --to-folder: upload the folder to this Hugging Face dataset repo "
    "(token from HF_TOKEN; needs the 'hub' extra).",
)
@click.option(
    "--public",
    is_flag=True,
    help="With --push-to-hub: create the repo public (by default a new repo is private).",
)
@click.option(
    "--license",
    "license_id",
    help="With --to-folder: license id for the card's YAML header.  [default: other]",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Keep a file with no rows and exit 0 (by default an empty export or split part is "
    "an error, so a pipeline never trains on nothing).",
)
@with_appcontext
def export_command(
    output: str,
    card: str | None,
    allow_empty: bool,
    to_folder: Path | None,
    overwrite: bool,
    push_to_hub: str | None,
    public: bool,
    license_id: str | None,
    **given: Any,
) -> None:
    """Export judgments as a trainer-ready preference dataset (JSON Lines or a Parquet folder)."""
    # Here, not at the top: `rankroom export --help` needs only the options.
    from service.export.card import FileInfo
    from service.export.exporter import export_preferences, part_filename

    data = {k: list(v) if isinstance(v, tuple) else v for k, v in given.items()}
    data = {k: v for k, v in data.items() if v is not None and v != []}
    if to_folder is not None:
        if output != "-" or card is not None:
            raise click.UsageError(
                "--to-folder writes its own files and card: leave out -o/--card."
            )
        if license_id is not None:
            data["license"] = license_id
        if public and push_to_hub is None:
            raise click.UsageError("--public works with --push-to-hub only.")
        from service.cli.export_folder import export_folder

        export_folder(to_folder, data, overwrite, allow_empty, push_to_hub, public)
        return
    for flag, value in (
        ("--overwrite", overwrite),
        ("--push-to-hub", push_to_hub),
        ("--public", public),
        ("--license", license_id),
    ):
        if value:
            raise click.UsageError(f"{flag} works with --to-folder only.")
    formats = data.get("format", [])
    if len(formats) != 1:
        raise click.UsageError("Give --format once (several formats need --to-folder).")
    data["format"] = formats[0]
    to_stdout = output == "-"
    paths: dict[str, Path] = {}
    try:
        options = parse_options(data)
        if to_stdout and options.split and not options.part:
            raise click.UsageError("--split writes one file per split: give -o FILE (or --part).")
        if to_stdout and card == "":
            raise click.UsageError("Writing to standard output: give --card PATH.")
        parts = options.split_names()
        single = not options.split or options.part
        paths = {p: Path(output if single else part_filename(output, p)) for p in parts}
        progress = _Progress(enabled=not to_stdout)
        with ExitStack() as stack:
            if to_stdout:
                streams: dict[str, Any] = {parts[0]: sys.stdout.buffer}
                hashers: dict[str, _Hashing] = {}
            else:
                opened = {p: _open(stack, path) for p, path in paths.items()}
                streams = {p: s for p, (s, _) in opened.items()}
                hashers = {p: h for p, (_, h) in opened.items()}
            with Session(db.engine()) as session:
                summary = export_preferences(
                    session=session,
                    options=options,
                    out=streams,
                    secret_key=current_app.config["SECRET_KEY"],
                    via="cli",
                    address=CLI_ADDRESS,
                    progress=progress,
                    images=ImageStore.from_config(current_app.config),
                )
            progress.close()
    except DomainError as exc:
        _discard(paths if not to_stdout else {})
        fail(exc)
    written = paths if not to_stdout else {}
    _refuse_empty(parts, summary, written, allow_empty)
    for path in written.values():
        _partial(path).replace(path)
    files = [
        FileInfo(
            name=paths[p].name if not to_stdout else "-",
            part=p,
            rows=summary.rows[p],
            sha256=summary.sha256[p],
            file_sha256=hashers[p].sha.hexdigest() if p in hashers else None,
        )
        for p in parts
    ]
    if card is not None:
        where = Path(card) if card else Path(output).parent / "README.md"
        _write_card(where, summary, files, [*written.values()])
    for f in files:
        label = f" ({f.part})" if f.part else ""
        click.echo(f"{f.rows} rows{label} -> {f.name}", err=True)
    dropped = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(summary.dropped.items()))
    if dropped:
        click.echo(f"Left out: {dropped}.", err=True)
    _warn_skipped(summary.skipped)


def _write_card(where: Path, summary: Any, files: list[FileInfo], written: list[Path]) -> None:
    """Write the card and, beside it, croissant.json: both state the record of each project."""
    from service.dashboards.record import export_records
    from service.export.card import render_card
    from service.export.croissant import ConfigFiles, croissant

    with Session(db.engine()) as session:
        records = export_records(session=session, summary=summary)
    where.write_text(render_card(summary, files, records), encoding="utf-8")
    metadata = croissant(records, [ConfigFiles(summary, files, _columns(written))])
    text = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
    (where.parent / "croissant.json").write_text(text, encoding="utf-8")


def _columns(written: list[Path]) -> dict[str, str]:
    """Return the columns of the first row written (none when the rows went to stdout)."""
    from service.export.croissant import columns_of

    for path in written:
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as lines:
            first = lines.readline()
        if first.strip():
            return columns_of(json.loads(first))
    return {}


def _discard(paths: dict[str, Path]) -> None:
    for path in paths.values():
        _partial(path).unlink(missing_ok=True)


def _refuse_empty(
    parts: list[str], summary: Any, paths: dict[str, Path], allow_empty: bool
) -> None:
    """Fail, keeping no file (not even the other parts'), when any part has no rows."""
    empty = [p for p in parts if not summary.rows[p]]
    if not empty or allow_empty:
        return
    _discard(paths)
    which = ", ".join(f"split {p!r}" for p in empty if p) or "the export"
    dropped = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(summary.dropped.items()))
    why = f" Left out: {dropped}." if dropped else " No judgment matched the options."
    fail(DomainError(f"{which} has no rows, so no file was kept.{why} (--allow-empty keeps it)"))


def _warn_skipped(skipped: list[dict[str, Any]]) -> None:
    """Name on standard error every stored row the export could not use (it still succeeds)."""
    if not skipped:
        return
    click.echo(f"Warning: {len(skipped)} stored row(s) could not be exported:", err=True)
    for row in skipped:
        where = f"judgment {row['judgment_id']}" if row["judgment_id"] is not None else "item"
        field = f", {row['field']}" if row["field"] else ""
        click.echo(f"  {where} (item {row['item_id']}{field}): {row['reason']}", err=True)
