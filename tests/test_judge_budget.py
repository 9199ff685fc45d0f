"""Model judges spending expert time: budget mode and triage order, on both databases.

The rule is service/rating/judge_rule.py; here, who gets an item, its slot row, the
doctor, and a PostgreSQL race between a judge verdict and a rater.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from service import db
from service.models import Assignment, Item, ItemSlots, Judgment, Project
from service.rating import adaptive, agreement_rule, assignment, doctor, judge_rule, settings
from tests.factories import add_judge, add_verdict, item_row
from tests.raters import Desk
from tests.test_adaptive_overlap import _wait_until_blocked


@pytest.fixture
def desk(app):
    return Desk(app)


def _budget(make, slug="camp", **data):
    data = {
        "overlap": 3,
        "judge_budget": True,
        "judge_budget_overlap": 1,
        "judge_audit_share": 0.0,
    } | data
    return make.project(slug=slug, **data)


def _slot(app, item_id):
    with app.app_context():
        row = db.session().get(ItemSlots, item_id)
        return {
            "taken": row.taken,
            "raised": row.raised,
            "open": row.open,
            "priority": row.priority,
        }


def _both_orders(app, item, judge, first, second=None):
    """The judge's verdicts on [a, b] (``first``) and [b, a] (``second``, default the same)."""
    add_verdict(app, item, judge, ["a", "b"], preferred=first)
    add_verdict(app, item, judge, ["b", "a"], preferred=first if second is None else second)


def _drift(app, project):
    with app.app_context(), db.write_session() as s:
        return doctor.check(session=s, project=s.get(Project, project.id)).drift


def _fill(desk, make, project):
    """Hand out work until none is left; return the item each lease was on."""
    got = []
    for _ in range(20):
        rater = make.user()
        lease = desk.next(project, rater)
        if not isinstance(lease, Assignment):
            break
        desk.submit(lease, rater)
        got.append(lease.item_id)
    return got


def test_items_every_judge_settles_get_the_budget_overlap(app, desk, make):
    """Three items, two judges: q1 both agree in both orders (1 rater), q2 one judge
    flips with the order, q3 the judges disagree, q4 judged in one order only (3 each)."""
    project = _budget(make)
    q1, q2, q3, q4 = make.items(project, [item_row(f"q{k}") for k in range(1, 5)])
    one, two = add_judge(app, project, "one"), add_judge(app, project, "two")
    for judge in (one, two):
        _both_orders(app, q1, judge, "a")
    _both_orders(app, q2, one, "a", "b")
    _both_orders(app, q2, two, "a")
    _both_orders(app, q3, one, "a")
    _both_orders(app, q3, two, "b")
    for judge in (one, two):
        add_verdict(app, q4, judge, ["a", "b"], preferred="a")
    assert _slot(app, q1.id) == {"taken": 0, "raised": -2, "open": True, "priority": 0}
    assert [_slot(app, q.id)["raised"] for q in (q2, q3, q4)] == [0, 0, 0]
    got = _fill(desk, make, project)
    assert sorted(got) == sorted([q1.id] + [q2.id, q3.id, q4.id] * 3)
    assert _slot(app, q1.id) == {"taken": 1, "raised": -2, "open": False, "priority": 0}
    assert _drift(app, project) == []
    with app.app_context(), db.write_session() as s:  # a drifted capacity: doctor finds it
        s.execute(sa.update(ItemSlots).where(ItemSlots.item_id == q1.id).values(raised=0))
    assert [(d.item, d.counter, d.stored, d.expected) for d in _drift(app, project)] == [
        ("q1", "open", False, True),  # from the stored capacity (0): recounted as open
        ("q1", "raised", 0, -2),
    ]
    with app.app_context(), db.write_session() as s:
        doctor.repair(session=s, project=s.get(Project, project.id))
    assert _slot(app, q1.id)["raised"] == -2 and _drift(app, project) == []


