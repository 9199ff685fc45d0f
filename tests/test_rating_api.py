"""The rater's API: lease, submit (idempotent, validated), skip, revise."""

import uuid

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment
from tests.factories import item_row

RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
    {
        "name": "issues",
        "label": "Issues",
        "scope": "item",
        "kind": "flags",
        "options": [{"value": "unsafe", "label": "Unsafe"}, {"value": "wrong", "label": "Wrong"}],
    },
    {"name": "rationale", "label": "Rationale", "scope": "item", "kind": "text"},
    {"name": "confidence", "label": "Confidence", "scope": "item", "kind": "likert", "points": 3},
]


@pytest.fixture
def rater(auth):
    return auth.as_role("rater")


def _headers(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _next(client, auth, slug):
    r = client.post(f"/api/v1/projects/{slug}/next", headers=_headers(auth))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["assignment"]


def _rows(app, model, **where):
    with app.app_context():
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list(db.session().exec(query))


def test_pairwise_submit_records_verdict_in_response_ids(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC, overlap=2)
    make.items(project, [item_row("q1", n_responses=2)])
    shown = _next(client, auth, project.slug)
    assert [r["label"] for r in shown["responses"]] == ["A", "B"]
    assert "model" not in shown["responses"][0]
    payload = {
        "client_id": str(uuid.uuid4()),
        "verdict": {"choice": "B"},
        "rubric": {
            "response": {"A": {"correctness": 2}, "B": {"correctness": 5}},
            "item": {"issues": ["wrong"], "rationale": " A is wrong. ", "confidence": 3},
        },
        "active_ms": 4200,
    }
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment", json=payload, headers=_headers(auth)
    )
    assert r.status_code == 201, r.get_json()
    (j,) = _rows(app, Judgment)
    (lease,) = _rows(app, Assignment)
    left, right = lease.shown_order
    assert j.verdict == {"preferred": right, "strength": None, "scale_value": None}
    assert j.rubric["response"] == {left: {"correctness": 2}, right: {"correctness": 5}}
    assert (j.flags, j.rationale, j.confidence, j.active_ms) == (["wrong"], "A is wrong.", 3, 4200)
    assert j.shown_order == [left, right] and j.rater_id == rater.id
    assert lease.status == "submitted"
    body = r.get_json()
    assert body["verdict"] == {"preferred": "B", "strength": None, "scale_value": None}
    assert body["rubric"] == {
        "response": {"A": {"correctness": 2}, "B": {"correctness": 5}},
        "item": {"issues": ["wrong"], "rationale": "A is wrong.", "confidence": 3},
    }


def test_double_submit_stores_one_judgment(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="binary")
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    payload = {"client_id": "fixed-client-id-1", "verdict": {"choice": "A"}}
    url = f"/api/v1/assignments/{shown['id']}/judgment"
    first = client.post(url, json=payload, headers=_headers(auth))
    second = client.post(url, json=payload, headers=_headers(auth))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json() == second.get_json()
    assert len(_rows(app, Judgment)) == 1


@pytest.mark.parametrize(
    ("verdict", "rubric", "field"),
    [
        ({}, {"response": {"A": {"correctness": 1}, "B": {"correctness": 1}}}, "verdict.choice"),
        (
            {"choice": "tie"},
            {"response": {"A": {"correctness": 1}}},
            "rubric.response.B.correctness",
        ),
        (
            {"choice": "A"},
            {"response": {"A": {"correctness": 9}, "B": {"correctness": 1}}},
            "rubric.response.A.correctness",
        ),
        (
            {"choice": "A"},
            {
                "response": {
                    "A": {"correctness": 1},
                    "B": {"correctness": 1},
                    "C": {"correctness": 1},
                }
            },
            "rubric.response.C",
        ),
        (
            {"choice": "A"},
            {
                "response": {"A": {"correctness": 1}, "B": {"correctness": 1}},
                "item": {"issues": ["nope"]},
            },
            "rubric.item.issues",
        ),
    ],
)
def test_invalid_judgment_is_refused_and_nothing_stored(
    app, client, auth, make, rater, verdict, rubric, field
):
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": verdict, "rubric": rubric},
        headers=_headers(auth),
    )
    body = r.get_json()
    assert r.status_code == 422 and body["ok"] is False and body["status"] == 422
    assert field in [e["field"] for e in body["errors"]]
    assert _rows(app, Judgment) == []
    assert _rows(app, Assignment)[0].status == "active"


def test_ranking_with_ties(app, client, auth, make, rater):
    project = make.project(mode="ranking")
    make.items(project, [item_row("q1", n_responses=4)])
    shown = _next(client, auth, project.slug)
    labels = [r["label"] for r in shown["responses"]]
    assert labels == ["A", "B", "C", "D"]
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"ranking": [["C"], ["A", "D"], ["B"]]}},
        headers=_headers(auth),
    )
    assert r.status_code == 201, r.get_json()
    (lease,) = _rows(app, Assignment)
    o = lease.shown_order
    assert _rows(app, Judgment)[0].verdict == {"ranking": [[o[2]], [o[0], o[3]], [o[1]]]}
    # The rater's copy speaks in the labels it was given, never in response ids.
    assert r.get_json()["verdict"] == {"ranking": [["C"], ["A", "D"], ["B"]]}


def test_ranking_must_rank_every_response(client, auth, make, rater):
    project = make.project(mode="ranking")
    make.items(project, [item_row("q1", n_responses=3)])
    shown = _next(client, auth, project.slug)
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"ranking": [["A"], ["B"]]}},
        headers=_headers(auth),
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "verdict.ranking", "message": "rank every response exactly once: A, B, C"}
    ]


