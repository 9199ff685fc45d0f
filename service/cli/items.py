"""``rankroom import``: items from a JSON Lines file."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlmodel import Session

from service import db
from service.cli.common import fail
from service.errors import DomainError
from service.images import ImageStore
from service.items import importing
from service.projects import projects


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "slug", required=True, help="Slug of the project to import into.")
@click.option("--skip-invalid", is_flag=True, help="Import the good lines and report the bad ones.")
@click.option(
    "--update", is_flag=True, help="Replace items whose content changed (never judged ones)."
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the bad lines as JSON Lines here (default FILE.errors.jsonl).",
)
@with_appcontext
def import_cmd(
    file: Path, slug: str, skip_invalid: bool, update: bool, report: Path | None
) -> None:
    """Import a JSON Lines file of prompts and responses (gzip if it ends in .gz).

    Image files its content parts name are read from FILE's folder.
    """
    hasher = hashlib.sha256()
    size = file.stat().st_size
    opener = _open_maybe_gzip(file)
    try:
        with Session(db.engine()) as s:
            project = projects.get_project(session=s, slug=slug)
        with (
            opener as stream,
            click.progressbar(length=size, label=f"Importing {file.name}", file=sys.stderr) as bar,
        ):
            raw = getattr(stream, "fileobj", stream)

            def progress(_: int) -> None:
                bar.update(raw.tell() - bar.pos)

            result = importing.import_items(
                engine=db.engine(),
                project=project,
                rows=importing.read_jsonl(
                    stream, hasher, importing.InputLimits.from_config(current_app.config)
                ),
                source=str(file.name),
                kind="file",
                skip_invalid=skip_invalid,
                update=update,
                checksum=hasher.hexdigest,
                max_chars=current_app.config["MAX_RESPONSE_CHARS"],
                progress=progress,
                images=ImageStore.from_config(current_app.config),
                image_dir=file.parent,
            )
    except DomainError as exc:
        fail(exc)
    click.echo(
        f"Batch {result.batch_id}: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.error_count} bad line(s) skipped."
    )
    if result.errors:
        out = report or file.with_name(file.name + ".errors.jsonl")
        with out.open("w", encoding="utf-8") as fh:
            for e in result.errors:
                fh.write(json.dumps(e.as_dict()) + "\n")
        click.echo(f"Bad lines written to {out}.")


def _open_maybe_gzip(file: Path) -> Any:
    if file.suffix == ".gz":
        import gzip

        return gzip.open(file, "rb")
    return file.open("rb")
