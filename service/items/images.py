"""Images on import: OpenAI content parts become markers in the text, the bytes files.

A message's or response's ``content`` may be a list of parts, ``{"type": "text",
"text"}`` and ``{"type": "image_url", "image_url": {"url"}}``. Each image is read
from a ``data:`` URI (base64) or a file named relative to the import file's folder,
checked (size, type by magic bytes) and kept in the project's ``ImageStore``; its part
becomes ``images.marker(sha256)`` in the text (see ``service/images.py``). Remote
URLs are refused: an import never fetches. A bad image is an error naming its field.

Files are written while lines are checked, before the batch is committed, so the
batch owns what it created until then: a refused batch (and the bad lines of a
skip-invalid one) leaves no file behind (``ImageBatch.tidy``), and files a crashed
import left are swept by the next import into the project (``ImageBatch.sweep``),
which runs while it holds the project's only batch in flight.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlmodel import Session

from service.errors import NotFound
from service.images import SCHEME, ImageStore, marker, shas, sniff
from service.models import Assignment, Image, ItemImage, LeaseStatus, User, utcnow
from service.projects import members

# Fields of an import row whose messages (or responses) may hold content parts.
_FIELDS = ("messages", "prompt", "chosen", "rejected", "completions", "responses")
NOT_AN_IMAGE = "not a PNG, JPEG, WebP or GIF image (checked by its first bytes)"


@dataclass
class ImageBatch:
    """The images of one import batch: where relative file names point, what it wrote."""

    store: ImageStore | None
    project_id: int
    base_dir: Path | None = None
    # sha256 -> image row values, for the images of lines that were accepted.
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def take(self, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Return ``row`` with its image parts as markers, and the images it holds.

        Raises ValidationError naming the field of the first bad part or image.
        """
        found: dict[str, dict[str, Any]] = {}
        out = dict(row)
        for key in _FIELDS:
            if key in row:
                out[key] = self._walk(row[key], key, found, depth=0)
        return out, found

    def keep(self, found: dict[str, dict[str, Any]]) -> None:
        """Record the images of a line that was accepted: they get rows at commit."""
        self.kept.update(found)

    def _walk(self, value: Any, path: str, found: dict[str, Any], depth: int) -> Any:
        """Replace the content-part lists in messages, responses and completions."""
        if isinstance(value, list) and depth < 2:
            return [self._walk(v, f"{path}.{i}", found, depth + 1) for i, v in enumerate(value)]
        if isinstance(value, str):
            _check_text(value, path)
        if not isinstance(value, dict):
            return value
        for key in ("messages", "tool_turns"):
            # A response given as turns (a tool-using answer): the same parts and checks.
            if isinstance(value.get(key), list):
                value = {**value, key: self._walk(value[key], f"{path}.{key}", found, depth=1)}
        if "content" not in value:
            return value
        content = value["content"]
        if isinstance(content, str):
            _check_text(content, f"{path}.content")
        if not isinstance(content, list):
            return value
        return {**value, "content": self._text_of(content, f"{path}.content", found)}

    def _text_of(self, parts: list[Any], path: str, found: dict[str, Any]) -> str:
        """Join the parts into one text, each image as its marker where it stood."""
        out = []
        for j, part in enumerate(parts):
            where = f"{path}.{j}"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                _check_text(part["text"], f"{where}.text")
                out.append(part["text"])
            elif kind == "image_url":
                out.append(marker(self._image(part.get("image_url"), f"{where}.image_url", found)))
            else:
                raise ValidationError(
                    'a content part must be {"type": "text", "text": ...} or '
                    '{"type": "image_url", "image_url": {"url": ...}}',
                    where,
                )
        return "".join(out)

    def _image(self, ref: Any, where: str, found: dict[str, Any]) -> str:
        """Read, check and keep one image; return its sha256."""
        url = ref.get("url") if isinstance(ref, dict) else ref
        where = f"{where}.url" if isinstance(ref, dict) else where
        if not isinstance(url, str) or not url:
            raise ValidationError("give the image's url (a data: URI or a file name)", where)
        if self.store is None:
            raise ValidationError("images cannot be imported here", where)
        data = self._read(url, where)
        sniffed = sniff(data)
        if sniffed is None:
            raise ValidationError(NOT_AN_IMAGE, where)
        sha = hashlib.sha256(data).hexdigest()
        if self.store.write(self.project_id, sha, data):
            self.created.append(sha)
        found[sha] = {
            "project_id": self.project_id,
            "sha256": sha,
            "media_type": sniffed.media_type,
            "bytes": len(data),
            "width": sniffed.width,
            "height": sniffed.height,
        }
        return sha

    def _read(self, url: str, where: str) -> bytes:
        assert self.store is not None
        limit = self.store.max_bytes
        if url.startswith("data:"):
            return _decode_data_uri(url, where, limit)
        scheme = url.split(":", 1)[0].lower() if ":" in url.split("/", 1)[0] else ""
        if scheme in ("http", "https"):
            raise ValidationError(
                "remote image URLs are not fetched: give a data: URI, or a file next to "
                "the import file",
                where,
            )
        if scheme:
            raise ValidationError(
                f"unsupported URL scheme {scheme!r}: use data: or a file name", where
            )
        return self._read_file(url, where, limit)

    def _read_file(self, name: str, where: str, limit: int) -> bytes:
        if self.base_dir is None:
            raise ValidationError(
                "a file name works only in a file import (the CLI or a folder pull); "
                "give a data: URI",
                where,
            )
        folder = self.base_dir.resolve()
        try:
            path = (folder / name).resolve()
            if not path.is_relative_to(folder):
                raise ValidationError("must name a file inside the import file's folder", where)
            if not path.is_file():
                raise ValidationError(f"no file {name!r} next to the import file", where)
            size = path.stat().st_size
            if size > limit:
                raise ValidationError(_too_big(size, limit), where)
            return path.read_bytes()
        except (OSError, ValueError) as exc:  # a NUL in the name, a name too long, no access
            raise ValidationError(f"cannot read the file {name[:200]!r}: {exc}", where) from None

    def commit(self, session: Session) -> None:
        """Add the rows of the kept images this project has no row for yet."""
        if not self.kept:
            return
        have = set(
            session.execute(
                sa.select(Image.sha256).where(
                    Image.project_id == self.project_id, Image.sha256.in_(list(self.kept))
                )
            ).scalars()
        )
        rows = [{**v, "created_at": utcnow()} for k, v in self.kept.items() if k not in have]
        if rows:
            session.execute(sa.insert(Image), rows)

    def tidy(self, engine: sa.Engine) -> None:
        """Remove the files this batch created that no image row holds."""
        if self.store is not None and self.created:
            self._remove(engine, self.created)
        self.created = []

    def sweep(self, engine: sa.Engine) -> None:
        """Remove the project's files no image row holds (left by a crashed import)."""
        if self.store is not None:
            self._remove(engine, [p.name for p in self.store.files(self.project_id)])

    def _remove(self, engine: sa.Engine, shas: Iterable[str]) -> None:
        assert self.store is not None
        shas = list(shas)
        if not shas:
            return
        with Session(engine) as s:
            held = set(
                s.execute(
                    sa.select(Image.sha256).where(Image.project_id == self.project_id)
                ).scalars()
            )
        for sha in shas:
            if sha not in held:
                self.store.path(self.project_id, sha).unlink(missing_ok=True)


