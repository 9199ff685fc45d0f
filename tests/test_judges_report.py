"""The ``judges`` section of the agreement report, against hand-computed numbers.

Three pairwise items, responses a (model-0) and b (model-1); two raters; one judge that
judged each item in both orders:

    item  rater 1  rater 2  judge [a, b]  judge [b, a]
    q1    a        a        a             a
    q2    b        a        a             b    (flips with the order)
    q3    tie      b        b             b

Labels: +1 a preferred, 0 tie, -1 b. Cross pairs (each judge label × each human label on
the item): q1 4 of 4 agree, q2 2 of 4, q3 2 of 4: percent agreement 8/12.
Fleiss' kappa on the 12 two-coder units: of the 24 labels 12 are +1, 10 are -1, 2 ties,
P_e = (12² + 10² + 2²)/24² = 248/576, kappa = (2/3 - 248/576) / (1 - 248/576) = 17/41.
Per rater: rater 1 agrees on 3 of 6 (kappa (1/2 - 1/3)/(2/3) = 1/4), rater 2 on 5 of 6
(kappa (5/6 - 1/2)/(1/2) = 2/3).
Human majority (the export's rule): q1 a; q2 split 1:1 and q3 tie vs b, both no lead, a tie.
"""

from __future__ import annotations

import json
import re

import pytest

from service import db
from service.dashboards import build_report
from service.dashboards.filters import Filters
from service.models import Project
from service.stats.judges import cross_pairs, position_consistent
from tests.factories import add_judge, add_verdict, item_row

ROWS = [("q1", "a", "a", "a", "a"), ("q2", "b", "a", "a", "b"), ("q3", None, "b", "b", "b")]


@pytest.fixture
def judged(app, make):
    project = make.project(slug="judged", mode="pairwise")
    items = make.items(project, [item_row(q) for q, *_ in ROWS])
    raters = [make.user(username="r1"), make.user(username="r2")]
    judge = add_judge(app, project, "gpt-judge")
    for item, (_, h1, h2, ab, ba) in zip(items, ROWS, strict=True):
        make.judgment(item, raters[0], preferred=h1)
        make.judgment(item, raters[1], shown=["b", "a"], preferred=h2)
        add_verdict(app, item, judge, ["a", "b"], preferred=ab)
        add_verdict(app, item, judge, ["b", "a"], preferred=ba)
    return project, raters, judge


def test_judges_section_matches_hand_computed_numbers(client, admin_headers, judged):
    project, (r1, r2), judge = judged
    body = client.get(
        f"/api/v1/projects/{project.slug}/stats/agreement", headers=admin_headers
    ).get_json()
    section = body["judges"]
    (mine,) = section["judges"]
    assert (mine["id"], mine["name"], mine["verdicts"]) == (judge.id, "gpt-judge", 6)
    stats = {e["key"]: e["stat"] for e in mine["overall"]}
    assert list(stats) == ["percent_agreement", "fleiss_kappa", "alpha_nominal"]
    assert stats["percent_agreement"]["value"] == pytest.approx(8 / 12)
    assert stats["percent_agreement"]["n"] == 12
    assert stats["fleiss_kappa"]["value"] == pytest.approx(17 / 41)
    low, high = stats["percent_agreement"]["low"], stats["percent_agreement"]["high"]
    assert low is not None and low <= 8 / 12 <= high
    assert mine["raters"] == [
        {
            "id": r1.id,
            "name": "r1",
            "cross_pairs": 6,
            "percent_agreement": 0.5,
            "kappa": mine["raters"][0]["kappa"] | {"value": pytest.approx(0.25)},
        },
        {
            "id": r2.id,
            "name": "r2",
            "cross_pairs": 6,
            "percent_agreement": pytest.approx(5 / 6, abs=1e-4),
            "kappa": mine["raters"][1]["kappa"] | {"value": pytest.approx(2 / 3)},
        },
    ]
    assert mine["confusion"] == {
        "on": "rows: the human majority; columns: the judge (one count per order judged)",
        "categories": ["second preferred", "tie", "first preferred"],
        "matrix": [[0, 0, 0], [3, 0, 1], [0, 0, 2]],
        "n": 6,
    }
    assert mine["position_consistency"] == {
        "rate": pytest.approx(2 / 3, abs=1e-4),
        "pairs": 3,
        "inconsistent": 1,
        "reason": None,
    }


def test_leaderboards_side_by_side_reuse_the_leaderboard_fit(app, client, admin_headers, judged):
    """The judge's six outcomes split 3:3, so its board is level; the humans' is the
    leaderboard report's own fit."""
    project, _, _ = judged
    body = client.get(
        f"/api/v1/projects/{project.slug}/stats/agreement", headers=admin_headers
    ).get_json()
    humans, judge = body["judges"]["leaderboards"]
    assert (humans["source"], judge["source"]) == ("humans", "gpt-judge")
    assert (humans["comparisons"], judge["comparisons"]) == (6, 6)
    assert [m["strength"]["value"] for m in judge["models"]] == [pytest.approx(0.0)] * 2
    with app.app_context(), db.write_session() as s:
        board, _ = build_report(
            session=s, project=s.get(Project, project.id), name="leaderboard", filters=Filters()
        )
    assert [(m["model"], m["strength"]) for m in board["models"]] == [
        (m["model"], m["strength"]) for m in humans["models"]
    ]
    assert humans["models"][0]["model"] == "model-0"


def test_agreement_page_and_csv_show_the_judges(client, auth, admin_headers, judged):
    project, _, _ = judged
    auth.as_role("admin")
    html = client.get(f"/projects/{project.slug}/dashboard/agreement").get_data(as_text=True)
    assert "gpt-judge" in html
    assert re.search(
        r'data-figure="judge-gpt-judge.percent_agreement">.*?data-value>0\.66', html, re.S
    )
    csv = client.get(
        f"/api/v1/projects/{project.slug}/stats/agreement.csv?table=statistics",
        headers=admin_headers,
    )
    assert "judge gpt-judge" in csv.get_data(as_text=True)


def test_the_cli_prints_the_same_section(client, admin_headers, runner, judged):
    from service import cli

    project, _, _ = judged
    result = runner.invoke(cli.main, ["stats", "agreement", "--project", project.slug])
    assert result.exit_code == 0, result.output
    body = client.get(
        f"/api/v1/projects/{project.slug}/stats/agreement", headers=admin_headers
    ).get_json()
    assert json.loads(result.output)["judges"] == body["judges"]


def test_no_judges_no_section(client, admin_headers, make):
    project = make.project(slug="plain", mode="pairwise")
    body = client.get(
        f"/api/v1/projects/{project.slug}/stats/agreement", headers=admin_headers
    ).get_json()
    assert body["judges"] is None


def test_cross_pairs_and_position_consistency_on_literals():
    pairs = cross_pairs(
        [0, 0, 0, 1], [5, 6, -1, -1], [1.0, 0.0, 1.0, 1.0], [False, False, True, True]
    )
    assert pairs.unit.tolist() == [0, 0] and pairs.rater.tolist() == [5, 6]
    assert pairs.judge.tolist() == [1.0, 1.0] and pairs.human.tolist() == [1.0, 0.0]
    assert position_consistent({"preferred": "a", "strength": 1}, {"preferred": "a", "strength": 3})
    assert not position_consistent({"preferred": "a"}, {"preferred": None})
    assert position_consistent({"ranking": [["b"], ["a", "c"]]}, {"ranking": [["b"], ["c", "a"]]})
