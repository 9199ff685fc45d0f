"""Pull a remote JSON Lines file over http(s), and skip it when it has not changed.

The file's ETag and Last-Modified go back as If-None-Match / If-Modified-Since, so
an unchanged file costs one 304; a server without validators still gets its file
skipped when the bytes hash the same as last time.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import IO

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.models import Project, PullRun, RunStatus, Source
from service.pull import fetch
from service.pull.context import Outcome, PullContext, import_file, key_from_env


@dataclass(frozen=True)
class Download:
    """What one GET brought: nothing new (304), or a file of ``size`` bytes."""

    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    sha256: str = ""
    size: int = 0


def pull(ctx: PullContext, run: PullRun, source: Source, project: Project) -> Outcome:
    """Download the source's file and import it, unless it is unchanged since the last pull."""
    config = source.config
    headers = {}
    if source.etag:
        headers["If-None-Match"] = source.etag
    if source.last_modified:
        headers["If-Modified-Since"] = source.last_modified
    if config.get("api_key_env"):
        headers["Authorization"] = f"Bearer {key_from_env(config['api_key_env'])}"
    with fetch.make_client() as client, tempfile.TemporaryFile() as tmp:
        sent = fetch.send(
            client,
            "GET",
            config["url"],
            policy=fetch.RetryPolicy.from_config(config),
            read=lambda response, _deadline: _save(ctx, response, tmp),
            headers=headers,
            stop=ctx.stop,
        )
        download = sent.value
        summary = {"http_attempts": sent.attempts, "bytes": download.size}
        if download.not_modified:
            return Outcome(RunStatus.UNCHANGED.value, summary={**summary, "http_status": 304})
        if download.sha256 == source.last_checksum:
            with db.write_session(ctx.engine) as s:
                _remember(s, source, download)
            return Outcome(RunStatus.UNCHANGED.value, summary={**summary, "same_checksum": True})
        result = import_file(
            ctx,
            project=project,
            fileobj=tmp,
            label=f"{source.name}: {config['url']}",
            kind="remote",
            config=config,
        )
        # After the import: a crash between them only fetches and re-imports the file
        # next time (every item unchanged); the validators never move without the data.
        with db.write_session(ctx.engine) as s:
            _remember(s, source, download)
    return Outcome.of_import(result, **summary)


def _save(ctx: PullContext, response: httpx.Response, tmp: IO[bytes]) -> Download:
    """Stream the body into ``tmp`` (emptied first: this may be a retry), hashing it."""
    tmp.seek(0)
    tmp.truncate()
    if response.status_code == 304:
        return Download(not_modified=True)
    if response.status_code != 200:
        raise fetch.FetchError(
            f"expected HTTP 200 with the file, got {response.status_code} {response.reason_phrase}"
        )
    # Content-Length counts encoded bytes; only use it when the body is not re-encoded.
    total = response.headers.get("Content-Length")
    total = (
        int(total)
        if total and total.isdigit() and "Content-Encoding" not in response.headers
        else None
    )
    hasher = hashlib.sha256()
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > ctx.max_bytes:
            raise fetch.FetchError(f"file larger than PULL_MAX_BYTES ({ctx.max_bytes} bytes)")
        hasher.update(chunk)
        tmp.write(chunk)
        ctx.report("download", size, total)
        ctx.check_stop()
    tmp.flush()
    return Download(
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        sha256=hasher.hexdigest(),
        size=size,
    )


def _remember(session: Session, source: Source, download: Download) -> None:
    session.execute(
        sa.update(Source)
        .where(Source.id == source.id)
        .values(
            etag=download.etag, last_modified=download.last_modified, last_checksum=download.sha256
        )
    )
