"""Project settings: one domain function behind the API, the CLI and the settings page."""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import cli, db
from service.items import import_batches
from service.models import Assignment, AuditEvent, ImportBatch, ItemSlots, Judgment, Project
from service.rating import assignment, doctor, pairs, settings, slots
from tests.factories import item_row
from tests.raters import Desk

RUBRIC = [
    {"name": "accuracy", "label": "Accuracy", "scope": "response", "kind": "likert", "points": 5}
]


@pytest.fixture
def desk(app):
    return Desk(app)


@pytest.fixture
def admin(auth):
    return auth.as_role("admin")


def _csrf(auth):
    return {"X-CSRF-Token": auth.csrf()}


def _project(app, slug):
    with app.app_context():
        return db.session().exec(select(Project).where(Project.slug == slug)).one()


def _events(app, action="project.settings"):
    with app.app_context():
        rows = db.session().exec(select(AuditEvent).where(AuditEvent.action == action))
        return [(e.target, e.details, e.address) for e in rows]


def _open_flags(app, project):
    with app.app_context():
        rows = db.session().execute(
            sa.select(ItemSlots.item_id, ItemSlots.taken, ItemSlots.open)
            .where(ItemSlots.project_id == project.id)
            .order_by(ItemSlots.item_id)
        )
        return [tuple(r) for r in rows]


def _doctor_ok(app):
    with app.app_context(), db.write_session() as s:
        return doctor.check(session=s).ok


