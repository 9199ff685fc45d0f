"""Adaptive overlap on both databases: units start at the minimum, grow while raters disagree.

The rule itself is tested on literals in test_agreement_rule.py; here, what raters and
admins see: who gets an item, its slot row, the workload states, the doctor.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import cli, db
from service.dashboards.agreement_report import AUDIT_NOTE
from service.errors import Conflict, InvalidInput
from service.items import import_batches
from service.models import Assignment, Item, ItemSlots, Judgment, Project, User
from service.rating import adaptive, assignment, doctor, judgments, settings, slots, workload
from service.rating.current import current_judgments
from tests.export_dataset import export_bytes
from tests.factories import item_row
from tests.raters import Desk


@pytest.fixture
def desk(app):
    return Desk(app)


def _adaptive(make, slug="camp", **data):
    data = {"overlap": 2, "adaptive_overlap": True, "overlap_max": 5, "audit_share": 0.0} | data
    return make.project(slug=slug, **data)


def _prefer(lease: Assignment, rid: str) -> dict[str, str]:
    """The verdict that prefers response ``rid``, whatever side the lease showed it on."""
    return {"choice": "A" if lease.shown_order[0] == rid else "B"}


def _rate(desk, project, rater, rid):
    """Take the rater's next item and prefer ``rid`` on it; return the lease."""
    lease = desk.next(project, rater)
    assert isinstance(lease, Assignment), lease
    desk.submit(lease, rater, _prefer(lease, rid))
    return lease


def _slot(app, item_id):
    with app.app_context():
        row = db.session().get(ItemSlots, item_id)
        return {"taken": row.taken, "raised": row.raised, "open": row.open, "audit": row.audit}


def _states(app, project):
    with app.app_context(), db.write_session() as s:
        rows = workload.item_states(session=s, project=s.get(Project, project.id))
        return [(r["external_id"], r["state"], r["wanted"], r["done"]) for r in rows]


def _doctor(app, project):
    with app.app_context(), db.write_session() as s:
        return doctor.check(session=s, project=s.get(Project, project.id)).drift


def test_two_agreeing_raters_finish_a_unit(app, desk, make):
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    for _ in range(2):
        _rate(desk, project, make.user(), "a")
    assert _slot(app, item.id) == {"taken": 2, "raised": 0, "open": False, "audit": False}
    assert isinstance(desk.next(project, make.user()), assignment.NoWork)
    assert _states(app, project) == [("q1", "done", 2, 2)]


def test_disagreeing_raters_open_one_slot_at_a_time_until_two_ahead(app, desk, make):
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    _rate(desk, project, make.user(), "a")
    _rate(desk, project, make.user(), "b")
    assert _slot(app, item.id) == {"taken": 2, "raised": 1, "open": True, "audit": False}
    assert _states(app, project) == [("q1", "wanted", 3, 2)]
    _rate(desk, project, make.user(), "a")  # 2:1 is not yet agreement
    assert _slot(app, item.id)["raised"] == 2
    _rate(desk, project, make.user(), "a")  # 3:1 is
    assert _slot(app, item.id) == {"taken": 4, "raised": 2, "open": False, "audit": False}
    assert isinstance(desk.next(project, make.user()), assignment.NoWork)
    assert _states(app, project) == [("q1", "done", 4, 4)]


def test_a_split_stops_at_the_maximum(app, desk, make):
    project = _adaptive(make, overlap_max=3)
    (item,) = make.items(project, [item_row("q1")])
    for rid in ("a", "b", "a"):
        _rate(desk, project, make.user(), rid)
    assert _slot(app, item.id) == {"taken": 3, "raised": 1, "open": False, "audit": False}
    assert isinstance(desk.next(project, make.user()), assignment.NoWork)


def test_an_audit_unit_takes_the_maximum_even_when_raters_agree(app, desk, make):
    project = _adaptive(make, audit_share=1.0)
    (item,) = make.items(project, [item_row("q1")])
    assert _slot(app, item.id) == {"taken": 0, "raised": 3, "open": True, "audit": True}
    for _ in range(5):
        _rate(desk, project, make.user(), "a")
    assert _slot(app, item.id) == {"taken": 5, "raised": 3, "open": False, "audit": True}
    assert isinstance(desk.next(project, make.user()), assignment.NoWork)


