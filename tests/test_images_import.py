"""Images in imported content: kept as verified files with a row; bad ones refuse the line."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service import cli, db
from service.images import marker
from service.models import Image, ImportBatch, Item, Response
from tests.pictures import shapes
from tests.pullkit import add_source, jsonl, pull_now

RED = shapes("circle", (200, 0, 0))
BLUE = shapes("square", (0, 0, 200))
GIF = b"GIF89a\x02\x00\x03\x00\x80\x00\x00" + b"\x00" * 20
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_uri(data: bytes, declared: str = "image/png") -> str:
    return f"data:{declared};base64,{base64.b64encode(data).decode()}"


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def row(ext: str, url: str, answer: Any = "A circle.") -> dict[str, Any]:
    """A conversation whose user turn shows one image, then asks about it."""
    return {
        "id": ext,
        "messages": [
            {
                "role": "user",
                "content": [image_part(url), {"type": "text", "text": "What shape is this?"}],
            }
        ],
        "responses": [
            {"id": "a", "model": "m1", "content": answer},
            {"id": "b", "model": "m2", "content": "A square."},
        ],
    }


@pytest.fixture
def project(make):
    return make.project(slug="pics")


def _post(client, headers, rows: list[dict[str, Any]], **query: str):
    body = "\n".join(json.dumps(r) for r in rows) + "\n"
    return client.post(
        "/api/v1/projects/pics/items",
        data=body,
        content_type="application/x-ndjson",
        headers=headers,
        query_string=query,
    )


def _stored(app) -> dict[str, Any]:
    """Everything an import may leave behind: batches, items, image rows, image files."""
    with app.app_context():
        s = db.session()
        count = sa.select(sa.func.count())
        files = sorted(p.name for p in Path(app.config["IMAGES_DIR"]).rglob("*") if p.is_file())
        return {
            "batches": s.execute(count.select_from(ImportBatch)).scalar_one(),
            "items": s.execute(count.select_from(Item)).scalar_one(),
            "images": s.execute(count.select_from(Image)).scalar_one(),
            "files": files,
        }


NOTHING = {"batches": 0, "items": 0, "images": 0, "files": []}


def test_an_image_in_a_prompt_and_a_response_is_kept_as_a_file_with_a_row(
    app, client, admin_headers, project
):
    answer = [{"type": "text", "text": "Here it is in blue: "}, image_part(data_uri(BLUE))]
    r = _post(client, admin_headers, [row("one", data_uri(RED), answer=answer)])
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["created"] == 1
    with app.app_context():
        s = db.session()
        item = s.execute(sa.select(Item)).scalar_one()
        assert item.messages == [
            {"role": "user", "content": marker(sha(RED)) + "What shape is this?"}
        ]
        texts = s.execute(sa.select(Response.content).order_by(Response.position)).scalars()
        assert list(texts) == ["Here it is in blue: " + marker(sha(BLUE)), "A square."]
        images = s.execute(sa.select(Image).order_by(Image.sha256)).scalars().all()
        assert [
            (i.project_id, i.sha256, i.media_type, i.bytes, i.width, i.height) for i in images
        ] == sorted(
            [
                (project.id, sha(RED), "image/png", len(RED), 96, 96),
                (project.id, sha(BLUE), "image/png", len(BLUE), 96, 96),
            ],
            key=lambda t: t[1],
        )
    folder = Path(app.config["IMAGES_DIR"]) / str(project.id)
    assert (folder / sha(RED)).read_bytes() == RED
    assert (folder / sha(BLUE)).read_bytes() == BLUE


def test_trl_pairs_carry_images_in_their_prompt(app, client, admin_headers, project):
    prompt = [{"role": "user", "content": [image_part(data_uri(GIF, "image/png"))]}]
    pair = {"prompt": prompt, "chosen": "A dot.", "rejected": "Nothing."}
    r = _post(client, admin_headers, [pair])
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        image = db.session().execute(sa.select(Image)).scalar_one()
        # The declared type is ignored: the bytes say GIF.
        assert (image.media_type, image.width, image.height) == ("image/gif", 2, 3)
        item = db.session().execute(sa.select(Item)).scalar_one()
        assert item.messages == [{"role": "user", "content": marker(sha(GIF))}]


URL = "messages.0.content.0.image_url.url"
BAD: dict[str, tuple[str, str, str]] = {
    "svg declared as png": (
        data_uri(SVG),
        URL,
        "not a PNG, JPEG, WebP or GIF image (checked by its first bytes)",
    ),
    "not base64": ("data:image/png;base64,iVBOR!!", URL, "the data: URI is not valid base64"),
    "data URI without base64": (
        "data:image/png,rawbytes",
        URL,
        "a data: URI must be base64 (data:image/png;base64,...)",
    ),
    "remote URL": (
        "https://example.com/cat.png",
        URL,
        "remote image URLs are not fetched: give a data: URI, or a file next to the import file",
    ),
    "a file name through the API": (
        "cat.png",
        URL,
        "a file name works only in a file import (the CLI or a folder pull); give a data: URI",
    ),
    "another scheme": (
        "file:///etc/passwd",
        URL,
        "unsupported URL scheme 'file': use data: or a file name",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_image_refuses_the_batch_naming_its_field_and_leaves_no_file(
    app, client, admin_headers, project, case
):
    url, field, message = BAD[case]
    r = _post(client, admin_headers, [row("good", data_uri(RED)), row("bad", url)])
    assert r.status_code == 422, r.get_json()
    assert [
        {k: e[k] for k in ("line", "field", "message", "id")} for e in r.get_json()["errors"]
    ] == [{"line": 2, "field": field, "message": message, "id": "bad"}]
    # The good line's image was written while checking; the refusal removed it.
    assert _stored(app) == NOTHING


def test_an_oversized_image_is_refused(app, client, admin_headers, project):
    app.config["IMAGE_MAX_BYTES"] = len(RED) - 1
    r = _post(client, admin_headers, [row("big", data_uri(RED))])
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["field"] == URL
    assert r.get_json()["errors"][0]["message"] == (
        f"the image is {len(RED)} bytes, over the limit of {len(RED) - 1} bytes"
    )
    assert _stored(app) == NOTHING


def test_an_unknown_content_part_and_a_forged_marker_are_refused(
    app, client, admin_headers, project
):
    odd = row("odd", data_uri(RED))
    odd["messages"][0]["content"][1] = {"type": "audio", "audio": "x"}
    forged = row("forged", data_uri(RED), answer="See " + marker(sha(RED)))
    r = _post(client, admin_headers, [odd, forged])
    assert r.status_code == 422
    assert [(e["line"], e["field"]) for e in r.get_json()["errors"]] == [
        (1, "messages.0.content.1"),
        (2, "responses.0.content"),
    ]
    assert _stored(app) == NOTHING


def test_skip_invalid_keeps_the_good_lines_images_only(app, client, admin_headers, project):
    r = _post(
        client,
        admin_headers,
        # The bad line's image is good and written while checking; its line is not.
        [row("good", data_uri(RED)), {**row("bad", data_uri(BLUE)), "priority": "high"}],
        skip_invalid="true",
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["error_count"] == 1
    stored = _stored(app)
    assert (stored["items"], stored["images"], stored["files"]) == (1, 1, [sha(RED)])


def test_a_file_crashed_import_left_is_swept_by_the_next_import(
    app, client, admin_headers, project
):
    leftover = Path(app.config["IMAGES_DIR"]) / str(project.id) / sha(BLUE)
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(BLUE)
    r = _post(client, admin_headers, [row("one", data_uri(RED))])
    assert r.status_code == 201
    assert _stored(app)["files"] == [sha(RED)]


def _cli_import(app, runner, folder: Path, rows: list[dict[str, Any]]):
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return runner.invoke(cli.main, ["import", str(path), "--project", "pics"])


def test_the_cli_reads_image_files_next_to_the_import_file(app, runner, project, tmp_path):
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "red.png").write_bytes(RED)
    r = _cli_import(app, runner, tmp_path, [row("one", "shots/red.png")])
    assert r.exit_code == 0, r.output
    stored = _stored(app)
    assert (stored["items"], stored["images"], stored["files"]) == (1, 1, [sha(RED)])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.png", "no file 'missing.png' next to the import file"),
        ("../outside.png", "must name a file inside the import file's folder"),
        ("x" * 300, f"cannot read the file {'x' * 200!r}: [Errno 36] File name too long"),
    ],
    ids=["missing", "outside", "too long"],
)
def test_the_cli_refuses_a_missing_or_outside_file(app, runner, project, tmp_path, name, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "outside.png").write_bytes(BLUE)
    (tmp_path / "in" / "red.png").write_bytes(RED)
    r = _cli_import(app, runner, tmp_path / "in", [row("good", "red.png"), row("bad", name)])
    assert r.exit_code == 1, r.output
    assert f"line 2: {URL}: {message}" in r.output
    assert _stored(app) == NOTHING


def test_a_folder_pull_reads_image_files_next_to_the_jsonl(app, project, tmp_path):
    drop = tmp_path / "drop"
    (drop / "pics").mkdir(parents=True)
    (drop / "pics" / "red.png").write_bytes(RED)
    (drop / "a.jsonl").write_bytes(jsonl([row("one", "pics/red.png")]))
    add_source(
        app,
        name="picture-drop",
        project="pics",
        kind="folder",
        config={"path": str(drop), "min_age_seconds": 0},
    )
    run = pull_now(app, "picture-drop")
    assert (run.status, run.summary["created"]) == ("succeeded", 1)
    stored = _stored(app)
    assert (stored["items"], stored["images"], stored["files"]) == (1, 1, [sha(RED)])


def test_a_response_given_as_turns_gets_the_same_parts_and_checks(
    app, client, admin_headers, project
):
    """A tool-using answer's turns: text parts are joined like any content, and a forged
    marker there is refused like anywhere else (it would render as an image)."""
    parts = row("parts", data_uri(RED))
    parts["responses"][0] = {
        "id": "a",
        "messages": [{"role": "assistant", "content": [{"type": "text", "text": "hello"}]}],
    }
    forged = row("forged", data_uri(RED))
    forged["responses"][0] = {
        "id": "a",
        "messages": [{"role": "assistant", "content": "See " + marker(sha(RED))}],
    }
    r = _post(client, admin_headers, [forged])
    assert r.status_code == 422
    assert [e["field"] for e in r.get_json()["errors"]] == ["responses.0.messages.0.content"]
    assert _stored(app) == NOTHING
    r = _post(client, admin_headers, [parts])
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        (content,) = (
            db.session()
            .execute(sa.select(Response.content).where(Response.external_id == "a"))
            .scalars()
        )
        assert content == "hello"
