"""Active time per rater per day, for paying raters: the cost report's hours, by UTC day."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from service import db
from service.cli import main
from service.models import Judgment
from tests.factories import item_row, rewriting_history

DAY_1 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
DAY_2 = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


def _submit(client, auth, active_ms, choice="A"):
    headers = {"X-CSRF-Token": auth.csrf()}
    lease = client.post("/api/v1/projects/pay/next", headers=headers).get_json()["assignment"]
    body = {"client_id": str(uuid.uuid4()), "verdict": {"choice": choice}}
    if active_ms is not None:
        body["active_ms"] = active_ms
    r = client.post(f"/api/v1/assignments/{lease['id']}/judgment", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _revise(client, auth, judgment, active_ms):
    r = client.post(
        f"/api/v1/judgments/{judgment['id']}/revise",
        json={"client_id": str(uuid.uuid4()), "verdict": {"choice": "tie"}, "active_ms": active_ms},
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def worked(app, client, auth, make):
    """One rater: day 1 a 60 s judgment revised (+15 s) and a 45 min one; day 2 one untimed."""
    rater = auth.as_role("rater", display_name="Rita Payne")
    project = make.project(slug="pay", mode="pairwise", scale="ternary", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2"), item_row("q3")])
    first = _submit(client, auth, 60_000)
    revised = _revise(client, auth, first, 15_000)
    long = _submit(client, auth, 45 * 60_000)
    untimed = _submit(client, auth, None)
    with app.app_context(), db.write_session() as s, rewriting_history(s):
        for jid, when in ((revised["id"], DAY_1), (long["id"], DAY_1), (untimed["id"], DAY_2)):
            s.execute(sa.update(Judgment).where(Judgment.id == jid).values(created_at=when))
    return project, rater


def test_hours_per_rater_per_day_follow_the_cost_rule(client, make, worked):
    _, rater = worked
    _, secret = make.token(make.user("admin"), ["admin"])
    headers = {"Authorization": f"Bearer {secret}"}
    body = client.get("/api/v1/projects/pay/stats/active-time", headers=headers).get_json()
    cost = client.get("/api/v1/projects/pay/stats/cost", headers=headers).get_json()
    # Chains: 60 + 15 s, 2,700 s; the untimed one is charged the median chain (1,387.5 s).
    median_s = (75 + 2700) / 2
    assert body["per_rater_day"] == [
        {
            "id": rater.id,
            "username": rater.username,
            "name": "Rita Payne",
            "date": "2026-03-01",
            "judgments": 2,
            "hours": pytest.approx((75 + 2700) / 3600),
            "untimed": 0,
            "long_items": 1,
        },
        {
            "id": rater.id,
            "username": rater.username,
            "name": "Rita Payne",
            "date": "2026-03-02",
            "judgments": 1,
            "hours": pytest.approx(median_s / 3600),
            "untimed": 1,
            "long_items": 0,
        },
    ]
    assert body["per_rater"] == [
        {
            "id": rater.id,
            "username": rater.username,
            "name": "Rita Payne",
            "days": 2,
            "judgments": 3,
            "hours": pytest.approx(cost["per_rater"][0]["hours"]),
            "untimed": 1,
            "long_items": 1,
        }
    ]
    assert body["hours"] == cost["hours"]
    assert body["median_minutes"] == cost["median_minutes"] == pytest.approx(median_s / 60)
    assert (body["idle_minutes"], body["long_minutes"]) == (5, 30)
    assert "last 5 minutes" in body["rule"]


def test_cli_csv_and_the_admin_page(app, client, auth, runner, worked):
    result = runner.invoke(
        main,
        ["stats", "active-time", "--project", "pay", "--format", "csv", "--table", "per_rater_day"],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["date"], r["judgments"], r["untimed"]) for r in rows] == [
        ("2026-03-01", "2", "0"),
        ("2026-03-02", "1", "1"),
    ]
    assert float(rows[0]["hours"]) == pytest.approx(2775 / 3600)

    assert client.get("/projects/pay/dashboard/active-time").status_code == 403  # a rater
    auth.as_role("admin")
    page = client.get("/projects/pay/dashboard/active-time")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Rita Payne" in html and "2026-03-02" in html and "last 5 minutes" in html
    assert 'href="/projects/pay/dashboard/active-time"' in client.get(
        "/projects/pay/dashboard/"
    ).get_data(as_text=True)


def test_a_stats_token_sees_pseudonyms(client, make, worked):
    _, secret = make.token(make.user("engineer"), ["stats"])
    body = client.get(
        "/api/v1/projects/pay/stats/active-time", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    text = str(body)
    assert "Rita Payne" not in text and worked[1].username not in text
    assert len(body["per_rater_day"]) == 2