def test_the_audit_sample_keeps_the_full_overlap(app, desk, make):
    """Of two settled items the one whose seeded draw is below the share keeps 3 raters."""
    project = _budget(make)
    items = make.items(project, [item_row(f"q{k}") for k in range(1, 30)])
    draws = {i.id: agreement_rule.audit_draw(project.id, i.id) for i in items}
    audit_item, plain = sorted(items, key=lambda i: draws[i.id])[:2]
    share = (draws[audit_item.id] + draws[plain.id]) / 2
    with app.app_context(), db.write_session() as s:
        p = s.get(Project, project.id)
        settings.update_settings(
            session=s, project=p, data={"judge_audit_share": share}, actor_id=None
        )
        for other in items:
            if other.id not in (audit_item.id, plain.id):
                s.get(Item, other.id).flagged = True
    judge = add_judge(app, project)
    _both_orders(app, audit_item, judge, "a")
    _both_orders(app, plain, judge, "a")
    assert (_slot(app, audit_item.id)["raised"], _slot(app, plain.id)["raised"]) == (0, -2)
    got = _fill(desk, make, project)
    assert sorted(got) == sorted([audit_item.id] * 3 + [plain.id])
    assert _drift(app, project) == []


def test_raters_holding_the_item_before_the_verdict_keep_their_slots(app, desk, make):
    """Overlap 3: one rater judged, one holds a lease; then the judge settles the item.
    No third rater gets it; the lease holder still submits, and capacity follows (2)."""
    project = _budget(make)
    (item,) = make.items(project, [item_row("q1")])
    judged_by, holder, late = make.user(), make.user(), make.user()
    desk.submit(desk.next(project, judged_by), judged_by)
    held = desk.next(project, holder)
    _both_orders(app, item, add_judge(app, project), "a")
    assert _slot(app, item.id) == {"taken": 2, "raised": -2, "open": False, "priority": 0}
    assert isinstance(desk.next(project, late), assignment.NoWork)
    desk.submit(held, holder)
    assert _slot(app, item.id) == {"taken": 2, "raised": -1, "open": False, "priority": 0}
    assert _drift(app, project) == []


def test_switching_budget_mode_on_and_off_retargets_every_item(app, make):
    project = _budget(make, judge_budget=False)
    (item,) = make.items(project, [item_row("q1")])
    _both_orders(app, item, add_judge(app, project), "b")
    assert _slot(app, item.id)["raised"] == 0
    for on, raised in ((True, -2), (False, 0)):
        with app.app_context(), db.write_session() as s:
            p = s.get(Project, project.id)
            settings.update_settings(session=s, project=p, data={"judge_budget": on}, actor_id=None)
        assert _slot(app, item.id)["raised"] == raised
        assert _drift(app, project) == []


def test_judgments_record_the_judge_display_in_force(app, desk, make):
    project = _budget(make, judge_budget=False, judge_display="after")
    make.items(project, [item_row("q1")])
    rater = make.user()
    judgment = desk.submit(desk.next(project, rater), rater)
    with app.app_context():
        assert db.session().get(Judgment, judgment.id).judge_view == "after"


def test_contested_items_are_offered_first_under_triage(app, desk, make):
    """q3 is contested (the judge flips): handed out before q1 and q2, whatever their
    own priority; a priority change keeps the raise; the doctor checks and repairs it."""
    project = make.project(slug="tri", overlap=1, judge_triage=True)
    q1, q2, q3 = make.items(project, [item_row("q1", priority=5), item_row("q2"), item_row("q3")])
    judge = add_judge(app, project)
    _both_orders(app, q1, judge, "a")
    _both_orders(app, q3, judge, "a", "b")
    raise_ = judge_rule.TRIAGE_RAISE
    assert [_slot(app, q.id)["priority"] for q in (q1, q2, q3)] == [5, 0, raise_]
    with app.app_context(), db.write_session() as s:
        s.get(Item, q3.id).priority = 2  # an admin's change moves the slot by as much
    assert _slot(app, q3.id)["priority"] == raise_ + 2
    assert _drift(app, project) == []
    assert _fill(desk, make, project) == [q3.id, q1.id, q2.id]
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(ItemSlots).where(ItemSlots.item_id == q3.id).values(priority=2))
    assert [(d.counter, d.stored, d.expected) for d in _drift(app, project)] == [
        ("priority", 2, raise_ + 2)
    ]
    with app.app_context(), db.write_session() as s:
        doctor.repair(session=s, project=s.get(Project, project.id))
    assert _slot(app, q3.id)["priority"] == raise_ + 2


