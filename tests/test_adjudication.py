"""Adjudication: the consensus prefills the form; overruling the majority needs a reason and a confirm."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service import db
from service.dashboards.adjudication import Consensus, consensus_of
from service.models import Adjudication, Item
from tests.factories import item_row
from tests.seeding import judge_table, tiny_campaign


@pytest.fixture
def tiny(app, make):
    return tiny_campaign(app, make)


@pytest.fixture
def admin_token(make):
    _, secret = make.token(make.user("admin"), ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def _adjudications(app):
    with app.app_context():
        return list(db.session().execute(sa.select(Adjudication)).scalars())


# --- the consensus, on literals ---------------------------------------------------------------


def test_a_strict_majority_is_the_prefill_and_must_be_overruled_explicitly():
    verdicts = [{"preferred": "b", "strength": 2}, {"preferred": "b"}, {"preferred": "a"}]
    assert consensus_of(verdicts, ["a", "b"]) == Consensus(
        prefill={"preferred": "b"}, majority={"preferred": "b"}, judgments=3
    )


def test_an_even_split_prefills_a_tie_and_has_no_majority():
    verdicts = [{"preferred": "a"}, {"preferred": "b"}]
    assert consensus_of(verdicts, ["a", "b"]) == Consensus(
        prefill={"preferred": None}, majority=None, judgments=2
    )


def test_rankings_prefill_by_mean_rank_not_import_order():
    # Mean ranks: c 1.33, a 2, b 2.67; no ranking has a majority.
    verdicts = [
        {"ranking": [["c"], ["a"], ["b"]]},
        {"ranking": [["c"], ["b"], ["a"]]},
        {"ranking": [["a"], ["c"], ["b"]]},
    ]
    assert consensus_of(verdicts, ["a", "b", "c"]) == Consensus(
        prefill={"ranking": [["c"], ["a"], ["b"]]}, majority=None, judgments=3
    )
    # Equal means share a group (c 1, a 2.5, b 2.5); a tie inside a verdict counts its mean.
    verdicts = [{"ranking": [["c"], ["b"], ["a"]]}, {"ranking": [["c"], ["a"], ["b"]]}]
    assert consensus_of(verdicts, ["a", "b", "c"]).prefill == {"ranking": [["c"], ["a", "b"]]}
    verdicts = [{"ranking": [["a", "b"], ["c"]]}, {"ranking": [["c"], ["a", "b"]]}]
    assert consensus_of(verdicts, ["a", "b", "c"]).prefill == {"ranking": [["a", "b", "c"]]}


def test_scores_only_verdicts_give_no_consensus():
    assert consensus_of([{}, {"scale_value": 3}], ["a"]) == Consensus(None, None, 0)


# --- the API ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({}, ["note", "confirm_override"]),
        ({"note": "b cites the source"}, ["confirm_override"]),
        ({"confirm_override": True}, ["note"]),
        ({"note": "   ", "confirm_override": True}, ["note"]),
    ],
)
def test_overruling_the_majority_without_reason_and_confirm_is_refused(
    app, client, admin_token, tiny, extra, fields
):
    q2 = tiny["items"]["q2"]  # raters said a, a, b
    response = client.post(
        f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
        json={"verdict": {"preferred": "b"}, "promote_to_gold": True, **extra},
        headers=admin_token,
    )
    assert response.status_code == 422
    body = response.get_json()
    assert (
        body["error"] == "This verdict overrules the raters' majority: give a reason and confirm."
    )
    assert [e["field"] for e in body["errors"]] == fields
    assert _adjudications(app) == []
    with app.app_context():
        assert db.session().get(Item, q2.id).gold is None


def test_overruling_with_reason_and_confirm_is_recorded_as_an_override(
    app, client, admin_token, tiny
):
    q2 = tiny["items"]["q2"]
    response = client.post(
        f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
        json={
            "verdict": {"preferred": "b"},
            "note": "b cites the source",
            "confirm_override": True,
        },
        headers=admin_token,
    )
    assert response.status_code == 201
    assert response.get_json()["overrode_majority"] is True
    (row,) = _adjudications(app)
    assert (row.verdict, row.note, row.overrode_majority) == (
        {"preferred": "b"},
        "b cites the source",
        True,
    )
    item = client.get(f"/api/v1/projects/tiny/stats/items/{q2.id}", headers=admin_token)
    assert item.get_json()["adjudications"][0]["overrode_majority"] is True


def test_agreeing_with_the_majority_needs_no_confirm(app, client, admin_token, tiny):
    q2 = tiny["items"]["q2"]
    response = client.post(
        f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
        json={"verdict": {"preferred": "a"}},
        headers=admin_token,
    )
    assert response.status_code == 201
    assert response.get_json()["overrode_majority"] is False
    assert _adjudications(app)[0].overrode_majority is False


def test_the_item_report_carries_the_consensus(client, admin_token, tiny):
    q2, q4 = tiny["items"]["q2"], tiny["items"]["q4"]
    body = client.get(f"/api/v1/projects/tiny/stats/items/{q2.id}", headers=admin_token).get_json()
    assert body["consensus"] == {"prefill": {"preferred": "a"}, "majority": {"preferred": "a"}}
    body = client.get(f"/api/v1/projects/tiny/stats/items/{q4.id}", headers=admin_token).get_json()
    assert body["consensus"] == {"prefill": {"preferred": None}, "majority": None}


# --- the page ---------------------------------------------------------------------------------


def test_page_prefills_the_majority_and_refuses_an_unconfirmed_override(app, client, auth, tiny):
    auth.as_role("admin")
    q2 = tiny["items"]["q2"]
    url = f"/projects/tiny/dashboard/items/{q2.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'name="preferred" value="a" required checked' in html
    assert 'value="b" required checked' not in html
    assert 'name="confirm_override"' in html
    response = client.post(
        url, data={"preferred": "b", "note": "b is right", "csrf_token": auth.csrf()}
    )
    assert response.status_code == 422
    assert "overrules the raters&#39; majority" in response.get_data(as_text=True)
    assert _adjudications(app) == []
    response = client.post(
        url,
        data={
            "preferred": "b",
            "note": "b is right",
            "confirm_override": "on",
            "csrf_token": auth.csrf(),
        },
    )
    assert response.status_code == 302
    assert _adjudications(app)[0].overrode_majority is True


def test_ranking_page_prefills_the_consensus_not_the_import_order(app, client, auth, make):
    project = make.project(slug="ranks", mode="ranking", overlap=2)
    (item,) = make.items(project, [item_row("q1", n_responses=3)])
    raters = [make.user("rater"), make.user("rater")]
    judge_table(app, project, raters, {"q1": [[["c"], ["b"], ["a"]], [["c"], ["a"], ["b"]]]})
    auth.as_role("admin")
    html = client.get(f"/projects/ranks/dashboard/items/{item.id}").get_data(as_text=True)
    assert 'name="rank.c" min="1" max="3" value="1"' in html
    assert 'name="rank.a" min="1" max="3" value="2"' in html
    assert 'name="rank.b" min="1" max="3" value="2"' in html


def test_responses_are_rendered_and_sanitised(client, auth, make):
    project = make.project(slug="md", mode="pairwise", overlap=1)
    row = item_row("q1")
    row["responses"][0]["content"] = "**bold** <script>alert(1)</script>"
    (item,) = make.items(project, [row])
    auth.as_role("admin")
    html = client.get(f"/projects/md/dashboard/items/{item.id}").get_data(as_text=True)
    assert "<strong>bold</strong>" in html
    assert "<script>alert" not in html