def test_each_pair_unit_of_a_three_response_item_has_its_own_target(app, desk, make):
    """Three pairs start at 2 each (6 raters); a split on one pair asks for a 7th, on it."""
    project = _adaptive(make, order_strategy="spread")
    (item,) = make.items(project, [item_row("q1", n_responses=3)])
    raters = [make.user() for _ in range(7)]
    leases = []
    for k, rater in enumerate(raters[:6]):
        lease = desk.next(project, rater)
        pair = sorted(lease.shown_order[:2])
        # Every pair agrees on its first response, but (b, c) splits in the second round.
        rid = "c" if pair == ["b", "c"] and k >= 3 else pair[0]
        desk.submit(lease, rater, _prefer(lease, rid))
        leases.append(lease)
    first = leases[:3]
    assert sorted("".join(sorted(x.shown_order[:2])) for x in first) == ["ab", "ac", "bc"]
    assert _slot(app, item.id) == {"taken": 6, "raised": 1, "open": True, "audit": False}
    seventh = desk.next(project, raters[6])
    assert set(seventh.shown_order[:2]) == {"b", "c"}  # the split pair, never another
    assert _doctor(app, project) == []


def test_complete_only_exports_follow_each_units_adaptive_target(app, desk, make):
    """Two raters split on q1 (it wants a third) and agree on q2 (done at two); the split
    pair of a three-response item wants a seventh judgment while its other pairs are done."""
    project = _adaptive(make)
    split, agreed = make.items(project, [item_row("q1"), item_row("q2")])
    for rids in ({split.id: "a", agreed.id: "a"}, {split.id: "b", agreed.id: "a"}):
        rater = make.user()
        for _ in range(2):
            lease = desk.next(project, rater)
            desk.submit(lease, rater, _prefer(lease, rids[lease.item_id]))
    tri = _adaptive(make, slug="tri", order_strategy="spread")
    (triple,) = make.items(tri, [item_row("q3", n_responses=3)])
    for k in range(6):
        rater = make.user()
        lease = desk.next(tri, rater)
        pair = sorted(lease.shown_order[:2])
        desk.submit(lease, rater, _prefer(lease, "c" if pair == ["b", "c"] and k >= 3 else pair[0]))
    assert _slot(app, split.id)["raised"] == 1 and _slot(app, triple.id)["raised"] == 1

    def kept(slug):
        data, summary = export_bytes(app, format="dpo", project=slug, complete_only=True)
        rows = [json.loads(line)["metadata"] for line in data.splitlines()]
        return sorted((r["item_id"], "".join(sorted(r["response_ids"]))) for r in rows), summary

    rows, summary = kept("camp")
    assert rows == [("q2", "ab"), ("q2", "ab")]  # q1's 1:1 wants a third rater
    assert dict(summary.dropped) == {"items_incomplete": 1}
    rows, summary = kept("tri")
    assert rows == [("q3", "ab"), ("q3", "ab"), ("q3", "ac"), ("q3", "ac")]  # not b-c
    assert dict(summary.dropped) == {"judgments_on_incomplete_pairs": 2}
    assert _doctor(app, project) == [] and _doctor(app, tri) == []


def test_a_revision_that_settles_the_split_closes_the_unit(app, desk, make):
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    one, two = make.user(), make.user()
    _rate(desk, project, one, "a")
    lease = _rate(desk, project, two, "b")
    assert _slot(app, item.id)["raised"] == 1
    with app.app_context(), db.write_session() as s:
        (current,) = s.exec(current_judgments().where(Judgment.assignment_id == lease.id)).all()
        judgments.revise_judgment(
            session=s,
            judgment_id=current.id,
            rater=s.get(User, two.id),
            payload={"client_id": uuid.uuid4().hex, "verdict": _prefer(lease, "a")},
        )
    assert _slot(app, item.id) == {"taken": 2, "raised": 0, "open": False, "audit": False}