def test_patch_sets_every_setting_and_audits_the_change(app, client, auth, make, admin):
    project = make.project(slug="camp", overlap=2)
    r = client.patch(
        "/api/v1/projects/camp",
        json={
            "gold_rate": 0.1,
            "lease_minutes": 45,
            "qualification_items": 3,
            "qualification_threshold": 0.75,
            "daily_cap": 200,
            "rater_cap": None,
            "status": "paused",
            "confirm_contradictions": False,
            "pairing": "adaptive",
            "pairing_uniform_share": 0.5,
            "span_labels": ["factual error", " unsafe "],
            "span_overlap": True,
            "edit": "preferred",
            "adaptive_overlap": True,
            "overlap_max": 4,
            "audit_share": 0.2,
            "rubric": RUBRIC,
            "judge_display": "after",
            "judge_triage": True,
            "judge_budget": True,
            "judge_budget_overlap": 1,
            "judge_audit_share": 0.25,
            "judge_token_budget": 50000,
        },
        headers=_csrf(auth),
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body == {
        "id": project.id,
        "slug": "camp",
        "name": "Test project",
        "description": "",
        "mode": "pairwise",
        "scale": "ternary",
        "rubric": [{**RUBRIC[0], "help": "", "required": False}],
        "guidelines": "",
        "guideline_version": 1,
        "overlap": 2,
        "status": "paused",
        "lease_minutes": 45,
        "order_strategy": "complete-first",
        "pairs": "all",
        "pair_reference": None,
        "gold_rate": 0.1,
        "qualification_items": 3,
        "qualification_threshold": 0.75,
        "daily_cap": 200,
        "rater_cap": None,
        "skip_flag_threshold": 3,
        "confirm_contradictions": False,
        "pairing": "adaptive",
        "pairing_uniform_share": 0.5,
        "span_labels": ["factual error", "unsafe"],
        "span_overlap": True,
        "edit": "preferred",
        "adaptive_overlap": True,
        "overlap_max": 4,
        "audit_share": 0.2,
        "judge_display": "after",
        "judge_triage": True,
        "judge_budget": True,
        "judge_budget_overlap": 1,
        "judge_audit_share": 0.25,
        "judge_token_budget": 50000,
        "created_at": body["created_at"],
    }
    row = _project(app, "camp")
    assert (row.gold_rate, row.lease_minutes, row.daily_cap, row.status) == (
        0.1,
        45,
        200,
        "paused",
    )
    assert (row.qualification_items, row.qualification_threshold) == (3, 0.75)
    assert (row.pairing, row.pairing_uniform_share) == ("adaptive", 0.5)
    assert (row.adaptive_overlap, row.overlap_max, row.audit_share) == (True, 4, 0.2)
    [(target, details, address)] = _events(app)
    assert target == "project:camp" and address == "127.0.0.1"
    assert details == {
        "gold_rate": {"from": 0.0, "to": 0.1},
        "lease_minutes": {"from": 30, "to": 45},
        "qualification_items": {"from": 0, "to": 3},
        "qualification_threshold": {"from": 0.8, "to": 0.75},
        "daily_cap": {"from": None, "to": 200},
        "status": {"from": "active", "to": "paused"},
        "confirm_contradictions": {"from": True, "to": False},
        "pairing": {"from": "all", "to": "adaptive"},
        "pairing_uniform_share": {"from": 0.3, "to": 0.5},
        "span_labels": {"from": [], "to": ["factual error", "unsafe"]},
        "span_overlap": {"from": False, "to": True},
        "edit": {"from": "off", "to": "preferred"},
        "adaptive_overlap": {"from": False, "to": True},
        "overlap_max": {"from": 5, "to": 4},
        "audit_share": {"from": 0.1, "to": 0.2},
        "rubric": {"from": [], "to": [{**RUBRIC[0], "help": "", "required": False}]},
        "judge_display": {"from": "hidden", "to": "after"},
        "judge_triage": {"from": False, "to": True},
        "judge_budget": {"from": False, "to": True},
        "judge_audit_share": {"from": 0.1, "to": 0.25},
        "judge_token_budget": {"from": None, "to": 50000},
    }


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"gold_rate": 1.5}, "gold_rate", "Must be greater than or equal to 0"),
        ({"gold_rate": "0.1"}, "gold_rate", "Not a valid number."),
        ({"slug": "renamed"}, "slug", "Unknown field."),
        ({"overlap": 0}, "overlap", "Must be greater than or equal to 1"),
        ({"status": "sleeping"}, "status", "Must be one of"),
        ({"pairing": "greedy"}, "pairing", "Must be one of: all, adaptive."),
        ({"pairing_uniform_share": -0.1}, "pairing_uniform_share", "Must be greater than"),
        ({"judge_token_budget": 0}, "judge_token_budget", "Must be greater than or equal to 1"),
    ],
)
def test_patch_refuses_bad_settings_and_changes_nothing(
    app, client, auth, make, admin, change, field, message
):
    make.project(slug="camp")
    r = client.patch("/api/v1/projects/camp", json=change, headers=_csrf(auth))
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert error["field"] == field and error["message"].startswith(message)
    row = _project(app, "camp")
    assert (row.gold_rate, row.overlap, row.status, row.slug) == (0.0, 3, "active", "camp")
    assert _events(app) == []


def test_a_rater_cannot_change_settings(app, client, auth, make):
    make.project(slug="camp")
    auth.as_role("rater")
    r = client.patch("/api/v1/projects/camp", json={"gold_rate": 0.5}, headers=_csrf(auth))
    assert r.status_code == 403
    assert r.get_json()["ok"] is False
    assert _project(app, "camp").gold_rate == 0.0
    page = client.post(
        "/admin/projects/camp/settings", data={"gold_rate": "0.5", "csrf_token": auth.csrf()}
    )
    assert page.status_code == 403
    assert _project(app, "camp").gold_rate == 0.0 and _events(app) == []


