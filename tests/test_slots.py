"""Every way a lease ends gives its item's slot back: the counters stay equal to a recount."""

from __future__ import annotations

import pytest
from sqlmodel import select

from service import db
from service.cli import main
from service.models import Assignment, ItemSlots, Project, utcnow
from service.rating import slots
from tests.factories import item_row
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