def test_switching_on_a_live_project_recomputes_every_target(app, desk, make):
    """Fixed overlap 3: an agreeing item at 2 raters is done once adaptive goes on at 2..5,
    a split one wants a third; switching off brings back the fixed overlap."""
    project = make.project(slug="camp", overlap=3)
    agree, split = make.items(project, [item_row("q1"), item_row("q2")])
    one, two = make.user(), make.user()
    for rater, rids in (
        (one, {agree.id: "a", split.id: "a"}),
        (two, {agree.id: "a", split.id: "b"}),
    ):
        for _ in range(2):
            lease = desk.next(project, rater)
            desk.submit(lease, rater, _prefer(lease, rids[lease.item_id]))
    with app.app_context(), db.write_session() as s:
        settings.update_settings(
            session=s,
            project=s.get(Project, project.id),
            data={"overlap": 2, "adaptive_overlap": True, "audit_share": 0.0},
            actor_id=None,
        )
    assert _slot(app, agree.id) == {"taken": 2, "raised": 0, "open": False, "audit": False}
    assert _slot(app, split.id) == {"taken": 2, "raised": 1, "open": True, "audit": False}
    assert _states(app, project) == [("q1", "done", 2, 2), ("q2", "wanted", 3, 2)]
    assert _doctor(app, project) == []
    with app.app_context(), db.write_session() as s:
        settings.update_settings(
            session=s,
            project=s.get(Project, project.id),
            data={"adaptive_overlap": False},
            actor_id=None,
        )
    assert _slot(app, agree.id) == {"taken": 2, "raised": 0, "open": False, "audit": False}
    assert _slot(app, split.id) == {"taken": 2, "raised": 0, "open": False, "audit": False}
    assert _doctor(app, project) == []


def test_the_audit_sample_is_drawn_when_switched_on(app, make):
    project = make.project(slug="camp", overlap=2)
    items = make.items(project, [item_row() for _ in range(40)])
    with app.app_context(), db.write_session() as s:
        settings.update_settings(
            session=s,
            project=s.get(Project, project.id),
            data={"adaptive_overlap": True, "audit_share": 0.25},
            actor_id=None,
        )
    rows = [_slot(app, i.id) for i in items]
    expected = [adaptive.agreement_rule.in_audit(project.id, i.id, 0.25) for i in items]
    assert [r["audit"] for r in rows] == expected and any(expected)
    assert [r["raised"] for r in rows] == [3 if a else 0 for a in expected]
    assert _doctor(app, project) == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"overlap": 1, "overlap_max": 2}, (Conflict, "Overlap max cannot go below 3")),
        ({"overlap": 4, "overlap_max": 3}, (InvalidInput, "cannot exceed overlap_max")),
        (
            {"adaptive_overlap": False},
            (Conflict, "To switch adaptive overlap off, overlap must be at least 3"),
        ),
    ],
)
def test_a_change_below_what_a_unit_has_is_refused(app, desk, make, data, error):
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    for rid in ("a", "b", "a"):
        _rate(desk, project, make.user(), rid)
    with app.app_context(), db.write_session() as s, pytest.raises(error[0], match=error[1]):
        settings.update_settings(
            session=s, project=s.get(Project, project.id), data=data, actor_id=None
        )
    assert _slot(app, item.id) == {"taken": 3, "raised": 2, "open": True, "audit": False}


