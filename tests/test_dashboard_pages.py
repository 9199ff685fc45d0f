"""Dashboard pages (server-rendered) and adjudication, through the test client."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from service import db
from service.models import Adjudication, AuditEvent, Item
from tests.factories import item_row
from tests.seeding import judge_table, tiny_campaign

PAGES = ["", "agreement", "raters", "items", "cost", "active-time", "leaderboard"]


@pytest.fixture
def tiny(app, make):
    return tiny_campaign(app, make)


def _rows(app, model, **where):
    with app.app_context():
        query = sa.select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list(db.session().execute(query).scalars())


@pytest.mark.parametrize("page", PAGES)
def test_admin_sees_every_page_and_it_is_csp_ready(client, auth, tiny, page):
    auth.as_role("admin")
    response = client.get(f"/projects/tiny/dashboard/{page}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Tiny" in html and "NaN" not in html
    # A strict CSP (script-src 'self', no inline styles) will hold: no inline code anywhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert " style=" not in html and not re.search(r"\son[a-z]+=", html)


def test_pages_show_the_reports_figures(client, auth, tiny):
    auth.as_role("admin")
    html = client.get("/projects/tiny/dashboard/agreement").get_data(as_text=True)
    assert re.search(r'data-figure="overall.percent_agreement">.*?data-value>0\.583<', html, re.S)
    assert re.search(r'data-figure="overall.fleiss_kappa">.*?data-value>0\.268<', html, re.S)
    progress = client.get("/projects/tiny/dashboard/").get_data(as_text=True)
    assert 'data-figure="items.complete">4<' in progress


def test_rater_pages_list_their_judgments(client, auth, tiny):
    auth.as_role("admin")
    r3 = tiny["raters"][2]
    html = client.get(f"/projects/tiny/dashboard/raters/{r3.id}").get_data(as_text=True)
    assert 'data-figure="count">4<' in html
    assert html.count('data-figure="says"') == 4


@pytest.mark.parametrize("page", [*PAGES, "raters/1", "items/1"])
def test_raters_may_not_open_dashboards(client, auth, tiny, page):
    auth.as_role("rater")
    assert client.get(f"/projects/tiny/dashboard/{page}").status_code == 403


def test_anonymous_is_sent_to_sign_in(client, tiny):
    response = client.get("/projects/tiny/dashboard/raters")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_bad_filter_on_a_page_is_an_error_page(client, auth, tiny):
    auth.as_role("admin")
    response = client.get("/projects/tiny/dashboard/agreement?dimension=kindness")
    assert response.status_code == 422
    assert "not a likert or choice rubric dimension" in response.get_data(as_text=True)


# --- adjudication ------------------------------------------------------------------------------


def test_admin_adjudicates_through_the_page_and_promotes_to_gold(app, client, auth, tiny):
    admin = auth.as_role("admin")
    q4 = tiny["items"]["q4"]
    url = f"/projects/tiny/dashboard/items/{q4.id}"
    page = client.get(url).get_data(as_text=True)
    assert page.count('data-figure="says"') == 3
    response = client.post(
        url,
        data={
            "preferred": "a",
            "note": "a is the safe dose",
            "promote_to_gold": "on",
            "csrf_token": auth.csrf(),
        },
    )
    assert response.status_code == 302
    (record,) = _rows(app, Adjudication)
    assert (record.item_id, record.admin_id, record.verdict) == (
        q4.id,
        admin.id,
        {"preferred": "a"},
    )
    assert (record.note, record.promoted_to_gold) == ("a is the safe dose", True)
    (item,) = _rows(app, Item, id=q4.id)
    assert (item.is_gold, item.gold) == (True, {"preferred": "a"})
    (event,) = _rows(app, AuditEvent, action="item.adjudicate")
    assert event.target == f"item:{q4.id}"
    after = client.get(url).get_data(as_text=True)
    assert "Adjudication recorded." in after and "a is the safe dose" in after


def test_adjudication_without_csrf_is_refused_and_stores_nothing(app, client, auth, tiny):
    auth.as_role("admin")
    q4 = tiny["items"]["q4"]
    response = client.post(f"/projects/tiny/dashboard/items/{q4.id}", data={"preferred": "a"})
    assert response.status_code == 403
    assert _rows(app, Adjudication) == []
    assert _rows(app, Item, id=q4.id)[0].is_gold is False


def test_adjudication_api_records_a_tie(app, client, make, tiny):
    _, secret = make.token(make.user("admin"), ["admin"])
    q2 = tiny["items"]["q2"]
    response = client.post(
        f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
        # Two of three raters said "a": a tie overrules them, so it needs a reason and a confirm.
        json={"verdict": {"preferred": None}, "note": "both fine", "confirm_override": True},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body == {
        "id": body["id"],
        "item_id": q2.id,
        "verdict": {"preferred": None},
        "note": "both fine",
        "promoted_to_gold": False,
        "overrode_majority": True,
    }
    assert _rows(app, Adjudication)[0].verdict == {"preferred": None}


@pytest.mark.parametrize(
    ("verdict", "field"),
    [
        ({"preferred": "z"}, "verdict.preferred"),
        ({"ranking": [["a"]]}, "verdict.ranking"),
        ({}, "verdict"),
        ({"preferred": "a", "ranking": [["a"], ["b"]]}, "verdict"),
    ],
)
def test_bad_adjudication_is_refused_and_nothing_changes(app, client, make, tiny, verdict, field):
    _, secret = make.token(make.user("admin"), ["admin"])
    q2 = tiny["items"]["q2"]
    response = client.post(
        f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
        json={"verdict": verdict, "promote_to_gold": True},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]
    assert _rows(app, Adjudication) == []
    assert _rows(app, Item, id=q2.id)[0].gold is None


def test_adjudication_needs_an_admin(client, make, tiny):
    q2 = tiny["items"]["q2"]
    for role, scopes in (("engineer", ["stats"]), ("admin", ["stats"])):
        _, secret = make.token(make.user(role), scopes)
        response = client.post(
            f"/api/v1/projects/tiny/items/{q2.id}/adjudications",
            json={"verdict": {"preferred": "a"}},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert response.status_code == 403


def test_ranking_items_are_adjudicated_with_ranks(app, client, auth, make):
    project = make.project(slug="ranks", mode="ranking", overlap=1)
    (item,) = make.items(project, [item_row("q1", n_responses=3)])
    judge_table(app, project, [make.user("rater")], {"q1": [[["b"], ["a"], ["c"]]]})
    auth.as_role("admin")
    url = f"/projects/ranks/dashboard/items/{item.id}"
    assert 'name="rank.c"' in client.get(url).get_data(as_text=True)
    data = {"rank.a": "1", "rank.b": "1", "rank.c": "2", "csrf_token": auth.csrf()}
    # The only rater said b > a > c: a different ranking overrules them.
    response = client.post(url, data=data | {"note": "a and b equal", "confirm_override": "on"})
    assert response.status_code == 302
    assert _rows(app, Adjudication)[0].verdict == {"ranking": [["a", "b"], ["c"]]}


def test_item_of_another_project_is_not_found(client, auth, make, tiny):
    other = make.project(slug="other", mode="pairwise")
    (item,) = make.items(other, [item_row("z1")])
    auth.as_role("admin")
    assert client.get(f"/projects/tiny/dashboard/items/{item.id}").status_code == 404


@pytest.mark.parametrize(
    ("mode", "rubric"),
    [("pairwise", []), ("ranking", []), ("rating", [])],
)
def test_pages_of_an_empty_project_explain_rather_than_fail(client, auth, make, mode, rubric):
    make.project(slug="empty", mode=mode, rubric=rubric)
    auth.as_role("admin")
    for page in PAGES:
        response = client.get(f"/projects/empty/dashboard/{page}")
        assert response.status_code == 200, page
        assert "NaN" not in response.get_data(as_text=True)
    assert "not enough data" in client.get("/projects/empty/dashboard/leaderboard").get_data(
        as_text=True
    )


def test_pages_of_a_ranking_project(app, client, auth, make):
    project = make.project(slug="ranks", mode="ranking", overlap=2)
    make.items(project, [item_row("q1", n_responses=3), item_row("q2", n_responses=3)])
    raters = [make.user("rater"), make.user("rater")]
    table = {
        "q1": [[["a"], ["b"], ["c"]], [["b"], ["a", "c"]]],
        "q2": [[["c"], ["b"], ["a"]], [["c"], ["a"], ["b"]]],
    }
    judge_table(app, project, raters, table)
    auth.as_role("admin")
    for page in PAGES:
        assert client.get(f"/projects/ranks/dashboard/{page}").status_code == 200, page
    html = client.get("/projects/ranks/dashboard/agreement").get_data(as_text=True)
    assert "Kendall&#39;s W per item" in html or "Kendall's W per item" in html


def test_home_links_admins_to_dashboards(client, auth, tiny):
    auth.as_role("admin")
    assert 'href="/projects/tiny/dashboard/"' in client.get("/").get_data(as_text=True)
    auth.as_role("rater")
    assert "/dashboard/" not in client.get("/").get_data(as_text=True)


# --- charts ------------------------------------------------------------------------------------


def test_kendalls_w_has_its_own_axis_apart_from_kappa_and_alpha(client, auth, make, app):
    project = make.project(slug="ranks", mode="ranking", overlap=2)
    make.items(project, [item_row(f"q{i}", n_responses=3) for i in range(4)])
    orders = [[["a"], ["b"], ["c"]], [["b"], ["a"], ["c"]]]
    table = {f"q{i}": orders for i in range(4)}
    judge_table(app, project, [make.user("rater"), make.user("rater")], table)
    auth.as_role("admin")
    html = client.get("/projects/ranks/dashboard/agreement").get_data(as_text=True)
    figures = dict(
        re.findall(r'<figure class="forest" data-scale="(\w+)">(.*?)</figure>', html, re.S)
    )
    assert "Kendall" not in figures["chance_corrected"]
    assert ">Kendall&#39;s W<" in figures["kendall_w"]  # the row's label
    # The 0.667 bar belongs to kappa and alpha only: W's plot has no dashed mark at all.
    assert 'class="mark"' in figures["chance_corrected"]
    assert 'class="mark"' not in figures["kendall_w"]
    # Intervals are whiskers: a bar and two caps per estimate with an interval.
    estimates = figures["chance_corrected"].count('class="estimate"')
    assert figures["chance_corrected"].count('class="whisker"') == 3 * estimates > 0


def test_stats_tables_are_tables_not_the_rater_homes_flex_row(client, auth, tiny):
    auth.as_role("admin")
    html = client.get("/projects/tiny/dashboard/agreement").get_data(as_text=True)
    assert '<table class="data stat-table">' in html
    assert 'class="data stats"' not in html
    assert "css/dashboards.css" in html