def test_rubric_is_fixed_once_judged(app, client, auth, desk, make, admin):
    project = make.project(slug="camp", overlap=1)
    make.items(project, [item_row()])
    ok = client.patch("/api/v1/projects/camp", json={"rubric": RUBRIC}, headers=_csrf(auth))
    assert ok.status_code == 200
    rater = make.user()
    desk.submit(desk.next(project, rater), rater)
    r = client.patch("/api/v1/projects/camp", json={"rubric": []}, headers=_csrf(auth))
    assert r.status_code == 409
    assert r.get_json() == {
        "ok": False,
        "status": 409,
        "error": "The rubric cannot change: 1 judgment(s) were given against it, and a "
        "changed rubric would make their scores mean something else. "
        "Start a new project for a new rubric.",
        "errors": [{"field": "rubric", "message": "fixed once judgments exist"}],
        "request_id": r.get_json()["request_id"],
    }
    assert _project(app, "camp").rubric[0]["name"] == "accuracy"
    # Everything else still changes.
    same = client.patch(
        "/api/v1/projects/camp", json={"rubric": RUBRIC, "gold_rate": 0.2}, headers=_csrf(auth)
    )
    assert same.status_code == 200 and same.get_json()["gold_rate"] == 0.2


def test_overlap_change_keeps_slot_counters_exact(app, client, auth, desk, make, admin):
    project = make.project(slug="camp", overlap=1)
    items = make.items(project, [item_row(), item_row()])
    first, second = make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    lease = desk.next(project, first)  # the other item, held by a live lease
    assert {r[0] for r in _open_flags(app, project)} == {i.id for i in items}
    assert [(taken, is_open) for _, taken, is_open in _open_flags(app, project)] == [
        (1, False),
        (1, False),
    ]
    up = client.patch("/api/v1/projects/camp", json={"overlap": 2}, headers=_csrf(auth))
    assert up.status_code == 200
    assert [(t, o) for _, t, o in _open_flags(app, project)] == [(1, True), (1, True)]
    assert _doctor_ok(app)
    # The second rater gets work again, and fills a slot on each item.
    desk.submit(desk.next(project, second), second)
    desk.submit(desk.next(project, second), second)
    assert [(t, o) for _, t, o in _open_flags(app, project)] == [(2, False), (2, False)]
    # Both items have two raters (one through a live lease): 1 would drop a judgment.
    down = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
    assert down.status_code == 409
    assert down.get_json()["errors"] == [{"field": "overlap", "message": "at least 2"}]
    assert _project(app, "camp").overlap == 2
    desk.submit(lease, first)
    with app.app_context():
        assert len(db.session().exec(select(Judgment)).all()) == 4
    assert _doctor_ok(app)
    assert [d["overlap"] for _, d, _ in _events(app)] == [{"from": 1, "to": 2}]


def test_overlap_goes_down_to_what_items_have(app, client, auth, desk, make, admin):
    project = make.project(slug="camp", overlap=3)
    make.items(project, [item_row(), item_row()])
    rater = make.user()
    desk.submit(desk.next(project, rater), rater)
    r = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
    assert r.status_code == 200 and r.get_json()["overlap"] == 1
    # The judged item is complete now; the other still wants its one rater.
    assert sorted(o for _, _, o in _open_flags(app, project)) == [False, True]
    assert _doctor_ok(app)
    with app.app_context():
        assert len(db.session().exec(select(Judgment)).all()) == 1


def test_cli_sets_gold_rate_caps_and_rubric(app, runner, make, tmp_path):
    make.project(slug="camp", daily_cap=10)
    rubric = tmp_path / "rubric.json"
    rubric.write_text(json.dumps(RUBRIC), encoding="utf-8")
    r = runner.invoke(
        cli.main,
        [
            "projects", "set", "camp", "--gold-rate", "0.1", "--daily-cap", "none",
            "--lease-minutes", "20", "--rubric", str(rubric),
        ]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "camp: lease_minutes 30 -> 20",
        "camp: gold_rate 0.0 -> 0.1",
        "camp: daily_cap 10 -> null",
        "camp: rubric changed (1 dimension(s))",
    ]
    row = _project(app, "camp")
    assert (row.gold_rate, row.daily_cap, row.lease_minutes) == (0.1, None, 20)
    assert row.rubric[0]["name"] == "accuracy"
    [(target, details, address)] = _events(app)
    assert (target, address) == ("project:camp", "cli")
    assert set(details) == {"lease_minutes", "gold_rate", "daily_cap", "rubric"}
    again = runner.invoke(cli.main, ["projects", "set", "camp", "--gold-rate", "0.1"])
    assert again.exit_code == 0 and again.output == "camp: nothing changed.\n"
    assert len(_events(app)) == 1


