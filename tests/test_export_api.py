"""The two doors: `rankroom export` and GET /api/v1/export give the same bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.cli import main
from service.models import AuditEvent
from tests import export_dataset
from tests.test_export_golden import GOLDEN


@pytest.fixture
def data(make: Any) -> dict[str, Any]:
    return export_dataset.build(make)


@pytest.fixture
def token(make: Any) -> str:
    engineer = make.user(role="engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    return secret


def _get(client: Any, token: str | None, query: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1/export?{query}", headers=headers)


def _cli(runner: Any, *args: str) -> Any:
    result = runner.invoke(main, ["export", *args], catch_exceptions=False)
    return result


QUERY = "format=dpo&project=text&project=chat&pairs=adjacent"


def test_api_streams_the_same_bytes_as_the_cli(client, runner, data, token, tmp_path):
    r = _get(client, token, QUERY)
    assert r.status_code == 200
    assert r.mimetype == "application/x-ndjson"
    assert r.headers["Content-Disposition"] == 'attachment; filename="dpo.jsonl"'
    out = tmp_path / "out.jsonl"
    result = _cli(
        runner,
        "--format",
        "dpo",
        "--project",
        "text",
        "--project",
        "chat",
        "--pairs",
        "adjacent",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == r.data
    assert len(r.data.splitlines()) > 10


def test_cli_gzip_by_suffix_is_deterministic(runner, data, tmp_path):
    plain, gz = tmp_path / "a.jsonl", tmp_path / "a.jsonl.gz"
    _cli(runner, "--format", "raw", "--project", "text", "-o", str(plain))
    _cli(runner, "--format", "raw", "--project", "text", "-o", str(gz))
    first = gz.read_bytes()
    assert gzip.decompress(first) == plain.read_bytes()
    _cli(runner, "--format", "raw", "--project", "text", "-o", str(gz))
    assert gz.read_bytes() == first


def test_cli_split_files_and_card(runner, data, tmp_path):
    out = tmp_path / "ds.jsonl.gz"
    result = _cli(
        runner,
        "--format",
        "kto",
        "--project",
        "text",
        "--split",
        "train=0.5,test=0.5",
        "--seed",
        "2",
        "-o",
        str(out),
        "--card",
        "--allow-empty",  # three items: the test split may get none
    )
    assert result.exit_code == 0, result.output
    train, test = tmp_path / "ds.train.jsonl.gz", tmp_path / "ds.test.jsonl.gz"
    lines = (
        gzip.decompress(train.read_bytes()).splitlines()
        + gzip.decompress(test.read_bytes()).splitlines()
    )
    assert len(lines) == len((GOLDEN / "kto_text.jsonl").read_bytes().splitlines()) == 16
    card = (tmp_path / "README.md").read_text()
    for path in (train, test):
        content = gzip.decompress(path.read_bytes())
        assert hashlib.sha256(content).hexdigest() in card
        assert hashlib.sha256(path.read_bytes()).hexdigest() in card
        assert f"`{path.name}`" in card
    assert "  - split: test\n    path: ds.test.jsonl.gz\n" in card  # read by the HF Hub
    assert "| text | Test project | pairwise | likert7 | 3 | 1 |" in card
    assert "text v1: 8, text v2: 1" in card
    assert "medicine: 1" in card and "law: 1" in card
    assert "| split | `{'train': 0.5, 'test': 0.5}` |" in card
    assert "2025-03-01T09:00:00+00:00 to 2025-03-01T09:09:00+00:00" in card


def test_cli_rejects_bad_options_without_writing(runner, data, tmp_path):
    out = tmp_path / "x.jsonl"
    result = runner.invoke(main, ["export", "--format", "dpo", "--project", "nope", "-o", str(out)])
    assert result.exit_code == 1
    assert "No project 'nope'" in result.output
    result = runner.invoke(
        main, ["export", "--format", "dpo", "--project", "text", "--split", "a=1"]
    )
    assert result.exit_code != 0 and "give -o FILE" in result.output


def test_api_one_split_part_matches_the_cli_file(client, runner, data, token, tmp_path):
    r = _get(client, token, "format=raw&project=text&split=train=0.5,test=0.5&part=test")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="raw.test.jsonl"'
    out = tmp_path / "r.jsonl"
    _cli(
        runner,
        "--format",
        "raw",
        "--project",
        "text",
        "--split",
        "train=0.5,test=0.5",
        "-o",
        str(out),
    )
    assert (tmp_path / "r.test.jsonl").read_bytes() == r.data


def test_api_card_has_the_checksum_of_the_stream(client, data, token):
    body = _get(client, token, "format=dpo&project=text").data
    r = client.get(
        "/api/v1/export/card?format=dpo&project=text", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.mimetype == "text/markdown"
    assert hashlib.sha256(body).hexdigest() in r.get_data(as_text=True)


def test_api_records_the_export(client, data, token):
    _get(client, token, "format=dpo&project=text&tag=geo").get_data()
    with Session(db.engine()) as session:
        event = session.execute(sa.select(AuditEvent)).scalar_one()
    assert event.action == "export"
    assert event.address == "127.0.0.1"
    assert event.details["via"] == "api"
    assert event.details["rows"] == 2
    assert event.details["filters"]["tags"] == ["geo"]


def test_admin_browser_session_may_export(client, auth, data):
    auth.as_role("admin")
    r = client.get("/api/v1/export?format=ranking&project=chat")
    assert r.status_code == 200
    assert [json.loads(line)["metadata"]["item_id"] for line in r.data.splitlines()] == ["c1", "c2"]


@pytest.mark.parametrize(
    ("role", "scopes", "status"),
    [("rater", ["export"], 403), ("engineer", ["stats"], 403), ("admin", ["admin"], 200)],
)
def test_api_roles_and_scopes(client, make, data, role, scopes, status):
    user = make.user(role=role)
    _, secret = make.token(user, scopes)
    r = _get(client, secret, "format=dpo&project=text")
    assert r.status_code == status
    if status != 200:
        assert r.get_json()["ok"] is False and r.get_json()["status"] == status


def test_api_without_credentials(client, data):
    r = _get(client, None, "format=dpo&project=text")
    assert r.status_code == 401
    assert r.get_json()["ok"] is False


def test_real_usernames_refused_for_engineers(client, data, token):
    r = _get(client, token, "format=raw&project=text&real_usernames=true")
    assert r.status_code == 403
    assert "admins" in r.get_json()["error"]
    with Session(db.engine()) as session:
        assert session.execute(sa.select(sa.func.count(AuditEvent.id))).scalar_one() == 0


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("format=csv&project=text", 422, "format"),
        ("format=dpo", 422, "project"),
        ("format=dpo&project=text&unknown=1", 422, "unknown"),
        ("format=dpo&project=text&split=train=0.9,test=0.1", 422, "part"),
        ("format=dpo&project=nope", 404, None),
    ],
)
def test_api_bad_requests(client, data, token, query, status, field):
    r = _get(client, token, query)
    body = r.get_json()
    assert r.status_code == status
    assert body["ok"] is False and body["status"] == status
    if field:
        assert field in [e["field"] for e in body["errors"]]


def test_every_option_is_documented_in_the_readme():
    from service.export.options import ExportOptionsSchema, cli_flag

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for name, field in ExportOptionsSchema().fields.items():
        assert f"`{cli_flag(name, field)}`" in readme, name
    # Only options the command has: no flag spelled the way click would refuse it.
    assert "`--margin`" not in readme and "`--metadata`" not in readme
    assert "<class 'list'>" not in readme


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "dpo", "--kto-threshold", "3"], "--kto-threshold changes only kto rows"),
        (["--format", "kto", "--no-margin"], "--no-margin changes only reward rows, not kto"),
        (["--format", "raw", "--ties", "both-orders"], "--ties changes only dpo, reward"),
        (["--format", "dpo", "--model", "m-huge"], "their models: m-large, m-small"),
        (
            ["--format", "ranking", "--rating-dimension", "tone"],
            "has no per-response likert or number dimension 'tone'; it has: helpfulness",
        ),
    ],
)
def test_options_that_would_change_nothing_are_errors(runner, data, tmp_path, args, message):
    out = tmp_path / "out.jsonl"
    result = _cli(runner, *args, "--project", "rate", "--project", "text", "-o", str(out))
    assert result.exit_code == 1, result.output
    assert message in result.output and not out.exists()


def test_api_refuses_an_option_of_another_format(client, data, token):
    r = _get(client, token, "format=dpo&project=text&margin=false")
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "field": "margin",
            "message": "--no-margin changes only reward rows, not dpo: leave it out",
        }
    ]


def test_an_empty_export_fails_unless_allowed(runner, data, tmp_path):
    out = tmp_path / "empty.jsonl"
    args = ["--format", "dpo", "--project", "text", "--since", "2030-01-01", "-o", str(out)]
    result = _cli(runner, *args)
    assert result.exit_code == 1 and not out.exists()
    assert "the export has no rows, so no file was kept." in result.output
    result = _cli(runner, *args, "--allow-empty")
    assert result.exit_code == 0 and out.read_bytes() == b""


def test_help_shows_real_defaults(runner):
    result = runner.invoke(main, ["export", "--help"])
    assert result.exit_code == 0 and "<class" not in result.output


def test_the_card_names_the_scale_each_project_collected(runner, data, tmp_path):
    out = tmp_path / "all.jsonl"
    args = ["--format", "raw", "--project", "text", "--project", "chat", "--project", "rate"]
    result = _cli(runner, *args, "-o", str(out), "--card")
    assert result.exit_code == 0, result.output
    card = (tmp_path / "README.md").read_text()
    assert "| text | " in card and "| pairwise | likert7 |" in card
    assert "| ranking | ranking, ties allowed |" in card
    assert "| rating | rating: helpfulness, likert 1-5 |" in card
