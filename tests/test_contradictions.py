"""The contradiction rule (service/rating/contradictions.py) on literals, and its enforcement."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment
from service.rating.contradictions import Contradiction, find_contradictions
from service.rubric import Rubric
from tests.factories import item_row

STORED = [
    {
        "name": "help",
        "label": "Helpfulness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {
        "name": "right",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {"name": "errors", "label": "Errors", "scope": "response", "kind": "number"},
    {
        "name": "confidence",
        "label": "Confidence",
        "scope": "item",
        "kind": "likert",
        "points": 3,
    },
]
DIMS = Rubric.from_stored(STORED)


def _pairwise(preferred, a, b):
    return find_contradictions(
        mode="pairwise",
        verdict={"preferred": preferred, "strength": None, "scale_value": None},
        rubric={"response": {"a": a, "b": b}, "item": {"confidence": 1}},
        dimensions=DIMS,
        shown_order=["a", "b"],
    )


@pytest.mark.parametrize(
    ("preferred", "a", "b", "expected"),
    [
        # Preferred scored lower on every shared scale: a contradiction, naming the scales.
        ("a", {"help": 1, "right": 1}, {"help": 5, "right": 5}, [("a", "b", ("help", "right"))]),
        ("b", {"help": 4, "right": 3}, {"help": 2, "right": 1}, [("b", "a", ("help", "right"))]),
        # Lower on one scale, equal or higher on another: the rater weighed them; no question.
        ("a", {"help": 1, "right": 5}, {"help": 5, "right": 5}, []),
        ("a", {"help": 1, "right": 5}, {"help": 5, "right": 1}, []),
        # Only the scales both responses were scored on count.
        ("a", {"help": 1}, {"help": 2, "right": 1}, [("a", "b", ("help",))]),
        ("a", {"help": 1}, {"right": 5}, []),
        # A number has no direction; an item-level scale is not per response.
        ("a", {"errors": 0}, {"errors": 9}, []),
        ("a", {"help": 3, "errors": 9}, {"help": 4, "errors": 0}, [("a", "b", ("help",))]),
        # A tie (or "about the same") puts nothing above anything.
        (None, {"help": 1, "right": 1}, {"help": 5, "right": 5}, []),
        ("a", {}, {}, []),
    ],
)
def test_pairwise_rule(preferred, a, b, expected):
    found = _pairwise(preferred, a, b)
    assert found == [Contradiction(above=x, below=y, dimensions=d) for x, y, d in expected]


def test_ranking_rule_checks_every_pair_across_groups_but_not_within_a_tie():
    scores = {"w": {"help": 1}, "x": {"help": 3}, "y": {"help": 2}, "z": {"help": 2}}
    found = find_contradictions(
        mode="ranking",
        verdict={"ranking": [["w"], ["x"], ["y", "z"]]},
        rubric={"response": scores, "item": {}},
        dimensions=DIMS,
        shown_order=["w", "x", "y", "z"],
    )
    assert [(c.above, c.below) for c in found] == [("w", "x"), ("w", "y"), ("w", "z")]


def test_rating_mode_has_no_verdict_to_contradict():
    found = find_contradictions(
        mode="rating",
        verdict={},
        rubric={"response": {"a": {"help": 1}, "b": {"help": 5}}, "item": {}},
        dimensions=DIMS,
        shown_order=["a", "b"],
    )
    assert found == []


RUBRIC = STORED[:2] + [{"name": "note", "label": "Note", "scope": "item", "kind": "text"}]
CONTRADICTING = {"response": {"A": {"help": 1, "right": 2}, "B": {"help": 5, "right": 5}}}


def _submit(client, auth, assignment_id, **extra):
    payload = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}, "rubric": CONTRADICTING}
    return client.post(
        f"/api/v1/assignments/{assignment_id}/judgment",
        json=payload | extra,
        headers={"X-CSRF-Token": auth.csrf()},
    )


def _lease(client, auth, make, **settings):
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC, **settings)
    make.items(project, [item_row("q1", n_responses=2)])
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    return r.get_json()["assignment"]["id"]


def _judgments(app):
    with app.app_context():
        return list(db.session().exec(select(Judgment)))


def test_unconfirmed_contradiction_is_refused_with_the_reason(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make)
    r = _submit(client, auth, lease_id)
    assert r.status_code == 422
    body = r.get_json()
    body.pop("request_id")
    assert body == {
        "ok": False,
        "status": 422,
        "error": "The verdict contradicts your rubric scores; confirm it.",
        "errors": [
            {
                "field": "contradiction",
                "message": "You put A above B but scored A lower on Helpfulness, Correctness. "
                "Confirm the verdict (contradiction.confirmed), with a rationale if you like.",
            }
        ],
    }
    assert _judgments(app) == []
    with app.app_context():
        assert db.session().get(Assignment, lease_id).status == "active"
    # confirmed: false is no confirmation.
    r = _submit(client, auth, lease_id, contradiction={"confirmed": False})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "contradiction"


def test_confirmed_contradiction_is_stored_as_asked_with_the_rationale(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make)
    answer = {"confirmed": True, "rationale": " B is padded. "}
    r = _submit(client, auth, lease_id, contradiction=answer)
    assert r.status_code == 201, r.get_json()
    (j,) = _judgments(app)
    assert (j.contradiction_asked, j.contradiction_rationale) == (True, "B is padded.")


def test_no_question_when_the_project_turns_it_off_or_nothing_contradicts(app, client, auth, make):
    auth.as_role("rater")
    off = _lease(client, auth, make, confirm_contradictions=False)
    assert _submit(client, auth, off).status_code == 201
    agreeing = _lease(client, auth, make)
    # A confirmation sent along with an agreeing verdict records nothing was asked.
    r = _submit(
        client,
        auth,
        agreeing,
        verdict={"choice": "B"},
        contradiction={"confirmed": True, "rationale": "just in case"},
    )
    assert r.status_code == 201
    assert [(j.contradiction_asked, j.contradiction_rationale) for j in _judgments(app)] == [
        (False, ""),
        (False, ""),
    ]
