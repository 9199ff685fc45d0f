"""The image rules on literals: types by magic bytes, sizes from headers, the marker, the HTML."""

from __future__ import annotations

import struct

import pytest

from service.images import ImageStore, Sniffed, marker, parts, shas, sniff
from service.rating.image_html import render_with_images
from tests.pictures import shapes

SHA_A, SHA_B = "a" * 64, "b" * 64


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc2" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def _webp(chunk: bytes, body: bytes) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(body))
        + b"WEBP"
        + chunk
        + struct.pack("<I", len(body))
        + body
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (shapes("circle", (1, 2, 3)), Sniffed("image/png", 96, 96)),
        (b"GIF87a\x40\x01\xf0\x00" + b"\x00" * 8, Sniffed("image/gif", 320, 240)),
        (_jpeg(640, 480), Sniffed("image/jpeg", 640, 480)),
        (b"\xff\xd8\xff\xe0\x00", Sniffed("image/jpeg", None, None)),  # no frame header: no size
        (
            _webp(b"VP8X", b"\x00" * 4 + (799).to_bytes(3, "little") + (599).to_bytes(3, "little")),
            Sniffed("image/webp", 800, 600),
        ),
        (
            _webp(b"VP8L", b"\x2f" + ((99) | (49 << 14)).to_bytes(4, "little")),
            Sniffed("image/webp", 100, 50),
        ),
        (
            _webp(b"VP8 ", b"\x00" * 3 + b"\x9d\x01\x2a" + struct.pack("<HH", 30, 20)),
            Sniffed("image/webp", 30, 20),
        ),
    ],
    ids=["png", "gif", "jpeg", "jpeg-no-frame", "webp-vp8x", "webp-vp8l", "webp-vp8"],
)
def test_sniff_reads_the_type_and_size_from_the_bytes(data, expected):
    assert sniff(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7",
        b"\x89PNG\r\n\x1a\n",  # a PNG signature without its header
        b"BM\x00\x00",  # BMP: not on the allow-list
        b"",
    ],
    ids=["svg", "pdf", "truncated-png", "bmp", "empty"],
)
def test_sniff_refuses_what_is_not_an_allowed_image(data):
    assert sniff(data) is None


def test_parts_split_text_at_the_markers_in_order():
    text = "Look: " + marker(SHA_A) + marker(SHA_B) + " and compare."
    assert parts(text) == [
        ("text", "Look: "),
        ("image", SHA_A),
        ("image", SHA_B),
        ("text", " and compare."),
    ]
    assert shas(text) == [SHA_A, SHA_B]
    assert parts("no images") == [("text", "no images")]
    assert parts(marker(SHA_A)) == [("image", SHA_A)]


def test_the_store_names_files_by_project_and_sha_only(tmp_path):
    store = ImageStore(tmp_path)
    assert store.write(7, SHA_A, b"x") is True
    assert store.write(7, SHA_A, b"x") is False  # already kept
    assert (tmp_path / "7" / SHA_A).read_bytes() == b"x"
    with pytest.raises(ValueError):
        store.path(7, "../../etc/passwd")


def test_render_shows_each_image_as_a_zoom_button_and_sanitises_the_text():
    html = render_with_images("**Which?** <script>x()</script>" + marker(SHA_A) + "_end_", 3)
    assert html == (
        "<p><strong>Which?</strong> &lt;script&gt;x()&lt;/script&gt;</p>\n"
        '<figure class="item-image"><button type="button" class="image-zoom" '
        'aria-expanded="false" title="Enlarge (Enter); Esc closes">'
        f'<img src="/images/3/{SHA_A}" alt="Image 1"></button></figure>'
        "<p><em>end</em></p>\n"
    )
    # Text without images renders exactly as before.
    assert render_with_images("plain **text**", 3) == "<p>plain <strong>text</strong></p>\n"
