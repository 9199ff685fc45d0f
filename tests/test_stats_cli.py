"""``rankroom stats`` prints the same report as the API."""

from __future__ import annotations

import json

from service.cli import main
from tests.seeding import tiny_campaign


def test_stats_command_prints_the_api_report(app, client, make, runner):
    tiny_campaign(app, make)
    result = runner.invoke(main, ["stats", "agreement", "--project", "tiny", "--gold", "exclude"])
    assert result.exit_code == 0, result.output
    _, secret = make.token(make.user("admin"), ["stats"])
    api = client.get(
        "/api/v1/projects/tiny/stats/agreement?gold=exclude",
        headers={"Authorization": f"Bearer {secret}"},
    ).get_json()
    assert json.loads(result.output) == api


def test_stats_command_writes_csv_tables_with_rates(app, make, runner):
    tiny_campaign(app, make)
    result = runner.invoke(
        main,
        [
            "stats",
            "cost",
            "--project",
            "tiny",
            "--format",
            "csv",
            "--table",
            "raters",
            "--rate",
            "law=60",
            "--default-rate",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("id,name,expertise,hourly_rate,rate_source")
    assert sorted(line.split(",")[4] for line in lines[1:]) == [
        "default rate",
        "group: law",
        "group: law",
    ]


def test_stats_command_reports_bad_filters(app, make, runner):
    tiny_campaign(app, make)
    result = runner.invoke(main, ["stats", "raters", "--project", "tiny", "--from", "soon"])
    assert result.exit_code == 1
    assert "Invalid dashboard filters." in result.output and "from:" in result.output
