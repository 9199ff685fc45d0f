"""Raters are blind: nothing they receive names a response id, a model, a source or an item.

A TRL file imported with response ids ``chosen``/``rejected`` would tell the rater which
answer the source data preferred; generated responses are keyed by their generator's
name; item ids and database ids tell the import order. Each test imports such data,
walks every rater-facing route as a rater and scans every body and header.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.models import Assignment, Item, Judgment

FIRST_ITEM_ID = 7_340_000  # distinctive, so a leaked database id shows in a scan
HIDDEN = [
    "chosen",
    "rejected",
    "original_label",
    "secret-model",
    "hidden-item-ext",
    "hidden-source-file",
    "secret-origin-set",
]
RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
    {"name": "score", "label": "Score", "scope": "response", "kind": "number"},
    {"name": "confidence", "label": "Confidence", "scope": "item", "kind": "likert", "points": 3},
]
MODELS = ["gpt-secret-model", "claude-secret-model", "llama-secret-model"]


def _trl_rows() -> list[dict[str, Any]]:
    """Preference rows as TRL writes them: the ids say which answer was preferred."""
    return [
        {
            "id": f"hidden-item-ext-{n}",
            "prompt": f"Name planet number {n - 40}.",
            "chosen": f"Planet {n - 40} is Earth-like, answer one.",
            "rejected": f"Planet {n - 40} is a gas giant, answer two.",
            "source_dataset": "secret-origin-set",
        }
        for n in (42, 43, 44, 45)
    ]


def _generated_rows() -> list[dict[str, Any]]:
    """Native rows shaped as generation publishes them: responses keyed by generator."""
    return [
        {
            "id": f"hidden-item-ext-{n}",
            "prompt": f"Write line {n - 50} of a poem.",
            "responses": [
                {"id": m, "model": m, "content": f"Line {n - 50}, voice {k}."}
                for k, m in enumerate(MODELS)
            ],
            "metadata": {"source": "secret-origin-set"},
        }
        for n in (51, 52, 53, 54)
    ]


def _rated_rows() -> list[dict[str, Any]]:
    return [
        {
            "id": f"hidden-item-ext-{n}",
            "prompt": f"Summarise text {n - 60}.",
            "responses": [
                {"id": "chosen", "model": MODELS[0], "content": f"Summary {n - 60}, first."},
                {"id": "rejected", "model": MODELS[1], "content": f"Summary {n - 60}, second."},
            ],
        }
        for n in (61, 62, 63, 64)
    ]


def _start_item_ids_at(app: Any, make: Any, first: int) -> None:
    """Make imported items' database ids distinctive (and so findable in a scan)."""
    decoy = make.project(slug="decoy")
    with app.app_context(), db.write_session() as s:
        if s.bind.dialect.name == "postgresql":
            s.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('item', 'id'), :n)"), {"n": first}
            )
            return
        # SQLite hands out max(rowid) + 1: a placeholder item sets the start.
        s.add(Item(id=first, project_id=decoy.id, external_id="decoy", content_hash=""))


