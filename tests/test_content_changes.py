"""An admin's ``import --update`` never changes content under a rater's eyes.

Judged items stay immutable (the line is refused); an unjudged item with live or
expired leases gets its new content, and those leases end: the rater is refused with
409 and told why, the slot goes back, and an audit event records it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.errors import Conflict, InvalidInput
from service.items import importing
from service.models import (
    Assignment,
    AuditEvent,
    ImportBatch,
    Item,
    ItemSlots,
    Judgment,
    Project,
    Response,
    User,
)
from service.rating import shown, workspace
from tests import export_dataset
from tests.factories import item_row
from tests.raters import Desk

CHANGED = (
    "An admin changed this item's content after it was shown to you, so this assignment "
    "ended; your draft is kept in the browser."
)
ENDED = "An admin changed this item's content after it was shown to you, so this assignment ended."


@pytest.fixture
def rater(auth):
    return auth.as_role("rater")


def _csrf(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _next(client, auth, slug):
    r = client.post(f"/api/v1/projects/{slug}/next", headers=_csrf(auth))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["assignment"]


def _envelope(response):
    body = response.get_json()
    assert body.pop("request_id") == response.headers["X-Request-Id"]
    return body


def _update(client, admin_headers, slug, rows):
    body = "\n".join(json.dumps(r) for r in rows)
    r = client.post(
        f"/api/v1/projects/{slug}/items?update=true",
        data=body,
        headers={**admin_headers, "Content-Type": "application/x-ndjson"},
    )
    return r


def _submit(client, auth, lease_id):
    payload = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}}
    return client.post(
        f"/api/v1/assignments/{lease_id}/judgment", json=payload, headers=_csrf(auth)
    )


def _renamed(ext, **overrides):
    """The same item with new response ids (and so new content)."""
    row = item_row(ext, **overrides)
    row["responses"] = [{"id": f"new-{r['id']}", "content": r["content"]} for r in row["responses"]]
    return row


def test_update_ends_a_live_lease_and_the_submit_is_refused(
    app, client, auth, make, rater, admin_headers
):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)

    r = _update(client, admin_headers, project.slug, [item_row("q1", prompt="A new question?")])
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["updated"] == 1

    r = _submit(client, auth, shown["id"])
    assert r.status_code == 409
    assert _envelope(r) == {"ok": False, "error": CHANGED, "errors": [], "status": 409}
    desk = Desk(app)
    assert desk.rows(Judgment) == []
    (lease,) = desk.rows(Assignment)
    assert lease.status == "released" and lease.finished_at is not None
    (slots,) = desk.rows(ItemSlots)
    assert (slots.taken, slots.open) == (0, True)
    (batch,) = desk.rows(ImportBatch, ImportBatch.updated_count == 1)
    (event,) = desk.rows(AuditEvent, AuditEvent.action == "lease.release")
    assert event.target == f"assignment:{lease.id}"
    assert event.details == {
        "item_id": lease.item_id,
        "rater_id": rater.id,
        "reason": f"content updated by import batch {batch.id}",
    }


def test_renewing_a_lease_ended_by_an_update_is_refused(
    app, client, auth, make, rater, admin_headers
):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    assert _update(client, admin_headers, project.slug, [_renamed("q1")]).status_code == 201

    r = client.post(f"/api/v1/assignments/{shown['id']}/renew", headers=_csrf(auth))
    assert r.status_code == 409
    assert r.get_json()["error"] == ENDED


def test_update_ends_an_expired_lease_without_freeing_its_slot_twice(
    app, make, admin_headers, client
):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    rater, other = make.user(), make.user()
    desk = Desk(app)
    lease = desk.next(project, rater)
    desk.expire(lease.id)
    live = desk.next(project, other)  # sweeps the first lease: expired, its slot given back
    assert desk.rows(Assignment, Assignment.id == lease.id)[0].status == "expired"

    assert _update(client, admin_headers, project.slug, [_renamed("q1")]).status_code == 201

    assert {a.id: a.status for a in desk.rows(Assignment)} == {
        lease.id: "released",
        live.id: "released",
    }
    (slots,) = desk.rows(ItemSlots)
    assert (slots.taken, slots.open) == (0, True)
    assert len(desk.rows(AuditEvent, AuditEvent.action == "lease.release")) == 2


def _lease_q1_then_rename_it(client, auth, make, admin_headers, new=None):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1", priority=1), item_row("q2")])
    shown = _next(client, auth, project.slug)
    assert shown["prompt"] == "Question q1?"
    new = new or _renamed("q1", priority=1)
    r = _update(client, admin_headers, project.slug, [new])
    assert r.status_code == 201
    return project, shown


@pytest.mark.parametrize("route", ["/api/v1/projects/{slug}/next", "/rate/{slug}/next"])
def test_next_item_after_new_response_ids_is_the_other_item(
    app, client, auth, make, rater, admin_headers, route
):
    project, shown = _lease_q1_then_rename_it(client, auth, make, admin_headers)
    r = client.post(route.format(slug=project.slug), headers=_csrf(auth))
    assert r.status_code == 200
    # The rater moves on to the other item (an item is never shown to a rater twice).
    (live,) = Desk(app).rows(Assignment, Assignment.status == "active")
    assert live.id != shown["id"]
    body = r.get_json()
    if "assignment" in body:
        assert (body["assignment"]["id"], body["assignment"]["prompt"]) == (live.id, "Question q2?")
    else:
        assert body["assignment_id"] == live.id and "Question q2?" in body["html"]


@pytest.mark.parametrize("route", ["/api/v1/assignments/{id}", "/rate/assignments/{id}"])
@pytest.mark.parametrize("ids", ["new", "same"])
def test_showing_a_lease_ended_by_an_update_says_why(
    app, client, auth, make, rater, admin_headers, route, ids
):
    # With the same response ids the new text must not be shown under the old lease either.
    new = item_row("q1", priority=1, prompt="A new question?") if ids == "same" else None
    _, shown = _lease_q1_then_rename_it(client, auth, make, admin_headers, new)
    r = client.get(route.format(id=shown["id"]), headers=_csrf(auth))
    assert r.status_code == 409
    if route.startswith("/api"):
        assert _envelope(r) == {"ok": False, "error": ENDED, "errors": [], "status": 409}


def test_dpo_export_after_new_response_ids_is_complete(
    app, client, auth, make, rater, admin_headers
):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    shown = _next(client, auth, project.slug)
    assert _update(client, admin_headers, project.slug, [_renamed("q1")]).status_code == 201
    assert _submit(client, auth, shown["id"]).status_code == 409

    data, summary = export_dataset.export_bytes(app, format="dpo", project=[project.slug])
    assert (data, summary.complete, summary.judgments_read) == (b"", True, 0)


def test_a_judged_item_in_the_batch_changes_nothing(app, client, auth, make, rater, admin_headers):
    project = make.project(mode="pairwise", scale="ternary", overlap=1)
    make.items(project, [item_row("q1", priority=1), item_row("q2")])
    desk = Desk(app)
    other = make.user()
    desk.submit(desk.next(project, other), other)  # q1 is judged
    shown = _next(client, auth, project.slug)
    assert shown["prompt"] == "Question q2?"

    rows = [_renamed("q1", priority=1), _renamed("q2")]
    r = _update(client, admin_headers, project.slug, rows)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "line": 1,
            "field": "id",
            "id": "q1",
            "message": "item 'q1' already has judgments and cannot be changed; "
            "import it under a new id",
        }
    ]
    # All or nothing: the lease on q2 is still live and its content unchanged.
    assert {a.id: a.status for a in desk.rows(Assignment)}[shown["id"]] == "active"
    assert desk.rows(AuditEvent, AuditEvent.action == "lease.release") == []
    # Without the judged item the update goes through, and only then ends the lease.
    assert _update(client, admin_headers, project.slug, rows[1:]).status_code == 201
    assert _submit(client, auth, shown["id"]).status_code == 409


# --- Races on PostgreSQL, made deterministic by holding one side's transaction open ---

_WAITING = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")


def _wait_until_blocked(worker: threading.Thread) -> bool:
    """Poll until some session waits for a lock (True) or the worker ended without one."""
    with db.engine().connect() as probe:
        while worker.is_alive():
            if probe.execute(_WAITING).scalar():
                return True
            probe.rollback()
            time.sleep(0.01)
    return False


def _import_update(project_id: int, rows: list[dict]) -> importing.ImportResult:
    with db.write_session() as s:
        project = s.get(Project, project_id)
    return importing.import_items(
        engine=db.engine(), project=project, rows=list(enumerate(rows, start=1)), update=True
    )


def _judgments_match_content(project_id: int) -> None:
    """Every stored judgment's hash is that of its item's content now."""
    with db.write_session() as s:
        for j in s.exec(select(Judgment).where(Judgment.project_id == project_id)):
            now = shown.of_item(
                session=s,
                item_id=j.item_id,
                shown_order=j.shown_order,
                guideline_version=j.guideline_version,
            )
            assert j.shown_sha256 == now, "a judgment is stored against content it did not see"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_update_waits_for_a_submission_in_flight_then_refuses_the_batch(app, make):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    rater = make.user()
    lease = Desk(app).next(project, rater)
    outcome: list[Any] = []

    def update() -> None:
        with app.app_context():
            try:
                outcome.append(_import_update(project.id, [_renamed("q1")]))
            except InvalidInput as exc:
                outcome.append(exc)

    # The rater's submission holds its lease's row lock, uncommitted, while the import
    # runs: the import passed its first judgment check and must wait, then look again.
    with db.write_session() as s:
        workspace.submit_and_next(
            session=s,
            assignment_id=lease.id,
            rater=s.get(User, rater.id),
            payload={"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}},
        )
        worker = threading.Thread(target=update)
        worker.start()
        blocked = _wait_until_blocked(worker)
    worker.join(timeout=30)
    assert blocked, "the import did not wait for the submission in flight"
    (refused,) = outcome
    assert isinstance(refused, InvalidInput)
    assert refused.errors == [
        {"line": 1, "field": "id", "id": "q1", "message": "item 'q1' was judged meanwhile"}
    ]
    _judgments_match_content(project.id)
    with db.write_session() as s:
        assert s.exec(select(Item.prompt)).one() == "Question q1?"
        assert {r.external_id for r in s.exec(select(Response))} == {"a", "b"}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_submission_during_an_update_is_refused(app, make, monkeypatch):
    project = make.project(mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1")])
    rater = make.user()
    lease = Desk(app).next(project, rater)
    outcome: list[Any] = []
    workers: list[threading.Thread] = []
    blocked: list[bool] = []

    def submit() -> None:
        with app.app_context():
            try:
                outcome.append(Desk(app).submit(lease, rater))
            except Conflict as exc:
                outcome.append(exc)

    # The import has replaced the content, uncommitted (inside the transaction that
    # applies a batch's updates), when the rater submits on the lease they were given
    # before: the submission must wait, then be refused.
    replace = importing._replace_content

    def replace_then_submit(*args: Any) -> None:
        replace(*args)
        workers.append(threading.Thread(target=submit))
        workers[0].start()
        blocked.append(_wait_until_blocked(workers[0]))

    monkeypatch.setattr(importing, "_replace_content", replace_then_submit)
    _import_update(project.id, [_renamed("q1")])
    workers[0].join(timeout=30)
    assert blocked == [True], "the submission did not wait for the import"
    (refused,) = outcome
    assert isinstance(refused, Conflict) and refused.message == CHANGED
    _judgments_match_content(project.id)
    assert Desk(app).rows(Judgment) == []


@pytest.mark.browser
def test_the_rating_screen_keeps_the_draft_when_an_update_ends_the_lease(
    page, browser_app, browser_make
):
    from tests.test_rating_screen import _open, _sign_in_by_keyboard

    rater = browser_make.user(role="rater")
    project = browser_make.project(mode="pairwise", scale="ternary", overlap=1)
    browser_make.items(project, [item_row("q1", priority=1), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("0")  # tie
    with browser_app.app_context():
        _import_update(project.id, [_renamed("q1", priority=1)])

    page.keyboard.press("Control+Enter")
    summary = page.locator(".error-summary")
    summary.get_by_text(CHANGED).wait_for()
    draft = page.evaluate(f"JSON.parse(localStorage['rankroom:draft:{first}'])")
    assert draft["values"]["verdict"] == {"choice": "tie"}
    summary.get_by_role("button", name="Load the next item").click()
    page.get_by_text("Question q2?").wait_for()
    with browser_app.app_context():
        assert Desk(browser_app).rows(Judgment) == []