def test_cli_sets_adaptive_pairing(app, runner, make):
    make.project(slug="camp")
    r = runner.invoke(
        cli.main,
        ["projects", "set", "camp", "--pairing", "adaptive", "--pairing-uniform-share", "0.5"],
    )
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        'camp: pairing "all" -> "adaptive"',
        "camp: pairing_uniform_share 0.3 -> 0.5",
    ]
    row = _project(app, "camp")
    assert (row.pairing, row.pairing_uniform_share) == ("adaptive", 0.5)


@pytest.mark.parametrize("mode", ["ranking", "rating"])
def test_only_pairwise_projects_pair_adaptively(app, client, auth, runner, make, admin, mode):
    make.project(slug="camp", mode=mode)
    r = client.patch("/api/v1/projects/camp", json={"pairing": "adaptive"}, headers=_csrf(auth))
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "field": "pairing",
            "message": "only pairwise projects choose which models an item compares",
        }
    ]
    cli_run = runner.invoke(cli.main, ["projects", "set", "camp", "--pairing", "adaptive"])
    assert cli_run.exit_code == 1 and "pairing: only pairwise projects" in cli_run.output
    assert _project(app, "camp").pairing == "all" and _events(app) == []
    created = client.post(
        "/api/v1/projects",
        json={"slug": "other", "name": "Other", "mode": mode, "pairing": "adaptive"},
        headers=_csrf(auth),
    )
    assert created.status_code == 422
    assert created.get_json()["errors"][0]["field"] == "pairing"


def test_cli_refuses_bad_settings(app, runner, make):
    make.project(slug="camp")
    r = runner.invoke(cli.main, ["projects", "set", "camp", "--gold-rate", "2", "--daily-cap", "x"])
    assert r.exit_code == 1
    assert "Error: Invalid settings." in r.output
    assert "gold_rate: Must be greater than or equal to 0 and less than or equal to 1." in r.output
    assert "daily_cap: Not a valid integer." in r.output
    assert _project(app, "camp").gold_rate == 0.0
    nothing = runner.invoke(cli.main, ["projects", "set", "camp"])
    assert nothing.exit_code == 1 and "Nothing to change" in nothing.output


def test_settings_page_saves_and_shows_errors(app, client, auth, desk, make, admin):
    project = make.project(slug="camp", overlap=1)
    make.items(project, [item_row()])
    form = {
        "csrf_token": auth.csrf(),
        "name": "Camp",
        "status": "active",
        "overlap": "1",
        "lease_minutes": "30",
        "gold_rate": "0.25",
        "qualification_items": "0",
        "qualification_threshold": "0.8",
        "daily_cap": "",
        "rater_cap": "50",
        "skip_flag_threshold": "3",
        "confirm_contradictions": "off",
        "pairing": "adaptive",
        "pairing_uniform_share": "0.2",
        "edit": "any",
        "rubric": "[]",
    }
    assert b'<option value="on" selected>ask to confirm' in client.get("/admin/projects/camp").data
    r = client.post("/admin/projects/camp/settings", data=form)
    assert r.status_code == 303 and r.headers["Location"] == "/admin/projects/camp"
    row = _project(app, "camp")
    assert (row.name, row.gold_rate, row.rater_cap) == ("Camp", 0.25, 50)
    assert row.confirm_contradictions is False
    assert (row.pairing, row.pairing_uniform_share) == ("adaptive", 0.2)
    shown = client.get("/admin/projects/camp").data
    assert b'<option value="off" selected>accept silently' in shown
    assert b'<option value="adaptive" selected>an adaptive pair' in shown
    assert b'name="pairing_uniform_share" inputmode="decimal" value="0.2"' in shown
    assert row.edit == "any"
    assert b'<option value="any" selected>any response' in client.get("/admin/projects/camp").data
    assert (
        b'<option value="off" selected>accept silently' in client.get("/admin/projects/camp").data
    )
    bad = client.post("/admin/projects/camp/settings", data={**form, "gold_rate": "lots"})
    assert bad.status_code == 422
    assert b"<code>gold_rate</code>: Not a valid number." in bad.data
    rater = make.user()
    desk.submit(desk.next(project, rater), rater)
    page = client.get("/admin/projects/camp")
    assert b"The rubric cannot change: 1 judgment(s) were given against it" in page.data
    assert _project(app, "camp").gold_rate == 0.25


