"""Project teams: membership restricts who gets a project's work; expertise per project; roles."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from service import db
from service.accounts import memberships
from service.cli.commands import main
from service.models import (
    Assignment,
    AuditEvent,
    GoldScore,
    ItemSlots,
    LeaseStatus,
    Project,
    ProjectMember,
    QualificationReset,
    User,
)
from service.rating import assignment, doctor, gold, workspace
from tests.factories import item_row
from tests.seeding import judge_all


def _next(app, project, rater):
    with app.app_context(), db.write_session() as s:
        return assignment.next_assignment(
            session=s, project=s.get(Project, project.id), rater=s.get(User, rater.id)
        )


def _home(app, rater):
    with app.app_context(), db.write_session() as s:
        rows = workspace.rater_projects(session=s, rater=s.get(User, rater.id))
        return sorted(p.project.slug for p in rows)


def _add(app, project, user, expertise=None):
    with app.app_context(), db.write_session() as s:
        memberships.add_member(
            session=s,
            project=s.get(Project, project.id),
            user=s.get(User, user.id),
            actor_id=None,
            expertise=expertise,
        )


def _remove(app, project, user):
    with app.app_context(), db.write_session() as s:
        return memberships.remove_member(
            session=s, project=s.get(Project, project.id), user=s.get(User, user.id), actor_id=None
        )


@pytest.fixture
def world(app, make):
    project = make.project(slug="team", mode="pairwise", overlap=2)
    make.items(project, [item_row(f"q{i}") for i in range(3)])
    other = make.project(slug="open", mode="pairwise", overlap=2)
    make.items(other, [item_row("o1")])
    return {"project": project, "other": other, "r1": make.user(), "r2": make.user()}


def test_a_project_without_a_team_is_open_to_every_rater(app, world):
    assert isinstance(_next(app, world["project"], world["r2"]), Assignment)
    assert _home(app, world["r2"]) == ["open", "team"]


def test_a_project_with_a_team_serves_only_its_members(app, world):
    _add(app, world["project"], world["r1"])
    refused = _next(app, world["project"], world["r2"])
    assert refused == assignment.NoWork(
        "You are not on the team of 'Test project'. Ask an admin to add you."
    )
    assert isinstance(_next(app, world["project"], world["r1"]), Assignment)
    assert _home(app, world["r1"]) == ["open", "team"]
    assert _home(app, world["r2"]) == ["open"]  # the other project stays open to all


def test_removing_a_rater_releases_their_lease_and_keeps_overlap_exact(app, world):
    lease = _next(app, world["project"], world["r1"])
    with app.app_context():
        taken = db.session().get(ItemSlots, lease.item_id).taken
    assert taken == 1
    assert _remove(app, world["project"], world["r1"]) == 1
    with app.app_context():
        s = db.session()
        assert s.get(Assignment, lease.id).status == LeaseStatus.RELEASED
        assert s.get(ItemSlots, lease.item_id).taken == 0
        assert doctor.check(session=s).ok
    assert isinstance(_next(app, world["project"], world["r1"]), assignment.NoWork)
    assert _home(app, world["r1"]) == ["open"]
    # Removal from an open project does not close it to the others.
    assert isinstance(_next(app, world["project"], world["r2"]), Assignment)
    # Added back, they work again.
    _add(app, world["project"], world["r1"])
    assert isinstance(_next(app, world["project"], world["r1"]), Assignment)


def test_project_expertise_replaces_the_users_tags_for_that_project(app, make):
    project = make.project(slug="law", mode="pairwise", overlap=1)
    make.items(project, [item_row("legal", expertise=["law"])])
    lawyer = make.user(expertise=["law"])
    novice = make.user()
    _add(app, project, novice, expertise=["Law "])
    _add(app, project, lawyer, expertise=[])
    assert isinstance(_next(app, project, lawyer), assignment.NoWork)
    lease = _next(app, project, novice)
    assert isinstance(lease, Assignment)
    with app.app_context():
        row = (
            db.session()
            .execute(sa.select(ProjectMember).where(ProjectMember.user_id == novice.id))
            .scalar_one()
        )
        assert (row.active, row.expertise) == (True, ["law"])


def test_only_raters_join_a_team(app, make, world):
    engineer = make.user("engineer")
    with app.app_context(), db.write_session() as s, pytest.raises(Exception) as caught:
        memberships.add_member(
            session=s, project=s.get(Project, world["project"].id), user=engineer, actor_id=None
        )
    assert (
        caught.value.message
        == f"{engineer.username!r} is engineer; only raters join a project's team."
    )


# --- qualification reset ----------------------------------------------------------------------


def test_a_reset_makes_a_failed_rater_qualify_again(app, make):
    project = make.project(
        slug="q", mode="pairwise", overlap=1, qualification_items=1, qualification_threshold=1.0
    )
    gold_rows = [item_row(f"g{i}", gold={"preferred": "a"}) for i in range(2)]
    make.items(project, [*gold_rows, item_row("real")])
    rater = make.user()
    judge_all(app, project, rater, lambda ext, shown: ("b", {}), limit=1)  # wrong on gold
    admin = make.user("admin")
    with app.app_context(), db.write_session() as s:
        p, r = s.get(Project, project.id), s.get(User, rater.id)
        assert gold.qualification(session=s, project=p, rater=r).status == "failed"
        gold.reset_qualification(session=s, project=p, rater=r, actor_id=admin.id)
        assert gold.qualification(session=s, project=p, rater=r).status == "qualifying"
        last = s.execute(sa.select(sa.func.max(GoldScore.judgment_id))).scalar()
        reset = s.execute(sa.select(QualificationReset)).scalar_one()
        assert (reset.rater_id, reset.after_judgment_id, reset.admin_id) == (
            rater.id,
            last,
            admin.id,
        )
    # The second gold item, answered right, qualifies them; then real work follows.
    judge_all(app, project, rater, lambda ext, shown: ("a", {}), limit=1)
    with app.app_context(), db.write_session() as s:
        p, r = s.get(Project, project.id), s.get(User, rater.id)
        assert gold.qualification(session=s, project=p, rater=r).status == "passed"


# --- API --------------------------------------------------------------------------------------


@pytest.fixture
def headers(make):
    _, secret = make.token(make.user("admin"), ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def test_members_api(app, client, headers, world):
    r1 = world["r1"]
    put = client.put(
        f"/api/v1/projects/team/members/{r1.username}",
        json={"expertise": ["Law", "tax"]},
        headers=headers,
    )
    assert put.status_code == 200
    assert put.get_json() == {
        "username": r1.username,
        "user_id": r1.id,
        "active": True,
        "expertise": ["law", "tax"],
    }
    listed = client.get("/api/v1/projects/team/members", headers=headers).get_json()
    assert listed == [put.get_json()]
    gone = client.delete(f"/api/v1/projects/team/members/{r1.username}", headers=headers)
    assert gone.get_json() == {
        "username": r1.username,
        "user_id": r1.id,
        "active": False,
        "expertise": None,
        "leases_released": 0,
    }
    with app.app_context():
        row = db.session().execute(sa.select(ProjectMember)).scalar_one()
        assert (row.user_id, row.active) == (r1.id, False)
        actions = db.session().execute(sa.select(AuditEvent.action)).scalars().all()
        assert actions == ["project.member.add", "project.member.remove"]
    missing = client.put("/api/v1/projects/team/members/nobody", json={}, headers=headers)
    assert missing.status_code == 404


def test_role_api_changes_the_role_but_not_your_own(app, client, headers, world):
    r1 = world["r1"]
    response = client.put(
        f"/api/v1/users/{r1.username}/role", json={"role": "engineer"}, headers=headers
    )
    assert (response.status_code, response.get_json()) == (
        200,
        {"username": r1.username, "role": "engineer"},
    )
    with app.app_context():
        assert db.session().get(User, r1.id).role == "engineer"
    bad = client.put(f"/api/v1/users/{r1.username}/role", json={"role": "boss"}, headers=headers)
    assert bad.status_code == 422
    with app.app_context():
        admin = db.session().execute(sa.select(User).where(User.role == "admin")).scalar_one()
    mine = client.put(
        f"/api/v1/users/{admin.username}/role", json={"role": "rater"}, headers=headers
    )
    assert mine.status_code == 409
    assert mine.get_json()["error"] == "You cannot change your own role."


def test_reset_api(client, headers, world):
    response = client.post(
        f"/api/v1/projects/team/qualifications/{world['r1'].username}/reset", headers=headers
    )
    assert response.get_json() == {"rater": world["r1"].username, "status": "passed"}


# --- CLI --------------------------------------------------------------------------------------


def test_members_cli(app, world):
    runner = app.test_cli_runner()
    r1 = world["r1"].username
    out = runner.invoke(main, ["members", "add", "team", r1, "--expertise", "law,tax"])
    assert out.exit_code == 0, out.output
    assert out.output == f"{r1} is on the team of team.\n"
    assert runner.invoke(main, ["members", "list", "team"]).output == f"{r1}\tmember\tlaw,tax\n"
    out = runner.invoke(main, ["members", "remove", "team", r1])
    assert out.output == f"Removed {r1} from team; 0 lease(s) released.\n"
    out = runner.invoke(main, ["members", "requalify", "team", r1])
    assert out.output == f"{r1} qualifies for team again; now passed.\n"
    out = runner.invoke(main, ["users", "role", r1, "admin"])
    assert out.output == f"{r1} is now admin.\n"
    with app.app_context():
        assert db.session().get(User, world["r1"].id).role == "admin"
    out = runner.invoke(main, ["members", "list", "open"])
    assert out.output == "open has no team: open to every rater.\n"


def test_removal_waits_for_a_running_request_for_work_and_releases_its_lease(app, world):
    """A request for work that checked membership before the removal cannot keep its lease.

    Without the rater lock in ``remove_member`` the removal would end no lease (the new one
    is not committed yet) and the removed rater would keep the item.
    """
    with app.app_context():
        engine = db.engine()
        if engine.dialect.name == "sqlite":
            pytest.skip("on SQLite every write transaction is serial (BEGIN IMMEDIATE)")
        project_id, rater_id = world["project"].id, world["r1"].id
        pid: list[int] = []
        released: list[int] = []

        def remove() -> None:
            with db.write_session(engine) as s:
                pid.append(s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
                released.append(
                    memberships.remove_member(
                        session=s,
                        project=s.get(Project, project_id),
                        user=s.get(User, rater_id),
                        actor_id=None,
                    )
                )

        with db.write_session(engine) as s:  # a request for work, still running
            lease = assignment.next_assignment(
                session=s, project=s.get(Project, project_id), rater=s.get(User, rater_id)
            )
            assert isinstance(lease, Assignment)
            remover = threading.Thread(target=remove)
            remover.start()
            # Go on once the removal waits on a lock (or, unprotected, has finished).
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND wait_event_type = 'Lock'"
            )
            with engine.connect() as watch:
                while remover.is_alive() and not (
                    pid and watch.execute(waiting, {"pid": pid[0]}).scalar_one()
                ):
                    time.sleep(0.01)
        remover.join()
        assert released == [1]
        status = db.session().get(Assignment, lease.id).status
        assert status == LeaseStatus.RELEASED
