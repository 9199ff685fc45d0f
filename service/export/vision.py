"""Rows with images in the trainers' vision formats.

Stored text holds each image as a marker (``service/images.py``). When an export's
projects hold images and its rows are conversational, every message's ``content``
becomes a list of parts, so a column keeps one type in every row:

- TRL formats (dpo, reward, kto, sft): ``{"type": "text", "text"}`` and
  ``{"type": "image", "text": null}`` placeholders, and an ``images`` column, first, listing one
  image per placeholder in the order the placeholders appear in the row (TRL's
  vision format; see shared/reference/trl-dataset-formats.md). An image travels as a
  ``data:`` URI in JSON Lines (one self-contained file, the same bytes from every
  door) and as ``datasets.Image`` (bytes and a file name) in the Parquet folder.
- openai: OpenAI's own parts, ``{"type": "image_url", "image_url": {"url"}}`` with a
  data URI; no ``images`` column.

Text-only projects never get here: their rows stay byte for byte as they were.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.images import ImageStore, parts, sniff
from service.models import Image

# The message columns of each format that can carry images (a path into the row).
MESSAGE_COLUMNS: dict[str, tuple[tuple[str, ...], ...]] = {
    "dpo": (("prompt",), ("chosen",), ("rejected",)),
    "reward": (("chosen",), ("rejected",)),
    "kto": (("prompt",), ("completion",)),
    "sft": (("messages",),),
    "openai": (("input", "messages"), ("preferred_output",), ("non_preferred_output",)),
}
# Formats whose rows are message lists in every variant.
ALWAYS_MESSAGES = ("sft", "openai")
_CACHED = 64  # data URIs kept: an item's rows share their images


def wanted(session: Session, *, fmt: str, conversational: bool, project_ids: list[int]) -> bool:
    """Tell whether an export writes the vision format: its projects hold any image."""
    if fmt not in MESSAGE_COLUMNS or (fmt not in ALWAYS_MESSAGES and not conversational):
        return False
    held = sa.select(Image.id).where(Image.project_id.in_(project_ids)).limit(1)
    return session.execute(held).first() is not None


class Vision:
    """Turn one format's rows into its vision form, reading images from the store."""

    def __init__(self, *, fmt: str, store: ImageStore) -> None:
        self.fmt = fmt
        self.store = store
        self.paths = MESSAGE_COLUMNS[fmt]
        self._uris: OrderedDict[tuple[int, str], str] = OrderedDict()

    def apply(self, row: dict[str, Any], project_id: int) -> dict[str, Any]:
        """Return ``row`` with list contents (and, for TRL, its ``images`` first)."""
        images: list[str] = []
        out = dict(row)
        for path in self.paths:
            holder = out
            for key in path[:-1]:
                inner = dict(holder[key])
                holder[key] = inner
                holder = inner
            holder[path[-1]] = [self._message(m, images, project_id) for m in holder[path[-1]]]
        if self.fmt == "openai":
            return out
        return {"images": images, **out}

    def _message(self, message: dict[str, Any], images: list[str], project_id: int) -> Any:
        content: list[dict[str, Any]] = []
        for kind, value in parts(message["content"]):
            if kind == "text":
                content.append({"type": "text", "text": value})
            elif self.fmt == "openai":
                url = self.data_uri(project_id, value)
                content.append({"type": "image_url", "image_url": {"url": url}})
            else:
                images.append(self.data_uri(project_id, value))
                # "text": null as in TRL's own vision datasets: every part has the same
                # keys, so datasets reads the column as one struct type, not as Json.
                content.append({"type": "image", "text": None})
        return {**message, "content": content or [{"type": "text", "text": ""}]}

    def data_uri(self, project_id: int, sha256: str) -> str:
        """Return one stored image as a base64 ``data:`` URI of its verified type."""
        key = (project_id, sha256)
        uri = self._uris.get(key)
        if uri is None:
            try:
                data = self.store.path(project_id, sha256).read_bytes()
            except OSError:
                raise ValueError(f"image {sha256} is missing from the image store") from None
            sniffed = sniff(data)
            media_type = sniffed.media_type if sniffed else "application/octet-stream"
            uri = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
            self._uris[key] = uri
            if len(self._uris) > _CACHED:
                self._uris.popitem(last=False)
        return uri


def image_value(uri: str) -> dict[str, Any]:
    """Return a data URI as ``datasets.Image`` stores an image: its bytes and a file name."""
    data = base64.b64decode(uri.partition(",")[2])
    sniffed = sniff(data)
    suffix = sniffed.media_type.split("/")[1] if sniffed else "bin"
    return {"bytes": data, "path": f"{hashlib.sha256(data).hexdigest()}.{suffix}"}
