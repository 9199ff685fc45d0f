"""Images in item content: the marker that holds one in text, verified types, the file store.

An imported image becomes a marker in the text of its turn or response,
``![image](rankroom-image:<sha256>)``, at the place its content part had. So the
text alone says what a rater saw, images included: ``shown_sha256`` hashes it
(``rating/shown.py``), spans and rewrites count it, and one function
(``parts``) turns it back into content parts for an export. The bytes are files,
one per project and sha256 (``ImageStore``), with an ``image`` row each.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEME = "rankroom-image:"
MARKER = re.compile(r"!\[image\]\(rankroom-image:([0-9a-f]{64})\)")
# The allow-list: what a browser shows under img-src 'self' and every vision processor reads.
MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")


def image_url(project_id: int, sha256: str) -> str:
    """Return the path an image is served at (``service/web/images.py``): no name, no model."""
    return f"/images/{project_id}/{sha256}"


def marker(sha256: str) -> str:
    """Return the text that stands for one image inside a turn or response."""
    return f"![image]({SCHEME}{sha256})"


def shas(text: str) -> list[str]:
    """Return the sha256 of each image in ``text``, in order (repeats kept)."""
    return MARKER.findall(text)


def parts(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ("text", words) and ("image", sha256) parts, in order.

    Empty text between two images (or at either end) is left out, so an image
    followed by a question gives two parts.
    """
    out: list[tuple[str, str]] = []
    at = 0
    for match in MARKER.finditer(text):
        if match.start() > at:
            out.append(("text", text[at : match.start()]))
        out.append(("image", match.group(1)))
        at = match.end()
    if at < len(text):
        out.append(("text", text[at:]))
    return out


@dataclass(frozen=True)
class Sniffed:
    """What the bytes of an image are (by their magic bytes), and its size if cheap to read."""

    media_type: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes) -> Sniffed | None:
    """Return the verified type of ``data`` (and its dimensions), or None if not allowed.

    The declared type of a data URI or a file's name is never trusted: a browser told
    ``nosniff`` shows what the header says, so the header must be true.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return Sniffed("image/png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return Sniffed("image/gif", width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Sniffed("image/webp", *_webp_size(data))
    if data.startswith(b"\xff\xd8\xff"):
        return Sniffed("image/jpeg", *_jpeg_size(data))
    return None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    """Read a WebP's canvas size from its first chunk (VP8X, VP8L or VP8)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None, None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    """Read a JPEG's size from its first start-of-frame segment (None if not found)."""
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None, None
        kind = data[at + 1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:  # markers without a length
            at += 2
            continue
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None, None


@dataclass(frozen=True)
class ImageStore:
    """Image files, content-addressed by sha256 in one folder per project.

    A file is written whole (a temporary file renamed into place), so a reader never
    sees half an image; writing the same image twice is harmless.
    """

    root: Path
    max_bytes: int = 10 * 2**20

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ImageStore:
        """Read the IMAGES_DIR and IMAGE_MAX_BYTES settings."""
        return cls(Path(config["IMAGES_DIR"]), int(config["IMAGE_MAX_BYTES"]))

    def path(self, project_id: int, sha256: str) -> Path:
        """Return where one project's image with this sha256 is (or would be) kept."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / str(project_id) / sha256

    def write(self, project_id: int, sha256: str, data: bytes) -> bool:
        """Keep ``data`` under its sha256; return True if the file is new."""
        target = self.path(project_id, sha256)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def files(self, project_id: int) -> Iterator[Path]:
        """Yield the image files kept for one project."""
        folder = self.root / str(project_id)
        if folder.is_dir():
            yield from (p for p in folder.iterdir() if len(p.name) == 64)