def _import(app: Any, headers: dict[str, str], slug: str, rows: list[dict[str, Any]]) -> None:
    body = "\n".join(json.dumps(r) for r in rows)
    r = app.test_client().post(
        f"/api/v1/projects/{slug}/items?source=hidden-source-file.jsonl",
        data=body,
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 201, r.get_json()


@pytest.fixture
def setup(app, make, admin_headers, auth):
    """Three projects of tell-tale data, and a rater signed in."""
    _start_item_ids_at(app, make, FIRST_ITEM_ID)
    # With error spans on, the screen also carries each response's raw text (by label).
    spans = {"span_labels": ["unsafe"]}
    projects = {
        "pairwise": make.project(mode="pairwise", scale="ternary", rubric=RUBRIC, overlap=1),
        "ranking": make.project(mode="ranking", rubric=RUBRIC, overlap=1, **spans),
        "rating": make.project(mode="rating", rubric=RUBRIC, overlap=1, **spans),
    }
    rows = {"pairwise": _trl_rows(), "ranking": _generated_rows(), "rating": _rated_rows()}
    for mode, project in projects.items():
        _import(app, admin_headers, project.slug, rows[mode])
    with app.app_context():
        item_ids = list(db.session().exec(select(Item.id).where(Item.external_id != "decoy")))
    assert min(item_ids) > FIRST_ITEM_ID
    rater = auth.as_role("rater")
    return projects, item_ids, rater


class RaterScan:
    """A rater's client whose every response is checked for hidden strings."""

    def __init__(self, client: Any, auth: Any, item_ids: list[int]) -> None:
        self.client, self.auth = client, auth
        self.hidden = [re.compile(re.escape(h), re.IGNORECASE) for h in HIDDEN] + [
            re.compile(rf"(?<!\d){i}(?!\d)") for i in item_ids
        ]

    def call(self, method: str, url: str, status: int, json: Any = None) -> Any:
        r = self.client.open(
            url, method=method, json=json, headers={"X-CSRF-Token": self.auth.csrf()}
        )
        assert r.status_code == status, (url, r.status_code, r.get_data(as_text=True)[:500])
        text = r.get_data(as_text=True) + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        leaks = {p.pattern for p in self.hidden if p.search(text)}
        assert not leaks, f"{method} {url} reveals {leaks}"
        return r.get_json(silent=True)


def _rows(app: Any, model: Any, **where: Any) -> list[Any]:
    with app.app_context():
        query = select(model).order_by(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return list(db.session().exec(query))


def _verdict(mode: str, first: str) -> dict[str, Any]:
    """A verdict in screen labels: the first response shown wins."""
    if mode == "pairwise":
        return {"choice": first}
    if mode == "ranking":
        others = [x for x in "ABC" if x != first]
        return {"ranking": [[first], others]}
    return {}


def _rubric(labels: list[str], best: str) -> dict[str, Any]:
    per = {x: {"correctness": 5 if x == best else 2, "score": 0.5} for x in labels}
    return {"response": per, "item": {"confidence": 3}}


def _stored_verdict(mode: str, order: list[str], best: int) -> dict[str, Any]:
    winner = order[best]
    if mode == "pairwise":
        return {"preferred": winner, "strength": None, "scale_value": None}
    if mode == "ranking":
        return {"ranking": [[winner], [r for r in order if r != winner]]}
    return {}


def _labelled_verdict(mode: str, labels: list[str], best: str) -> dict[str, Any]:
    if mode == "pairwise":
        return {"preferred": best, "strength": None, "scale_value": None}
    if mode == "ranking":
        return {"ranking": [[best], [x for x in labels if x != best]]}
    return {}


def _check_stored(app: Any, judgment_id: int, body: dict[str, Any], best: str) -> None:
    """The stored judgment speaks in response ids, the rater's copy in labels: the same one."""
    (j,) = _rows(app, Judgment, id=judgment_id)
    (lease,) = _rows(app, Assignment, id=j.assignment_id)
    labels = [chr(ord("A") + i) for i in range(len(lease.shown_order))]
    at = labels.index(best)
    assert j.shown_order == lease.shown_order
    assert j.verdict == _stored_verdict(j.mode, lease.shown_order, at)
    assert j.rubric["response"] == {
        rid: {"correctness": 5 if k == at else 2, "score": 0.5}
        for k, rid in enumerate(lease.shown_order)
    }
    assert body["verdict"] == _labelled_verdict(j.mode, labels, best)
    assert body["rubric"] == {
        "response": {x: {"correctness": 5 if x == best else 2, "score": 0.5} for x in labels},
        "item": {"confidence": 3},
    }


@pytest.mark.parametrize("mode", ["pairwise", "ranking", "rating"])
def test_every_rater_route_keeps_the_rater_blind(app, client, auth, setup, mode):
    projects, item_ids, rater = setup
    slug = projects[mode].slug
    scan = RaterScan(client, auth, item_ids)
    scan.call("GET", "/", 200)
    scan.call("GET", "/rate", 200)
    scan.call("GET", f"/rate/{slug}", 200)

    # Skip one item: the answer and the page after it say nothing about the item.
    skipped = scan.call("POST", f"/api/v1/projects/{slug}/next", 200)["assignment"]["id"]
    scan.call("GET", "/rate", 200)  # "Continue": a live lease
    skip = scan.call("POST", f"/api/v1/assignments/{skipped}/skip", 200, {"reason": "broken"})
    assert skip == {"ok": True, "status": "skipped"}
    (lease,) = _rows(app, Assignment, id=skipped)
    assert (lease.status, lease.skip_reason, lease.rater_id) == ("skipped", "broken", rater.id)

    # The page's fragment and the API's next describe the same lease, by label.
    fragment = scan.call("POST", f"/rate/{slug}/next", 200)
    shown = scan.call("POST", f"/api/v1/projects/{slug}/next", 200)["assignment"]
    lease_id = shown["id"]
    assert fragment["assignment_id"] == lease_id
    labels = [r["label"] for r in shown["responses"]]
    assert labels == ["A", "B", "C"][: len(labels)]
    scan.call("GET", f"/api/v1/assignments/{lease_id}", 200)
    scan.call("GET", f"/rate/assignments/{lease_id}", 200)
    scan.call("POST", f"/api/v1/assignments/{lease_id}/renew", 200)

    # Refusals name fields by label only.
    bad = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "chosen", "ranking": [["x"]]}}
    bad["rubric"] = {"response": {"Z": {"correctness": 9}}}
    scan.call("POST", f"/api/v1/assignments/{lease_id}/judgment", 422, bad)

    # Submit alone (and its idempotent repeat): the first response shown wins.
    payload = {"client_id": uuid.uuid4().hex, "verdict": _verdict(mode, "A")}
    payload["rubric"] = _rubric(labels, "A")
    if projects[mode].span_labels:  # an error span on B comes back on B, by label
        payload["spans"] = [{"response": "B", "start": 0, "end": 4, "label": "unsafe"}]
    url = f"/api/v1/assignments/{lease_id}/judgment"
    body = scan.call("POST", url, 201, payload)
    _check_stored(app, body["id"], body, "A")
    if projects[mode].span_labels:
        assert body["spans"] == [payload["spans"][0] | {"note": ""}]
    assert scan.call("POST", url, 200, payload) == body
    scan.call("POST", f"/api/v1/assignments/{lease_id}/renew", 409)

    # Revise it: the rater's copy of the new version keeps that lease's labels.
    revised = {"client_id": uuid.uuid4().hex, "verdict": _verdict(mode, "B")}
    revised["rubric"] = _rubric(labels, "B")
    rev = scan.call("POST", f"/api/v1/judgments/{body['id']}/revise", 201, revised)
    _check_stored(app, rev["id"], rev, "B")
    scan.call(
        "POST", f"/api/v1/judgments/{body['id']}/revise", 409, revised | {"client_id": "x" * 9}
    )
    scan.call("GET", f"/rate/assignments/{lease_id}", 200)  # the screen reopened to edit

    # Submit and take the next item, through the API and through the page.
    nxt = scan.call("POST", f"/api/v1/projects/{slug}/next", 200)["assignment"]
    payload = {"client_id": uuid.uuid4().hex, "verdict": _verdict(mode, "B")}
    payload["rubric"] = _rubric(labels, "B")
    both = scan.call("POST", f"/api/v1/assignments/{nxt['id']}/judgment-and-next", 201, payload)
    _check_stored(app, both["judgment"]["id"], both["judgment"], "B")
    third = both["assignment"]["id"]
    payload = {"client_id": uuid.uuid4().hex, "verdict": _verdict(mode, "A")}
    payload["rubric"] = _rubric(labels, "A")
    page = scan.call("POST", f"/rate/assignments/{third}/judgment", 201, payload)
    _check_stored(app, page["judgment"]["id"], page["judgment"], "A")
    assert page["next"]["assignment_id"] is None  # the project is done for this rater
    scan.call("POST", f"/api/v1/projects/{slug}/next", 200)

    # Errors about someone else's or an ended lease say nothing about the item either.
    scan.call("POST", f"/api/v1/assignments/{third}/skip", 409, {"reason": "broken"})
    scan.call("GET", "/api/v1/assignments/999999", 404)


