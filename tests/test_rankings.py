"""The shared rules on literals (ranks, main rating dimension, gold score), and the callers.

The gold score has one home, ``service.stats.rankings``; the assignment (qualification), the
dashboards and the export each call it. The last test checks that all three give the same
answer for the same submitted judgment, on both databases.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from service import db
from service.models import GoldScore, User
from service.rating import judgments
from service.rating.labels import LABELS
from service.rubric import Dimension, Rubric
from service.stats import rankings
from tests.export_dataset import export_bytes
from tests.factories import item_row
from tests.raters import Desk

# scipy.stats is imported by the tests that use it: ~0.6 s less at collection, in every worker.


@pytest.mark.parametrize(
    ("ranking", "expected"),
    [
        ([["b"], ["a", "c"], ["d"]], {"b": 1.0, "a": 2.5, "c": 2.5, "d": 4.0}),
        ([["a", "b", "c"]], {"a": 2.0, "b": 2.0, "c": 2.0}),
        ([["a"], ["b"]], {"a": 1.0, "b": 2.0}),
        ([], {}),
    ],
)
def test_ranks_share_the_mean_rank_of_a_tie(ranking, expected):
    from scipy.stats import rankdata

    assert rankings.ranks(ranking) == expected
    if ranking:  # the same fractional ranking scipy computes from each response's group
        group = {r: k for k, g in enumerate(ranking) for r in g}
        assert rankdata(list(group.values()), method="average").tolist() == [
            expected[r] for r in group
        ]


LIKERT = {"name": "quality", "label": "Quality", "scope": "response", "kind": "likert", "points": 5}
NUMBER = {
    "name": "score",
    "label": "Score",
    "scope": "response",
    "kind": "number",
    "min": 0,
    "max": 10,
}
ITEM_LIKERT = {"name": "overall", "scope": "item", "kind": "likert", "points": 5}
CHOICE = {"name": "tone", "scope": "response", "kind": "choice", "options": []}


@pytest.mark.parametrize(
    ("rubric", "expected"),
    [
        ([ITEM_LIKERT, CHOICE, NUMBER, LIKERT], NUMBER),  # rubric order decides
        ([LIKERT, NUMBER], LIKERT),
        ([ITEM_LIKERT, CHOICE], None),
        ([], None),
    ],
)
def test_main_rating_dimension(rubric, expected):
    main = Rubric.from_stored(rubric).main_rating
    assert main == (Dimension.from_stored(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("ranking", "gold", "ties_possible", "expected"),
    [
        # A pairwise verdict: one pair.
        ([["a"], ["b"]], {"preferred": "a"}, True, 1.0),
        ([["b"], ["a"]], {"preferred": "a"}, True, 0.0),
        ([["a", "b"]], {"preferred": "a"}, True, 0.0),  # a tie where gold orders
        ([["a", "b"]], {"tie": True}, True, 1.0),
        ([["a"], ["b"]], {"tie": True}, True, 0.0),
        ([["a"], ["b"]], {"tie": True}, False, None),  # no tie on the scale: not scored
        ([["c"], ["b"]], {"preferred": "a"}, True, None),  # gold's response not shown
        ([["a"], ["c"]], {"ranking": [["b"], ["a", "c"]]}, True, 0.0),
        ([["a", "c"]], {"ranking": [["b"], ["a", "c"]]}, True, 1.0),
        ([["a"], ["c"]], {"ranking": [["b"], ["a", "c"]]}, False, None),
        ([["b"], ["c"]], {"ranking": ["b", ["a", "c"]]}, True, 1.0),  # a bare id is a group
        # A ranking: preferred X decides X against each other response, not the rest's order.
        ([["a"], ["b"], ["c"]], {"preferred": "a"}, True, 1.0),
        ([["b"], ["a"], ["c"]], {"preferred": "a"}, True, 0.5),
        ([["a", "b"], ["c"]], {"preferred": "a"}, True, 0.5),
        ([["b"], ["a"], ["c"]], {"ranking": [["a"], ["b"], ["c"]]}, True, 2 / 3),
        ([["a", "b"], ["c"]], {"ranking": [["a"], ["b"], ["c"]]}, True, 2 / 3),
        ([["a", "b"], ["c"]], {"ranking": [["a", "b"], ["c"]]}, True, 1.0),
        ([["c", "a"], ["b"]], {"tie": True}, True, 1 / 3),
        # Partial rankings: only pairs both sides hold count.
        ([["b"], ["a"]], {"ranking": [["a"], ["b", "c"]]}, True, 0.0),
        ([["a"], ["b"], ["c"]], {"ranking": [["c"], ["a"]]}, True, 0.0),
        ([["a"], ["b"], ["c"]], {"ranking": [["a"], ["c"]]}, True, 1.0),
        # Several keys: ranking, then preferred, then tie.
        ([["b"], ["a"]], {"ranking": [["b"], ["a"]], "preferred": "a"}, True, 1.0),
        ([["a"], ["b"]], {"preferred": "a", "tie": True}, True, 1.0),
        # Shapes that decide nothing.
        ([["a"], ["b"]], {"ratings": {"a": 5, "b": 1}}, True, None),
        ([["a"], ["b"]], {"note": "no answer"}, True, None),
    ],
)
def test_gold_score(ranking, gold, ties_possible, expected):
    got = rankings.gold_score(ranking, gold, ties_possible=ties_possible)
    assert got == (pytest.approx(expected) if expected is not None else None)


RATED = [NUMBER, LIKERT]


@pytest.mark.parametrize(
    ("mode", "scale", "gold", "verdict", "shown", "judged", "expected"),
    [
        # Strength is not scored: "much better" and "slightly better" both hit.
        (
            "pairwise",
            "likert7",
            {"preferred": "a"},
            {"preferred": "a", "strength": 1},
            "ba",
            None,
            1.0,
        ),
        ("pairwise", "binary", {"tie": True}, {"preferred": "a"}, "ab", None, None),
        ("pairwise", "ternary", {"tie": True}, {"preferred": None}, "ab", None, 1.0),
        ("pairwise", "ternary", {"preferred": "a"}, {"preferred": "b"}, "bc", None, None),
        (
            "ranking",
            "ternary",
            {"preferred": "c"},
            {"ranking": [["c", "a"], ["b"]]},
            "abc",
            None,
            0.5,
        ),
        # Rating: ranked by the main dimension (score, first), not by quality.
        ("rating", "ternary", {"preferred": "a"}, {}, "ab", {"a": (3, 5), "b": (7, 1)}, 0.0),
        ("rating", "ternary", {"preferred": "b"}, {}, "ab", {"a": (3, 5), "b": (7, 1)}, 1.0),
        ("rating", "ternary", {"preferred": "a"}, {}, "ab", {"a": (7, 5), "b": (7, 1)}, 0.0),
        ("rating", "ternary", {"preferred": "a"}, {}, "ab", {"a": (None, 5), "b": (7, 1)}, None),
        ("ranking", "ternary", None, {"ranking": [["a"], ["b"]]}, "ab", None, None),
    ],
)
def test_score_judgment(mode, scale, gold, verdict, shown, judged, expected):
    rubric = RATED if mode == "rating" else []
    answers = None
    if judged is not None:
        answers = {"response": {r: {"score": s, "quality": q} for r, (s, q) in judged.items()}}
    got = rankings.score_judgment(
        mode=mode,
        scale=scale,
        rubric=Rubric.from_stored(rubric),
        gold=gold,
        verdict=verdict,
        shown=list(shown),
        judged=answers,
    )
    assert got == (pytest.approx(expected) if expected is not None else None)


# --- the three callers -------------------------------------------------------------------------

CASES = {
    # Before one home: assignment 1.0, dashboards 0.67 (it ordered b and c), export 1.0.
    "ranking-first": ("ranking", "ternary", {"preferred": "a"}, [["a"], ["b"], ["c"]], None, 1.0),
    # Before: assignment 0 (a not first), dashboards 1/3, export 0.5.
    "ranking-second": ("ranking", "ternary", {"preferred": "a"}, [["b"], ["a"], ["c"]], None, 0.5),
    # Before: assignment None (no tie on a binary scale), dashboards and export 0.
    "binary-tie": ("pairwise", "binary", {"tie": True}, [["a"], ["b"]], None, None),
    # Before: not scored anywhere; now ranked by the main dimension (score, not quality).
    "rating": ("rating", "ternary", {"preferred": "a"}, None, {"a": (2, 5), "b": (8, 1)}, 0.0),
}


def _payload(lease, mode, ranking, scores):
    label = {rid: LABELS[k] for k, rid in enumerate(lease.shown_order)}
    if mode == "ranking":
        return {"ranking": [[label[r] for r in g] for g in ranking]}, None
    if mode == "pairwise":
        return {"choice": label[ranking[0][0]]}, None
    per_label = {label[r]: {"score": s, "quality": q} for r, (s, q) in scores.items()}
    return {}, {"response": per_label, "item": {}}


@pytest.mark.parametrize("case", list(CASES))
def test_assignment_dashboards_and_export_score_a_judgment_alike(app, client, auth, make, case):
    mode, scale, gold, ranking, scores, expected = CASES[case]
    n = 3 if mode == "ranking" else 2
    rubric = RATED if mode == "rating" else []
    project = make.project(
        mode=mode, scale=scale, rubric=rubric, qualification_items=1, qualification_threshold=0.0
    )
    make.items(project, [item_row(n_responses=n), item_row(n_responses=n, gold=gold)])
    rater = make.user(username="gail")
    desk = Desk(app)
    lease = desk.next(project, rater)
    assert lease.is_gold
    verdict, answers = _payload(lease, mode, ranking, scores)
    payload = {"client_id": "gold-judgment-1", "verdict": verdict}
    if answers:
        payload["rubric"] = answers
    with app.app_context(), db.write_session() as s:
        judgments.record_judgment(
            session=s, assignment_id=lease.id, rater=s.get(User, rater.id), payload=payload
        )
    want = pytest.approx(expected) if expected is not None else None

    # The assignment: the stored score that gates qualification, and its API.
    with app.app_context():
        (row,) = db.session().exec(select(GoldScore)).all()
    assert row.score == want
    auth.as_role("admin")
    accuracy = client.get(f"/api/v1/projects/{project.slug}/gold-accuracy").get_json()
    assert accuracy["raters"][0]["accuracy"] == want

    # The dashboards: the raters report and the rater's judgment list.
    base = f"/api/v1/projects/{project.slug}/stats"
    report = client.get(f"{base}/raters").get_json()
    if mode == "rating":  # raters are compared on the same main rating dimension
        assert report["on"] == "scores on score"
    (rater_row,) = report["raters"]
    assert rater_row["gold_accuracy"]["value"] == want
    (listed,) = client.get(f"{base}/raters/{rater.id}/judgments").get_json()["judgments"]
    assert listed["gold_score"] == want

    # The export: --min-gold-accuracy keeps the rater at their score and drops them above it.
    def excluded(threshold: float) -> int:
        _, summary = export_bytes(
            app, project=[project.slug], format="raw", min_gold_accuracy=threshold
        )
        return summary.excluded_raters

    if expected is None:
        assert excluded(1.0) == 0  # no scored gold judgment: kept
    else:
        assert excluded(expected) == 0
        assert expected == 1.0 or excluded(expected + 1e-6) == 1
