"""Reports for ranking, 7-point pairwise and rating projects (each checked on known data)."""

from __future__ import annotations

import numpy as np
import pytest

from service.stats.agreement import (
    bootstrap_ci,
    kendall_w_overall,
    krippendorff_alpha,
    mean_kendall_tau_overall,
)
from tests.factories import item_row
from tests.seeding import judge_table
from tests.test_stats_reports import close

RANKINGS = {
    "q1": [[["a"], ["b"], ["c"]], [["a"], ["b", "c"]], [["b"], ["a"], ["c"]]],
    "q2": [[["c"], ["b"], ["a"]], [["c"], ["a"], ["b"]], [["c"], ["b"], ["a"]]],
}
# Raters × responses (a, b, c) ranks per item; ties share the mean rank.
RANKS = [
    np.array([[1, 2, 3], [1, 2.5, 2.5], [2, 1, 3]]),
    np.array([[3, 2, 1], [2, 3, 1], [3, 2, 1]]),
]


@pytest.fixture
def headers(make):
    _, secret = make.token(make.user("admin"), ["stats"])
    return {"Authorization": f"Bearer {secret}"}


def _rows(table, n_responses=2):
    rows = []
    for q in table:
        row = item_row(q, n_responses=n_responses)
        rows.append(row)
    return rows


def _raters(make, n=3):
    return [make.user("rater", username=f"r{k + 1}") for k in range(n)]


def _boot(stat_fn, units, **kw):
    s = bootstrap_ci(stat_fn, units, n_boot=1000, seed=0, **kw)
    return {
        "value": s.value,
        "low": s.low,
        "high": s.high,
        "n": s.n,
        "reason": None,
        "p_value": None,
    }


def test_ranking_agreement_and_leaderboard(app, client, headers, make):
    project = make.project(slug="ranks", mode="ranking", overlap=3)
    make.items(project, _rows(RANKINGS, n_responses=3))
    judge_table(app, project, _raters(make), RANKINGS)
    body = client.get("/api/v1/projects/ranks/stats/agreement", headers=headers).get_json()
    ranks_by_unit = np.concatenate(RANKS, axis=1)  # raters × (q1a, q1b, q1c, q2a, ...)
    assert body["overall"] == close(
        [
            {
                "key": "kendall_w",
                "label": "Kendall's W (mean over items)",
                "on": "rankings",
                "stat": _boot(kendall_w_overall, RANKS),
            },
            {
                "key": "kendall_tau",
                "label": "Kendall's tau-b (mean over items of the mean over rater pairs)",
                "on": "rankings",
                "stat": _boot(mean_kendall_tau_overall, RANKS),
            },
            {
                "key": "alpha_ordinal",
                "label": "Krippendorff's alpha (ordinal)",
                "on": "ranks of each response",
                "stat": _boot(
                    krippendorff_alpha,
                    ranks_by_unit,
                    level="ordinal",
                    clusters=np.repeat([0, 1], 3),
                ),
            },
        ]
    )
    assert sum(b["count"] for b in body["kendall_w_per_item"]) == 2
    board = client.get("/api/v1/projects/ranks/stats/leaderboard", headers=headers).get_json()
    # Every ranking of three responses is three pairs.
    assert board["comparisons"] == 18
    assert "rankings, each expanded into every pair" in board["method"]
    record = {m["model"]: (m["wins"], m["losses"], m["ties"]) for m in board["models"]}
    # Counted by hand from RANKINGS: c loses all 5 of its decided pairs on q1 and wins all 6
    # on q2; b and c tie once (r2 on q1).
    assert record == {"model-0": (6, 6, 0), "model-1": (5, 6, 1), "model-2": (6, 5, 1)}
    kappa = client.get("/api/v1/projects/ranks/stats/kappa", headers=headers).get_json()
    assert kappa["on"] == "the top-ranked response(s)"
    items = client.get("/api/v1/projects/ranks/stats/items", headers=headers).get_json()
    assert items["on"] == "Kendall's W of the rankings"
    assert [row["external_id"] for row in items["disputed"]] == ["q1", "q2"]


