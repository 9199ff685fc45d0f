"""Style-controlled leaderboard: the regression against statsmodels, and the report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.stats.bradley_terry import Coded, fit_bradley_terry
from service.stats.style import (
    FEATURES,
    design,
    fit_style,
    logistic_fit,
    style_counts,
    style_differences,
)

# statsmodels is imported by the tests that use it: ~0.3 s less at collection, in every worker.


def _outcomes(seed: int = 1, size: int = 5, n: int = 400):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, size, n)
    b = (a + rng.integers(1, size, n)) % size
    diffs = np.column_stack(
        [
            style_differences(rng.integers(50, 2000, n), rng.integers(50, 2000, n)),
            style_differences(rng.integers(0, 4, n), rng.integers(0, 4, n)),
        ]
    )
    strength = rng.normal(size=size)
    p = 1 / (1 + np.exp(-(strength[a] - strength[b] + 1.5 * diffs[:, 0])))
    u = rng.random(n)
    score = np.where(u < 0.9 * p, 1.0, np.where(u > 1 - 0.9 * (1 - p), 0.0, 0.5))
    return Coded(a, b, score), diffs


def test_style_counts_and_normalised_differences():
    text = "# Title\n\nSome **bold** and __more__.\n\n- one\n* two\n1. three\n  2) four\n#no header"
    assert style_counts(text) == (len(text), 1, 4, 2)
    assert style_differences(np.array([30, 0, 5]), np.array([10, 0, 5])).tolist() == [0.5, 0, 0]


def test_logistic_fit_matches_statsmodels_on_the_same_design_matrix():
    import statsmodels.api as sm

    coded, diffs = _outcomes()
    x, y, w = design(5, coded, diffs)
    reference = sm.GLM(y, x, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14)
    assert logistic_fit(x, y, w) == pytest.approx(reference.params, abs=1e-6)
    # And what fit_style reports is that fit: model 0 as reference, then centred.
    fit = fit_style(5, coded, diffs)
    strengths = np.concatenate([[0], reference.params[:4]])
    assert fit.strengths == pytest.approx(strengths - strengths.mean(), abs=1e-6)
    assert fit.coefficients == pytest.approx(reference.params[4:], abs=1e-6)


def test_without_style_terms_it_is_the_plain_bradley_terry_fit():
    coded, _ = _outcomes(seed=2)
    plain = fit_bradley_terry(
        list(range(5)),
        list(zip(coded.a.tolist(), coded.b.tolist(), coded.score.tolist(), strict=True)),
    )
    fit = fit_style(5, coded, np.zeros((len(coded.a), 0)))
    assert fit.strengths == pytest.approx([plain[k] for k in range(5)], abs=1e-8)


def test_a_feature_that_never_differs_or_moves_with_another_has_no_coefficient():
    coded, diffs = _outcomes(seed=3)
    fit = fit_style(5, coded, np.column_stack([diffs, np.zeros(len(coded.a)), 2 * diffs[:, 0]]))
    assert np.isfinite(fit.coefficients[:2]).all() and np.isnan(fit.coefficients[2:]).all()
    # A feature that moves with the models: model 0 always has it, the others never.
    with_model = np.where(coded.a == 0, 1.0, np.where(coded.b == 0, -1.0, 0.0))
    fit = fit_style(5, coded, np.column_stack([diffs, with_model]))
    assert np.isnan(fit.coefficients[2]) and np.isfinite(fit.strengths).all()


def _long(i: int) -> str:
    return f"Answer {i}. " + "More detail here. " * 40


def test_leaderboard_style_section_separates_length_from_model(app, client, make):
    """Raters prefer the longer answer 4 times in 5; model x is the longer one on 3 items in 4.

    The plain leaderboard puts x far ahead; with length held equal, x and y are close and
    the length coefficient carries the preference.
    """
    import statsmodels.api as sm

    project = make.project(slug="style", mode="pairwise")
    rows = []
    for i in range(80):
        x_long = i % 4 != 0
        rows.append(
            {
                "id": f"q{i}",
                "prompt": f"Question {i}?",
                "responses": [
                    {"id": "a", "model": "x", "content": _long(i) if x_long else f"Short {i}."},
                    {"id": "b", "model": "y", "content": f"Short {i}." if x_long else _long(i)},
                ],
            }
        )
    items = make.items(project, rows)
    rater = make.user("rater")
    for i, item in enumerate(items):
        longer = "a" if i % 4 != 0 else "b"
        shorter = "b" if longer == "a" else "a"
        make.judgment(item, rater, shown=["a", "b"], preferred=longer if i % 5 else shorter)
    admin = make.user("admin")
    _, secret = make.token(admin, ["admin"])
    response = client.get(
        "/api/v1/projects/style/stats/leaderboard", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200
    body = json.loads(response.data, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    plain = {m["model"]: m["strength"]["value"] for m in body["models"]}
    style = body["style"]
    controlled = {m["model"]: m["strength"]["value"] for m in style["models"]}
    features = {f["feature"]: f["coefficient"] for f in style["features"]}
    assert [f["feature"] for f in style["features"]] == list(FEATURES)

    # The same regression, built here from the stored texts and verdicts, with statsmodels.
    counts = np.array([[style_counts(r["responses"][k]["content"]) for k in (0, 1)] for r in rows])
    diffs = style_differences(counts[:, 0], counts[:, 1])
    varies = np.abs(diffs).max(axis=0) > 0
    score = np.array([1.0 if (i % 4 != 0) == bool(i % 5) else 0.0 for i in range(80)])
    coded = Coded(np.zeros(80, dtype=int), np.ones(80, dtype=int), score)
    x, y, w = design(2, coded, diffs[:, varies])
    params = sm.GLM(y, x, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14).params
    # x is model 0, the reference; params[0] is y's strength relative to x.
    assert controlled["x"] == pytest.approx(-params[0] / 2, abs=1e-6)
    assert controlled["y"] == pytest.approx(params[0] / 2, abs=1e-6)
    for name, value in zip(np.array(FEATURES)[varies], params[1:], strict=True):
        assert features[name]["value"] == pytest.approx(value, abs=1e-6)

    assert plain["x"] - plain["y"] > 0.5  # x wins 65% of its comparisons
    assert abs(controlled["x"] - controlled["y"]) < 0.5 * (plain["x"] - plain["y"])
    assert features["length"]["low"] > 0  # the preference for length is real
    assert features["headers"]["value"] is None
    assert features["headers"]["reason"].startswith("cannot be separated")


def test_rater_length_bias_is_the_raters_own_regression_with_model_strengths_held(
    app, client, make
):
    """Rater "long" picks the longer answer 4 times in 5; "fair" picks it half the time."""
    import statsmodels.api as sm

    project = make.project(slug="bias", mode="pairwise")
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "a", "model": "x", "content": _long(i) if i % 4 else f"Short {i}."},
                {"id": "b", "model": "y", "content": f"Short {i}." if i % 4 else _long(i)},
            ],
        }
        for i in range(60)
    ]
    items = make.items(project, rows)
    long_rater, fair_rater = make.user("rater", "long"), make.user("rater", "fair")
    outcomes = []  # (rater, item, a wins)
    for i, item in enumerate(items):
        longer = "a" if i % 4 else "b"
        other = "b" if longer == "a" else "a"
        picks = {"long": longer if i % 5 else other, "fair": "a" if (i // 4) % 2 else "b"}
        for who, rater in (("long", long_rater), ("fair", fair_rater)):
            make.judgment(item, rater, shown=["a", "b"], preferred=picks[who])
            outcomes.append((who, i, picks[who] == "a"))
    admin = make.user("admin")
    _, secret = make.token(admin, ["admin"])
    headers = {"Authorization": f"Bearer {secret}"}
    raters = client.get("/api/v1/projects/bias/stats/raters", headers=headers).get_json()
    bias = {r["username"]: r["length_bias"] for r in raters["raters"]}

    # The same regression with statsmodels: the pooled style-controlled strengths of x and
    # y as a fixed offset, the rater's normalised length difference as the one covariate.
    counts = np.array([[style_counts(r["responses"][k]["content"]) for k in (0, 1)] for r in rows])
    diffs = style_differences(counts[:, 0], counts[:, 1])
    varies = np.abs(diffs).max(axis=0) > 0
    n = len(outcomes)
    item = np.array([i for _, i, _ in outcomes])
    score = np.array([1.0 if won else 0.0 for _, _, won in outcomes])
    pooled = fit_style(2, Coded(np.zeros(n, int), np.ones(n, int), score), diffs[item][:, varies])
    offset = pooled.strengths[0] - pooled.strengths[1]
    for who in ("long", "fair"):
        mine = np.array([w == who for w, _, _ in outcomes])
        d, s = diffs[item[mine], 0], score[mine]
        x = np.concatenate([d, d])[:, None]
        y = np.concatenate([np.ones(len(d)), np.zeros(len(d))])
        w = np.concatenate([s, 1 - s])
        reference = sm.GLM(
            y,
            x,
            family=sm.families.Binomial(),
            freq_weights=w,
            offset=np.full(len(y), offset),
        ).fit(tol=1e-14)
        assert bias[who]["value"] == pytest.approx(reference.params[0], abs=1e-6)
        assert bias[who]["n"] == 60
    assert bias["long"]["low"] > 0  # this rater rewards length
    assert bias["fair"]["low"] < 0 < bias["fair"]["high"]


def test_style_section_says_why_when_length_decides_every_verdict(app, client, make):
    """The longer answer always wins: the regression has no maximum, and the leaderboard
    still answers, with the plain strengths and the style figures absent and explained."""
    project = make.project(slug="separated", mode="pairwise")
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "a", "model": "x", "content": _long(i) if i % 2 else f"Short {i}."},
                {"id": "b", "model": "y", "content": f"Short {i}." if i % 2 else _long(i)},
            ],
        }
        for i in range(20)
    ]
    items = make.items(project, rows)
    rater = make.user("rater")
    for i, item in enumerate(items):
        make.judgment(item, rater, shown=["a", "b"], preferred="a" if i % 2 else "b")
    _, secret = make.token(make.user("admin"), ["admin"])
    response = client.get(
        f"/api/v1/projects/{project.slug}/stats/leaderboard",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [m["strength"]["value"] is not None for m in body["models"]] == [True, True]
    reason = body["style"]["models"][0]["strength"]["reason"]
    assert reason.startswith("no estimate: the style differences predict every verdict")
    assert [m["model"] for m in body["style"]["models"]] == ["x", "y"]
    for row in body["style"]["models"]:
        assert row["strength"]["value"] is None and row["rating"]["value"] is None
    assert all(f["coefficient"]["reason"] == reason for f in body["style"]["features"])
    raters = client.get(
        f"/api/v1/projects/{project.slug}/stats/raters",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert raters.status_code == 200, raters.get_json()
    (bias,) = [r["length_bias"] for r in raters.get_json()["raters"]]
    assert bias["value"] is None and bias["reason"], bias
