"""Malformed imports: refused with the line and field at every door (API and CLI), no batch kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from service import cli, db
from service.models import ImportBatch, Item
from tests.factories import item_row

TOKEN = '"TOKEN"'
NO_ITEMS = "No items: the input is empty (no lines, or an empty JSON array); nothing was imported."


def _line(token: str, **where: Any) -> str:
    """Return an item row as JSON text with ``token`` (raw JSON) where TOKEN is placed."""
    return json.dumps(item_row("bad", **where)).replace(TOKEN, token)


# (the bad line, the field named, the message)
BAD_LINES: dict[str, tuple[str, str, str]] = {
    "gold preferred as a list": (
        json.dumps(item_row("bad", gold={"preferred": ["a"]})),
        "gold.preferred",
        "a response id (a string)",
    ),
    "gold tie as a string": (
        json.dumps(item_row("bad", gold={"tie": "yes"})),
        "gold.tie",
        "Not a valid boolean.",
    ),
    "gold ranking as a string": (
        json.dumps(item_row("bad", gold={"ranking": "ab"})),
        "gold.ranking",
        "a list of response ids or groups of ids, best first",
    ),
    "priority as a string": (
        json.dumps(item_row("bad", priority="5")),
        "priority",
        "Not a valid integer.",
    ),
    "NaN in item metadata": (
        _line("NaN", metadata={"score": "TOKEN"}),
        "metadata.score",
        "must be a finite number (not NaN or Infinity, which JSON does not allow).",
    ),
    "Infinity deep in item metadata": (
        _line("-Infinity", metadata={"scores": [1, "TOKEN"]}),
        "metadata.scores.1",
        "must be a finite number (not NaN or Infinity, which JSON does not allow).",
    ),
    "1e400 in item metadata": (
        _line("1e400", metadata={"x": "TOKEN"}),
        "metadata.x",
        "must be a finite number (not NaN or Infinity, which JSON does not allow).",
    ),
    "a whole number past 64 bits": (
        _line(str(2**64), metadata={"x": "TOKEN"}),
        "metadata.x",
        "a whole number past 64 bits is too large to keep exactly.",
    ),
    "a 5000-digit integer": (
        _line("9" * 5000, metadata={"x": "TOKEN"}),
        "metadata.x",
        "a whole number of 5000 digits is too large.",
    ),
}


def _batches_and_items(app) -> tuple[int, int]:
    with app.app_context():
        s = db.session()
        batches = s.execute(sa.select(sa.func.count()).select_from(ImportBatch)).scalar_one()
        items = s.execute(sa.select(sa.func.count()).select_from(Item)).scalar_one()
        return batches, items


@pytest.fixture
def project(make):
    return make.project(slug="imp")


@pytest.mark.parametrize("case", BAD_LINES)
def test_api_import_names_the_line_and_field(app, client, admin_headers, project, case):
    line, field, message = BAD_LINES[case]
    body = json.dumps(item_row("good")) + "\n" + line + "\n"
    r = client.post(
        "/api/v1/projects/imp/items",
        data=body,
        content_type="application/x-ndjson",
        headers=admin_headers,
    )
    assert r.status_code == 422, r.data
    errors = r.get_json()["errors"]
    assert [{k: e[k] for k in ("line", "field", "message")} for e in errors] == [
        {"line": 2, "field": field, "message": message}
    ]
    assert _batches_and_items(app) == (0, 0)


@pytest.mark.parametrize("case", BAD_LINES)
def test_cli_import_names_the_line_and_field(app, runner, project, tmp_path, case):
    line, field, message = BAD_LINES[case]
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(item_row("good")) + "\n" + line + "\n")
    r = runner.invoke(cli.main, ["import", str(path), "--project", "imp"])
    assert r.exit_code == 1, r.output
    assert f"line 2: {field}: {message}" in r.output
    assert _batches_and_items(app) == (0, 0)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/x-ndjson"),
        (b"\n  \n\r\n", "application/x-ndjson"),
        (b"[]", "application/json"),
        (b"\xef\xbb\xbf[ ]", "application/json"),
    ],
    ids=["empty", "blank lines", "empty array", "bom and empty array"],
)
def test_api_import_of_no_items_is_refused(app, client, admin_headers, project, body, content_type):
    r = client.post(
        "/api/v1/projects/imp/items", data=body, content_type=content_type, headers=admin_headers
    )
    assert r.status_code == 422, r.data
    answer = r.get_json()
    assert answer.pop("request_id")
    assert answer == {"ok": False, "status": 422, "error": NO_ITEMS, "errors": []}
    assert _batches_and_items(app) == (0, 0)


@pytest.mark.parametrize("text", ["", "\n\n   \n"], ids=["empty", "blank lines"])
def test_cli_import_of_no_items_fails(app, runner, project, tmp_path, text):
    path = tmp_path / "empty.jsonl"
    path.write_text(text)
    r = runner.invoke(cli.main, ["import", str(path), "--project", "imp"])
    assert r.exit_code == 1, r.output
    assert f"Error: {NO_ITEMS}" in r.output
    assert _batches_and_items(app) == (0, 0)