def test_switching_triage_off_restores_the_items_priority(app, make):
    project = make.project(slug="tri", overlap=1, judge_triage=True)
    (item,) = make.items(project, [item_row("q1", priority=3)])
    _both_orders(app, item, add_judge(app, project), "a", "b")
    assert _slot(app, item.id)["priority"] == 3 + judge_rule.TRIAGE_RAISE
    with app.app_context(), db.write_session() as s:
        p = s.get(Project, project.id)
        settings.update_settings(session=s, project=p, data={"judge_triage": False}, actor_id=None)
    assert _slot(app, item.id)["priority"] == 3
    assert _drift(app, project) == []


def test_a_verdict_and_a_submission_at_once_keep_capacity_exact(
    app, desk, make, database_url, monkeypatch
):
    """PostgreSQL: the judge's second verdict settles the item (capacity 1, one judgment)
    while a lease holder submits. The verdict holds the item's counters from reading the
    judgments to its commit; the submission waits, then settles with both judgments and
    the verdicts (capacity 2). Read before the lock, the verdict's capacity would stay 1
    under two judgments: one rater more than the rule allows."""
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite every write transaction is serial (BEGIN IMMEDIATE)")
    project = _budget(make)
    (item,) = make.items(project, [item_row("q1")])
    first, holder, late = make.user(), make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    held = desk.next(project, holder)
    judge = add_judge(app, project)
    add_verdict(app, item, judge, ["a", "b"], preferred="a")
    raised, computed, go_on = adaptive.raised, threading.Event(), threading.Event()

    def paused(counters, targets):
        want = raised(counters, targets)
        if not computed.is_set():  # the verdict's settle only
            computed.set()
            go_on.wait(30)  # a safety net only: set once the submission waits or is done
        return want

    monkeypatch.setattr(adaptive, "raised", paused)
    done = []
    verdict = threading.Thread(
        target=lambda: done.append(add_verdict(app, item, judge, ["b", "a"], preferred="a"))
    )
    verdict.start()
    try:
        assert computed.wait(30)
        submit = threading.Thread(target=lambda: done.append(desk.submit(held, holder)))
        submit.start()
        _wait_until_blocked(submit)
    finally:
        go_on.set()
        verdict.join(30)
        submit.join(30)
    assert len(done) == 2
    assert _slot(app, item.id) == {"taken": 2, "raised": -1, "open": False, "priority": 0}
    assert isinstance(desk.next(project, late), assignment.NoWork)
    assert _drift(app, project) == []


def test_the_cli_and_the_settings_page_set_the_judge_settings(app, client, auth, runner, make):
    from service import cli

    project = make.project(slug="camp", overlap=3)
    (item,) = make.items(project, [item_row("q1")])
    _both_orders(app, item, add_judge(app, project), "a")
    args = ["projects", "set", "camp", "--judge-budget", "--judge-budget-overlap", "2"]
    r = runner.invoke(
        cli.main,
        [*args, "--judge-audit-share", "0", "--judge-display", "after"]
        + ["--judge-token-budget", "20000"],
    )
    assert r.exit_code == 0, r.output
    assert "camp: judge_budget false -> true" in r.output
    with app.app_context():
        assert db.session().get(Project, project.id).judge_token_budget == 20000
    assert _slot(app, item.id)["raised"] == -1
    assert runner.invoke(cli.main, ["doctor"]).exit_code == 0
    auth.as_role("admin")
    page = client.get("/admin/projects/camp").data
    assert b'<option value="after" selected>after submitting' in page
    form = {
        "csrf_token": auth.csrf(),
        "overlap": "3",
        "judge_display": "suggestion",
        "judge_triage": "on",
        "judge_budget": "off",
        "judge_budget_overlap": "1",
        "judge_audit_share": "0.5",
        "judge_token_budget": "",
    }
    r = client.post("/admin/projects/camp/settings", data=form)
    assert r.status_code == 303, r.data
    with app.app_context():
        row = db.session().get(Project, project.id)
        assert (row.judge_display, row.judge_triage, row.judge_budget) == (
            "suggestion",
            True,
            False,
        )
        assert (row.judge_budget_overlap, row.judge_audit_share) == (1, 0.5)
        assert row.judge_token_budget is None  # an empty field: no limit
    assert _slot(app, item.id)["raised"] == 0
    bad = client.post("/admin/projects/camp/settings", data={**form, "judge_display": "always"})
    assert bad.status_code == 422
    assert b"<code>judge_display</code>: Must be one of" in bad.data


