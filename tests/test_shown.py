"""Every judgment stores a hash of exactly what its rater was shown, and exports carry it.

A consumer recomputes it from the raw export alone, with nothing but ``json`` and
``hashlib``, as the README says: that is what these tests do.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.models import Judgment, Project, utcnow
from service.projects import projects
from tests import export_dataset
from tests.factories import item_row

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Café or thé? ☕"},
]


def _chat(ext, n_responses=2):
    row = item_row(ext, n_responses=n_responses, messages=CHAT)
    del row["prompt"]
    return row


def recompute(row: dict) -> str:
    """What a consumer runs on a raw export row (README: "Checking what was shown")."""
    texts = {r["id"]: r["content"] for r in row["responses"]}
    return recompute_from(
        prompt=row["prompt"],
        messages=row["messages"],
        responses=[texts[rid] for rid in row["shown_order"]],
        version=row["guideline_version"],
    )


def _csrf(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _next(client, auth, slug):
    r = client.post(f"/api/v1/projects/{slug}/next", headers=_csrf(auth))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["assignment"]


def _post(client, auth, url, payload):
    r = client.post(url, json={"client_id": uuid.uuid4().hex, **payload}, headers=_csrf(auth))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _bump_guidelines(project, text):
    with db.write_session() as s:
        projects.update_guidelines(session=s, project=s.get(Project, project.id), guidelines=text)


def test_the_stored_hash_is_recomputable_from_the_raw_export(app, client, auth, make):
    auth.as_role("rater")
    pair = make.project(slug="pair", mode="pairwise", scale="ternary", overlap=1)
    make.items(pair, [item_row("p1", n_responses=3)])
    rank = make.project(slug="rank", mode="ranking", overlap=1)
    make.items(rank, [_chat("c1", n_responses=3)])
    _bump_guidelines(pair, "Prefer the correct answer.")

    shown = _next(client, auth, "pair")
    first = _post(
        client, auth, f"/api/v1/assignments/{shown['id']}/judgment", {"verdict": {"choice": "A"}}
    )
    _bump_guidelines(pair, "Prefer the correct and the shorter answer.")
    revised = _post(
        client, auth, f"/api/v1/judgments/{first['id']}/revise", {"verdict": {"choice": "B"}}
    )
    shown = _next(client, auth, "rank")
    _post(
        client,
        auth,
        f"/api/v1/assignments/{shown['id']}/judgment",
        {"verdict": {"ranking": [["B"], ["A", "C"]]}},
    )

    raw = export_dataset.export_rows(app, format="raw", project=["pair", "rank"])
    assert [(r["project"], r["guideline_version"]) for r in raw] == [("pair", 3), ("rank", 1)]
    assert raw[0]["judgment_id"] == revised["id"] and raw[1]["messages"] == CHAT
    for row in raw:
        assert row["shown_sha256"] == recompute(row)
    with db.write_session() as s:
        stored = {j.id: j.shown_sha256 for j in s.exec(select(Judgment))}
    # The revision was made under newer guidelines: what was shown differs, and so does the hash.
    assert stored[first["id"]] != stored[revised["id"]] == raw[0]["shown_sha256"]
    by_judgment = {r["judgment_id"]: r["shown_sha256"] for r in raw}
    for fmt in ("dpo", "reward", "openai", "hh", "kto"):
        for row in export_dataset.export_rows(app, format=fmt, project=["pair"]):
            meta = row["metadata"]
            assert meta["shown_sha256"] == [by_judgment[meta["judgment_id"]]], fmt
    (ranking,) = export_dataset.export_rows(app, format="ranking", project=["rank"])
    assert ranking["metadata"]["shown_sha256"] == [raw[1]["shown_sha256"]]


def test_ratings_rows_carry_the_hashes_of_their_raters(app, client, auth, make):
    rubric = [
        {"name": "score", "label": "Score", "scope": "response", "kind": "likert", "points": 5}
    ]
    project = make.project(slug="rate", mode="rating", rubric=rubric, overlap=2)
    make.items(project, [item_row("r1")])
    for score in (4, 2):
        auth.as_role("rater")
        shown = _next(client, auth, "rate")
        rubric_in = {"response": {"A": {"score": score}, "B": {"score": 3}}, "item": {}}
        _post(client, auth, f"/api/v1/assignments/{shown['id']}/judgment", {"rubric": rubric_in})
    raw = export_dataset.export_rows(app, format="raw", project=["rate"])
    assert [row["shown_sha256"] for row in raw] == [recompute(row) for row in raw]
    hashes = list(dict.fromkeys(row["shown_sha256"] for row in raw))
    rows = export_dataset.export_rows(app, format="ratings", project=["rate"])
    assert len(rows) == 2
    assert all(r["metadata"]["shown_sha256"] == hashes for r in rows)


def test_a_judgment_without_its_hash_is_refused(app, make):
    project = make.project()
    (item,) = make.items(project, [item_row("q1")])
    rater = make.user()
    values = {
        "client_id": "c" * 8,
        "project_id": project.id,
        "item_id": item.id,
        "rater_id": rater.id,
        "version": 1,
        "mode": "pairwise",
        "is_gold": False,
        "shown_order": ["a", "b"],
        "verdict": {},
        "rubric": {},
        "both_bad": False,
        "flags": [],
        "rationale": "",
        "guideline_version": 1,
        "created_at": utcnow(),
    }
    with pytest.raises(sa.exc.IntegrityError), db.write_session() as s:
        s.execute(sa.insert(Judgment.__table__).values(values))


@pytest.mark.drift  # legacy judgments written straight into the table, without leases
def test_the_migration_backfills_older_judgments_from_current_content(app, make):
    project = make.project(mode="ranking")
    first, second = make.items(project, [item_row("q1", n_responses=3), _chat("q2")])
    rater = make.user()
    db.downgrade(db.engine(), "assign2")
    judgments = sa.table(
        "judgment",
        *(sa.column(c) for c in ("client_id", "project_id", "item_id", "rater_id", "mode")),
        sa.column("shown_order", sa.JSON),
        sa.column("verdict", sa.JSON),
        sa.column("rubric", sa.JSON),
        sa.column("flags", sa.JSON),
        *(sa.column(c) for c in ("version", "is_gold", "both_bad", "rationale")),
        sa.column("guideline_version"),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    common = {"project_id": project.id, "rater_id": rater.id, "mode": "ranking", "verdict": {}}
    common |= {"rubric": {}, "flags": [], "version": 1, "is_gold": False, "both_bad": False}
    common |= {"rationale": "", "created_at": utcnow()}
    with db.write_session() as s:
        s.execute(
            judgments.insert(),
            [
                {
                    **common,
                    "client_id": "old-1",
                    "item_id": first.id,
                    "shown_order": ["c", "a", "b"],
                    "guideline_version": 1,
                },
                {
                    **common,
                    "client_id": "old-2",
                    "item_id": second.id,
                    "shown_order": ["b", "a"],
                    "guideline_version": 4,
                },
                # An older version let content change under a lease: a response gone since.
                {
                    **common,
                    "client_id": "old-3",
                    "item_id": first.id,
                    "shown_order": ["a", "gone"],
                    "guideline_version": 1,
                },
            ],
        )
    db.upgrade(db.engine())

    with db.write_session() as s:
        stored = {j.client_id: j.shown_sha256 for j in s.exec(select(Judgment))}
    texts = {"a": "Answer 0 to q1.", "b": "Answer 1 to q1.", "c": "Answer 2 to q1."}
    assert stored == {
        "old-1": recompute_from(
            prompt="Question q1?", responses=[texts["c"], texts["a"], texts["b"]], version=1
        ),
        "old-2": recompute_from(
            messages=CHAT, responses=["Answer 1 to q2.", "Answer 0 to q2."], version=4
        ),
        "old-3": recompute_from(prompt="Question q1?", responses=[texts["a"], None], version=1),
    }
    # The append-only guard is back.
    with pytest.raises(sa.exc.DatabaseError), db.write_session() as s:
        s.execute(sa.update(Judgment).values(rationale="rewritten"))


def recompute_from(*, responses, version, prompt=None, messages=None) -> str:
    """sha256 of the canonical JSON: sorted keys, no spaces, non-ASCII escaped."""
    shown = {
        "guideline_version": version,
        "messages": messages,
        "prompt": prompt,
        "responses": responses,
    }
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