def test_a_live_lease_counts_towards_the_overlap_floor(app, client, auth, desk, make, admin):
    """A rater holding a lease will submit: lowering below them would overfill the item."""
    project = make.project(slug="camp", overlap=2)
    make.items(project, [item_row()])
    first, second = make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    lease = desk.next(project, second)
    down = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
    assert down.status_code == 409
    assert down.get_json()["errors"] == [{"field": "overlap", "message": "at least 2"}]
    desk.submit(lease, second)
    assert _project(app, "camp").overlap == 2 and _doctor_ok(app)


def test_the_overlap_floor_counts_each_pair_of_a_pairwise_item(
    app, client, auth, desk, make, admin
):
    """Three responses are three pairs: two raters on different pairs leave room for 1."""
    project = make.project(slug="camp", overlap=1)
    make.items(project, [item_row(n_responses=3)])
    first, second = make.user(), make.user()
    one = desk.next(project, first)
    desk.submit(one, first)
    two = desk.next(project, second)
    desk.submit(two, second)
    assert set(one.shown_order[:2]) != set(two.shown_order[:2])
    up = client.patch("/api/v1/projects/camp", json={"overlap": 3}, headers=_csrf(auth))
    assert up.status_code == 200
    down = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
    assert down.status_code == 200, down.get_json()
    assert [(t, o) for _, t, o in _open_flags(app, project)] == [(2, True)]
    assert _doctor_ok(app)


def test_a_claim_while_overlap_goes_down_cannot_overfill(
    app, desk, make, database_url, monkeypatch
):
    """PostgreSQL: the change holds the counters from the floor check to its commit, so a
    rater cannot take a slot the new, lower overlap no longer has."""
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite a settings change and a claim are serial (BEGIN IMMEDIATE)")
    project = make.project(slug="camp", overlap=2)
    make.items(project, [item_row()])
    first, second = make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    floor = settings.overlap_floor
    claims = []

    def floor_then_claim(*, session, project):
        found = floor(session=session, project=project)  # 1: one rater so far
        # Another rater asks for work between the check and the change.
        worker = threading.Thread(target=lambda: claims.append(desk.next(project, second)))
        worker.start()
        worker.join(30)  # a safety net only: a claim skips locked counters, never waits
        return found

    monkeypatch.setattr(settings, "overlap_floor", floor_then_claim)
    with app.app_context(), db.write_session() as s:
        settings.update_settings(
            session=s, project=s.get(Project, project.id), data={"overlap": 1}, actor_id=None
        )
    assert len(claims) == 1 and isinstance(claims[0], assignment.NoWork)
    assert _project(app, "camp").overlap == 1 and _doctor_ok(app)
    assert [(t, o) for _, t, o in _open_flags(app, project)] == [(1, False)]