def test_the_dataset_card_states_the_budget_rule_and_sample(app, runner, make, tmp_path):
    from service import cli

    project = _budget(make, judge_audit_share=0.25)
    items = make.items(project, [item_row(f"q{k}") for k in range(1, 9)])
    judge = add_judge(app, project)
    for item in items[:2]:
        _both_orders(app, item, judge, "a")
    audit = sum(agreement_rule.in_audit(project.id, i.id, 0.25) for i in items)
    lowered = sum(not agreement_rule.in_audit(project.id, i.id, 0.25) for i in items[:2])
    out = tmp_path / "prefs.jsonl"
    args = ["export", "--project", "camp", "--format", "dpo", "-o", str(out), "--card"]
    args.append("--allow-empty")
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    card = (tmp_path / "README.md").read_text()
    assert (
        "Budget mode: an item every model judge judged in both orders, all agreeing, wanted "
        "1 rater(s) instead of the planned overlap (or the raters it already had), except a "
        f"uniform random audit sample of 25.0% of items (a seeded draw per item; {audit} items) "
        f"that kept the full overlap; {lowered} items were collected at the lower overlap."
    ) in card


def test_a_ranking_judge_that_flips_with_the_order_is_triaged(app, make):
    project = make.project(slug="rank", mode="ranking", overlap=1, judge_triage=True)
    steady, flips = make.items(project, [item_row(f"q{k}", n_responses=3) for k in (1, 2)])
    judge = add_judge(app, project)
    for item, reversed_first in ((steady, "a"), (flips, "c")):
        add_verdict(app, item, judge, ["a", "b", "c"], verdict={"ranking": [["a"], ["b", "c"]]})
        first = [[reversed_first], [r for r in "abc" if r != reversed_first]]
        add_verdict(app, item, judge, ["c", "b", "a"], verdict={"ranking": first})
    assert [_slot(app, i.id)["priority"] for i in (steady, flips)] == [0, judge_rule.TRIAGE_RAISE]


def test_a_judge_leaving_or_joining_retargets_and_retriages_every_item(app, make):
    """Which units are settled or contested depends on the active judges: removing the
    only judge gives a settled item its full overlap back; a judge that joins and
    has judged nothing yet unsettles what the others settled; one that disagrees,
    once removed, leaves the item uncontested. Doctor finds no drift after each."""
    RAISE = judge_rule.TRIAGE_RAISE
    from service.judging import config as judge_config

    project = _budget(make, judge_triage=True)
    (item,) = make.items(project, [item_row("q1")])

    def change(action, name, config=None):
        with app.app_context(), db.write_session() as s:
            p = s.get(Project, project.id)
            if action == "add":
                data = {"name": name, "config": config}
                return judge_config.add_judge(session=s, project=p, data=data)
            return judge_config.remove_judge(session=s, project=p, name=name)

    config = {"url": "http://127.0.0.1:9/v1", "model": "m", "template": "pairwise"}
    first = change("add", "first", config)
    _both_orders(app, item, first, "a")
    assert (_slot(app, item.id)["raised"], _drift(app, project)) == (-2, [])
    change("remove", "first")
    assert (_slot(app, item.id)["raised"], _drift(app, project)) == (0, [])
    change("add", "first", config)  # back: its verdicts settle the item again
    assert (_slot(app, item.id)["raised"], _drift(app, project)) == (-2, [])
    change("add", "second", config)  # no verdict yet: not every judge agrees
    assert (_slot(app, item.id)["raised"], _drift(app, project)) == (0, [])
    change("remove", "second")
    assert (_slot(app, item.id)["raised"], _drift(app, project)) == (-2, [])
    dissent = change("add", "dissent", config)
    _both_orders(app, item, dissent, "b")  # disagrees with the first: contested
    assert (_slot(app, item.id)["raised"], _slot(app, item.id)["priority"]) == (0, RAISE)
    change("remove", "dissent")
    assert (_slot(app, item.id)["raised"], _slot(app, item.id)["priority"]) == (-2, 0)
    assert _drift(app, project) == []