def test_likert7_scale_maps_to_preference_and_strength(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="likert7")
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"scale_value": 2}},
        headers=_headers(auth),
    )
    assert r.status_code == 201
    (lease,) = _rows(app, Assignment)
    assert _rows(app, Judgment)[0].verdict == {
        "preferred": lease.shown_order[0],
        "strength": 2,
        "scale_value": 2,
    }
    assert r.get_json()["verdict"] == {"preferred": "A", "strength": 2, "scale_value": 2}


def test_revise_appends_a_new_version(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="ternary")
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    first = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}},
        headers=_headers(auth),
    ).get_json()
    r = client.post(
        f"/api/v1/judgments/{first['id']}/revise",
        json={"client_id": str(uuid.uuid4()), "verdict": {"choice": "tie"}},
        headers=_headers(auth),
    )
    assert r.status_code == 201
    assert (r.get_json()["version"], r.get_json()["supersedes_id"]) == (2, first["id"])
    old, new = sorted(_rows(app, Judgment), key=lambda j: j.id)
    assert old.verdict["preferred"] is not None and new.verdict["preferred"] is None


def test_other_rater_cannot_touch_my_assignment(client, auth, make, rater):
    project = make.project(mode="pairwise")
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    auth.as_role("rater")
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}},
        headers=_headers(auth),
    )
    assert r.status_code == 404


def test_overlap_is_exact_and_no_repeats(client, auth, make):
    project = make.project(mode="pairwise", overlap=2)
    make.items(project, [item_row("q1")])
    seen = []
    for _ in range(3):
        auth.as_role("rater")
        a = _next(client, auth, project.slug)
        seen.append(a)
    assert seen[0] is not None and seen[1] is not None
    assert seen[2] is None


def test_skip_returns_item_to_pool_for_others(app, client, auth, make, rater):
    project = make.project(mode="pairwise", overlap=1)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/skip",
        json={"reason": "expertise"},
        headers=_headers(auth),
    )
    assert r.status_code == 200
    assert (
        client.post(f"/api/v1/projects/{project.slug}/next", headers=_headers(auth)).get_json()[
            "assignment"
        ]
        is None
    )
    auth.as_role("rater")
    assert _next(client, auth, project.slug) is not None


def test_database_refuses_to_alter_a_judgment(app, client, auth, make, rater):
    import sqlalchemy as sa

    project = make.project(mode="pairwise")
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}},
        headers=_headers(auth),
    )
    for statement in ("UPDATE judgment SET rationale = 'edited'", "DELETE FROM judgment"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            app.app_context(),
            db.write_session() as s,
        ):
            s.execute(sa.text(statement))
    assert _rows(app, Judgment)[0].rationale == ""


def test_submit_and_next_stores_the_judgment_and_leases_the_next_item(
    app, client, auth, make, rater
):
    project = make.project(mode="pairwise", scale="binary", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2")])
    shown = _next(client, auth, project.slug)
    payload = {"client_id": "together-1", "verdict": {"choice": "A"}}
    url = f"/api/v1/assignments/{shown['id']}/judgment-and-next"
    first = client.post(url, json=payload, headers=_headers(auth))
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    (j,) = _rows(app, Judgment)
    assert body["judgment"]["id"] == j.id and j.assignment_id == shown["id"]
    assert (
        body["judgment"]
        == client.post(
            f"/api/v1/assignments/{shown['id']}/judgment", json=payload, headers=_headers(auth)
        ).get_json()
    )  # what submit alone answers for the same judgment
    nxt = body["assignment"]
    assert nxt["id"] != shown["id"] and nxt["prompt"] != shown["prompt"]
    # It is the rater's live lease now: "next" hands out the same one.
    assert _next(client, auth, project.slug) == nxt
    statuses = {a.id: a.status for a in _rows(app, Assignment)}
    assert statuses == {shown["id"]: "submitted", nxt["id"]: "active"}


def test_submit_and_next_repeated_moves_on_to_the_same_item(app, client, auth, make, rater):
    # A retry after a lost answer must neither store twice nor take a second item.
    project = make.project(mode="pairwise", scale="binary", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2"), item_row("q3")])
    shown = _next(client, auth, project.slug)
    url = f"/api/v1/assignments/{shown['id']}/judgment-and-next"
    payload = {"client_id": "together-2", "verdict": {"choice": "B"}}
    first = client.post(url, json=payload, headers=_headers(auth))
    second = client.post(url, json=payload, headers=_headers(auth))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json() == second.get_json()
    assert len(_rows(app, Judgment)) == 1 and len(_rows(app, Assignment)) == 2


def test_submit_and_next_refused_leaves_no_trace(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="binary", overlap=1)
    make.items(project, [item_row("q1"), item_row("q2")])
    shown = _next(client, auth, project.slug)
    url = f"/api/v1/assignments/{shown['id']}/judgment-and-next"
    r = client.post(url, json={"client_id": "together-3", "verdict": {}}, headers=_headers(auth))
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["field"] == "verdict.choice"
    assert _rows(app, Judgment) == []
    assert [a.id for a in _rows(app, Assignment)] == [shown["id"]]  # no next item taken


def test_submit_and_next_says_when_the_work_is_done(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="binary", overlap=1)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    url = f"/api/v1/assignments/{shown['id']}/judgment-and-next"
    r = client.post(
        url, json={"client_id": "together-4", "verdict": {"choice": "A"}}, headers=_headers(auth)
    )
    assert r.status_code == 201
    body = r.get_json()
    assert body["assignment"] is None and "No items left" in body["message"]
    assert len(_rows(app, Judgment)) == 1