def _tab_to(page: Any, selector: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches ``selector``: keyboard only."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _seen_by_browser(page: Any, responses: list[Any]) -> str:
    """Everything the rater's browser holds: the page, its storage, the script's answers."""
    storage = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    answers = [
        f"{r.url}\n{r.all_headers()}\n{r.text()}"
        for r in responses
        if r.request.resource_type == "fetch"  # the page itself is page.content()
    ]
    return "\n".join([page.content(), storage, *answers])


@pytest.mark.browser
def test_the_rating_screen_keeps_the_rater_blind(page, browser_app, browser_make):
    _start_item_ids_at(browser_app, browser_make, FIRST_ITEM_ID)
    rubric = [RUBRIC[0]]
    project = browser_make.project(mode="pairwise", scale="ternary", rubric=rubric, overlap=1)
    items = browser_make.items(project, _trl_rows()[:2])
    rater = browser_make.user(role="rater")
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r))
    page.goto("/login")
    page.get_by_label("Username").fill(rater.username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/")
    page.goto(f"/rate/{project.slug}")
    form = page.locator("form.item")
    form.wait_for()
    first = int(form.get_attribute("data-assignment-id"))

    # By keyboard: A (the response shown first) is better; scores 4 for A, 2 for B.
    page.keyboard.press("1")
    _tab_to(page, '[data-field="rubric.response.A.correctness"] input')
    page.keyboard.press("r")  # point 4 (R is under the 4)
    _tab_to(page, '[data-field="rubric.response.B.correctness"] input')
    page.keyboard.press("w")  # point 2
    page.evaluate("() => window.dispatchEvent(new Event('pagehide'))")  # the draft, saved
    drafted = _seen_by_browser(page, [])
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "id => document.querySelector('form.item')?.dataset.assignmentId != id", arg=str(first)
    )
    # Undo / edit: the old item comes back with its labels; B is better now.
    page.keyboard.press("z")
    page.locator("form.item.revising").wait_for()
    assert page.locator('[data-field="verdict.choice"] input[value="A"]').is_checked()
    page.keyboard.press("2")
    page.keyboard.press("Control+Enter")
    # B preferred though scored lower: the page asks first, in labels only.
    page.locator(".contradiction").wait_for()
    page.keyboard.press("Control+Enter")
    page.locator("form.item:not(.revising)").wait_for()
    page.wait_for_load_state("networkidle")

    with browser_app.app_context():
        old, new = db.session().exec(select(Judgment).order_by(Judgment.id)).all()
        lease = db.session().get(Assignment, first)
        db.session().close()
    a, b = lease.shown_order
    assert {a, b} == {"chosen", "rejected"} and old.assignment_id == new.assignment_id == first
    assert old.verdict == {"preferred": a, "strength": None, "scale_value": None}
    assert old.rubric == {"response": {a: {"correctness": 4}, b: {"correctness": 2}}, "item": {}}
    assert (new.version, new.verdict["preferred"]) == (2, b)

    seen = drafted + _seen_by_browser(page, responses)
    assert "rubric.response.B.correctness" in drafted  # the scan reads the draft...
    assert f"/rate/assignments/{first}/judgment" in seen and "/revise" in seen  # ...and answers
    hidden = HIDDEN + [str(i.id) for i in items]
    assert [h for h in hidden if re.search(rf"(?<!\d){re.escape(h)}(?!\d)", seen, re.I)] == []
    assert page.console_errors == []