def test_likert7_adds_ordinal_alpha_on_the_signed_scale(app, client, headers, make):
    table = {
        "q1": [("a", 3), ("a", 2), ("a", 3)],
        "q2": [("b", 1), (None, 0), ("b", 2)],
        "q3": [("a", 1), ("b", 1), ("a", 2)],
    }
    project = make.project(slug="seven", mode="pairwise", scale="likert7", overlap=3)
    make.items(project, _rows(table))
    judge_table(app, project, _raters(make), table)
    body = client.get("/api/v1/projects/seven/stats/agreement", headers=headers).get_json()
    signed = np.array([[3, -1, 1], [2, 0, -1], [3, -2, 2]], dtype=float)  # + means a is better
    assert [s["key"] for s in body["overall"]] == [
        "percent_agreement",
        "fleiss_kappa",
        "alpha_nominal",
        "alpha_ordinal",
    ]
    assert body["overall"][3] == close(
        {
            "key": "alpha_ordinal",
            "label": "Krippendorff's alpha (ordinal)",
            "on": "7-point preference scale",
            "stat": _boot(krippendorff_alpha, signed, level="ordinal"),
        }
    )


RATING_RUBRIC = [
    {"name": "helpful", "label": "Helpful", "scope": "response", "kind": "likert", "points": 5},
    {
        "name": "safe",
        "label": "Safe",
        "scope": "response",
        "kind": "choice",
        "options": [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}],
    },
    {
        "name": "tone",
        "label": "Tone",
        "scope": "item",
        "kind": "choice",
        "options": [{"value": "ok", "label": "OK"}, {"value": "rude", "label": "Rude"}],
    },
]


def test_rating_project_compares_raters_on_scores(app, client, headers, make):
    project = make.project(slug="rate", mode="rating", overlap=2, rubric=RATING_RUBRIC)
    make.items(project, _rows({"q1": 0, "q2": 0}))
    scores = {
        "q1": [
            {"a": {"helpful": 5, "safe": "yes"}, "b": {"helpful": 2, "safe": "no"}},
            {"a": {"helpful": 4, "safe": "yes"}, "b": {"helpful": 2, "safe": "yes"}},
        ],
        "q2": [
            {"a": {"helpful": 1, "safe": "no"}, "b": {"helpful": 3, "safe": "yes"}},
            {"a": {"helpful": 1, "safe": "no"}, "b": {"helpful": 4, "safe": "yes"}},
        ],
    }
    judge_table(app, project, _raters(make, 2), {"q1": ["x", "x"], "q2": ["x", "x"]}, scores=scores)
    body = client.get("/api/v1/projects/rate/stats/agreement", headers=headers).get_json()
    assert body["overall"] == []
    helpful = body["dimensions"][0]
    data = np.array([[5, 2, 1, 3], [4, 2, 1, 4]], dtype=float)
    assert helpful["stats"][0]["stat"] == close(
        _boot(krippendorff_alpha, data, level="ordinal", clusters=[0, 0, 1, 1])
    )
    # Safe (a choice per response): units q1a q1b q2a q2b; the raters differ on q1b only.
    safe = body["dimensions"][1]
    assert [s["key"] for s in safe["stats"]] == [
        "percent_agreement",
        "fleiss_kappa",
        "alpha_nominal",
    ]
    assert safe["stats"][0]["stat"]["value"] == pytest.approx(3 / 4)
    # The tone was never given: an explained gap, not a number.
    assert body["dimensions"][2]["stats"][0]["stat"]["reason"] == (
        "not enough data: no item has 2 or more ratings"
    )
    board = client.get("/api/v1/projects/rate/stats/leaderboard", headers=headers).get_json()
    assert board["on"] == "scores on helpful"
    assert board["comparisons"] == 4
    assert {m["model"]: m["wins"] for m in board["models"]} == {"model-0": 2, "model-1": 2}
    kappa = client.get("/api/v1/projects/rate/stats/kappa", headers=headers).get_json()
    assert kappa["shared"][0][1] == 4
