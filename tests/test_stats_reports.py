"""Dashboard reports over the API on a hand-computable campaign: full JSON bodies.

Three raters, four items, two responses each (a from model-0, b from model-1):
q1 a a a · q2 a a b · q3 b b b · q4 tie a b. Per item the share of agreeing rater pairs is
1, 1/3, 1 and 0, so percent agreement is 7/12; category shares 6/12, 1/12, 5/12 give chance
agreement 0.4306 and Fleiss' kappa 0.2683.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import krippendorff
import numpy as np
import pytest
import sqlalchemy as sa

from service import db
from service.models import Judgment
from service.stats.agreement import (
    bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from service.stats.bradley_terry import bootstrap_bradley_terry, win_rate_matrix
from service.stats.rater_quality import position_bias
from tests.seeding import tiny_campaign

DEFAULT_FILTERS = {
    "from": None,
    "to": None,
    "expertise": None,
    "dimension": None,
    "tags": [],
    "gold": "include",
}
# Rows: items q1..q4; columns: b preferred (-1), tie (0), a preferred (+1).
TINY_COUNTS = np.array([[0, 0, 3], [1, 0, 2], [3, 0, 0], [1, 1, 1]])


@pytest.fixture
def tiny(app, make):
    return tiny_campaign(app, make)


@pytest.fixture
def admin_headers(make):
    admin = make.user("admin")
    # An admin's full view, raters by name (a stats token sees pseudonyms instead).
    _, secret = make.token(admin, ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def _get(client, headers, path, **params):
    response = client.get(path, headers=headers, query_string=params)
    assert response.status_code == 200, response.get_json()
    # Strict JSON: a NaN or Infinity anywhere would fail here.
    return json.loads(response.data, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def close(expected):
    """Wrap every float of a nested structure in pytest.approx, for whole-body comparisons."""
    if isinstance(expected, dict):
        return {k: close(v) for k, v in expected.items()}
    if isinstance(expected, list):
        return [close(v) for v in expected]
    if isinstance(expected, float):
        return pytest.approx(expected)
    return expected


def _stat(value, low=None, high=None, n=0, reason=None, p_value=None):
    return {"value": value, "low": low, "high": high, "n": n, "reason": reason, "p_value": p_value}


def _boot(stat_fn, units, **kw):
    s = bootstrap_ci(stat_fn, units, n_boot=1000, seed=0, **kw)
    return _stat(s.value, s.low, s.high, s.n, s.reason)


def _today():
    return datetime.now(UTC).date().isoformat()


def test_agreement_full_body(client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/agreement")
    # Raters × units (q1a, q1b, q2a, ...) correctness scores, for the reference package.
    scores = np.array([[4, 2] * 4, [5, 2] * 4, [3, 3] * 4], dtype=float)
    stacked = np.array([[4, 2] * 4, [5, 2] * 4, [3, 3] * 4], dtype=float)
    on = "which response was preferred, or a tie"
    dim_on = "Correctness (per response, 1–5)"
    nominal = np.array([[1, 1, -1, 0], [1, 1, -1, 1], [1, -1, -1, -1]], dtype=float)
    expected = {
        "project": "tiny",
        "report": "agreement",
        "filters": DEFAULT_FILTERS,
        "skipped_rows": [],
        "mode": "pairwise",
        "scale": "ternary",
        "judgments": 12,
        "n_boot": 1000,
        "overall": [
            {
                "key": "percent_agreement",
                "label": "Percent agreement",
                "on": on,
                "stat": _boot(percent_agreement, TINY_COUNTS),
            },
            {
                "key": "fleiss_kappa",
                "label": "Fleiss' kappa",
                "on": on,
                "stat": _boot(fleiss_kappa, TINY_COUNTS),
            },
            {
                "key": "alpha_nominal",
                "label": "Krippendorff's alpha (nominal)",
                "on": on,
                "stat": _boot(krippendorff_alpha, nominal, level="nominal"),
            },
        ],
        "kendall_w_per_item": [],
        "spans": [],  # the project marks no error spans
        "dimensions": [
            {
                "name": "correctness",
                "label": "Correctness",
                "kind": "likert",
                "scope": "response",
                "ratings": 24,
                "stats": [
                    {
                        "key": f"alpha_{level}",
                        "label": f"Krippendorff's alpha ({level})",
                        "on": dim_on,
                        "stat": _boot(
                            krippendorff_alpha,
                            stacked,
                            level=level,
                            clusters=np.repeat(np.arange(4), 2),
                        ),
                    }
                    for level in ("ordinal", "interval")
                ],
            }
        ],
        "audit_sample": None,  # adaptive overlap is off
        "judges": None,  # the project has no model judge
    }
    assert body == close(expected)
    assert body["overall"][0]["stat"]["value"] == pytest.approx(7 / 12)
    assert body["overall"][1]["stat"]["value"] == pytest.approx(0.26829, abs=1e-5)
    for k, level in enumerate(("ordinal", "interval")):
        reference = krippendorff.alpha(reliability_data=scores, level_of_measurement=level)
        assert body["dimensions"][0]["stats"][k]["stat"]["value"] == pytest.approx(reference)


def test_kappa_matrix_full_body(client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/kappa")
    r1, r2, r3 = tiny["raters"]
    labels = {"r1": ["a", "a", "b", "tie"], "r2": ["a", "a", "b", "a"], "r3": ["a", "b", "b", "b"]}
    k12 = cohen_kappa(labels["r1"], labels["r2"]).value  # 0.5556
    k13 = cohen_kappa(labels["r1"], labels["r3"]).value  # 0.2727
    k23 = cohen_kappa(labels["r2"], labels["r3"]).value  # 0.2
    assert body == close(
        {
            "project": "tiny",
            "report": "kappa",
            "filters": DEFAULT_FILTERS,
            "skipped_rows": [],
            "on": "the preferred response (or tie)",
            # Ordered by mean kappa: r1 0.414, r2 0.378, r3 0.236.
            "raters": [
                {"id": r1.id, "name": "r1"},
                {"id": r2.id, "name": "r2"},
                {"id": r3.id, "name": "r3"},
            ],
            "kappa": [
                [None, round(k12, 4), round(k13, 4)],
                [round(k12, 4), None, round(k23, 4)],
                [round(k13, 4), round(k23, 4), None],
            ],
            "shared": [[0, 4, 4], [4, 0, 4], [4, 4, 0]],
            "pairs": 3,
            "defined_pairs": 3,
            "median_kappa": k13,
            "reason": None,
            "missing": {
                "few_shared": "not enough data: fewer than 2 shared items",
                "no_variance": "no variance: both raters gave the same single label throughout",
            },
        }
    )
    assert (k12, k13, k23) == pytest.approx((5 / 9, 3 / 11, 0.2))


def test_progress_full_body(client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/progress")
    assert body == {
        "project": "tiny",
        "report": "progress",
        "filters": DEFAULT_FILTERS,
        "skipped_rows": [],
        "items": {"total": 4, "complete": 4, "in_progress": 0, "untouched": 0, "gold": 0},
        "judgments": {"total": 12, "revisions": 0, "median_seconds": 30.0},
        "raters": {"total": 3, "active_last_7_days": 3},
        "skips": {"count": 0, "rate": _stat(0.0, n=12), "reasons": {}},
        "per_day": [{"date": _today(), "judgments": 12, "raters": 3, "skips": 0}],
        "pace": {
            "judgments_per_day": pytest.approx(12 / 7),
            "remaining_judgments": 0,
            "eta_days": 0.0,
            "eta_date": _today(),
            "reason": None,
        },
    }


def _left_wins(app, rater_id):
    """Count the rater's verdicts for the response shown on the left, from the stored rows."""
    with app.app_context():
        rows = db.session().execute(sa.select(Judgment).where(Judgment.rater_id == rater_id))
        verdicts = [(j.verdict["preferred"], j.shown_order) for (j,) in rows]
    decided = [(p, shown) for p, shown in verdicts if p is not None]
    return sum(p == shown[0] for p, shown in decided), len(decided)


