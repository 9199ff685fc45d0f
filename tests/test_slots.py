"""Every way a lease ends gives its item's slot back: the counters stay equal to a recount."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.cli import main
from service.models import Assignment, Item, ItemSlots, Project, utcnow
from service.rating import slots
from tests.factories import insert_as_of, item_row
from tests.raters import Desk


@pytest.fixture
def desk(app):
    return Desk(app)


def _slot(app, item_id):
    with app.app_context():
        row = db.session().get(ItemSlots, item_id)
        return {"taken": row.taken, "skips": row.skips, "open": row.open}


def _statuses(app):
    with app.app_context():
        return [a.status for a in db.session().exec(select(Assignment).order_by(Assignment.id))]


@pytest.mark.parametrize("door", ["api", "cli"])
@pytest.mark.parametrize("action", ["deactivate", "erase"])
def test_a_rater_leaving_gives_their_slot_back(
    app, desk, make, admin_headers, client, runner, action, door
):
    project = make.project(overlap=1)
    (item,) = make.items(project, [item_row()])
    leaving, other = make.user(), make.user()
    lease = desk.next(project, leaving)
    assert _slot(app, item.id) == {"taken": 1, "skips": 0, "open": False}
    if door == "api":
        r = client.post(f"/api/v1/users/{leaving.username}/{action}", headers=admin_headers)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["leases_released"] == 1
    else:
        result = runner.invoke(
            main, ["users", action, leaving.username, "--yes"][: 3 + (action == "erase")]
        )
        assert result.exit_code == 0, result.output
    assert _statuses(app) == ["released"]
    assert _slot(app, item.id) == {"taken": 0, "skips": 0, "open": True}
    # The item is wanted again, and another rater gets it.
    assert desk.next(project, other).item_id == lease.item_id
    with app.app_context(), db.write_session() as s:
        assert slots.recount(session=s, project=s.get(Project, project.id)) == 0


def test_ending_all_leases_of_items_keeps_judged_slots(app, desk, make):
    """What an import that changes items does: their live and expired leases end."""
    project = make.project(overlap=3)
    (item,) = make.items(project, [item_row()])
    elsewhere_project = make.project(overlap=1)
    make.items(elsewhere_project, [item_row()])
    done, live, late = (make.user() for _ in range(3))
    desk.submit(desk.next(project, done), done)
    held = desk.next(project, live)
    expired = desk.next(project, late)
    desk.expire(expired.id)
    with app.app_context(), db.write_session() as s:
        slots.sweep_expired(session=s, project=s.get(Project, project.id), now=utcnow())
    assert _slot(app, item.id) == {"taken": 2, "skips": 0, "open": True}
    elsewhere = desk.next(elsewhere_project, late)  # a lease on another item stays

    with app.app_context(), db.write_session() as s:
        ended = slots.end_leases(
            session=s, status="released", items=[item.id], ending=("active", "expired")
        )
    assert ended == slots.Ended(lease_ids=[held.id, expired.id], counters={item.id: (1, 0)})
    assert _statuses(app) == ["submitted", "released", "released", "active"]
    assert _slot(app, item.id) == {"taken": 1, "skips": 0, "open": True}
    assert _slot(app, elsewhere.item_id) == {"taken": 1, "skips": 0, "open": False}
    with app.app_context(), db.write_session() as s:
        assert slots.recount(session=s, project=s.get(Project, project.id)) == 0


def _slots_by_item(engine, *columns):
    with Session(engine) as s:
        rows = s.execute(
            sa.select(Item.external_id, *columns)
            .join(Item, Item.id == sa.column("item_id"))
            .select_from(sa.table("item_slots", sa.column("item_id")))
            .order_by(Item.id)
        )
        return [tuple(r) for r in rows]


def _touch(engine, external_id):
    """Update an item as an admin's edit does, so the item trigger recomputes ``open``."""
    with Session(engine) as s:
        s.execute(sa.update(Item).where(Item.external_id == external_id).values(priority=5))
        s.commit()


@pytest.mark.drift  # a counter is set by hand, to see which overlap the trigger reads
def test_migration_gives_every_slot_its_projects_overlap_and_back(app, make):
    """integ_slot_overlap: backfilled from the project, kept by both triggers; downgrade
    restores the triggers that read the project's overlap."""
    one, three = make.project(slug="one", overlap=1), make.project(slug="three", overlap=3)
    make.items(one, [item_row("a")])
    make.items(three, [item_row("b")])
    engine = db.engine()
    db.downgrade(engine, "screen_people")
    with Session(engine) as s:  # the insert trigger as it was still makes the slot
        insert_as_of(s, Item(project_id=three.id, external_id="old", content_hash="old"))
        s.commit()
    db.upgrade(engine)
    with Session(engine) as s:  # the insert trigger now copies the project's overlap
        s.add(Item(project_id=one.id, external_id="new", content_hash="new"))
        s.commit()
    overlap = sa.column("overlap")
    assert _slots_by_item(engine, overlap) == [("a", 1), ("b", 3), ("old", 3), ("new", 1)]
    # The item trigger's capacity is the row's: one rater of a copied overlap of 2 is open.
    with Session(engine) as s:
        s.execute(
            sa.update(ItemSlots)
            .where(
                ItemSlots.item_id
                == sa.select(Item.id).where(Item.external_id == "a").scalar_subquery()
            )
            .values(taken=1, overlap=2)
        )
        s.commit()
    _touch(engine, "a")
    assert _slots_by_item(engine, sa.column("open"))[0] == ("a", True)
    db.downgrade(engine, "screen_people")
    _touch(engine, "a")  # as before: the project's overlap of 1, so full
    assert _slots_by_item(engine, sa.column("taken"), sa.column("open"))[0] == ("a", 1, False)
    with Session(engine) as s:
        insert_as_of(s, Item(project_id=one.id, external_id="older", content_hash="older"))
        s.commit()
    assert _slots_by_item(engine, sa.column("open"))[-1] == ("older", True)
    db.upgrade(engine)
    assert _slots_by_item(engine, overlap)[-1] == ("older", 1)