def test_rankroom_doctor_is_clean_after_overlap_changes_from_the_cli(app, runner, desk, make):
    project = make.project(slug="camp", overlap=1)
    make.items(project, [item_row(), item_row(n_responses=3)])
    rater = make.user()
    desk.submit(desk.next(project, rater), rater)
    desk.next(project, rater)  # a live lease on the other item
    for overlap in ("3", "1"):
        r = runner.invoke(cli.main, ["projects", "set", "camp", "--overlap", overlap])
        assert r.exit_code == 0, r.output
        checkup = runner.invoke(cli.main, ["doctor"])
        assert checkup.exit_code == 0
        assert checkup.output == "doctor: 0 drift rows (2 items, 1 project)\n"
    assert _project(app, "camp").overlap == 1


def _claim_while_overlap_drops(app, desk, project, rater, monkeypatch):
    """Ask for work as ``rater``; after the request read the project (overlap 2), and
    before it claims, an admin lowers the overlap to 1 and commits."""
    take_next = slots.take_next
    read, changed = threading.Event(), threading.Event()

    def paused(**kwargs):
        read.set()
        changed.wait(30)  # a safety net only: set as soon as the change committed
        return take_next(**kwargs)

    monkeypatch.setattr(slots, "take_next", paused)
    claims = []
    worker = threading.Thread(target=lambda: claims.append(desk.next(project, rater)))
    worker.start()
    try:
        assert read.wait(30)
        with app.app_context(), db.write_session() as s:
            settings.update_settings(
                session=s, project=s.get(Project, project.id), data={"overlap": 1}, actor_id=None
            )
    finally:
        changed.set()
        worker.join(30)
    monkeypatch.setattr(slots, "take_next", take_next)
    (claim,) = claims
    return claim


def _raters_per_pair(app, project):
    """Count the raters holding a slot (submitted or live lease) on each pair unit."""
    with app.app_context():
        orders = db.session().execute(
            sa.select(Assignment.shown_order).where(
                Assignment.project_id == project.id, Assignment.status.in_(slots.HOLDING)
            )
        )
        return sorted(pairs.coverage(orders.scalars().all()).values())


def _slot_rows(app, project):
    with app.app_context():
        rows = db.session().execute(
            sa.select(ItemSlots.taken, ItemSlots.open, ItemSlots.overlap)
            .where(ItemSlots.project_id == project.id)
            .order_by(ItemSlots.item_id)
        )
        return [tuple(r) for r in rows]


