"""Exports of items with images: TRL's vision format, OpenAI's parts, datasets.Image in Parquet."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import cli, db
from service.export.exporter import export_preferences
from service.export.options import parse_options
from service.images import ImageStore
from service.models import Item, Judgment
from service.rating.shown import shown_sha256
from tests.test_images_import import BLUE, RED, _post, data_uri, image_part, sha

RED_URI, BLUE_URI = data_uri(RED), data_uri(BLUE)


@pytest.fixture
def judged(app, make, client, admin_headers) -> dict[str, Any]:
    """An image item in project "pics", judged once: response a (with an image) preferred."""
    make.project(slug="pics", mode="pairwise", scale="binary")
    row = {
        "id": "shapes-1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Which shape is this?"},
                    image_part(RED_URI),
                ],
            },
        ],
        "responses": [
            {
                "id": "a",
                "content": [{"type": "text", "text": "Red circle; blue: "}, image_part(BLUE_URI)],
            },
            {"id": "b", "content": "A square."},
        ],
    }
    r = _post(client, admin_headers, [row])
    assert r.status_code == 201, r.get_json()
    rater = make.user("rater")
    with app.app_context():
        item = db.session().execute(sa.select(Item)).scalar_one()
    make.judgment(item, rater, shown=["a", "b"], preferred="a")
    return {"item": item}


def _rows(runner, *args: str) -> list[dict[str, Any]]:
    r = runner.invoke(cli.main, ["export", "--project", "pics", *args])
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout_bytes.decode().splitlines()]


SYSTEM = {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}
USER = {
    "role": "user",
    "content": [{"type": "text", "text": "Which shape is this?"}, {"type": "image", "text": None}],
}


def test_dpo_rows_carry_images_and_placeholders(app, runner, judged):
    (row,) = _rows(runner, "--format", "dpo", "--no-metadata")
    assert row == {
        "images": [RED_URI, BLUE_URI],
        "prompt": [SYSTEM, USER],
        "chosen": [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Red circle; blue: "},
                    {"type": "image", "text": None},
                ],
            }
        ],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "A square."}]}],
    }
    # A placeholder per image, in order: what TRL pairs the images column with.
    placeholders = [
        p for key in ("prompt", "chosen", "rejected") for m in row[key] for p in m["content"]
    ]
    assert len([p for p in placeholders if p["type"] == "image"]) == len(row["images"])
    assert base64.b64decode(row["images"][0].partition(",")[2]) == RED


def test_the_json_lines_load_with_datasets_one_type_per_column(app, runner, judged, tmp_path):
    import datasets

    path = tmp_path / "dpo.jsonl"
    r = runner.invoke(
        cli.main, ["export", "--project", "pics", "--format", "dpo", "--output", str(path)]
    )
    assert r.exit_code == 0, r.output
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    # No Json fallback column: every column has one type (TRL's traps, section 0).
    assert loaded.features["images"] == datasets.List(datasets.Value("string"))
    part = {"text": datasets.Value("string"), "type": datasets.Value("string")}
    message = {"content": datasets.List(part), "role": datasets.Value("string")}
    for column in ("prompt", "chosen", "rejected"):
        assert loaded.features[column] == datasets.List(message), column
    assert loaded[0]["images"] == [RED_URI, BLUE_URI]


def test_openai_rows_use_image_url_parts(app, runner, judged):
    (row,) = _rows(runner, "--format", "openai", "--no-metadata")
    assert "images" not in row
    assert row["input"]["messages"][1]["content"] == [
        {"type": "text", "text": "Which shape is this?"},
        {"type": "image_url", "image_url": {"url": RED_URI}},
    ]
    assert row["preferred_output"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": BLUE_URI},
    }


def test_the_shown_hash_covers_the_images(app, runner, judged):
    (raw,) = _rows(runner, "--format", "raw")
    # The raw archive keeps the stored text: each image a marker holding its sha256.
    assert raw["messages"][1]["content"] == (
        f"Which shape is this?![image](rankroom-image:{sha(RED)})"
    )
    by_id = {r["id"]: r["content"] for r in raw["responses"]}
    recomputed = shown_sha256(
        prompt=raw["prompt"],
        messages=raw["messages"],
        responses=[by_id[r] for r in raw["shown_order"]],
        guideline_version=raw["guideline_version"],
    )
    assert raw["shown_sha256"] == recomputed
    # Another image under the same words is another hash.
    other = [dict(m) for m in raw["messages"]]
    other[1]["content"] = other[1]["content"].replace(sha(RED), sha(BLUE))
    assert (
        shown_sha256(
            prompt=None,
            messages=other,
            responses=[by_id[r] for r in raw["shown_order"]],
            guideline_version=raw["guideline_version"],
        )
        != recomputed
    )
    with app.app_context():
        stored = db.session().execute(sa.select(Judgment.shown_sha256)).scalar_one()
    assert stored == recomputed


def test_the_parquet_folder_loads_images_as_datasets_image(app, runner, judged, tmp_path):
    import datasets

    dest = tmp_path / "ds"
    r = runner.invoke(
        cli.main, ["export", "--project", "pics", "--format", "dpo", "--to-folder", str(dest)]
    )
    assert r.exit_code == 0, r.output
    loaded = datasets.load_dataset(str(dest), "dpo", cache_dir=str(tmp_path / "cache"))["train"]
    assert loaded.features["images"] == datasets.List(datasets.Image())
    # Pillow is not installed here, so read the stored bytes instead of decoding them.
    plain = loaded.cast_column("images", datasets.List(datasets.Image(decode=False)))
    (row,) = list(plain)
    assert [(i["bytes"], i["path"]) for i in row["images"]] == [
        (RED, f"{sha(RED)}.png"),
        (BLUE, f"{sha(BLUE)}.png"),
    ]
    assert row["prompt"][1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Which shape is this?"},
            {"type": "image", "text": None},
        ],
    }


def test_a_missing_image_file_skips_its_item_and_names_it(app, judged):
    folder = Path(app.config["IMAGES_DIR"]) / str(judged["item"].project_id)
    (folder / sha(BLUE)).unlink()
    out = io.BytesIO()
    with app.app_context(), Session(db.engine()) as session:
        summary = export_preferences(
            session=session,
            options=parse_options({"project": ["pics"], "format": "dpo"}),
            out=out,
            secret_key=app.config["SECRET_KEY"],
            images=ImageStore.from_config(app.config),
        )
    assert out.getvalue() == b""
    assert summary.skipped == [
        {
            "judgment_id": 1,
            "item_id": "shapes-1",
            "field": None,
            "reason": "the item's rows could not be built: ValueError: "
            f"image {sha(BLUE)} is missing from the image store",
        }
    ]
