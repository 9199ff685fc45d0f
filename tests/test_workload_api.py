"""The admin API over assignment: item states, leases, overlap, pause, flags, qualification."""

from __future__ import annotations

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, AuditEvent, Item, Judgment, Project, QualificationOverride
from tests.factories import item_row
from tests.raters import Desk


@pytest.fixture
def desk(app):
    return Desk(app)


@pytest.fixture
def admin(auth):
    return auth.as_role("admin")


def _headers(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _rows(app, model, *where):
    with app.app_context():
        return list(db.session().exec(select(model).where(*where).order_by(model.id)))


def _events(app):
    # Sign-ins are audited too; these tests are about what admins did to the work.
    return [
        (e.action, e.target, e.details)
        for e in _rows(app, AuditEvent)
        if not e.action.startswith("login")
    ]


def test_item_states(client, desk, make, admin):
    project = make.project(overlap=2)
    q1, q2 = make.items(project, [item_row("q1", priority=1), item_row("q2")])
    (g1,) = make.items(project, [item_row("g1", gold={"preferred": "a"})])
    r1, r2, r3 = (make.user(username=n) for n in ("ann", "bob", "cy"))
    desk.submit(desk.next(project, r1), r1)
    live = desk.next(project, r2)
    desk.skip(desk.next(project, r3), r3)
    r = client.get(f"/api/v1/projects/{project.slug}/item-states")
    assert r.status_code == 200, r.get_json()
    assert r.headers["X-Total-Count"] == "3"
    assert r.get_json() == [
        {
            "id": q1.id,
            "external_id": "q1",
            "state": "leased",
            "priority": 1,
            "expertise": [],
            "is_gold": False,
            "flagged": False,
            "wanted": 2,
            "leased": 1,
            "done": 1,
            "skipped": 0,
            "leases": [{"id": live.id, "rater": "bob", "expires_at": live.expires_at.isoformat()}],
        },
        {
            "id": q2.id,
            "external_id": "q2",
            "state": "wanted",
            "priority": 0,
            "expertise": [],
            "is_gold": False,
            "flagged": False,
            "wanted": 2,
            "leased": 0,
            "done": 0,
            "skipped": 1,
            "leases": [],
        },
        {
            "id": g1.id,
            "external_id": "g1",
            "state": "gold",
            "priority": 0,
            "expertise": [],
            "is_gold": True,
            "flagged": False,
            "wanted": None,
            "leased": 0,
            "done": 0,
            "skipped": 0,
            "leases": [],
        },
    ]
    second = client.get(f"/api/v1/projects/{project.slug}/item-states?per_page=2&page=2")
    assert [i["external_id"] for i in second.get_json()] == ["g1"]
    wanted = client.get(f"/api/v1/projects/{project.slug}/item-states?state=wanted").get_json()
    assert [i["external_id"] for i in wanted] == ["q2"]
    bad = client.get(f"/api/v1/projects/{project.slug}/item-states?state=nope")
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [
        {"field": "state", "message": "use one of wanted, leased, done, flagged, gold"}
    ]


def test_release_returns_the_slot(app, client, auth, desk, make, admin):
    project = make.project(overlap=1)
    make.items(project, [item_row()])
    r1, r2 = make.user(), make.user()
    lease = desk.next(project, r1)
    r = client.post(f"/api/v1/assignments/{lease.id}/release", headers=_headers(auth))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()["assignment"]
    assert (body["id"], body["status"], body["rater_id"]) == (lease.id, "released", r1.id)
    assert desk.next(project, r2).item_id == lease.item_id
    assert _events(app) == [
        ("lease.release", f"assignment:{lease.id}", {"item_id": lease.item_id, "rater_id": r1.id})
    ]
    again = client.post(f"/api/v1/assignments/{lease.id}/release", headers=_headers(auth))
    assert again.status_code == 409
    assert again.get_json()["error"] == (
        "Only an active lease can be released; this one is released."
    )


def test_reassign_moves_the_lease(app, client, auth, desk, make, admin):
    project = make.project(overlap=1)
    make.items(project, [item_row()])
    r1, r2 = make.user(), make.user(username="newcomer")
    lease = desk.next(project, r1)
    r = client.post(
        f"/api/v1/assignments/{lease.id}/reassign",
        json={"rater": "newcomer"},
        headers=_headers(auth),
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["released"]["status"] == "released"
    moved = body["assignment"]
    assert (moved["rater_id"], moved["item_id"], moved["status"], moved["shown_order"]) == (
        r2.id,
        lease.item_id,
        "active",
        lease.shown_order,
    )
    assert desk.next(project, r2).id == moved["id"]
    assert _events(app) == [
        (
            "lease.reassign",
            f"assignment:{lease.id}",
            {"item_id": lease.item_id, "from": r1.id, "to": r2.id, "new": moved["id"]},
        )
    ]
    back = client.post(
        f"/api/v1/assignments/{moved['id']}/reassign",
        json={"rater": make.user(username="ann").username},
        headers=_headers(auth),
    )
    assert back.status_code == 201
    seen_before = client.post(
        f"/api/v1/assignments/{back.get_json()['assignment']['id']}/reassign",
        json={"rater": "newcomer"},
        headers=_headers(auth),
    )
    assert seen_before.status_code == 409
    assert "already had this item" in seen_before.get_json()["error"]


def test_overlap_never_goes_below_what_an_item_has(app, client, auth, desk, make, admin):
    project = make.project(overlap=2)
    make.items(project, [item_row()])
    url = f"/api/v1/projects/{project.slug}/overlap"
    assert client.put(url, json={"overlap": 1}, headers=_headers(auth)).get_json()["overlap"] == 1
    assert client.put(url, json={"overlap": 2}, headers=_headers(auth)).status_code == 200
    first, second = make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    desk.submit(desk.next(project, second), second)
    down = client.put(url, json={"overlap": 1}, headers=_headers(auth))
    assert down.status_code == 409
    assert down.get_json() == {
        "ok": False,
        "status": 409,
        "error": "Overlap cannot go below 2: an item already has 2 rater(s) (judged or "
        "holding a lease) on one pair, and judgments are never deleted.",
        "errors": [{"field": "overlap", "message": "at least 2"}],
        "request_id": down.get_json()["request_id"],
    }
    assert _rows(app, Project)[0].overlap == 2
    up = client.put(url, json={"overlap": 3}, headers=_headers(auth))
    assert up.status_code == 200 and up.get_json()["overlap"] == 3
    # Down again to what the item has: allowed, and no judgment goes.
    assert client.put(url, json={"overlap": 2}, headers=_headers(auth)).status_code == 200
    assert len(_rows(app, Judgment)) == 2
    assert [e[2] for e in _events(app)] == [
        {"from": 2, "to": 1},
        {"from": 1, "to": 2},
        {"from": 2, "to": 3},
        {"from": 3, "to": 2},
    ]
    bad = client.put(url, json={"overlap": 0}, headers=_headers(auth))
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == [
        {"field": "overlap", "message": "a whole number from 1 to 100"}
    ]


def test_pause_and_resume(app, client, auth, desk, make, admin):
    project = make.project()
    make.items(project, [item_row()])
    url = f"/api/v1/projects/{project.slug}/status"
    assert client.put(url, json={"status": "paused"}, headers=_headers(auth)).status_code == 200
    rater = make.user()
    assert desk.next(project, rater).reason == "Project 'Test project' is paused."
    assert client.put(url, json={"status": "active"}, headers=_headers(auth)).status_code == 200
    assert desk.next(project, rater).item_id is not None
    assert [e[0] for e in _events(app)] == ["project.status", "project.status"]


def test_unflag_puts_the_item_back(app, client, auth, desk, make, admin):
    project = make.project(overlap=1, skip_flag_threshold=1)
    (item,) = make.items(project, [item_row()])
    r1, r2 = make.user(), make.user()
    desk.skip(desk.next(project, r1), r1)
    assert desk.next(project, r2).reason.startswith("No items left")
    r = client.post(
        f"/api/v1/projects/{project.slug}/items/{item.id}/unflag", headers=_headers(auth)
    )
    assert r.get_json() == {"id": item.id, "external_id": item.external_id, "flagged": False}
    assert not _rows(app, Item)[0].flagged
    assert desk.next(project, r2).item_id == item.id


def test_qualification_override_and_gold_accuracy(app, client, auth, desk, make, admin):
    project = make.project(qualification_items=1, qualification_threshold=1.0, scale="binary")
    make.items(project, [item_row()])
    make.items(project, [item_row(gold={"preferred": "a"})])
    rater = make.user(username="dora")
    lease = desk.next(project, rater)
    desk.submit(lease, rater, {"choice": "B" if lease.shown_order[0] == "a" else "A"})
    assert desk.next(project, rater).reason.startswith("You did not pass")
    accuracy = client.get(f"/api/v1/projects/{project.slug}/gold-accuracy")
    assert accuracy.get_json() == {
        "raters": [{"rater": "dora", "rater_id": rater.id, "scored": 1, "accuracy": 0.0}]
    }
    url = f"/api/v1/projects/{project.slug}/qualifications/dora"
    r = client.put(url, json={"passed": True, "note": "talked it over"}, headers=_headers(auth))
    assert r.get_json() == {"rater": "dora", "override": True, "status": "passed"}
    (row,) = _rows(app, QualificationOverride)
    assert (row.rater_id, row.passed, row.admin_id, row.note) == (
        rater.id,
        True,
        admin.id,
        "talked it over",
    )
    assert not desk.next(project, rater).is_gold
    r = client.put(url, json={"passed": None}, headers=_headers(auth))
    assert r.get_json() == {"rater": "dora", "override": None, "status": "failed"}
    assert _rows(app, QualificationOverride) == []
    assert [e[0] for e in _events(app)] == ["qualification.override"] * 2


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/projects/{slug}/item-states"),
        ("post", "/api/v1/assignments/1/release"),
        ("put", "/api/v1/projects/{slug}/overlap"),
        ("get", "/api/v1/projects/{slug}/gold-accuracy"),
    ],
)
def test_raters_may_not_use_the_admin_api(client, auth, make, method, path):
    project = make.project()
    auth.as_role("rater")
    r = getattr(client, method)(
        path.format(slug=project.slug), json={"overlap": 5}, headers=_headers(auth)
    )
    assert r.status_code == 403
    assert r.get_json()["error"] == "Your role (rater) may not do this."


def test_assignments_unchanged_after_refused_release(app, client, auth, desk, make, admin):
    project = make.project(overlap=1)
    make.items(project, [item_row()])
    rater = make.user()
    lease = desk.next(project, rater)
    desk.submit(lease, rater)
    r = client.post(f"/api/v1/assignments/{lease.id}/release", headers=_headers(auth))
    assert r.status_code == 409
    assert [a.status for a in _rows(app, Assignment)] == ["submitted"]
    assert _events(app) == []
