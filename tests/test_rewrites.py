"""Rewriting a response after the verdict: the edit setting, the rules, storage and the API."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlmodel import select

from service import cli, db
from service.models import Assignment, Judgment, Project
from service.rating.rewrites import changed_words
from tests.factories import item_row

RUBRIC = [
    {"name": "help", "label": "Helpfulness", "scope": "response", "kind": "likert", "points": 5}
]


@pytest.mark.parametrize(
    ("original", "rewrite", "changed"),
    [
        ("Sydney is the capital.", "Sydney is the capital.", 0),
        # Whitespace is never a word: reflowing, indenting, trailing newlines change nothing.
        ("Sydney is the capital.", "  Sydney   is\nthe\tcapital.\n\n", 0),
        # A replaced word counts twice (one out, one in); an added word once.
        ("Sydney is the capital.", "Canberra is the capital.", 2),
        ("Sydney is the capital.", "Sydney is not the capital.", 1),
        ("a b c", "", 3),
        # Joining two words is a change of words, not of whitespace.
        ("data base", "database", 3),
    ],
)
def test_changed_words(original, rewrite, changed):
    assert changed_words(original, rewrite) == changed


def _lease(client, auth, make, *, mode="pairwise", **settings):
    project = make.project(mode=mode, rubric=RUBRIC, confirm_contradictions=False, **settings)
    make.items(project, [item_row("q1", n_responses=3 if mode == "ranking" else 2)])
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    return r.get_json()["assignment"]["id"]


def _shown(app, lease_id):
    with app.app_context():
        return db.session().get(Assignment, lease_id).shown_order


def _submit(client, auth, lease_id, rewrite, verdict=None, **extra):
    payload = {
        "client_id": uuid.uuid4().hex,
        "verdict": verdict or {"choice": "A"},
        "rewrite": rewrite,
        **extra,
    }
    return client.post(
        f"/api/v1/assignments/{lease_id}/judgment",
        json=payload,
        headers={"X-CSRF-Token": auth.csrf()},
    )


def _judgments(app):
    with app.app_context():
        return list(db.session().exec(select(Judgment).order_by(Judgment.id)))


def _errors(r):
    body = r.get_json()
    body.pop("request_id", None)
    return body


def _original(rid):
    return f"Answer {ord(rid) - ord('a')} to q1."


def test_rewrite_of_the_preferred_response_is_stored_with_the_original_hash(
    app, client, auth, make
):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="preferred")
    shown = _shown(app, lease_id)
    r = _submit(client, auth, lease_id, {"response": "A", "text": "A **better** answer."})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    # The rater sees the rewrite by label only: no response id.
    assert body["rewrite"] == {"response": "A", "text": "A **better** answer."}
    (j,) = _judgments(app)
    assert j.rewrite_response_id == shown[0]
    assert j.rewrite_text == "A **better** answer."
    original = _original(shown[0]).encode()
    assert j.rewrite_original_sha256 == hashlib.sha256(original).hexdigest()
    # The response itself is as imported.
    with app.app_context():
        from service.models import Response

        texts = {r.external_id: r.content for r in db.session().exec(select(Response))}
    assert texts == {"a": "Answer 0 to q1.", "b": "Answer 1 to q1."}


def test_no_rewrite_stores_nulls(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="any")
    r = _submit(client, auth, lease_id, None)
    assert r.status_code == 201 and r.get_json()["rewrite"] is None
    (j,) = _judgments(app)
    assert (j.rewrite_response_id, j.rewrite_text, j.rewrite_original_sha256) == (None,) * 3


@pytest.mark.parametrize(
    ("edit", "rewrite", "verdict", "errors"),
    [
        (
            "off",
            {"response": "A", "text": "Better."},
            None,
            [
                {
                    "field": "rewrite",
                    "message": "this project does not take rewrites (its edit setting is off)",
                }
            ],
        ),
        (
            "preferred",
            {"response": "B", "text": "Better."},
            None,
            [
                {
                    "field": "rewrite.response",
                    "message": "this project takes rewrites of the preferred response only: A",
                }
            ],
        ),
        (
            "preferred",
            {"response": "A", "text": "Better."},
            {"choice": "tie"},
            [
                {
                    "field": "rewrite.response",
                    "message": "this project takes rewrites of the preferred response only: "
                    "your verdict prefers none",
                }
            ],
        ),
        (
            "any",
            {"response": "C", "text": "Better."},
            None,
            [{"field": "rewrite.response", "message": "no such response on this screen"}],
        ),
        (
            "any",
            {"response": "A", "text": " \n\t "},
            None,
            [{"field": "rewrite.text", "message": "must not be empty"}],
        ),
        (
            "any",
            {"response": "A", "text": "x" * 200_001},
            None,
            [
                {
                    "field": "rewrite.text",
                    "message": "200001 characters, over the limit of 200000",
                }
            ],
        ),
        (
            "any",
            {"response": "A"},
            None,
            [{"field": "rewrite.text", "message": "Missing data for required field."}],
        ),
    ],
)
def test_bad_rewrites_are_refused_naming_the_field_and_nothing_is_stored(
    app, client, auth, make, edit, rewrite, verdict, errors
):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit=edit)
    r = _submit(client, auth, lease_id, rewrite, verdict=verdict)
    assert r.status_code == 422
    assert _errors(r) == {
        "ok": False,
        "status": 422,
        "error": "The judgment is incomplete or invalid.",
        "errors": errors,
    }
    assert _judgments(app) == []
    with app.app_context():
        assert db.session().get(Assignment, lease_id).status == "active"


def test_a_whitespace_only_rewrite_is_refused_with_a_clear_message(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="any")
    original = _original(_shown(app, lease_id)[1])
    r = _submit(client, auth, lease_id, {"response": "B", "text": f"  {original}\n\n"})
    assert r.status_code == 422
    assert _errors(r) == {
        "ok": False,
        "status": 422,
        "error": "The rewrite is the same as the response (whitespace aside).",
        "errors": [
            {
                "field": "rewrite.text",
                "message": "changes no word of the response, only whitespace if anything: "
                "change the text or leave the rewrite out",
            }
        ],
    }
    assert _judgments(app) == []
    with app.app_context():
        assert db.session().get(Assignment, lease_id).status == "active"


def test_any_lets_a_rater_rewrite_a_response_the_verdict_did_not_prefer(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="any")
    shown = _shown(app, lease_id)
    r = _submit(client, auth, lease_id, {"response": "B", "text": "Fixed answer."})
    assert r.status_code == 201, r.get_json()
    assert _judgments(app)[0].rewrite_response_id == shown[1]


def test_ranking_preferred_is_the_best_group(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, mode="ranking", edit="preferred")
    shown = _shown(app, lease_id)
    ranking = {"ranking": [["B", "C"], ["A"]]}
    refused = _submit(client, auth, lease_id, {"response": "A", "text": "New."}, verdict=ranking)
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == [
        {
            "field": "rewrite.response",
            "message": "this project takes rewrites of the preferred response only: B, C",
        }
    ]
    ok = _submit(client, auth, lease_id, {"response": "C", "text": "New."}, verdict=ranking)
    assert ok.status_code == 201, ok.get_json()
    assert _judgments(app)[0].rewrite_response_id == shown[2]


def test_a_revision_is_a_new_version_with_its_own_rewrite(app, client, auth, make):
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="preferred")
    first = _submit(client, auth, lease_id, {"response": "A", "text": "First try."}).get_json()
    r = client.post(
        f"/api/v1/judgments/{first['id']}/revise",
        json={
            "client_id": uuid.uuid4().hex,
            "verdict": {"choice": "B"},
            "rewrite": {"response": "B", "text": "Second try."},
        },
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["rewrite"] == {"response": "B", "text": "Second try."}
    old, new = _judgments(app)
    shown = _shown(app, lease_id)
    # Append-only: the first version keeps its rewrite; the second supersedes it.
    assert (old.rewrite_response_id, old.rewrite_text) == (shown[0], "First try.")
    assert (new.rewrite_response_id, new.rewrite_text) == (shown[1], "Second try.")
    assert (new.supersedes_id, new.version) == (old.id, 2)


def test_edit_setting_through_the_api_and_the_cli(app, client, auth, make, runner):
    make.project(slug="camp")
    auth.as_role("admin")
    r = client.patch(
        "/api/v1/projects/camp", json={"edit": "sometimes"}, headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "edit", "message": "Must be one of: off, preferred, any."}
    ]
    r = client.patch(
        "/api/v1/projects/camp", json={"edit": "preferred"}, headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 200 and r.get_json()["edit"] == "preferred"
    result = runner.invoke(cli.main, ["projects", "set", "camp", "--edit", "any"])
    assert result.exit_code == 0, result.output
    assert result.output == 'camp: edit "preferred" -> "any"\n'
    with app.app_context():
        project = db.session().exec(select(Project).where(Project.slug == "camp")).one()
    assert project.edit == "any"


def test_preview_renders_markdown_through_the_responses_sanitiser(client, auth):
    auth.as_role("rater")
    text = "It is **bold** <img src=x onerror=alert(1)> [x](javascript:alert(2))"
    r = client.post("/rate/preview", json={"text": text}, headers={"X-CSRF-Token": auth.csrf()})
    assert r.status_code == 200
    assert r.get_json() == {
        "html": "<p>It is <strong>bold</strong> &lt;img src=x onerror=alert(1)&gt; "
        "[x](javascript:alert(2))</p>\n"
    }
    bad = client.post(
        "/rate/preview",
        json={"text": 5},
        headers={"X-CSRF-Token": auth.csrf(), "Accept": "application/json"},
    )
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [
        {"field": "text", "message": "a string of up to 200000 characters"}
    ]


def test_another_field_error_does_not_blame_a_valid_rewrite(app, client, auth, make):
    """A bad span label beside a rewrite of the preferred response: only the span is
    named (the policy is checked once the verdict and rubric are valid)."""
    auth.as_role("rater")
    lease_id = _lease(client, auth, make, edit="preferred", span_labels=["factual error"])
    span = {"response": "A", "start": 0, "end": 6, "label": "made up"}
    r = _submit(client, auth, lease_id, {"response": "A", "text": "Better."}, spans=[span])
    assert r.status_code == 422
    assert [e["field"] for e in _errors(r)["errors"]] == ["spans.0.label"]
    assert _judgments(app) == []