def test_no_adaptive_change_during_an_import(app, client, auth, make):
    """Its items would be published with the old targets: refused, unchanged (API)."""
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    auth.as_role("admin")
    with app.app_context():
        batch_id = import_batches.open_batch(
            db.engine(), {"project_id": project.id, "kind": "file", "source": "big.jsonl"}
        )
    for change in ({"overlap_max": 4}, {"adaptive_overlap": False}, {"audit_share": 0.5}):
        r = client.patch(
            "/api/v1/projects/camp", json=change, headers={"X-CSRF-Token": auth.csrf()}
        )
        assert r.status_code == 409
        body = r.get_json()
        assert body.pop("request_id") == r.headers["X-Request-Id"]
        assert body == {
            "ok": False,
            "status": 409,
            "error": f"Overlap cannot change while an import into this project is in flight "
            f"(batch {batch_id}, staging); try again when it has finished.",
            "errors": [{"field": "overlap", "message": "an import is in flight"}],
        }
    with app.app_context():
        row = db.session().get(Project, project.id)
        assert (row.adaptive_overlap, row.overlap_max, row.audit_share) == (True, 5, 0.0)
        import_batches.discard(db.engine(), batch_id)
    assert _slot(app, item.id) == {"taken": 0, "raised": 0, "open": True, "audit": False}
    r = client.patch(
        "/api/v1/projects/camp", json={"audit_share": 1.0}, headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 200 and r.get_json()["audit_share"] == 1.0
    assert _slot(app, item.id) == {"taken": 0, "raised": 3, "open": True, "audit": True}


def test_doctor_reports_and_repairs_a_raised_target_and_audit_flag(app, desk, make):
    project = _adaptive(make)
    first, second = make.items(project, [item_row("q1"), item_row("q2")])
    _rate(desk, project, make.user(), "a")
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(ItemSlots).where(ItemSlots.item_id == first.id).values(raised=2))
        s.execute(sa.update(ItemSlots).where(ItemSlots.item_id == second.id).values(audit=True))
    drift = [(d.item, d.counter, d.stored, d.expected) for d in _doctor(app, project)]
    # q2's raised follows its (wrong) audit flag until the flag is repaired too.
    assert sorted(drift) == [
        ("q1", "raised", 2, 0),
        ("q2", "audit", True, False),
        ("q2", "raised", 0, 3),
    ]
    with app.app_context(), db.write_session() as s:
        found = doctor.repair(session=s, project=s.get(Project, project.id))
    assert found.ok and _doctor(app, project) == []
    assert _slot(app, first.id)["raised"] == 0 and not _slot(app, second.id)["audit"]


# --- Races on PostgreSQL -------------------------------------------------------------


