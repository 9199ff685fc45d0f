"""The cost report counts the active time of every version of a judgment (issue: time lost on revision)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from service import db
from service.models import Judgment, User
from tests.factories import item_row


def _submit(client, auth, slug, active_ms):
    headers = {"X-CSRF-Token": auth.csrf()}
    lease = client.post(f"/api/v1/projects/{slug}/next", headers=headers).get_json()["assignment"]
    body = {"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}}
    if active_ms is not None:
        body["active_ms"] = active_ms
    r = client.post(f"/api/v1/assignments/{lease['id']}/judgment", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _revise(client, auth, judgment, active_ms):
    body = {"client_id": str(uuid.uuid4()), "verdict": {"choice": "tie"}}
    if active_ms is not None:
        body["active_ms"] = active_ms
    r = client.post(
        f"/api/v1/judgments/{judgment['id']}/revise",
        json=body,
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_cost_adds_up_the_time_of_every_version(app, client, auth, make):
    rater = auth.as_role("rater")
    with app.app_context(), db.write_session() as s:
        # 3,600 an hour: one unit of spend per second of active time.
        s.execute(sa.update(User).where(User.id == rater.id).values(hourly_rate=3600.0))
    project = make.project(slug="cost", mode="pairwise", scale="ternary", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2"), item_row("q3")])
    first = _submit(client, auth, "cost", 60_000)
    second = _revise(client, auth, first, 15_000)
    third = _revise(client, auth, second, 5_000)  # a chain of three versions: 80 s
    timed = _submit(client, auth, "cost", 30_000)
    _revise(client, auth, timed, None)  # an untimed revision adds nothing: 30 s
    _submit(client, auth, "cost", None)  # no timing at all: the median chain, 55 s

    with app.app_context():
        stored = db.session().execute(sa.select(Judgment.active_ms).order_by(Judgment.id))
        assert stored.scalars().all() == [60_000, 15_000, 5_000, 30_000, None, None]
    assert third["active_ms"] == 5_000

    admin = make.user("admin")
    _, secret = make.token(admin, ["stats"])
    r = client.get(
        "/api/v1/projects/cost/stats/cost", headers={"Authorization": f"Bearer {secret}"}
    )
    body = r.get_json()
    assert r.status_code == 200, body
    assert (body["judgments"], body["imputed_times"]) == (3, 1)
    assert body["median_minutes"] == pytest.approx(55 / 60)
    assert body["hours"] == pytest.approx((80 + 30 + 55) / 3600)
    assert body["spend"] == pytest.approx(80 + 30 + 55)
    assert body["cost_per_judgment"] == pytest.approx(165 / 3)
    (row,) = body["per_rater"]
    assert (row["judgments"], row["spend"]) == (3, pytest.approx(165))