def test_raters_full_body(app, client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/raters")
    expected_rows = []
    agreement = {"r1": _stat(1.0, n=2), "r2": _stat(1.0, n=2), "r3": _stat(2 / 3, n=3)}
    contradictions = {"r1": _stat(1 / 3, n=3), "r2": _stat(0.25, n=4), "r3": _stat(0.0, n=4)}
    for rater, seconds in zip(tiny["raters"], (30.0, 60.0, 6.0), strict=True):
        bias = position_bias(*_left_wins(app, rater.id))
        expected_rows.append(
            {
                "id": rater.id,
                "username": rater.username,
                "name": rater.username,
                "expertise": rater.expertise,
                "judgments": 4,
                "time": {
                    "timed": 4,
                    "quantiles": {f"p{q}": seconds for q in (10, 25, 50, 75, 90)},
                },
                "loo_agreement": agreement[rater.username],
                "gold_accuracy": _stat(None, reason="not enough data: no judgments on gold items"),
                "skip_rate": _stat(0.0, n=4),
                "position_bias": _stat(
                    bias.value, bias.low, bias.high, bias.n, bias.reason, bias.p_value
                ),
                "intransitive_triads": _stat(
                    None, reason="not enough data: no three responses with all pairs decided"
                ),
                "contradictions": contradictions[rater.username],
                # Every response of the tiny campaign has the same length.
                "length_bias": _stat(
                    None,
                    reason="not enough data: the longer response always won, always lost, "
                    "or never differed",
                ),
                "flags": [],
            }
        )
    assert body["raters"] == close(expected_rows)
    assert body["on"] == "the preferred response (or tie)"
    assert body["thresholds"]["gold_threshold"] == 0.8
    histogram = {(b["low"], b["high"]): b["count"] for b in body["time_histogram"]}
    assert (histogram[(0.0, 10.0)], histogram[(30.0, 45.0)], histogram[(60.0, 90.0)]) == (4, 4, 4)
    assert sum(histogram.values()) == 12


def test_items_full_body(client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/items")
    ids = {ext: item.id for ext, item in tiny["items"].items()}

    def row(ext, agreement, labels):
        return {
            "item_id": ids[ext],
            "external_id": ext,
            "judgments": 3,
            "agreement": pytest.approx(agreement),
            "labels": labels,
            "adjudicated": 0,
        }

    assert body == {
        "project": "tiny",
        "report": "items",
        "filters": DEFAULT_FILTERS,
        "skipped_rows": [],
        "limit": 50,
        "on": "the preferred response (or tie)",
        "items": 4,
        "judged_items": 4,
        "compared_items": 4,
        "adjudicated_items": 0,
        "disputed": [
            row("q4", 0.0, {"a": 1, "b": 1, "tie": 1}),
            row("q2", 1 / 3, {"a": 2, "b": 1}),
            row("q1", 1.0, {"a": 3}),
            row("q3", 1.0, {"b": 3}),
        ],
        "skipped": [],
    }


def test_leaderboard_matches_bradley_terry_on_the_verdicts(app, client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/leaderboard")
    model = {"a": "model-0", "b": "model-1"}
    with app.app_context():
        rows = db.session().execute(sa.select(Judgment).order_by(Judgment.id)).scalars().all()
        outcomes = []
        for j in rows:
            left, right = j.shown_order
            score = (
                1.0 if j.verdict["preferred"] == left else 0.0 if j.verdict["preferred"] else 0.5
            )
            outcomes.append((model[left], model[right], score))
        units = [j.item_id for j in rows]
    names = ["model-0", "model-1"]
    fits = bootstrap_bradley_terry(names, outcomes, units=units, n_boot=1000, seed=0)
    rates = win_rate_matrix(names, outcomes)
    assert [m["model"] for m in body["models"]] == ["model-0", "model-1"]
    for m in body["models"]:
        fit = fits[m["model"]]
        assert m["strength"] == close(_stat(fit.value, fit.low, fit.high, 12))
        assert m["rating"]["value"] == pytest.approx(1000 + 400 * fit.value / np.log(10))
    assert [(m["wins"], m["losses"], m["ties"]) for m in body["models"]] == [(6, 5, 1), (5, 6, 1)]
    assert body["win_rate"] == {
        "models": names,
        "matrix": [
            [None, {"value": round(rates["model-0"]["model-1"].value, 4), "n": 12}],
            [{"value": round(rates["model-1"]["model-0"].value, 4), "n": 12}, None],
        ],
    }
    assert rates["model-0"]["model-1"].value == pytest.approx(6.5 / 12)
    assert (body["comparisons"], body["same_model_pairs"], body["reason"]) == (12, 0, None)
    assert "Bradley–Terry" in body["method"] and "Hunter" in body["method"]


def test_cost_uses_own_then_group_then_default_rates(app, client, admin_headers, tiny):
    r1, r2, r3 = tiny["raters"]
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(type(r1)).where(type(r1).id == r1.id).values(hourly_rate=120.0))
    body = _get(
        client,
        admin_headers,
        "/api/v1/projects/tiny/stats/cost",
        **{"rate.law": "60", "default_rate": "30"},
    )
    # r1: 4 × 30 s at 120/h = 4.00; r2: 4 × 60 s at 60/h = 4.00; r3: 4 × 6 s at 30/h = 0.20.
    assert body["rates"] == {"groups": {"law": 60.0}, "default": 30.0}
    assert body["spend"] == pytest.approx(8.2)
    assert body["cost_per_judgment"] == pytest.approx(8.2 / 12)
    assert body["cost_per_finished_item"] == pytest.approx(8.2 / 4)
    assert (body["finished_items"], body["remaining_judgments"]) == (4, 0)
    assert body["projected_total"] == pytest.approx(8.2)
    assert (body["priced_judgments"], body["unpriced_judgments"], body["reason"]) == (12, 0, None)
    per_rater = {row["name"]: row for row in body["per_rater"]}
    assert per_rater["r1"] | {"spend": pytest.approx(4.0)} == {
        "id": r1.id,
        "name": "r1",
        "expertise": ["law"],
        "hourly_rate": 120.0,
        "rate_source": "own rate",
        "judgments": 4,
        "hours": pytest.approx(120 / 3600),
        "spend": pytest.approx(4.0),
    }
    assert (per_rater["r2"]["rate_source"], per_rater["r2"]["spend"]) == (
        "group: law",
        pytest.approx(4.0),
    )
    assert (per_rater["r3"]["rate_source"], per_rater["r3"]["spend"]) == (
        "default rate",
        pytest.approx(0.2),
    )
    assert body["per_day"] == [
        {"date": _today(), "spend": pytest.approx(8.2), "cumulative": pytest.approx(8.2)}
    ]


def test_cost_without_rates_says_so(client, admin_headers, tiny):
    body = _get(client, admin_headers, "/api/v1/projects/tiny/stats/cost")
    assert (body["spend"], body["cost_per_judgment"], body["projected_total"]) == (None, None, None)
    assert body["reason"] == "no hourly rates: set them per rater or group"
    assert {row["rate_source"] for row in body["per_rater"]} == {"unpriced"}
