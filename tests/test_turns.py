"""Per-turn ratings: rubric fields answered for each assistant turn of a conversation."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment
from service.rating.turns import assistant_turns

TURN_RUBRIC = [
    {"name": "help", "label": "Helpfulness", "scope": "response", "kind": "likert", "points": 5},
    {
        "name": "turn_quality",
        "label": "Turn quality",
        "scope": "turn",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
    {
        "name": "turn_issue",
        "label": "Turn issue",
        "scope": "turn",
        "kind": "choice",
        "options": [{"value": "none", "label": "None"}, {"value": "wrong", "label": "Wrong"}],
    },
]
CONVERSATION = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "My order is late."},
    {"role": "assistant", "content": "Sorry! What is the order number?"},
    {"role": "user", "content": "It is 1234."},
    {"role": "assistant", "content": "It ships tomorrow."},
    {"role": "user", "content": "Can I get a refund instead?"},
]


def chat_row(ext_id: str = "c1") -> dict:
    return {
        "id": ext_id,
        "messages": CONVERSATION,
        "responses": [
            {"id": "a", "model": "m1", "content": "Yes, refunded."},
            {"id": "b", "model": "m2", "content": "No."},
        ],
    }


def test_turn_index_counts_assistant_messages_only():
    assert assistant_turns(CONVERSATION) == [2, 4]
    assert assistant_turns(None) == []


def _lease(client, auth, make, rubric=TURN_RUBRIC):
    project = make.project(mode="pairwise", rubric=rubric, confirm_contradictions=False)
    make.items(project, [chat_row()])
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    return r.get_json()["assignment"]["id"]


def _submit(client, auth, lease_id, turn):
    payload = {
        "client_id": uuid.uuid4().hex,
        "verdict": {"choice": "A"},
        "rubric": {"turn": turn},
    }
    return client.post(
        f"/api/v1/assignments/{lease_id}/judgment",
        json=payload,
        headers={"X-CSRF-Token": auth.csrf()},
    )


def _judgments(app):
    with app.app_context():
        return list(db.session().exec(select(Judgment).order_by(Judgment.id)))


def test_per_turn_values_are_stored_by_turn_index(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make)
    turn = {"0": {"turn_quality": 4, "turn_issue": "none"}, "1": {"turn_quality": 2}}
    r = _submit(client, auth, lease_id, turn)
    assert r.status_code == 201, r.get_json()
    (j,) = _judgments(app)
    assert j.rubric["turn"] == turn
    assert r.get_json()["rubric"]["turn"] == turn


@pytest.mark.parametrize(
    ("turn", "errors"),
    [
        (
            {"0": {"turn_quality": 4}},
            [
                {
                    "field": "rubric.turn.1.turn_quality",
                    "message": "Turn quality is required for assistant turn 2",
                }
            ],
        ),
        (
            {"0": {"turn_quality": 4}, "1": {"turn_quality": 4}, "2": {"turn_quality": 4}},
            [
                {
                    "field": "rubric.turn.2",
                    "message": "no such turn: this conversation has turns 0 to 1",
                }
            ],
        ),
        (
            {"0": {"turn_quality": 9, "turn_issue": "meh"}, "1": {"turn_quality": 3}},
            [
                {"field": "rubric.turn.0.turn_quality", "message": "choose a point from 1 to 5"},
                {"field": "rubric.turn.0.turn_issue", "message": "choose one of none, wrong"},
            ],
        ),
        (
            {"0": {"turn_quality": 4, "help": 3}, "1": {"turn_quality": 3}},
            [{"field": "rubric.turn.0.help", "message": "not a per-turn field of this project"}],
        ),
    ],
    ids=["missing", "out-of-range", "bad-value", "not-a-turn-field"],
)
def test_bad_turn_values_are_refused_naming_the_field_and_nothing_is_stored(
    app, client, auth, make, turn, errors
):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make)
    r = _submit(client, auth, lease_id, turn)
    body = r.get_json()
    body.pop("request_id", None)
    assert r.status_code == 422
    assert body == {
        "ok": False,
        "status": 422,
        "error": "The judgment is incomplete or invalid.",
        "errors": errors,
    }
    assert _judgments(app) == []
    with app.app_context():
        assert db.session().get(Assignment, lease_id).status == "active"


def test_turn_values_on_a_project_without_turn_fields_are_refused(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, rubric=TURN_RUBRIC[:1])
    r = _submit(client, auth, lease_id, {"0": {"turn_quality": 4}})
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "rubric.turn", "message": "this project has no per-turn fields"}
    ]
    assert _judgments(app) == []