def _check_text(text: str, where: str) -> None:
    """Refuse text that already holds an image marker: markers come only from image parts."""
    if SCHEME in text:
        raise ValidationError(
            f"text must not contain {SCHEME!r}: give images as image_url content parts", where
        )


def _decode_data_uri(url: str, where: str, limit: int) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise ValidationError("a data: URI must be base64 (data:image/png;base64,...)", where)
    if len(payload) * 3 // 4 > limit + 3:
        raise ValidationError(_too_big(len(payload) * 3 // 4, limit), where)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("the data: URI is not valid base64", where) from None
    if len(data) > limit:
        raise ValidationError(_too_big(len(data), limit), where)
    return data


def _too_big(size: int, limit: int) -> str:
    return f"the image is {size} bytes, over the limit of {limit} bytes"


def shown_shas(data: Mapping[str, Any]) -> set[str]:
    """Return the sha256 of each image an item's content shows (never its metadata).

    Markers stand only in the ``content`` of a prompt, turn, response or tool turn: the
    import puts them there and refuses them anywhere else in text.
    """
    texts = [data.get("prompt")] + [m.get("content") for m in data.get("messages") or []]
    for r in data.get("responses") or []:
        texts += [r.get("content")] + [t.get("content") for t in r.get("tool_turns") or []]
    return {sha for t in texts if isinstance(t, str) and SCHEME in t for sha in shas(t)}


def link(session: Session, items: list[tuple[int, Mapping[str, Any]]], *, new: bool) -> None:
    """Record the images each item's content shows (replacing, unless the items are new)."""
    if items and not new:
        ids = [i for i, _ in items]
        session.execute(sa.delete(ItemImage).where(ItemImage.item_id.in_(ids)))
    rows = [{"item_id": i, "sha256": sha} for i, data in items for sha in sorted(shown_shas(data))]
    if rows:
        session.execute(sa.insert(ItemImage), rows)


# The leases through which a rater sees an item: the one on the screen, and those judged
# (the screen reopens a judgment to revise it; a draft restores on the live lease).
_SEEN = (LeaseStatus.ACTIVE.value, LeaseStatus.SUBMITTED.value)


def viewable(
    *, session: Session, store: ImageStore, project_id: int, sha256: str, user: User
) -> tuple[Image, Path]:
    """Return an image row and its file, for a user who may see it.

    Admins and engineers see every project's images. A rater sees an image only through
    an item that shows it and that they hold a lease on now or have judged, in a project
    they may still rate (``members.may_rate``): not a gold item's picture nor one of an
    item never handed to them, though they may guess its sha256. One query, through the
    (sha256) and (item, rater) indexes. Anything else is "not found", so a rater cannot
    even learn that the project holds an image.
    """
    query = sa.select(Image).where(Image.project_id == project_id, Image.sha256 == sha256)
    if user.role not in ("admin", "engineer"):
        seen = sa.exists().where(
            ItemImage.sha256 == sha256,
            Assignment.item_id == ItemImage.item_id,
            Assignment.rater_id == user.id,
            Assignment.project_id == project_id,
            Assignment.status.in_(_SEEN),
        )
        query = query.where(seen, members.may_rate(project_id, user.id))
    image = session.execute(query).scalar_one_or_none()
    if image is None:
        raise NotFound("No such image.")
    path = store.path(project_id, sha256)
    if not path.is_file():
        raise NotFound("The image's file is missing (run rankroom doctor).")
    return image, path
