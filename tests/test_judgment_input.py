"""A malformed submission: 422 naming the field, never a 500, never coerced, at both doors.

The API (``/api/v1/assignments/<id>/judgment``) and the rating page
(``/rate/assignments/<id>/judgment``) read a submission through the one schema
(``schemas.JudgmentInSchema``), so both refuse the same bodies in the same words.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from service import db
from service.models import Assignment, Judgment, utcnow
from tests.factories import item_row

RUBRIC = [
    {"name": "quality", "label": "Quality", "scope": "response", "kind": "likert", "points": 5},
    {
        "name": "tone",
        "label": "Tone",
        "scope": "item",
        "kind": "choice",
        "options": [{"value": "ok", "label": "OK"}, {"value": "rude", "label": "Rude"}],
    },
    {
        "name": "issues",
        "label": "Issues",
        "scope": "item",
        "kind": "flags",
        "options": [{"value": "wrong", "label": "Wrong"}],
    },
]

DOORS = {
    "api": "/api/v1/assignments/{id}/judgment",
    "page": "/rate/assignments/{id}/judgment",
}
ACTIVE_MS = "milliseconds of active time, a whole number up to 2147483647"
STARTED = (
    "when the rater opened this item: from a day before it was leased to a day from now "
    "(clock skew allowed)"
)

# (what is sent in place of a valid part, the field and message every door answers)
MALFORMED: dict[str, tuple[dict[str, Any], str, str]] = {
    "rubric as a list": ({"rubric": []}, "rubric", "Invalid input type."),
    "rubric as a string": ({"rubric": "good"}, "rubric", "Invalid input type."),
    "per-response rubric as a list": (
        {"rubric": {"response": ["A"]}},
        "rubric.response",
        "Not a valid mapping type.",
    ),
    "a choice as a list": (
        {"rubric": {"item": {"tone": ["ok"]}}},
        "rubric.item.tone",
        "choose one of ok, rude",
    ),
    "flags as lists": (
        {"rubric": {"item": {"issues": [["wrong"]]}}},
        "rubric.item.issues",
        "choose any of wrong",
    ),
    "the verdict's choice as a list": (
        {"verdict": {"choice": ["A"]}},
        "verdict.choice",
        "Not a valid string.",
    ),
    "both_bad as a string": ({"both_bad": "false"}, "both_bad", "Not a valid boolean."),
    "both_bad as 0": ({"both_bad": 0}, "both_bad", "Not a valid boolean."),
    "active_ms as true": ({"active_ms": True}, "active_ms", ACTIVE_MS),
    "active_ms as a string": ({"active_ms": "4200"}, "active_ms", ACTIVE_MS),
    "active_ms as a float": ({"active_ms": 4200.0}, "active_ms", ACTIVE_MS),
    "active_ms at 2^31": ({"active_ms": 2**31}, "active_ms", ACTIVE_MS),
    "active_ms at 2^63": ({"active_ms": 2**63}, "active_ms", ACTIVE_MS),
    "active_ms below 0": ({"active_ms": -1}, "active_ms", ACTIVE_MS),
    "started_at before year 1 in UTC": (
        {"started_at": "0001-01-01T00:00:00+05:00"},
        "started_at",
        "Not a time that exists in UTC (years 1 to 9999).",
    ),
    "started_at after year 9999 in UTC": (
        {"started_at": "9999-12-31T23:59:59-05:00"},
        "started_at",
        "Not a time that exists in UTC (years 1 to 9999).",
    ),
    "started_at without a time zone": (
        {"started_at": "2025-01-01T10:00:00"},
        "started_at",
        "Not a valid aware datetime.",
    ),
    "started_at years ago": ({"started_at": "2001-01-01T00:00:00Z"}, "started_at", STARTED),
    "started_at far ahead": ({"started_at": "2999-01-01T00:00:00Z"}, "started_at", STARTED),
    "an unknown key": ({"score": 5}, "score", "Unknown field."),
}


@pytest.fixture
def rater(auth):
    return auth.as_role("rater")


@pytest.fixture
def lease(client, auth, make, rater) -> dict[str, Any]:
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC)
    make.items(project, [item_row("q1")])
    r = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["assignment"]


def _valid() -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "verdict": {"choice": "A"},
        "rubric": {"response": {"A": {"quality": 4}}, "item": {"tone": "ok"}},
        "both_bad": False,
        "active_ms": 4200,
        "started_at": utcnow().isoformat(),
    }


def _post(client, auth, door: str, lease_id: int, body: str) -> Any:
    headers = {"X-CSRF-Token": auth.csrf(), "Accept": "application/json"}
    url = DOORS[door].format(id=lease_id)
    return client.post(url, data=body, content_type="application/json", headers=headers)


def _refusal(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body.pop("request_id")
    return body


def _stored(app) -> list[Judgment]:
    with app.app_context():
        return list(db.session().exec(sa.select(Judgment)).scalars())


def _lease_status(app, lease_id: int) -> str:
    with app.app_context():
        return db.session().get(Assignment, lease_id).status


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_submission_is_refused_naming_the_field(app, client, auth, lease, door, case):
    change, field, message = MALFORMED[case]
    r = _post(client, auth, door, lease["id"], json.dumps(_valid() | change))
    assert r.status_code == 422, r.data
    assert _refusal(r) == {
        "ok": False,
        "status": 422,
        "error": "The judgment is incomplete or invalid.",
        "errors": [{"field": field, "message": message}],
    }
    assert _stored(app) == []
    assert _lease_status(app, lease["id"]) == "active"


@pytest.mark.parametrize("door", DOORS)
def test_a_5000_digit_integer_is_refused_naming_the_field(app, client, auth, lease, door):
    body = json.dumps(_valid() | {"active_ms": 0}).replace(
        '"active_ms": 0', '"active_ms": ' + "9" * 5000
    )
    r = _post(client, auth, door, lease["id"], body)
    assert r.status_code == 422, r.data
    message = "a whole number of 5000 digits is too large."
    assert _refusal(r) == {
        "ok": False,
        "status": 422,
        "error": f"active_ms: {message}",
        "errors": [{"field": "active_ms", "message": message}],
    }
    assert _stored(app) == []


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("body", ["[]", '"judgment"', "{not json"])
def test_a_body_that_is_not_an_object_is_refused(app, client, auth, lease, door, body):
    r = _post(client, auth, door, lease["id"], body)
    assert r.status_code == 422, r.data
    assert _refusal(r) == {
        "ok": False,
        "status": 422,
        "error": "Send the judgment as a JSON object.",
        "errors": [{"field": "", "message": "expected a JSON object"}],
    }
    assert _stored(app) == []


@pytest.mark.parametrize("door", DOORS)
def test_both_bad_false_as_text_is_refused_and_as_json_stored_as_sent(
    app, client, auth, lease, door
):
    # "false" was stored as true (Python's bool("false")); a boolean is a JSON boolean.
    r = _post(client, auth, door, lease["id"], json.dumps(_valid() | {"both_bad": "false"}))
    assert r.status_code == 422
    assert _stored(app) == []
    started = utcnow() - timedelta(minutes=3)
    sent = _valid() | {"both_bad": False, "active_ms": 2**31 - 1, "started_at": started.isoformat()}
    r = _post(client, auth, door, lease["id"], json.dumps(sent))
    assert r.status_code == 201, r.get_json()
    (j,) = _stored(app)
    assert (j.both_bad, j.active_ms, j.started_at, j.rubric["item"]) == (
        False,
        2**31 - 1,
        started,
        {"tone": "ok"},
    )


def test_both_doors_refuse_the_same_body_in_the_same_words(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC)
    make.items(project, [item_row("q1"), item_row("q2")])
    body = _valid() | {"both_bad": "false", "active_ms": True, "verdict": {"choice": ["A"]}}
    answers = []
    for door in DOORS:
        r = client.post(
            f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": auth.csrf()}
        )
        lease_id = r.get_json()["assignment"]["id"]
        answers.append(_refusal(_post(client, auth, door, lease_id, json.dumps(body))))
        # Leave the lease, so the next door gets a fresh one.
        client.post(
            f"/api/v1/assignments/{lease_id}/skip",
            json={"reason": "other"},
            headers={"X-CSRF-Token": auth.csrf()},
        )
    assert answers[0] == answers[1]
    assert {e["field"] for e in answers[0]["errors"]} == {"both_bad", "active_ms", "verdict.choice"}


def test_a_revision_is_read_through_the_same_schema(app, client, auth, lease):
    r = _post(client, auth, "api", lease["id"], json.dumps(_valid()))
    assert r.status_code == 201, r.get_json()
    body = _valid() | {"both_bad": "true"}
    r = client.post(
        f"/api/v1/judgments/{r.get_json()['id']}/revise",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 422
    assert _refusal(r)["errors"] == [{"field": "both_bad", "message": "Not a valid boolean."}]
    assert len(_stored(app)) == 1
