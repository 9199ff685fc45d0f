"""Assignment rules: order, gold, routing, caps, qualification, pairs, skips, expiry."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from service import db
from service.errors import Conflict
from service.items import importing
from service.models import (
    Assignment,
    AuditEvent,
    GoldScore,
    Item,
    ItemSlots,
    Judgment,
    Project,
    User,
    utcnow,
)
from service.rating import assignment, gold, judgments, leases, slots, workload
from tests.factories import item_row
from tests.raters import Desk


@pytest.fixture
def desk(app):
    return Desk(app)


def _raters(make, n, **kwargs):
    return [make.user(role="rater", **kwargs) for _ in range(n)]


def test_complete_first_finishes_an_item_before_starting_another(desk, make):
    project = make.project(overlap=2)
    make.items(project, [item_row() for _ in range(3)])
    r1, r2 = _raters(make, 2)
    first = desk.next(project, r1)
    assert desk.next(project, r2).item_id == first.item_id


def test_spread_starts_new_items_first(desk, make):
    project = make.project(overlap=2, order_strategy="spread")
    make.items(project, [item_row() for _ in range(3)])
    r1, r2 = _raters(make, 2)
    assert desk.next(project, r1).item_id != desk.next(project, r2).item_id


def test_higher_priority_goes_first(desk, make):
    project = make.project(overlap=1)
    items = make.items(project, [item_row(priority=p) for p in (0, 5, 1)])
    got = [desk.next(project, r).item_id for r in _raters(make, 3)]
    assert got == [items[1].id, items[2].id, items[0].id]


def test_gold_is_mixed_in_at_the_rate_and_never_counts_towards_overlap(desk, make):
    project = make.project(overlap=1, gold_rate=0.25, mode="pairwise", scale="binary")
    make.items(project, [item_row() for _ in range(40)])
    make.items(project, [item_row(gold={"preferred": "a"}) for _ in range(12)])
    rater = make.user()
    golds = []
    for _ in range(40):
        lease = desk.next(project, rater)
        golds.append(lease.is_gold)
        desk.submit(lease, rater)
    assert 9 <= sum(golds) <= 11
    # A gold item goes to any number of raters, whatever the overlap.
    gold_item = next(a.item_id for a in desk.rows(Assignment) if a.is_gold)
    other = make.user()
    with desk.app.app_context(), db.write_session() as s:
        s.execute(sa.update(Project).where(Project.id == project.id).values(gold_rate=1.0))
    seen = set()
    while True:
        lease = desk.next(project, other)
        if not lease.is_gold:
            break
        seen.add(lease.item_id)
        desk.submit(lease, other)
    assert gold_item in seen and len(seen) == 12
    (slot,) = desk.rows(ItemSlots, ItemSlots.item_id == gold_item)
    assert not slot.open


def test_gold_looks_like_any_other_item(app, desk, make):
    project = make.project(overlap=1, gold_rate=1.0)
    make.items(project, [item_row(gold={"preferred": "a"}), item_row()])
    r1 = make.user()
    gold_lease, real_lease = desk.next(project, r1), None
    desk.submit(gold_lease, r1)
    real_lease = desk.next(project, r1)
    assert gold_lease.is_gold and not real_lease.is_gold
    with app.app_context():
        shown = [
            assignment.describe(session=db.session(), lease=x) for x in (gold_lease, real_lease)
        ]
    assert shown[0].keys() == shown[1].keys()
    assert "gold" not in str(shown[0]).lower()


def test_expertise_routing(desk, make):
    project = make.project(overlap=5)
    med, law_med, plain = make.items(
        project,
        [
            item_row(expertise=["Medicine"]),
            item_row(expertise=["law", "medicine"]),
            item_row(),
        ],
    )

    def everything(rater):
        got = set()
        while not isinstance(lease := desk.next(project, rater), assignment.NoWork):
            got.add(lease.item_id)
            desk.submit(lease, rater)
        return got

    assert everything(make.user()) == {plain.id}
    assert everything(make.user(expertise=["medicine"])) == {med.id, plain.id}
    assert everything(make.user(expertise=["law", "medicine", "coding"])) == {
        med.id,
        law_med.id,
        plain.id,
    }


def test_rater_cap_and_daily_cap(desk, make):
    project = make.project(overlap=1, rater_cap=3, daily_cap=2)
    make.items(project, [item_row() for _ in range(5)])
    rater = make.user()
    for _ in range(2):
        desk.submit(desk.next(project, rater), rater)
    blocked = desk.next(project, rater)
    assert blocked == assignment.NoWork(
        "You have done today's limit of 2 items in this project. "
        "More tomorrow (the day turns at midnight UTC)."
    )
    with desk.app.app_context(), db.write_session() as s:
        s.execute(sa.update(Assignment).values(created_at=utcnow() - timedelta(days=1)))
    desk.submit(desk.next(project, rater), rater)
    assert desk.next(project, rater) == assignment.NoWork(
        "You have done this project's limit of 3 items. Thank you!"
    )


def test_paused_project_hands_out_nothing(desk, make):
    project = make.project(status="paused")
    make.items(project, [item_row()])
    assert desk.next(project, make.user()) == assignment.NoWork("Project 'Test project' is paused.")


def test_qualification_first_items_are_gold_then_threshold(desk, make):
    project = make.project(
        overlap=3, qualification_items=2, qualification_threshold=0.5, scale="binary"
    )
    make.items(project, [item_row() for _ in range(3)])
    make.items(project, [item_row(gold={"preferred": "a"}) for _ in range(3)])
    good, bad = make.user(), make.user()
    for rater, right in ((good, True), (bad, False)):
        for _ in range(2):
            lease = desk.next(project, rater)
            assert lease.is_gold
            left = lease.shown_order.index("a") == 0
            desk.submit(lease, rater, {"choice": "A" if left == right else "B"})
    assert not desk.next(project, good).is_gold
    refused = desk.next(project, bad)
    assert refused == assignment.NoWork(
        "You did not pass the qualification for 'Test project'. You agreed with 0% of them; "
        "50% is needed. An admin can review your answers and let you continue."
    )
    scores = desk.rows(GoldScore)
    assert sorted(s.score for s in scores) == [0.0, 0.0, 1.0, 1.0]
    admin = make.user(role="admin")
    with desk.app.app_context(), db.write_session() as s:
        gold.override_qualification(
            session=s,
            project=s.get(Project, project.id),
            rater=s.get(User, bad.id),
            passed=True,
            admin=s.get(User, admin.id),
            note="reviewed",
        )
    assert not desk.next(project, bad).is_gold


def test_qualification_without_gold_items_says_so(desk, make):
    project = make.project(qualification_items=2)
    make.items(project, [item_row()])
    assert desk.next(project, make.user()) == assignment.NoWork(
        "'Test project' needs a qualification, but it has no gold items left for you. "
        "Ask an admin to let you in."
    )


@pytest.mark.parametrize("order", ["complete-first", "spread"])
def test_pairs_cover_every_pair_and_counterbalance_sides(desk, make, order):
    project = make.project(overlap=2, mode="pairwise", order_strategy=order)
    (item,) = make.items(project, [item_row(n_responses=4)])
    shown = []
    raters = _raters(make, 13)
    for rater in raters[:12]:
        lease = desk.next(project, rater)
        shown.append(tuple(lease.shown_order))
        desk.submit(lease, rater)
    assert isinstance(desk.next(project, raters[12]), assignment.NoWork)  # 6 pairs × 2 raters
    assert Counter(frozenset(p) for p in shown) == {
        frozenset(p): 2
        for p in [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    }
    assert len(set(shown)) == 12  # each pair once each way round
    left, right = Counter(p[0] for p in shown), Counter(p[1] for p in shown)
    assert left == right == {"a": 3, "b": 3, "c": 3, "d": 3}


def test_skips_release_the_slot_and_flag_the_item(desk, make):
    project = make.project(overlap=1, skip_flag_threshold=2)
    (item,) = make.items(project, [item_row()])
    r1, r2, r3 = _raters(make, 3)
    desk.skip(desk.next(project, r1), r1, "broken")
    lease = desk.next(project, r2)
    assert lease.item_id == item.id  # the skip gave the slot back
    desk.skip(lease, r2, "expertise")
    assert [(a.status, a.skip_reason) for a in desk.rows(Assignment)] == [
        ("skipped", "broken"),
        ("skipped", "expertise"),
    ]
    assert desk.rows(Item)[0].flagged
    (event,) = desk.rows(AuditEvent)
    assert (event.action, event.target, event.details) == (
        "item.flag",
        f"item:{item.id}",
        {"skips": 2, "threshold": 2},
    )
    assert isinstance(desk.next(project, r3), assignment.NoWork)


def test_expired_lease_returns_its_slot_and_late_work_is_refused(desk, make):
    project = make.project(overlap=1)
    make.items(project, [item_row()])
    r1, r2 = _raters(make, 2)
    late = desk.next(project, r1)
    desk.expire(late.id)
    taken = desk.next(project, r2)
    assert taken.item_id == late.item_id
    assert desk.rows(Assignment, Assignment.id == late.id)[0].status == "expired"
    with pytest.raises(Conflict, match="another rater took this item"):
        desk.submit(late, r1)
    desk.submit(taken, r2)


def test_late_work_is_accepted_when_the_slot_is_still_free(desk, make):
    project = make.project(overlap=1)
    make.items(project, [item_row(), item_row(priority=5, expertise=["law"])])
    r1, r2 = make.user(), make.user(expertise=["law"])
    late = desk.next(project, r1)
    desk.expire(late.id)
    other = desk.next(project, r2)  # sweeps the expired lease, takes the other item
    assert other.item_id != late.item_id
    desk.submit(late, r1)
    (slot,) = desk.rows(ItemSlots, ItemSlots.item_id == late.item_id)
    assert (slot.taken, slot.open) == (1, False)


def test_counters_match_the_leases(desk, make):
    project = make.project(overlap=2)
    make.items(project, [item_row() for _ in range(4)])
    raters = _raters(make, 3)
    for r in raters:
        desk.submit(desk.next(project, r), r)
    desk.next(project, raters[0])
    with desk.app.app_context(), db.write_session() as s:
        assert slots.recount(session=s, project=s.get(Project, project.id)) == 0


def test_a_client_id_reused_on_another_item_is_refused(desk, make):
    project = make.project(overlap=1)
    make.items(project, [item_row(), item_row()])
    rater = make.user()
    payload = {"client_id": "same-client-id-1", "verdict": {"choice": "A"}}

    def submit(lease):
        with desk.app.app_context(), db.write_session() as s:
            return judgments.record_judgment(
                session=s, assignment_id=lease.id, rater=s.get(User, rater.id), payload=payload
            )

    first = desk.next(project, rater)
    assert submit(first)[1] is True
    assert submit(first)[1] is False  # the same submission again: the stored one
    second = desk.next(project, rater)
    with pytest.raises(Conflict, match="already used for another item"):
        submit(second)
    assert [a.status for a in desk.rows(Assignment)] == ["submitted", "active"]
    assert len(desk.rows(Judgment)) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_lease_changed_after_the_unlocked_read_stores_nothing(desk, make, monkeypatch):
    # On PostgreSQL a submission reads its lease without a lock. Released (or swept, or
    # submitted by a twin request) before the insert, it must not take the judgment:
    # the locked path decides.
    project = make.project(overlap=1)
    make.items(project, [item_row()])
    rater = make.user()
    lease = desk.next(project, rater)
    read = leases.with_project

    def read_then_release(**kwargs):
        got = read(**kwargs)
        with desk.app.app_context(), db.write_session() as other:
            slots.end_leases(session=other, status="released", ids=[lease.id])
        return got

    monkeypatch.setattr(leases, "with_project", read_then_release)
    with pytest.raises(Conflict, match="was released"):
        desk.submit(lease, rater)
    assert desk.rows(Judgment) == []
    assert [a.status for a in desk.rows(Assignment)] == ["released"]


def test_renewing_an_expired_lease(desk, make):
    project = make.project(overlap=1)
    make.items(project, [item_row(), item_row(priority=5, expertise=["law"])])
    r1, r2 = make.user(), make.user()

    def renew(lease, rater):
        with desk.app.app_context(), db.write_session() as s:
            locked = leases.lock_assignment(
                session=s, assignment_id=lease.id, rater=s.get(User, rater.id)
            )
            return leases.renew(session=s, lease=locked, project=s.get(Project, project.id))

    lease = desk.next(project, r1)
    desk.expire(lease.id)
    swept = desk.next(project, make.user(expertise=["law"]))  # takes the other item
    assert swept.item_id != lease.item_id
    assert desk.rows(Assignment, Assignment.id == lease.id)[0].status == "expired"
    assert renew(lease, r1).status == "active"  # the slot was still free: taken back
    (slot,) = desk.rows(ItemSlots, ItemSlots.item_id == lease.item_id)
    assert (slot.taken, slot.open) == (1, False)
    desk.expire(lease.id)
    assert desk.next(project, r2).item_id == lease.item_id
    with pytest.raises(Conflict, match="went to another rater"):
        renew(lease, r1)


def test_raising_overlap_reopens_done_items(desk, make):
    project = make.project(overlap=1)
    (item,) = make.items(project, [item_row()])
    r1, r2, admin = make.user(), make.user(), make.user(role="admin")
    desk.submit(desk.next(project, r1), r1)
    assert isinstance(desk.next(project, r2), assignment.NoWork)
    with desk.app.app_context(), db.write_session() as s:
        workload.set_overlap(
            session=s, project=s.get(Project, project.id), overlap=2, admin=s.get(User, admin.id)
        )
    assert desk.next(project, r2).item_id == item.id


def test_item_changes_reach_the_slot_counters(desk, make):
    project = make.project(overlap=2)
    (item,) = make.items(project, [item_row("q1")])
    changed = item_row("q1", priority=7, expertise=["Law"], gold={"preferred": "b"})
    with desk.app.app_context():
        result = importing.import_items(
            engine=db.engine(), project=project, rows=[(1, changed)], source="again", update=True
        )
        assert result.updated == 1
    (slot,) = desk.rows(ItemSlots)
    assert (slot.priority, slot.expertise_key, slot.is_gold, slot.open) == (7, "law", True, False)