def _postgres_only(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite every write transaction is serial (BEGIN IMMEDIATE)")


def test_two_submissions_settling_at_once_lose_no_raise(app, desk, make, database_url, monkeypatch):
    """PostgreSQL: two raters on one item submit "a" and "b" at the same moment. The first
    holds the item's counters from reading the judgments to its commit; the second waits,
    then reads both, and opens a third slot (without the lock each saw one judgment,
    "not yet two", and the raise was lost)."""
    _postgres_only(database_url)
    project = _adaptive(make)
    (item,) = make.items(project, [item_row("q1")])
    one, two = make.user(), make.user()
    first, second = desk.next(project, one), desk.next(project, two)
    raised, computed, go_on = adaptive.raised, threading.Event(), threading.Event()

    def paused(counters, targets):
        want = raised(counters, targets)
        if not computed.is_set():  # the first submission only
            computed.set()
            go_on.wait(30)  # a safety net only: set once the second waits or is done
        return want

    monkeypatch.setattr(adaptive, "raised", paused)
    done = []

    def submit(lease, rater, rid):
        done.append(desk.submit(lease, rater, _prefer(lease, rid)))

    a = threading.Thread(target=submit, args=(first, one, "a"))
    a.start()
    try:
        assert computed.wait(30)
        b = threading.Thread(target=submit, args=(second, two, "b"))
        b.start()
        _wait_until_blocked(b)
    finally:
        go_on.set()
        a.join(30)
        b.join(30)
    assert len(done) == 2
    assert _slot(app, item.id) == {"taken": 2, "raised": 1, "open": True, "audit": False}
    assert _doctor(app, project) == []


def test_many_raters_at_once_never_overfill_a_unit(app, make, database_url):
    """PostgreSQL: 12 raters submit-and-next in parallel on 3 items (one of three pairs),
    half preferring "a", half "b": every unit ends with exactly its target, and doctor is clean."""
    _postgres_only(database_url)
    project = _adaptive(make, overlap_max=4)
    make.items(project, [item_row("q1"), item_row("q2"), item_row("q3", n_responses=3)])
    raters = [make.user() for _ in range(12)]
    barrier = threading.Barrier(len(raters))
    errors: list[BaseException] = []

    def work(k: int, rater: User) -> None:
        try:
            desk = Desk(app)
            barrier.wait(30)
            while True:
                lease = desk.next(project, rater)
                if isinstance(lease, Assignment):
                    rid = "a" if k % 2 else "b"
                    rid = rid if rid in lease.shown_order[:2] else lease.shown_order[0]
                    desk.submit(lease, rater, _prefer(lease, rid))
                elif not _may_get_work(app, project, rater):
                    return
                else:
                    time.sleep(0.005)  # "no work" while others held the rows: ask again
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k, r)) for k, r in enumerate(raters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert _doctor(app, project) == []
    with app.app_context(), db.write_session() as s:
        p = s.get(Project, project.id)
        found = adaptive.targets(session=s, project=p, item_ids=[i.id for i in _items(s, p)])
        held = s.execute(
            sa.select(Assignment.item_id, Assignment.shown_order).where(
                Assignment.project_id == p.id, Assignment.status == "submitted"
            )
        ).all()
    for item_id, targets in found.items():
        orders = [order for i, order in held if i == item_id]
        for unit, target in targets.items():
            on_unit = [o for o in orders if not unit or frozenset(o[:2]) == unit]
            assert len(on_unit) == target <= 4, (found, held)


def _may_get_work(app, project, rater):
    """Tell whether an item this rater has not had is open, or any lease is still live
    (its judgment may open a slot)."""
    with app.app_context(), db.write_session() as s:
        p, who = s.get(Project, project.id), s.get(User, rater.id)
        keys = slots.allowed_keys(session=s, project=p, expertise=[])
        live = s.execute(
            sa.select(sa.func.count()).where(
                Assignment.project_id == p.id, Assignment.status == "active"
            )
        ).scalar_one()
        return live > 0 or slots.waiting(session=s, project=p, rater_id=who.id, keys=keys) > 0


def _items(s, project):
    return s.exec(select(Item).where(Item.project_id == project.id)).all()


def _wait_until_blocked(worker: threading.Thread) -> bool:
    """Poll until some session waits for a lock (True) or the worker ended without one."""

    with db.engine().connect() as probe:
        while worker.is_alive():
            if probe.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                return True
            probe.rollback()
            time.sleep(0.01)
    return False


def test_the_cli_and_the_settings_page_switch_it(app, client, auth, runner, make):
    project = make.project(slug="camp", overlap=2)
    (item,) = make.items(project, [item_row("q1")])
    r = runner.invoke(
        cli.main,
        [
            "projects",
            "set",
            "camp",
            "--adaptive-overlap",
            "--overlap-max",
            "4",
            "--audit-share",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    assert _slot(app, item.id) == {"taken": 0, "raised": 2, "open": True, "audit": True}
    assert runner.invoke(cli.main, ["doctor"]).exit_code == 0
    auth.as_role("admin")
    page = client.get("/admin/projects/camp").data
    assert b'<option value="on" selected>on: more raters while they disagree' in page
    form = {
        "csrf_token": auth.csrf(),
        "adaptive_overlap": "on",
        "overlap": "2",
        "overlap_max": "3",
        "audit_share": "0.5",
    }
    r = client.post("/admin/projects/camp/settings", data=form)
    assert r.status_code == 303, r.data
    with app.app_context():
        row = db.session().get(Project, project.id)
        assert (row.adaptive_overlap, row.overlap_max, row.audit_share) == (True, 3, 0.5)
    audit = adaptive.agreement_rule.in_audit(project.id, item.id, 0.5)
    assert _slot(app, item.id) == {
        "taken": 0,
        "raised": 1 if audit else 0,
        "open": True,
        "audit": audit,
    }
    r = client.post("/admin/projects/camp/settings", data={**form, "adaptive_overlap": "off"})
    assert r.status_code == 303
    assert _slot(app, item.id) == {"taken": 0, "raised": 0, "open": True, "audit": False}
    bad = client.post("/admin/projects/camp/settings", data={**form, "audit_share": "2"})
    assert bad.status_code == 422
    assert b"<code>audit_share</code>: Must be greater than or equal to 0" in bad.data


def test_the_agreement_report_marks_the_audit_sample(app, client, auth, admin_headers, desk, make):
    """Two items: the audit one (5 raters, split 3:2) and one that agreed at 2. The audit
    section's figures come from the audit item's judgments only."""
    project = _adaptive(make)
    items = make.items(project, [item_row(f"q{k}") for k in range(1, 30)])
    draws = {i.id: adaptive.agreement_rule.audit_draw(project.id, i.id) for i in items}
    audit_item, plain = sorted(items, key=lambda i: draws[i.id])[:2]
    share = (draws[audit_item.id] + draws[plain.id]) / 2  # only the first is in the sample
    with app.app_context(), db.write_session() as s:
        p = s.get(Project, project.id)
        settings.update_settings(session=s, project=p, data={"audit_share": share}, actor_id=None)
        for other in items:
            if other.id not in (audit_item.id, plain.id):
                s.get(Item, other.id).flagged = True  # out of the way
    assert _slot(app, audit_item.id)["audit"] and not _slot(app, plain.id)["audit"]
    for rid in ("a", "a", "b", "a", "b"):
        rater = make.user()
        lease = desk.next(project, rater)
        desk.submit(lease, rater, _prefer(lease, rid if lease.item_id == audit_item.id else "a"))
    for _ in range(2):
        rater = make.user()
        lease = desk.next(project, rater)
        desk.submit(lease, rater, _prefer(lease, "a"))
    r = client.get(f"/api/v1/projects/{project.slug}/stats/agreement", headers=admin_headers)
    body = r.get_json()
    sample = body["audit_sample"]
    assert {k: sample[k] for k in ("label", "share", "items", "judgments")} == {
        "label": AUDIT_NOTE,
        "share": share,
        "items": 1,
        "judgments": 5,
    }
    # 3 of 5 raters agree: pairs in agreement (3 + 1) of 10.
    assert sample["overall"][0]["key"] == "percent_agreement"
    assert sample["overall"][0]["stat"]["value"] == pytest.approx(0.4)
    assert body["judgments"] == 7 and body["overall"][0]["stat"]["value"] != pytest.approx(0.4)
    auth.as_role("admin")
    html = client.get(f"/projects/{project.slug}/dashboard/agreement").get_data(as_text=True)
    assert AUDIT_NOTE in html
    assert re.search(
        r'data-figure="audit_sample.percent_agreement">.*?data-value>0\.40*<', html, re.S
    )


def test_a_sweep_skips_leases_whose_item_counters_are_held(app, desk, make, database_url):
    """PostgreSQL: a submission settling adaptive overlap holds its item's counters while it
    asks for the next item, whose sweep may find other expired leases; it takes only those
    whose counters nobody holds (two such sweeps waiting on each other would deadlock)."""
    _postgres_only(database_url)
    project = _adaptive(make)
    make.items(project, [item_row("q1"), item_row("q2")])
    one, two = make.user(), make.user()
    stale = desk.next(project, one)
    desk.expire(stale.id)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with app.app_context(), db.write_session() as s:
            slots.lock(session=s, item_id=stale.item_id)
            holding.set()
            release.wait(30)  # a safety net only: set once the claim below returned

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        claim = desk.next(project, two)  # sweeps, and must not wait for the held counters
        (row,) = desk.rows(Assignment, Assignment.id == stale.id)
        assert row.status == "active"  # left for a later sweep
    finally:
        release.set()
        holder.join(30)
    assert isinstance(claim, Assignment) and claim.item_id != stale.item_id
    desk.next(project, make.user())
    (row,) = desk.rows(Assignment, Assignment.id == stale.id)
    assert row.status == "expired"


def _while_switching_on(app, project, monkeypatch, action) -> None:
    """Switch adaptive overlap on, and run ``action`` in a thread of its own while the
    switch holds the project row between its recount and its commit; ``action`` must
    block on that row (it is let go once it does)."""
    off_target, counted, go_on = adaptive.off_target, threading.Event(), threading.Event()

    def paused(**kwargs):
        found = off_target(**kwargs)
        counted.set()
        go_on.wait(30)  # a safety net only: set once the action waits
        return found

    monkeypatch.setattr(adaptive, "off_target", paused)

    def switch():
        with app.app_context(), db.write_session() as s:
            settings.update_settings(
                session=s,
                project=s.get(Project, project.id),
                data={"adaptive_overlap": True, "audit_share": 0.0},
                actor_id=None,
            )

    switching = threading.Thread(target=switch)
    switching.start()
    acting = threading.Thread(target=action)
    try:
        assert counted.wait(30)
        acting.start()
        _wait_until_blocked(acting)
    finally:
        go_on.set()
        switching.join(30)
        if acting.ident is not None:
            acting.join(30)
    monkeypatch.setattr(adaptive, "off_target", off_target)


def test_a_submission_racing_the_switch_is_settled(app, desk, make, database_url, monkeypatch):
    """PostgreSQL: an admin switches adaptive overlap on while a rater submits without the
    lease lock (the fast path of a project where it is off). The switch holds the project
    row from its recount to its commit; the submission waits, sees the switch and settles:
    its split opens a third slot (it used to be stored unsettled, the raise lost)."""
    _postgres_only(database_url)
    project = make.project(slug="camp", overlap=2)
    (item,) = make.items(project, [item_row("q1")])
    one, two = make.user(), make.user()
    first, second = desk.next(project, one), desk.next(project, two)
    desk.submit(first, one, _prefer(first, "a"))
    _while_switching_on(
        app, project, monkeypatch, lambda: desk.submit(second, two, _prefer(second, "b"))
    )
    assert len(desk.rows(Judgment, Judgment.item_id == item.id)) == 2
    assert _slot(app, item.id) == {"taken": 2, "raised": 1, "open": True, "audit": False}
    assert _doctor(app, project) == []


def test_a_revision_racing_the_switch_is_settled(app, desk, make, database_url, monkeypatch):
    """PostgreSQL: the locked path (here a revision) read the project before an admin's
    switch committed; its insert waits on the project row, and the setting it then acts
    on must be the committed one: the revised split opens a third slot."""
    _postgres_only(database_url)
    project = make.project(slug="camp", overlap=2)
    (item,) = make.items(project, [item_row("q1")])
    one, two = make.user(), make.user()
    _rate(desk, project, one, "a")
    lease = _rate(desk, project, two, "a")
    with app.app_context(), db.write_session() as s:
        (current,) = s.exec(current_judgments().where(Judgment.assignment_id == lease.id)).all()
        current_id = current.id

    def revise():
        with app.app_context(), db.write_session() as s:
            judgments.revise_judgment(
                session=s,
                judgment_id=current_id,
                rater=s.get(User, two.id),
                payload={"client_id": uuid.uuid4().hex, "verdict": _prefer(lease, "b")},
            )

    _while_switching_on(app, project, monkeypatch, revise)
    assert len(desk.rows(Judgment, Judgment.item_id == item.id)) == 3
    assert _slot(app, item.id) == {"taken": 2, "raised": 1, "open": True, "audit": False}
    assert _doctor(app, project) == []


def test_a_project_is_created_with_adaptive_overlap(client, admin_headers):
    data = {"slug": "adapt", "name": "A", "overlap": 2, "adaptive_overlap": True}
    r = client.post("/api/v1/projects", json=data | {"overlap_max": 1}, headers=admin_headers)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "overlap_max", "message": "at least overlap (each unit's minimum)"}
    ]
    r = client.post("/api/v1/projects", json=data | {"audit_share": 0.2}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["adaptive_overlap"], body["overlap_max"], body["audit_share"]) == (True, 5, 0.2)
