"""Per-turn ratings: rubric fields answered for each assistant turn of a conversation."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Item, Judgment
from service.rating.turns import assistant_turns
from tests import export_dataset
from tests.factories import add_judge, add_verdict
from tests.seeding import judge_all

# A response scale, then "turn_helpful" (required likert) and "turn_issue" (choice none/wrong).
TURN_RUBRIC = [{**export_dataset.TURN_RUBRIC[0], "name": "help"}, *export_dataset.TURN_RUBRIC[1:]]
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
    turn = {"0": {"turn_helpful": 4, "turn_issue": "none"}, "1": {"turn_helpful": 2}}
    r = _submit(client, auth, lease_id, turn)
    assert r.status_code == 201, r.get_json()
    (j,) = _judgments(app)
    assert j.rubric["turn"] == turn
    assert r.get_json()["rubric"]["turn"] == turn


@pytest.mark.parametrize(
    ("turn", "errors"),
    [
        (
            {"0": {"turn_helpful": 4}},
            [
                {
                    "field": "rubric.turn.1.turn_helpful",
                    "message": "Turn helpfulness is required for assistant turn 2",
                }
            ],
        ),
        (
            {"0": {"turn_helpful": 4}, "1": {"turn_helpful": 4}, "2": {"turn_helpful": 4}},
            [
                {
                    "field": "rubric.turn.2",
                    "message": "no such turn: this conversation has turns 0 to 1",
                }
            ],
        ),
        (
            {"0": {"turn_helpful": 9, "turn_issue": "meh"}, "1": {"turn_helpful": 3}},
            [
                {"field": "rubric.turn.0.turn_helpful", "message": "choose a point from 1 to 5"},
                {"field": "rubric.turn.0.turn_issue", "message": "choose one of none, wrong"},
            ],
        ),
        (
            {"0": {"turn_helpful": 4, "help": 3}, "1": {"turn_helpful": 3}},
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
    r = _submit(client, auth, lease_id, {"0": {"turn_helpful": 4}})
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "rubric.turn", "message": "this project has no per-turn fields"}
    ]
    assert _judgments(app) == []


# Two raters' per-turn issue labels on two conversations of two assistant turns each:
# 4 units (item, turn), 3 agreeing.
TURN_TABLE = {
    "c1": [{"0": "none", "1": "wrong"}, {"0": "none", "1": "wrong"}],
    "c2": [{"0": "none", "1": "none"}, {"0": "wrong", "1": "none"}],
}


def _turn_campaign(app, make):
    project = make.project(
        slug="turns", mode="pairwise", rubric=TURN_RUBRIC, overlap=2, confirm_contradictions=False
    )
    make.items(project, [chat_row("c1"), chat_row("c2")])
    raters = [make.user("rater", username=f"r{k + 1}") for k in range(2)]
    for k, rater in enumerate(raters):

        def decide(ext, shown, k=k):
            issues = TURN_TABLE[ext][k]
            turn = {t: {"turn_helpful": 3, "turn_issue": v} for t, v in issues.items()}
            return shown[0], {"rubric": {"turn": turn}}

        judge_all(app, project, rater, decide)
    return project


def test_agreement_on_a_turn_dimension_counts_item_turn_units(app, client, make, admin_headers):
    _turn_campaign(app, make)
    r = client.get(
        "/api/v1/projects/turns/stats/agreement?dimension=turn_issue", headers=admin_headers
    )
    assert r.status_code == 200, r.get_json()
    (dim,) = r.get_json()["dimensions"]
    assert (dim["name"], dim["scope"], dim["ratings"]) == ("turn_issue", "turn", 8)
    values = {s["key"]: (s["on"], s["stat"]["value"], s["stat"]["n"]) for s in dim["stats"]}
    on = "Turn issue (per assistant turn)"
    # By hand: 3 of 4 units agree. Labels: none 5, wrong 3 of 8.
    # Fleiss: P = 3/4, Pe = (5/8)^2 + (3/8)^2 = 34/64, kappa = (3/4 - 34/64) / (30/64) = 7/15.
    # Krippendorff (nominal): Do = 2/8, De = 2 * 5 * 3 / (8 * 7) = 30/56, alpha = 1 - 14/30.
    assert values == {
        "percent_agreement": (on, pytest.approx(3 / 4), 4),
        "fleiss_kappa": (on, pytest.approx(7 / 15), 4),
        "alpha_nominal": (on, pytest.approx(8 / 15), 4),
    }


def test_rater_quality_compares_raters_on_a_turn_dimension(app, client, make, admin_headers):
    _turn_campaign(app, make)
    r = client.get(
        "/api/v1/projects/turns/stats/raters?dimension=turn_issue", headers=admin_headers
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["on"] == "scores on turn_issue"
    loo = {row["username"]: row["loo_agreement"] for row in body["raters"]}
    # Each rater against the other on the 4 (item, turn) units: 3 agree.
    assert {u: (s["value"], s["n"]) for u, s in loo.items()} == {"r1": (0.75, 4), "r2": (0.75, 4)}


def test_judges_are_compared_with_raters_on_turn_units(app, client, make, admin_headers):
    project = _turn_campaign(app, make)
    judge = add_judge(app, project, "turn-judge")
    with app.app_context():
        items = {i.external_id: i for i in db.session().exec(select(Item))}
    judged = {"c1": {"0": "none", "1": "wrong"}, "c2": {"0": "none", "1": "none"}}
    for ext, issues in judged.items():
        turn = {t: {"turn_helpful": 3, "turn_issue": v} for t, v in issues.items()}
        rubric = {"response": {}, "item": {}, "turn": turn}
        add_verdict(app, items[ext], judge, ["a", "b"], preferred="a", rubric=rubric)
    r = client.get(
        "/api/v1/projects/turns/stats/agreement?dimension=turn_issue", headers=admin_headers
    )
    assert r.status_code == 200, r.get_json()
    (mine,) = r.get_json()["judges"]["judges"]
    (dim,) = mine["dimensions"]
    # Each judge label against each rater's on the 4 (item, turn) units: 7 of 8 agree
    # (c2 turn 0: the judge says none, the raters none and wrong).
    stats = {s["key"]: s["stat"]["value"] for s in dim["stats"]}
    assert (dim["name"], dim["scope"], dim["cross_pairs"]) == ("turn_issue", "turn", 8)
    assert stats["percent_agreement"] == pytest.approx(7 / 8)


def test_a_conversation_ending_in_a_tool_result_shows_its_last_turns_fields(
    app, client, auth, make
):
    """The tool result folds into its call, so the call's assistant turn is the screen's
    last block: it carries its fields, or no submission could ever be complete."""
    project = make.project(mode="pairwise", rubric=TURN_RUBRIC, confirm_contradictions=False)
    call = {"id": "c1", "type": "function", "function": {"name": "track", "arguments": "{}"}}
    row = chat_row()
    row["messages"] = [
        {"role": "user", "content": "Where is order 1234?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"status": "late"}'},
    ]
    make.items(project, [row])
    auth.as_role("rater")
    r = client.post(f"/rate/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    html = r.get_json()["html"]
    assert 'aria-label="Your rating of assistant turn 1"' in html
    assert "rubric.turn.0.turn_helpful" in html


def test_an_item_dimension_after_a_turn_dimension_keeps_its_own_column(
    app, client, make, admin_headers
):
    """Plain prompts (no assistant turn yet) in a project with a turn dimension: the item
    dimension listed after it is read from its own values, not its neighbour's."""
    verdict_first = {
        "name": "verdict_ok",
        "label": "Verdict is safe",
        "scope": "item",
        "kind": "choice",
        "options": [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}],
    }
    rubric = [TURN_RUBRIC[1], verdict_first]
    project = make.project(
        slug="plain", mode="pairwise", rubric=rubric, overlap=2, confirm_contradictions=False
    )
    plain = [{k: v for k, v in chat_row(ext).items() if k != "messages"} for ext in ("p1", "p2")]
    make.items(project, [row | {"prompt": f"{row['id']}?"} for row in plain])
    answers = {("p1", 0): "yes", ("p1", 1): "yes", ("p2", 0): "yes", ("p2", 1): "no"}
    for k in range(2):
        rater = make.user("rater", username=f"r{k + 1}")

        def decide(ext, shown, k=k):
            return shown[0], {"rubric": {"item": {"verdict_ok": answers[(ext, k)]}}}

        judge_all(app, project, rater, decide)
    r = client.get("/api/v1/projects/plain/stats/agreement", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    dim = {d["name"]: d for d in r.get_json()["dimensions"]}["verdict_ok"]
    values = {s["key"]: (s["stat"]["value"], s["stat"]["n"]) for s in dim["stats"]}
    assert values["percent_agreement"] == (pytest.approx(1 / 2), 2)