def test_a_judge_leaving_while_a_rater_submits_and_claims_keeps_targets_exact(
    app, desk, make, database_url, monkeypatch
):
    """PostgreSQL: the dissenting judge leaves (q1 becomes settled: its target drops to
    the judgments it has) while a lease holder submits on q1 and claims their next item.
    The removal holds the project's counters from reading the judgments to its commit;
    the submission waits, then settles q1 with both judgments and the judges that remain
    (target 2), and claims q2. Without that lock the removal, computed from one judgment,
    overwrote the submission's settle: q1 closed at a target of 1 under two judgments,
    and rankroom doctor found the drift."""
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite every write transaction is serial (BEGIN IMMEDIATE)")
    from service.judging import config as judge_config
    from service.models import User
    from service.rating import workspace

    project = _budget(make, judge_triage=True)
    q1, q2 = make.items(project, [item_row("q1", priority=1), item_row("q2")])
    first, holder, late = make.user(), make.user(), make.user()
    desk.submit(desk.next(project, first), first)
    held = desk.next(project, holder)
    assert held.item_id == q1.id
    agrees, dissent = add_judge(app, project, "agrees"), add_judge(app, project, "dissent")
    _both_orders(app, q1, agrees, "a")
    _both_orders(app, q1, dissent, "b")  # contested: the full overlap, offered first
    with app.app_context(), db.write_session() as s:
        settings.after_judges_changed(session=s, project=s.get(Project, project.id))
    assert _slot(app, q1.id) == {
        "taken": 2,
        "raised": 0,
        "open": True,
        "priority": judge_rule.TRIAGE_RAISE + 1,  # q1's own priority, raised
    }
    raised, computed, go_on = adaptive.raised, threading.Event(), threading.Event()

    def paused(counters, targets):
        want = raised(counters, targets)
        if not computed.is_set():  # the removal's retarget only: it runs first
            computed.set()
            go_on.wait(30)  # a safety net only: set once the submission waits or is done
        return want

    def leave():
        with app.app_context(), db.write_session() as s:
            judge_config.remove_judge(session=s, project=s.get(Project, project.id), name="dissent")

    def submit_and_claim():
        payload = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "A"}}
        with app.app_context(), db.write_session() as s:
            _, _, _, work = workspace.submit_and_next(
                session=s, assignment_id=held.id, rater=s.get(User, holder.id), payload=payload
            )
            done.append(work.item_id)

    monkeypatch.setattr(adaptive, "raised", paused)
    done: list = []
    removal = threading.Thread(target=lambda: (leave(), done.append("left")))
    removal.start()
    try:
        assert computed.wait(30)
        rater = threading.Thread(target=submit_and_claim)
        rater.start()
        _wait_until_blocked(rater)
    finally:
        go_on.set()
        removal.join(30)
        rater.join(30)
    assert sorted(done, key=str) == [q2.id, "left"]
    assert _slot(app, q1.id) == {"taken": 2, "raised": -1, "open": False, "priority": 1}
    assert _slot(app, q2.id) == {"taken": 1, "raised": 0, "open": True, "priority": 0}
    assert isinstance(desk.next(project, late), Assignment) and _drift(app, project) == []