def _postgres_only(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite a settings change and a claim are serial (BEGIN IMMEDIATE)")


def test_a_claim_that_read_the_old_overlap_leaves_no_room_for_one_too_many(
    app, desk, make, database_url, monkeypatch
):
    """PostgreSQL: a request that read overlap 2 claims after it went down to 1. The
    claim computes ``open`` from the overlap that committed, so the item closes with its
    one rater and the next rater gets no work (it used to get the item: 2 raters of 1)."""
    _postgres_only(database_url)
    project = make.project(slug="camp", overlap=2)
    make.items(project, [item_row()])
    late, next_one = make.user(), make.user()
    lease = _claim_while_overlap_drops(app, desk, project, late, monkeypatch)
    assert isinstance(lease, Assignment)
    assert isinstance(desk.next(project, next_one), assignment.NoWork)
    assert _slot_rows(app, project) == [(1, False, 1)]
    desk.submit(lease, late)
    assert _raters_per_pair(app, project) == [1]
    assert _project(app, "camp").overlap == 1 and _doctor_ok(app)


def test_a_claim_that_read_the_old_overlap_takes_a_pair_still_wanting_raters(
    app, desk, make, database_url, monkeypatch
):
    """PostgreSQL: three responses are three pairs. One is judged; a request that read
    overlap 2 claims after it went down to 1: its pair is one still below the new
    overlap, not the judged one (complete-first would fill that one to 2)."""
    _postgres_only(database_url)
    project = make.project(slug="camp", overlap=2, order_strategy="complete-first")
    make.items(project, [item_row(n_responses=3)])
    first, late, third, fourth = (make.user() for _ in range(4))
    judged = desk.next(project, first)
    desk.submit(judged, first)
    lease = _claim_while_overlap_drops(app, desk, project, late, monkeypatch)
    assert set(lease.shown_order[:2]) != set(judged.shown_order[:2])
    desk.submit(lease, late)
    desk.submit(desk.next(project, third), third)
    assert isinstance(desk.next(project, fourth), assignment.NoWork)
    assert _raters_per_pair(app, project) == [1, 1, 1]
    assert _slot_rows(app, project) == [(3, False, 1)]
    assert _doctor_ok(app)


def test_overlap_cannot_change_while_an_import_is_in_flight(app, client, auth, desk, make, admin):
    """Its items would be published with the overlap the project had: refused, unchanged."""
    project = make.project(slug="camp", overlap=2)
    make.items(project, [item_row()])
    with app.app_context():
        batch_id = import_batches.open_batch(
            db.engine(), {"project_id": project.id, "kind": "file", "source": "big.jsonl"}
        )
    r = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
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
    assert _project(app, "camp").overlap == 2
    assert _slot_rows(app, project) == [(0, True, 2)]
    assert _events(app) == []
    # Other settings may change meanwhile; the overlap once the import has finished.
    name = client.patch("/api/v1/projects/camp", json={"name": "Camp"}, headers=_csrf(auth))
    assert name.status_code == 200
    with app.app_context():
        import_batches.discard(db.engine(), batch_id)
        assert db.session().get(ImportBatch, batch_id) is None
    r = client.patch("/api/v1/projects/camp", json={"overlap": 1}, headers=_csrf(auth))
    assert r.status_code == 200 and r.get_json()["overlap"] == 1
    assert _slot_rows(app, project) == [(0, True, 1)]
    assert _doctor_ok(app)


def _waiting_on_a_lock() -> bool:
    with db.engine().connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            ).scalar()
        )


def test_an_item_published_while_the_overlap_changes_takes_the_new_overlap(
    app, make, database_url, monkeypatch
):
    """PostgreSQL: an import that opened just after the change checked for one, and
    inserts its item before the change commits. The insert trigger read the project
    FOR SHARE, so the change waits for the item and then gives it the new overlap (else
    the item would keep the old one: the change cannot see an uncommitted row)."""
    _postgres_only(database_url)
    project = make.project(slug="camp", overlap=2)
    make.items(project, [item_row("early")])
    checked, go_on, inserted, publish = (threading.Event() for _ in range(4))
    check_no_import, set_units = settings.check_no_import, slots.set_units

    def check_then_wait(**kwargs):
        check_no_import(**kwargs)
        checked.set()
        go_on.wait(30)  # safety nets only: each event is set as soon as its step is done

    def insert_then_wait(**kwargs):
        set_units(**kwargs)
        inserted.set()
        publish.wait(30)

    monkeypatch.setattr(settings, "check_no_import", check_then_wait)
    monkeypatch.setattr(slots, "set_units", insert_then_wait)

    def change():
        with app.app_context(), db.write_session() as s:
            settings.update_settings(
                session=s, project=s.get(Project, project.id), data={"overlap": 1}, actor_id=None
            )

    changing = threading.Thread(target=change)
    importing = threading.Thread(target=lambda: make.items(project, [item_row("late")]))
    changing.start()
    try:
        assert checked.wait(30)
        importing.start()
        assert inserted.wait(30)
        go_on.set()
        # The change goes on until it waits for the import's item (or, unprotected, ends).
        with app.app_context():
            for _ in range(600):  # a safety net only
                if not changing.is_alive() or _waiting_on_a_lock():
                    break
                time.sleep(0.05)
    finally:
        go_on.set()
        publish.set()
        importing.join(30)
        changing.join(30)
    assert _project(app, "camp").overlap == 1
    assert _slot_rows(app, project) == [(0, True, 1), (0, True, 1)]
    assert _doctor_ok(app)
