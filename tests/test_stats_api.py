"""The stats API around the reports: filters, cache, access, CSV, bad input, empty projects."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from service import db
from service.dashboards import REPORTS
from service.dashboards.adjudication import adjudicate
from service.models import Adjudication, Item, Judgment, Project, User
from service.rating import judgments
from tests.factories import rewriting_history
from tests.seeding import tiny_campaign


@pytest.fixture
def tiny(app, make):
    return tiny_campaign(app, make)


@pytest.fixture
def admin(make):
    return make.user("admin")


@pytest.fixture
def headers(make, admin):
    # An admin's full view, raters by name (a stats token sees pseudonyms instead).
    _, secret = make.token(admin, ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def _get(client, headers, name, **params):
    response = client.get(
        f"/api/v1/projects/tiny/stats/{name}", headers=headers, query_string=params
    )
    assert response.status_code == 200, response.get_json()
    return response


def _body(client, headers, name, **params):
    return json.loads(_get(client, headers, name, **params).data)


# --- filters -----------------------------------------------------------------------------------


def test_date_range_keeps_judgments_made_in_it(app, client, headers, tiny):
    r3 = tiny["raters"][2]
    long_ago = datetime.now(UTC) - timedelta(days=3)
    with app.app_context(), db.write_session() as s, rewriting_history(s):
        s.execute(sa.update(Judgment).where(Judgment.rater_id == r3.id).values(created_at=long_ago))
    today = datetime.now(UTC).date()
    recent = _body(client, headers, "progress", **{"from": today.isoformat()})
    old = _body(client, headers, "progress", to=(today - timedelta(days=1)).isoformat())
    assert (recent["judgments"]["total"], old["judgments"]["total"]) == (8, 4)
    assert recent["filters"]["from"] == today.isoformat()
    assert [d["date"] for d in old["per_day"]] == [long_ago.date().isoformat()]
    kappa = _body(client, headers, "kappa", **{"from": today.isoformat()})
    assert [r["name"] for r in kappa["raters"]] == ["r1", "r2"]


def test_expertise_keeps_raters_of_that_group(client, headers, tiny):
    body = _body(client, headers, "raters", expertise="law")
    assert [r["username"] for r in body["raters"]] == ["r1", "r2"]
    assert _body(client, headers, "progress", expertise="medicine")["judgments"]["total"] == 4


def test_tags_keep_items_with_any_of_them(client, headers, tiny):
    body = _body(client, headers, "items", tags="x")
    assert sorted(row["external_id"] for row in body["disputed"]) == ["q1", "q2"]
    assert _body(client, headers, "progress", tags="x,y")["judgments"]["total"] == 12
    assert _body(client, headers, "progress", tags="nothing")["judgments"]["total"] == 0


def test_gold_items_can_be_excluded_or_kept_alone(app, client, headers, admin, tiny):
    with app.app_context(), db.write_session() as s:
        adjudicate(
            session=s,
            project=s.get(Project, tiny["project"].id),
            item_id=tiny["items"]["q2"].id,
            admin=s.get(User, admin.id),
            verdict={"preferred": "a"},
            promote_to_gold=True,
        )
    assert _body(client, headers, "progress")["items"]["gold"] == 1
    assert _body(client, headers, "progress", gold="exclude")["judgments"]["total"] == 9
    only = _body(client, headers, "raters", gold="only")
    # On q2 (gold: a) r1 and r2 chose a, r3 chose b.
    accuracy = {r["username"]: r["gold_accuracy"]["value"] for r in only["raters"]}
    assert accuracy == {"r1": 1.0, "r2": 1.0, "r3": 0.0}


def test_dimension_switches_what_raters_are_compared_on(client, headers, tiny):
    kappa = _body(client, headers, "kappa", dimension="correctness")
    assert kappa["on"] == "scores on correctness"
    # The units are now (item, response): every two raters share all eight.
    assert kappa["shared"][0][1] == 8
    agreement = _body(client, headers, "agreement", dimension="correctness")
    assert [d["name"] for d in agreement["dimensions"]] == ["correctness"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-13-01"}, "to"),
        ({"from": "2024-05-02", "to": "2024-05-01"}, "to"),
        ({"dimension": "kindness"}, "dimension"),
        ({"dimension": "rationale"}, "dimension"),
        ({"gold": "sometimes"}, "gold"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(client, headers, tiny, params, field):
    response = client.get(
        "/api/v1/projects/tiny/stats/progress", headers=headers, query_string=params
    )
    body = response.get_json()
    assert response.status_code == 422
    assert body["ok"] is False and body["status"] == 422
    assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("cost", {"rate.law": "-5"}, "rate.law"),
        ("cost", {"default_rate": "cheap"}, "default_rate"),
        ("items", {"limit": "0"}, "limit"),
        ("agreement.csv", {"table": "nope"}, "table"),
    ],
)
def test_bad_report_options_are_refused(client, headers, tiny, name, params, field):
    response = client.get(
        f"/api/v1/projects/tiny/stats/{name}", headers=headers, query_string=params
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_unknown_report_and_project_are_404(client, headers, tiny):
    response = client.get("/api/v1/projects/tiny/stats/vibes", headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("No report 'vibes'; available: progress")
    assert client.get("/api/v1/projects/nope/stats/progress", headers=headers).status_code == 404


# --- cache -------------------------------------------------------------------------------------


def test_cache_serves_repeats_and_a_new_judgment_invalidates_it(app, client, headers, tiny):
    first = _get(client, headers, "progress")
    second = _get(client, headers, "progress")
    other_filters = _get(client, headers, "progress", gold="exclude")
    assert first.headers["X-Stats-Cache"] == "miss"
    assert second.headers["X-Stats-Cache"] == "hit"
    assert other_filters.headers["X-Stats-Cache"] == "miss"
    assert first.get_json() == second.get_json()
    r1 = tiny["raters"][0]
    with app.app_context(), db.write_session() as s:
        old = (
            s.execute(sa.select(Judgment).where(Judgment.rater_id == r1.id).order_by(Judgment.id))
            .scalars()
            .first()
        )
        judgments.revise_judgment(
            session=s,
            judgment_id=old.id,
            rater=s.get(User, r1.id),
            payload={"client_id": str(uuid.uuid4()), "verdict": {"choice": "tie"}},
        )
    third = _get(client, headers, "progress")
    assert third.headers["X-Stats-Cache"] == "miss"
    assert third.get_json()["judgments"]["revisions"] == 1


def test_cache_is_invalidated_by_an_adjudication(app, client, headers, admin, tiny):
    assert _get(client, headers, "items").get_json()["adjudicated_items"] == 0
    with app.app_context(), db.write_session() as s:
        adjudicate(
            session=s,
            project=s.get(Project, tiny["project"].id),
            item_id=tiny["items"]["q4"].id,
            admin=s.get(User, admin.id),
            verdict={"preferred": None},
        )
    response = _get(client, headers, "items")
    assert response.headers["X-Stats-Cache"] == "miss"
    assert response.get_json()["adjudicated_items"] == 1


# --- access ------------------------------------------------------------------------------------


def test_anonymous_gets_401_and_raters_403(client, auth, tiny):
    url = "/api/v1/projects/tiny/stats/progress"
    assert client.get(url).status_code == 401
    auth.as_role("rater")
    response = client.get(url)
    assert response.status_code == 403
    assert response.get_json()["error"] == "Your role (rater) may not do this."


@pytest.mark.parametrize(
    ("role", "scopes", "status"),
    [
        ("engineer", ["stats"], 200),
        ("engineer", ["export"], 403),
        ("admin", ["admin"], 200),
        ("rater", ["stats"], 403),
    ],
)
def test_tokens_need_the_stats_scope(client, make, tiny, role, scopes, status):
    user = make.user(role)
    _, secret = make.token(user, scopes)
    for name in ("progress", "raters.csv"):
        response = client.get(
            f"/api/v1/projects/tiny/stats/{name}", headers={"Authorization": f"Bearer {secret}"}
        )
        assert response.status_code == status


def test_admin_session_reads_stats(client, auth, tiny):
    auth.as_role("admin")
    assert client.get("/api/v1/projects/tiny/stats/kappa").status_code == 200


def test_index_lists_every_report(client, headers, tiny):
    body = client.get("/api/v1/projects/tiny/stats", headers=headers).get_json()
    assert [r["name"] for r in body["reports"]] == list(REPORTS)
    assert body["reports"][0] == {
        "name": "progress",
        "title": "Progress",
        "csv_tables": ["per_day"],
    }


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_has_one_row_per_statistic(client, headers, tiny):
    response = _get(client, headers, "agreement.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="tiny-agreement-statistics.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["scope"], r["key"]) for r in rows] == [
        ("overall", "percent_agreement"),
        ("overall", "fleiss_kappa"),
        ("overall", "alpha_nominal"),
        ("correctness", "alpha_ordinal"),
        ("correctness", "alpha_interval"),
    ]
    json_body = _body(client, headers, "agreement")
    assert float(rows[0]["stat.value"]) == pytest.approx(json_body["overall"][0]["stat"]["value"])
    assert rows[0]["stat.reason"] == ""


def test_csv_tables_of_a_report(client, headers, tiny):
    text = _get(client, headers, "kappa.csv").get_data(as_text=True)
    lines = text.splitlines()
    assert lines[0] == "rater_a,rater_a_id,rater_b,rater_b_id,kappa,shared_items"
    assert len(lines) == 4  # three pairs
    win = _get(client, headers, "leaderboard.csv", table="win_rate").get_data(as_text=True)
    assert win.splitlines()[0] == "model,opponent,win_rate,comparisons"


# --- degenerate data ---------------------------------------------------------------------------


def test_every_report_explains_an_empty_project(client, headers, make):
    make.project(slug="tiny", name="Empty", mode="pairwise")
    for name in REPORTS:
        response = _get(client, headers, name)
        json.loads(response.data, parse_constant=lambda c, name=name: pytest.fail(f"{c}: {name}"))
        _get(client, headers, f"{name}.csv")
    agreement = _body(client, headers, "agreement")
    assert [s["stat"]["reason"] for s in agreement["overall"]] == [
        "not enough data: no item has 2 or more ratings"
    ] * 3
    assert _body(client, headers, "leaderboard")["reason"] == (
        "not enough data: fewer than 2 models were compared"
    )
    assert _body(client, headers, "progress")["pace"]["eta_days"] == 0.0
    assert _body(client, headers, "kappa")["reason"] == (
        "not enough data: no two raters share 2 or more items"
    )


def test_one_rater_gets_reasons_not_numbers(app, client, headers, make):
    from tests.factories import item_row
    from tests.seeding import judge_table

    project = make.project(slug="tiny", name="Solo", mode="pairwise", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2")])
    judge_table(app, project, [make.user("rater")], {"q1": ["a"], "q2": ["b"]})
    agreement = _body(client, headers, "agreement")
    assert {s["stat"]["value"] for s in agreement["overall"]} == {None}
    raters = _body(client, headers, "raters")["raters"]
    assert raters[0]["loo_agreement"]["reason"] == (
        "not enough data: no item where the others have a majority"
    )


def test_judgments_of_one_rater_beside_the_others(client, headers, tiny):
    r3 = tiny["raters"][2]
    body = client.get(
        f"/api/v1/projects/tiny/stats/raters/{r3.id}/judgments", headers=headers
    ).get_json()
    assert body["rater"] == {"id": r3.id, "username": "r3", "name": "r3", "expertise": ["medicine"]}
    by_item = {j["item"]: j for j in body["judgments"]}
    assert by_item["q2"]["says"] == "b"
    assert by_item["q2"]["others"] == {"a": 2}
    assert by_item["q4"]["others"] == {"a": 1, "tie": 1}
    assert by_item["q1"]["seconds"] == 6.0
    assert by_item["q1"]["scores"] == {"a": {"correctness": 3}, "b": {"correctness": 3}}
    missing = client.get("/api/v1/projects/tiny/stats/raters/99999/judgments", headers=headers)
    assert missing.status_code == 404


def test_item_with_every_judgment_side_by_side(client, headers, tiny):
    q4 = tiny["items"]["q4"]
    body = client.get(f"/api/v1/projects/tiny/stats/items/{q4.id}", headers=headers).get_json()
    assert body["item"]["external_id"] == "q4"
    assert [r["id"] for r in body["responses"]] == ["a", "b"]
    assert [j["says"] for j in body["judgments"]] == ["tie", "a", "b"]
    assert body["summary"] == {"tie": 1, "a": 1, "b": 1}
    assert body["adjudications"] == []


def test_adjudication_table_untouched_by_reads(app, client, headers, tiny):
    for name in REPORTS:
        _get(client, headers, name)
    with app.app_context():
        assert db.session().execute(sa.select(sa.func.count(Adjudication.id))).scalar() == 0
        assert db.session().execute(sa.select(sa.func.count(Item.id))).scalar() == 4