@pytest.mark.parametrize("display", ["hidden", "after", "suggestion"])
def test_model_judges_reach_the_rater_only_as_the_display_allows(
    app, client, auth, make, admin_headers, display
):
    """A judge named after its model, with verdicts in both orders on TRL data: the rater
    never sees its name, its model or a response id; "Model judge" appears only when the
    project shows it (after a submission, or as a suggestion), and then in labels."""
    from tests.factories import add_judge, add_verdict

    _start_item_ids_at(app, make, FIRST_ITEM_ID)
    project = make.project(mode="pairwise", scale="ternary", overlap=1, judge_display=display)
    _import(app, admin_headers, project.slug, _trl_rows())
    with app.app_context():
        items = list(db.session().exec(select(Item).where(Item.project_id == project.id)))
    judge = add_judge(app, project, "secret-model-judge")
    for item in items:
        for order in (["chosen", "rejected"], ["rejected", "chosen"]):
            add_verdict(app, item, judge, order, preferred="chosen")
    auth.as_role("rater")
    scan = RaterScan(client, auth, [i.id for i in items])
    scan.hidden.append(re.compile("secret-model-judge|gpt|fake", re.IGNORECASE))
    page = client.get(f"/rate/{project.slug}").get_data(as_text=True)
    fragment = scan.call("POST", f"/rate/{project.slug}/next", 200)
    shown = scan.call("POST", f"/api/v1/projects/{project.slug}/next", 200)["assignment"]
    (lease,) = _rows(app, Assignment, id=shown["id"])
    label = "A" if lease.shown_order[0] == "chosen" else "B"
    url = f"/api/v1/assignments/{shown['id']}/judgment"
    body = scan.call("POST", url, 201, {"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}})
    seen = json.dumps([fragment, shown, body]) + page
    if display == "hidden":
        assert "Model judge" not in seen and "judge" not in json.dumps([shown, body])
    if display == "suggestion":
        assert shown["judge_suggestion"] == [
            {
                "label": "Model judge",
                "verdict": {"preferred": label, "strength": None},
                "choice": label,
                "scale_value": 4,
                "text": f"Model judge: {label} is better",
            }
        ]
        assert "Suggestion, pre-filled" in fragment["html"] and "judges" not in body
        assert re.search(rf'value="{label}"[^>]*checked', fragment["html"])
    if display == "after":
        assert "judge_suggestion" not in shown and "Model judge" not in fragment["html"]
        assert body["judges"][0]["text"] == f"Model judge: {label} is better"
    (stored,) = _rows(app, Judgment, id=body["id"])
    assert stored.judge_view == display
