"""``rankroom doctor`` and GET /api/v1/doctor: recount slots, leases and overlap, report drift."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from service import db
from service.cli import main
from service.models import AuditEvent, Item, ItemSlots, Project
from service.rating import assignment, doctor, slots
from tests.factories import item_row
from tests.raters import Desk

# These tests make drift on purpose, to see it reported and repaired.
pytestmark = pytest.mark.drift


@pytest.fixture
def desk(app):
    return Desk(app)


def _slot(app, item_id):
    with app.app_context():
        row = db.session().get(ItemSlots, item_id)
        return (row.taken, row.skips, row.open)


def _overlap_and_slot(app, item_id):
    with app.app_context():
        row = db.session().get(ItemSlots, item_id)
        return row.overlap, (row.taken, row.skips, row.open)


def _by_id(slot):
    return slot.item_id


def _spoil(app, item_id, **values):
    """Make a counter drift, as the bugs this command looks for did."""
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(slots.SLOTS).where(slots.SLOTS.c.item_id == item_id).values(**values))


def _world(desk, make):
    """Two projects with submitted, live, skipped and unflagged work: nothing wrong."""
    project = make.project("docs", overlap=2, skip_flag_threshold=1)
    other = make.project("other", overlap=1)
    make.items(project, [item_row("q1", priority=1), item_row("q2")])
    make.items(other, [item_row("o1")])
    r1, r2, r3 = (make.user(username=n) for n in ("ann", "bob", "cy"))
    desk.submit(desk.next(project, r1), r1)
    desk.next(project, r2)
    desk.skip(desk.next(other, r3), r3)  # flags o1 (threshold 1)
    return project, other


def test_clean_data_has_no_drift(app, desk, make, runner, admin_headers, client):
    _world(desk, make)
    result = runner.invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert result.output == "doctor: 0 drift rows (3 items, 2 projects)\n"
    r = client.get("/api/v1/doctor", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "ok": True,
        "projects": ["docs", "other"],
        "items": 3,
        "repaired": 0,
        "drift": [],
    }


def test_drift_is_reported_and_counters_repaired(app, desk, make, runner, admin_headers, client):
    project, _ = _world(desk, make)
    q1, q2 = sorted(desk.rows(ItemSlots, ItemSlots.project_id == project.id), key=_by_id)
    # q2: two leaked slots (as deactivation left them); q1: skips that never happened.
    _spoil(app, q2.item_id, taken=2, open=False)
    _spoil(app, q1.item_id, skips=3)
    # A third rater's judgment on a two-rater item: a broken rule, not a counter.
    (item,) = [i for i in desk.rows(Item) if i.external_id == "q1"]
    for name in ("dee", "eve"):
        make.judgment(item, make.user(username=name), preferred="a")
    drift = [
        {"counter": "skips", "stored": 3, "expected": 0, "item": "q1"},
        {"counter": "taken", "stored": 2, "expected": 0, "item": "q2"},
        {"counter": "open", "stored": False, "expected": True, "item": "q2"},
        {"counter": "raters", "stored": 3, "expected": 2, "item": "q1"},
    ]
    expected = [
        {"project": "docs", "rater_id": None, "repairable": d["counter"] != "raters", **d}
        for d in drift
    ]
    r = client.get("/api/v1/doctor?project=docs", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "ok": False,
        "projects": ["docs"],
        "items": 2,
        "repaired": 0,
        "drift": expected,
    }

    result = runner.invoke(main, ["doctor", "--project", "docs"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "project\titem\tcounter\tstored\texpected\trater_id",
        "docs\tq1\tskips\t3\t0\t",
        "docs\tq2\ttaken\t2\t0\t",
        "docs\tq2\topen\tFalse\tTrue\t",
        "docs\tq1\traters\t3\t2\t",
        "doctor: 4 drift rows (2 items, 1 project)",
    ]
    assert _slot(app, q2.item_id) == (2, 0, False)  # a check changes nothing

    result = runner.invoke(main, ["doctor", "--project", "docs", "--repair"])
    assert result.exit_code == 1  # the third rater's judgment is still there
    assert result.output.splitlines()[-1] == (
        "doctor: 4 drift rows (2 items, 1 project); repaired 2 items, 1 row left"
    )
    assert _slot(app, q1.item_id) == (2, 0, False)
    assert _slot(app, q2.item_id) == (0, 0, True)
    (event,) = desk.rows(AuditEvent, AuditEvent.action == "slots.repair")
    assert (event.actor_id, event.target, event.address) == (None, "project:docs", "cli")
    assert event.details == {
        "items": 2,
        "drift": [
            ["docs", "q1", "skips", 3, 0],
            ["docs", "q2", "taken", 2, 0],
            ["docs", "q2", "open", False, True],
        ],
    }
    r = client.get("/api/v1/doctor?project=docs", headers=admin_headers)
    assert r.get_json()["drift"] == expected[3:]


def test_a_slot_whose_overlap_drifted_from_its_project_is_reported_and_repaired(
    app, desk, make, runner, admin_headers, client
):
    """The row's copy of the overlap decides its capacity: a stale one (say, an item
    published with the old overlap) over-fills or hides the item until repaired."""
    project, _ = _world(desk, make)
    q1, q2 = sorted(desk.rows(ItemSlots, ItemSlots.project_id == project.id), key=_by_id)
    _spoil(app, q1.item_id, overlap=3)  # q1 has its two raters (one judged, one leased)
    # What the stale copy does: the next change of q1's counters opens it to a third.
    with app.app_context(), db.write_session() as s:
        slots.change(session=s, item_id=q1.item_id)
    assert _overlap_and_slot(app, q1.item_id) == (3, (2, 0, True))
    r = client.get("/api/v1/doctor?project=docs", headers=admin_headers)
    assert r.get_json()["drift"] == [
        {
            "project": "docs",
            "item": "q1",
            "counter": counter,
            "stored": stored,
            "expected": expected,
            "rater_id": None,
            "repairable": True,
        }
        for counter, stored, expected in (("open", True, False), ("overlap", 3, 2))
    ]
    result = runner.invoke(main, ["doctor", "--project", "docs", "--repair"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "doctor: 2 drift rows (2 items, 1 project); repaired 1 item, 0 rows left"
    )
    assert _overlap_and_slot(app, q1.item_id) == (2, (2, 0, False))
    assert _overlap_and_slot(app, q2.item_id) == (2, (0, 0, True))
    r = client.get("/api/v1/doctor", headers=admin_headers)
    assert r.get_json()["ok"] is True


def test_the_skip_count_starts_over_when_an_admin_unflags(app, desk, make, runner, client, auth):
    project = make.project(overlap=1, skip_flag_threshold=2)
    (item,) = make.items(project, [item_row()])
    raters = [make.user() for _ in range(3)]
    for r in raters[:2]:
        desk.skip(desk.next(project, r), r)
    auth.as_role("admin")
    r = client.post(
        f"/api/v1/projects/{project.slug}/items/{item.id}/unflag",
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 200, r.get_json()
    desk.skip(desk.next(project, raters[2]), raters[2])
    assert _slot(app, item.id) == (0, 1, True)
    result = runner.invoke(main, ["doctor", "--project", project.slug])
    assert result.exit_code == 0, result.output


def test_unknown_project(runner, client, admin_headers):
    result = runner.invoke(main, ["doctor", "--project", "nope"])
    assert result.exit_code == 1
    assert "No project 'nope'" in result.output
    r = client.get("/api/v1/doctor?project=nope", headers=admin_headers)
    assert r.status_code == 404
    assert r.get_json()["ok"] is False


def test_the_recount_route_repairs_through_the_doctor_and_audits(app, desk, make, client, auth):
    project, _ = _world(desk, make)
    q1 = min(desk.rows(ItemSlots, ItemSlots.project_id == project.id), key=_by_id)
    _spoil(app, q1.item_id, taken=0)
    admin = auth.as_role("admin")
    r = client.post(
        f"/api/v1/projects/{project.slug}/recount", headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"items_corrected": 1}
    assert _slot(app, q1.item_id) == (2, 0, False)
    (event,) = desk.rows(AuditEvent, AuditEvent.action == "slots.repair")
    assert (event.actor_id, event.target) == (admin.id, f"project:{project.slug}")


def test_a_claim_during_a_repair_is_not_lost(app, desk, make, database_url, monkeypatch):
    """PostgreSQL: a repair locks the counters, so a rater cannot claim between recount and fix."""
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite a repair and a claim are serial (BEGIN IMMEDIATE)")
    project = make.project(overlap=3)
    (item,) = make.items(project, [item_row()])
    first, second = make.user(), make.user()
    desk.next(project, first)
    _spoil(app, item.id, taken=0)  # something for the repair to fix
    recounted, go_on = threading.Event(), threading.Event()
    rewrite = slots._rewrite

    def paused(session, rows):
        recounted.set()
        go_on.wait(30)  # a safety net only: the test sets it as soon as the claim returned
        rewrite(session, rows)

    monkeypatch.setattr(slots, "_rewrite", paused)

    def repair():
        with app.app_context(), db.write_session() as s:
            doctor.repair(session=s, project=s.get(Project, project.id))

    repairing = threading.Thread(target=repair)
    repairing.start()
    try:
        assert recounted.wait(30)
        claim = desk.next(project, second)  # the item's counters are locked: skipped
    finally:
        go_on.set()
        repairing.join()
    with app.app_context(), db.write_session() as s:
        assert doctor.check(session=s, project=s.get(Project, project.id)).drift == []
    assert isinstance(claim, assignment.NoWork)
    assert _slot(app, item.id) == (1, 0, True)
    assert desk.next(project, second).item_id == item.id  # once the repair is done


def test_a_pair_judged_past_overlap_is_reported(app, desk, make, client, admin_headers):
    """An item of three pairs has room for 3 raters at overlap 1, but each pair for one."""
    project = make.project("pw", mode="pairwise", overlap=1)
    (item,) = make.items(project, [item_row("q1", n_responses=3)])
    for name in ("dee", "eve"):
        make.judgment(item, make.user(username=name), preferred="a", shown=["b", "a"])
    r = client.get("/api/v1/doctor?project=pw", headers=admin_headers)
    assert r.get_json()["drift"] == [
        {
            "project": "pw",
            "item": "q1",
            "counter": "raters on pair a/b",
            "stored": 2,
            "expected": 1,
            "rater_id": None,
            "repairable": False,
        }
    ]
