"""``rankroom export --to-folder DIR [--push-to-hub REPO]``: a Hub-ready Parquet folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlmodel import Session

from service import db
from service.cli.common import CLI_ADDRESS, fail
from service.dashboards.record import export_records
from service.errors import DomainError
from service.export import hub
from service.export.folder import check_destination, write_folder
from service.export.folder_options import parse_folder_options
from service.images import ImageStore

# The Hub token is read from this variable only: never a flag (it would sit in the
# shell history and the process list), never written anywhere.
TOKEN_VARIABLE = "HF_TOKEN"


class _Bars:
    """One progress bar per format, opened when its export knows how much it will read."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.label = ""

    def __call__(self, fmt: str, done: int, total: int) -> None:
        if fmt != self.label:
            self.close()
            self.label = fmt
            self.bar = click.progressbar(length=total, label=f"Exporting {fmt}", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def export_folder(
    dest: Path,
    data: dict[str, Any],
    overwrite: bool,
    allow_empty: bool,
    repo: str | None,
    public: bool = False,
) -> None:
    """Write the folder (all or nothing), then upload it when a repo is given."""
    bars = _Bars()
    try:
        options = parse_folder_options({**data, "allow_empty": allow_empty})
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
        if repo is not None:
            # Refuse before any work: a push that cannot happen should not cost an export.
            if not token:
                raise DomainError(
                    f"--push-to-hub needs a Hugging Face token in {TOKEN_VARIABLE} "
                    "(a write token); nothing was written."
                )
            hub.require_client()
        check_destination(dest, overwrite)
        with Session(db.engine()) as session:
            result = write_folder(
                session=session,
                options=options,
                dest=dest,
                secret_key=current_app.config["SECRET_KEY"],
                overwrite=overwrite,
                via="cli folder",
                address=CLI_ADDRESS,
                progress=bars,
                records=lambda summary: export_records(session=session, summary=summary),
                images=ImageStore.from_config(current_app.config),
            )
        bars.close()
    except DomainError as exc:
        bars.close()
        fail(exc)
    for config in result.configs:
        for f in config.files:
            click.echo(f"{f.rows} rows ({config.format}, {f.part}) -> {dest / f.name}", err=True)
    for fmt, why in result.left_out.items():
        click.echo(f"Left out {fmt}: {why}", err=True)
    if repo is not None:
        try:
            url = hub.push_folder(dest, repo, token, public=public)
        except DomainError as exc:
            fail(exc)
        click.echo(f"Uploaded {dest} to {repo}: {url}", err=True)
