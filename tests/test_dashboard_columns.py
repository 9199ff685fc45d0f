"""Loading judgments for the dashboards: rubric scores by response id or by screen position,
and models looked up many at a time."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from service import dashboards, db
from service.dashboards import columns
from service.dashboards.filters import Filters
from service.dashboards.lookups import load_models
from service.models import Project
from service.rubric import rubric_of
from tests.factories import item_row

RUBRIC = [
    {"name": "accuracy", "label": "Accuracy", "scope": "response", "kind": "likert", "points": 5},
    {
        "name": "tone",
        "label": "Tone",
        "scope": "response",
        "kind": "choice",
        "options": [{"value": "warm", "label": "Warm"}, {"value": "cold", "label": "Cold"}],
    },
    {"name": "hard", "label": "Hard", "scope": "item", "kind": "likert", "points": 3},
]


@pytest.fixture
def judged(app, make):
    """Three raters judge two items (responses a, b), some scores missing, orders mixed."""
    project = make.project(slug="cols", mode="pairwise", overlap=3, rubric=RUBRIC)
    items = make.items(project, [item_row("q1"), item_row("q2")])
    raters = [make.user("rater") for _ in range(3)]
    table = [  # item, rater, shown order, accuracy of a and b, tone of a, item difficulty
        (0, 0, ["a", "b"], (4, 2), "warm", 1),
        (0, 1, ["b", "a"], (5, None), None, 2),
        (0, 2, ["a", "b"], (None, 3), "cold", None),
        (1, 0, ["b", "a"], (1, 5), "cold", 3),
        (1, 1, ["a", "b"], (2, 2), "warm", 3),
    ]
    for item, rater, shown, (acc_a, acc_b), tone, hard in table:
        scores = {"a": {"accuracy": acc_a, "tone": tone}, "b": {"accuracy": acc_b}}
        rubric = {
            "response": {
                r: {k: v for k, v in s.items() if v is not None} for r, s in scores.items()
            },
            "item": {"hard": hard} if hard else {},
        }
        make.judgment(items[item], raters[rater], shown=shown, preferred="a", rubric=rubric)
    return project


def _load(app, project: Project):
    with app.app_context():
        s = db.session()
        fresh = s.get(Project, project.id)
        dims = rubric_of(fresh)
        return columns.load_judgments(session=s, project=fresh, filters=Filters(), dims=dims)


def test_scores_by_response_id_equal_scores_by_position(app, judged, monkeypatch):
    by_id = _load(app, judged)
    monkeypatch.setattr(columns, "response_ids", lambda **_: None)  # as with many response ids
    by_position = _load(app, judged)
    accuracy = np.array([[4, 2], [np.nan, 5], [np.nan, 3], [5, 1], [2, 2]])
    tone = np.array([["warm", None], [None, None], ["cold", None], [None, "cold"], ["warm", None]])
    for cols in (by_id, by_position):
        assert cols.shown.tolist() == [["a", "b"], ["b", "a"], ["a", "b"], ["b", "a"], ["a", "b"]]
        assert np.array_equal(cols.scores["accuracy"], accuracy, equal_nan=True)
        assert cols.scores["tone"].tolist() == tone.tolist()
        assert np.array_equal(cols.scores["hard"], [1, 2, np.nan, 3, 3], equal_nan=True)


def test_an_order_naming_a_response_the_item_lacks_is_read_by_position(app, make, judged):
    q3 = make.items(judged, [item_row("q3")])[0]
    rubric = {"response": {"a": {"accuracy": 3}, "zz": {"accuracy": 1}}, "item": {}}
    make.judgment(q3, make.user("rater"), shown=["zz", "a"], preferred="a", rubric=rubric)
    cols = _load(app, judged)
    assert cols.shown[-1].tolist() == ["zz", "a"]
    assert cols.scores["accuracy"][-1].tolist() == [1.0, 3.0]


def test_models_are_looked_up_by_item_and_response_id(app, make):
    project = make.project(slug="models", mode="pairwise")
    unnamed_a = [
        {"id": "a", "model": "", "content": "Unnamed."},
        {"id": "c", "model": "model-0", "content": "Named."},
    ]
    q1, q2 = make.items(project, [item_row("q1"), item_row("q2", responses=unnamed_a)])
    with app.app_context():
        models = load_models(session=db.session(), project=project)
    items = np.array([q1.id, q1.id, q2.id, q2.id, q2.id, q1.id + q2.id])
    responses = np.array(["a", "b", "a", "c", None, "a"], dtype=object)
    codes = models.codes_of(items, responses)
    named = [models.names[c] if c >= 0 else None for c in codes]
    assert named == ["model-0", "model-1", "response a", "model-0", None, None]
    assert codes[0] == codes[3]  # one model, one code


@pytest.mark.parametrize("enabled", [True, False])
def test_building_a_report_leaves_the_garbage_collector_as_it_was(app, judged, enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with app.app_context():
            s = db.session()
            dashboards.build_report(
                session=s, project=s.get(Project, judged.id), name="agreement", filters=Filters()
            )
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
