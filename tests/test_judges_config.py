"""Attaching judges: the admin API and the CLI, their errors, and what is stored."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from service import db
from service.cli import main
from service.models import Judge, Source
from service.projects.source_config import JUDGE_KIND
from tests.factories import item_row
from tests.judgekit import JudgeServer, prefers, verdicts

CONFIG = {"url": "http://127.0.0.1:9/v1", "model": "judge-1", "template": "pairwise"}


@pytest.fixture
def project(make):
    return make.project(slug="jc", mode="pairwise", scale="binary")


def _judges(app):
    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(Judge).order_by(Judge.id)))


def test_an_admin_attaches_lists_and_removes_a_judge(app, client, admin_headers, project):
    created = client.post(
        "/api/v1/projects/jc/judges",
        json={"name": "gpt-judge", "config": {**CONFIG, "api_key_env": "JUDGE_KEY"}},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.json
    config = {
        **CONFIG,
        "api_key_env": "JUDGE_KEY",
        "params": {},
        "concurrency": 4,
        "timeout": 60.0,
        "max_attempts": 3,
        "backoff": 1.0,
        "max_backoff": 30.0,
    }
    body = created.json
    assert {k: body[k] for k in ("name", "config", "active")} == {
        "name": "gpt-judge",
        "config": config,
        "active": True,
    }
    listed = client.get("/api/v1/projects/jc/judges", headers=admin_headers)
    assert [j["name"] for j in listed.json] == ["gpt-judge"]
    (judge,) = _judges(app)
    assert judge.config == config
    with Session(db.engine_of(app)) as s:
        source = s.exec(select(Source).where(Source.kind == JUDGE_KIND)).one()
        assert (source.name, source.config) == (
            f"judge:{judge.id}:gpt-judge",
            {"judge_id": judge.id},
        )

    again = client.post(
        "/api/v1/projects/jc/judges",
        json={"name": "gpt-judge", "config": CONFIG},
        headers=admin_headers,
    )
    assert again.status_code == 409
    assert again.json["error"] == "Project 'jc' already has a judge 'gpt-judge'."

    removed = client.delete("/api/v1/projects/jc/judges/gpt-judge", headers=admin_headers)
    assert removed.status_code == 200 and removed.json["active"] is False
    assert client.get("/api/v1/projects/jc/judges", headers=admin_headers).json == []
    assert [j.active for j in _judges(app)] == [False]


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        (
            {k: v for k, v in CONFIG.items() if k != "url"},
            "config.url",
            "Missing data for required field.",
        ),
        ({**CONFIG, "url": "ftp://x/v1"}, "config.url", "Not a valid URL."),
        (
            {**CONFIG, "template": "Judge these."},
            "config.template",
            "name a shipped template (pairwise, ranking, rating) or give the template's text, which must include $responses",
        ),
        (
            {**CONFIG, "template": "ranking"},
            "config.template",
            "jc is a pairwise project; use the pairwise template",
        ),
        (
            {**CONFIG, "params": {"response_format": {}}},
            "config.params",
            "response_format cannot be set here (Rankroom sends them itself)",
        ),
        (
            {**CONFIG, "api_key": "sk-live-1"},
            "config.api_key",
            "keys are never stored: put the key in an environment variable on the worker and give its name as api_key_env",
        ),
        (
            {**CONFIG, "concurrency": 0},
            "config.concurrency",
            "Must be greater than or equal to 1 and less than or equal to 64.",
        ),
        ({**CONFIG, "max_attempts": "3"}, "config.max_attempts", "Not a valid integer."),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(
    app, client, admin_headers, project, config, field, message
):
    response = client.post(
        "/api/v1/projects/jc/judges", json={"name": "j", "config": config}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": field, "message": message}]
    assert _judges(app) == []


def test_the_cli_adds_lists_runs_and_removes_judges(app, runner, make, tmp_path):
    project = make.project(slug="jcli", mode="pairwise", scale="ternary")
    make.items(project, [item_row("c1")])
    with JudgeServer(prefers("Answer 1")) as server:
        path = tmp_path / "judge.json"
        path.write_text(
            json.dumps({"url": server.v1, "model": "m", "template": "pairwise", "backoff": 0.01})
        )
        added = runner.invoke(
            main, ["judges", "add", "cj", "--project", "jcli", "--config", str(path)]
        )
        assert added.exit_code == 0, added.output
        assert added.output == "Added judge cj (m) to jcli.\n"
        listed = runner.invoke(main, ["judges", "list", "--project", "jcli"])
        assert listed.output.split() == ["cj", "m", "pairwise", server.v1]

        judged = runner.invoke(main, ["judge", "--project", "jcli"])
        assert judged.exit_code == 0, judged.output
        assert "Judge cj: succeeded. requests 2, cached 0, judged 2, failed 0" in judged.output
        assert len(server.requests) == 2

    assert [v.verdict["preferred"] for v in verdicts(app)] == ["b", "b"]
    # The judge's runs are the pull worker's: its source is listed with the others.
    (judge,) = _judges(app)
    sources = runner.invoke(main, ["sources", "list", "--project", "jcli"])
    assert sources.exit_code == 0, sources.output
    assert sources.output.split()[:5] == [
        f"judge:{judge.id}:cj",
        "jcli",
        "judge",
        "manual",
        "succeeded",
    ]
    removed = runner.invoke(main, ["judges", "remove", "cj", "--project", "jcli"])
    assert removed.output == "Removed judge cj from jcli; its verdicts stay.\n"
    bad = runner.invoke(
        main, ["judges", "add", "x", "--project", "jcli", "--config", '{"model": "m"}']
    )
    assert bad.exit_code == 1
    assert "config.url: Missing data for required field." in bad.output
    assert "config.template: Missing data for required field." in bad.output


def test_a_judge_without_an_endpoint_is_listed_and_never_run(
    app, runner, client, admin_headers, project
):
    # As the demo stores its simulated judge: a Judge row, verdicts written directly.
    with db.write_session(db.engine_of(app)) as s:
        s.add(Judge(project_id=project.id, name="simulated", config={"model": "sim"}))

    listed = runner.invoke(main, ["judges", "list", "--project", "jc"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.split() == ["simulated", "sim", "-", "-"]
    judged = runner.invoke(main, ["judge", "--project", "jc"])
    assert judged.exit_code == 0, judged.output
    assert judged.output == (
        "Judge simulated has no endpoint to call; skipped.\njc has no judges to run (rankroom judges add).\n"
    )
    queued = client.post("/api/v1/projects/jc/judges/simulated/runs", headers=admin_headers)
    assert queued.status_code == 409
    assert queued.json["error"] == (
        "Judge 'simulated' has no endpoint to call (its verdicts are stored otherwise)."
    )
