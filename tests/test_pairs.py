"""Pair units: which pairs of a pairwise item are collected, each by exactly `overlap` raters."""

from __future__ import annotations

from collections import Counter, defaultdict
from fractions import Fraction

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.errors import Conflict
from service.models import (
    Assignment,
    Item,
    ItemSlots,
    Judgment,
    PairSet,
    Project,
    Response,
    User,
    utcnow,
)
from service.rating import assignment, pairs, slots, workload
from tests.factories import insert_as_of, item_row
from tests.raters import Desk
from tests.seeding import judge_all


@pytest.fixture
def desk(app):
    return Desk(app)


@pytest.fixture
def admin_token(make):
    _, secret = make.token(make.user(role="admin"), ["admin", "import", "stats"])
    return {"Authorization": f"Bearer {secret}"}


def _unit(shown):
    return tuple(sorted(shown[:2]))


def _raters_per_unit(desk, item_id):
    """Return {pair: [rater ids]} over the item's submitted judgments."""
    raters = defaultdict(list)
    for j in desk.rows(Judgment, Judgment.item_id == item_id):
        raters[_unit(j.shown_order)].append(j.rater_id)
    return dict(raters)


def _fill(desk, make, project, n_raters):
    """Let new raters take and submit one lease each; return the leases and the one left over."""
    leases = []
    raters = [make.user() for _ in range(n_raters + 1)]
    for rater in raters[:-1]:
        lease = desk.next(project, rater)
        assert not isinstance(lease, assignment.NoWork), lease
        desk.submit(lease, rater)
        leases.append(lease)
    return leases, desk.next(project, raters[-1])


# --- the units themselves (pure) ---------------------------------------------------------------


def test_units_of_each_pair_set():
    ids = ["a", "b", "c", "d"]
    assert pairs.units(ids, "all") == [
        ("a", "b"),
        ("a", "c"),
        ("a", "d"),
        ("b", "c"),
        ("b", "d"),
        ("c", "d"),
    ]
    assert pairs.units(ids, "round_robin") == [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")]
    assert pairs.units(ids, "reference", "c") == [("c", "a"), ("c", "b"), ("c", "d")]
    assert pairs.units(["a", "b"], "round_robin") == [("a", "b")]  # not (a, b) and (b, a)
    with pytest.raises(ValueError, match="reference 'z' is not a response"):
        pairs.units(ids, "reference", "z")


@pytest.mark.parametrize("pair_set", list(PairSet))
def test_unit_count_is_the_number_of_units(pair_set):
    for n in range(2, 10):
        ids = [f"r{k}" for k in range(n)]
        units = pairs.units(ids, pair_set, "r0")
        assert pairs.unit_count(n, pair_set) == len(units) == len(set(map(frozenset, units)))
        if pair_set == "round_robin" and n > 2:  # balanced: each response in exactly two
            assert Counter(r for u in units for r in u) == dict.fromkeys(ids, 2)


def test_an_item_is_complete_when_every_unit_has_overlap():
    ab, ac, bc = frozenset("ab"), frozenset("ac"), frozenset("bc")
    every = pairs.item_units(["a", "b", "c"], pairwise=True)
    assert every == [ab, ac, bc]
    shown = [["a", "b"], ["b", "a"], ["c", "a"]]
    assert pairs.unit_counts(every, shown) == [2, 1, 0]
    # Overlap 2: ab is complete, ac wants one more, bc two; the extra on ab makes up for none.
    assert pairs.missing(pairs.unit_counts(every, shown), 2).tolist() == [0, 1, 2]
    assert pairs.missing(pairs.unit_counts(every, [*shown, ["a", "b"]]), 2).tolist() == [0, 1, 2]
    # A pair the item does not collect counts on no unit.
    star = pairs.item_units(["a", "b", "c"], pairwise=True, pair_set="reference", reference="a")
    assert star == [ab, ac]
    assert pairs.unit_of(["b", "c"], star) is None
    assert pairs.unit_counts(star, [["b", "c"], ["b", "a"]]) == [1, 0]
    # One unit (ranking, rating, gold, two responses) takes every judgment, whatever it showed.
    for one in (
        pairs.item_units(["a", "b", "c"], pairwise=False),
        pairs.item_units(["a", "b", "c"], pairwise=True, gold=True),
        pairs.item_units(["a", "b"], pairwise=True, pair_set="reference", reference="b"),
        pairs.item_units(["a"], pairwise=False),
    ):
        assert len(one) == 1
        assert pairs.unit_counts(one, [["c", "b", "a"], ["a", "b"], []]) == [3]
    assert pairs.missing([3], 3).tolist() == [0]
    assert pairs.missing([[1], [4]], 3).tolist() == [[2], [0]]  # element-wise on arrays


# --- exact overlap per unit --------------------------------------------------------------------


@pytest.mark.parametrize("order", ["complete-first", "spread"])
def test_all_pairs_of_three_responses_get_exactly_overlap_raters(desk, make, order):
    project = make.project(mode="pairwise", overlap=2, pairs="all", order_strategy=order)
    (item,) = make.items(project, [item_row(n_responses=3)])
    (slot,) = desk.rows(ItemSlots)
    assert (slot.units, slot.taken, slot.open) == (3, 0, True)
    leases, extra = _fill(desk, make, project, 6)
    assert isinstance(extra, assignment.NoWork)  # 3 pairs × 2 raters, then no more
    per_unit = _raters_per_unit(desk, item.id)
    assert {u: len(set(r)) for u, r in per_unit.items()} == {
        ("a", "b"): 2,
        ("a", "c"): 2,
        ("b", "c"): 2,
    }
    (slot,) = desk.rows(ItemSlots)
    assert (slot.units, slot.taken, slot.open) == (3, 6, False)
    with desk.app.app_context():
        (state,) = workload.item_states(session=db.session(), project=project)
    assert (state["state"], state["wanted"], state["done"]) == ("done", 6, 6)


def test_complete_first_finishes_a_pair_before_starting_the_next(desk, make):
    project = make.project(mode="pairwise", overlap=2)
    make.items(project, [item_row(n_responses=3)])
    leases, _ = _fill(desk, make, project, 6)
    units = [_unit(lease.shown_order) for lease in leases]
    assert units[0] == units[1] and units[2] == units[3] and units[4] == units[5]
    assert len(set(units)) == 3
    # Within a pair, the second rater sees the other side first.
    assert [lease.shown_order for lease in leases[:2]] == [
        leases[0].shown_order,
        leases[0].shown_order[::-1],
    ]


def test_round_robin_of_four_responses_collects_four_pairs(desk, make):
    project = make.project(mode="pairwise", overlap=2, pairs="round_robin")
    (item,) = make.items(project, [item_row(n_responses=4)])
    leases, extra = _fill(desk, make, project, 8)
    assert isinstance(extra, assignment.NoWork)
    per_unit = _raters_per_unit(desk, item.id)
    assert {u: len(set(r)) for u, r in per_unit.items()} == {
        ("a", "b"): 2,
        ("b", "c"): 2,
        ("c", "d"): 2,
        ("a", "d"): 2,
    }
    assert desk.rows(ItemSlots)[0].units == 4


def test_reference_pairs_every_response_with_the_reference(desk, make):
    project = make.project(mode="pairwise", overlap=1, pairs="reference", pair_reference="c")
    (item,) = make.items(project, [item_row(n_responses=4)])
    leases, extra = _fill(desk, make, project, 3)
    assert isinstance(extra, assignment.NoWork)
    assert sorted(_raters_per_unit(desk, item.id)) == [("a", "c"), ("b", "c"), ("c", "d")]


def test_ranking_and_two_response_items_keep_one_unit(desk, make):
    ranking = make.project(mode="ranking", overlap=2)
    pairwise = make.project(mode="pairwise", overlap=2)
    make.items(ranking, [item_row(n_responses=4)])
    make.items(pairwise, [item_row(n_responses=2)])
    assert [s.units for s in desk.rows(ItemSlots)] == [1, 1]


def test_a_freed_slot_goes_back_to_the_pair_that_lost_it(desk, make):
    project = make.project(mode="pairwise", overlap=2)
    (item,) = make.items(project, [item_row(n_responses=3)])
    raters = [make.user() for _ in range(8)]
    leases = [desk.next(project, r) for r in raters[:6]]  # every slot leased, none submitted
    assert isinstance(desk.next(project, raters[6]), assignment.NoWork)
    desk.skip(leases[2], raters[2])
    again = desk.next(project, raters[6])
    assert _unit(again.shown_order) == _unit(leases[2].shown_order)
    desk.expire(leases[4].id)
    again2 = desk.next(project, raters[7])  # sweeps the expired lease and takes its slot
    assert _unit(again2.shown_order) == _unit(leases[4].shown_order)
    for lease, rater in [
        *zip(leases, raters[:6], strict=True),
        (again, raters[6]),
        (again2, raters[7]),
    ]:
        if lease.id not in (leases[2].id, leases[4].id):
            desk.submit(lease, rater)
    per_unit = _raters_per_unit(desk, item.id)
    assert sorted(len(set(r)) for r in per_unit.values()) == [2, 2, 2]


def test_late_work_on_a_pair_refilled_meanwhile_is_refused(desk, make):
    project = make.project(mode="pairwise", overlap=2)
    (item,) = make.items(project, [item_row(n_responses=3)])
    r1, r2, r3 = (make.user() for _ in range(3))
    late = desk.next(project, r1)
    desk.submit(desk.next(project, r2), r2)  # the same pair (complete-first)
    desk.expire(late.id)
    refill = desk.next(project, r3)
    assert _unit(refill.shown_order) == _unit(late.shown_order)
    # The item has 3 free slots, but none on this pair: the late judgment would be a third.
    with pytest.raises(Conflict, match="another rater took this item"):
        desk.submit(late, r1)
    desk.submit(refill, r3)
    assert _raters_per_unit(desk, item.id) == {_unit(late.shown_order): [r2.id, r3.id]}
    (slot,) = desk.rows(ItemSlots)
    assert (slot.taken, slot.open) == (2, True)


# --- the setting: validation, import ------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            {"pairs": "reference"},
            "pair_reference",
            "name the response every other is compared with (its id in each item)",
        ),
        ({"pair_reference": "a"}, "pair_reference", "only with pairs 'reference'"),
        ({"mode": "ranking", "pairs": "round_robin"}, "pairs", "only pairwise projects choose"),
        ({"pairs": "some"}, "pairs", "Must be one of: all, round_robin, reference."),
    ],
)
def test_bad_pair_settings_are_refused(app, client, admin_token, settings, field, message):
    r = client.post(
        "/api/v1/projects", json={"slug": "p", "name": "P", **settings}, headers=admin_token
    )
    assert r.status_code == 422
    body = r.get_json()
    assert body["status"] == 422 and body["ok"] is False
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["message"].startswith(message)
    with app.app_context():
        assert db.session().exec(select(Project)).all() == []


def test_reference_project_shows_its_setting_and_refuses_items_without_it(app, client, admin_token):
    r = client.post(
        "/api/v1/projects",
        json={"slug": "ref", "name": "Ref", "pairs": "reference", "pair_reference": "base"},
        headers=admin_token,
    )
    assert r.status_code == 201
    assert (r.get_json()["pairs"], r.get_json()["pair_reference"]) == ("reference", "base")
    good = item_row("q1", n_responses=3)
    good["responses"][1]["id"] = "base"
    r = client.post("/api/v1/projects/ref/items", json=[good, item_row("q2")], headers=admin_token)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "line": 2,
            "field": "responses",
            "message": "no response 'base': the project compares every response with it",
            "id": "q2",
        }
    ]
    r = client.post("/api/v1/projects/ref/items", json=[good], headers=admin_token)
    assert r.status_code == 201
    with app.app_context():
        assert [s.units for s in db.session().exec(select(ItemSlots))] == [2]


def test_an_update_that_adds_responses_adds_units(desk, make):
    project = make.project(mode="pairwise", overlap=1)
    make.items(project, [item_row("q1", n_responses=2)])
    with desk.app.app_context():
        from service.items import importing

        importing.import_items(
            engine=db.engine(),
            project=project,
            rows=[(1, item_row("q1", n_responses=4))],
            update=True,
        )
    (slot,) = desk.rows(ItemSlots)
    assert (slot.units, slot.open) == (6, True)


# --- agreement per pair unit -------------------------------------------------------------------

# Two items of three responses, overlap 2: six pair units, each judged twice. Per unit,
# "+" prefers the lower response id, "-" the higher, "0" is a tie.
UNIT_LABELS = {
    ("q1", ("a", "b")): "++",
    ("q1", ("a", "c")): "++",
    ("q1", ("b", "c")): "--",
    ("q2", ("a", "b")): "--",
    ("q2", ("a", "c")): "+-",
    ("q2", ("b", "c")): "00",
}


def test_agreement_is_computed_per_pair_unit(app, client, admin_token, make):
    project = make.project(slug="units", mode="pairwise", scale="ternary", overlap=2)
    make.items(project, [item_row("q1", n_responses=3), item_row("q2", n_responses=3)])
    seen: Counter = Counter()

    def decide(ext, shown):
        unit = (ext, _unit(shown))
        label = UNIT_LABELS[unit][seen[unit]]
        seen[unit] += 1
        return {"+": unit[1][0], "-": unit[1][1], "0": "tie"}[label], {}

    for _ in range(6):
        judge_all(app, project, make.user(), decide)
    assert seen == dict.fromkeys(UNIT_LABELS, 2)  # every unit, exactly twice
    r = client.get("/api/v1/projects/units/stats/agreement", headers=admin_token)
    stats = {s["key"]: s["stat"] for s in r.get_json()["overall"]}
    # By hand (Fleiss 1971; Krippendorff 2011): 12 ratings on 6 units, 5 agreeing;
    # categories + 5, - 5, 0 2. P-bar = 5/6, P_e = (25 + 25 + 4) / 144 = 3/8, so
    # kappa = (5/6 - 3/8) / (5/8) = 11/15. Coincidences: 2 off-diagonal of n = 12, and
    # D_e = 144 - 54 = 90, so alpha = 1 - 11 * 2 / 90 = 34/45.
    assert stats["percent_agreement"]["value"] == pytest.approx(float(Fraction(5, 6)))
    assert stats["fleiss_kappa"]["value"] == pytest.approx(float(Fraction(11, 15)))
    assert stats["alpha_nominal"]["value"] == pytest.approx(float(Fraction(34, 45)))
    assert {s["n"] for s in stats.values()} == {6}  # units, not the 2 items


# --- migration --------------------------------------------------------------------------------


def test_upgrade_gives_existing_items_their_units(database_url):
    engine = db.make_engine(database_url)
    try:
        db.downgrade(engine, "assign2")
        with Session(engine) as s:
            pw = insert_as_of(s, Project(slug="pw", name="PW", overlap=2, mode="pairwise"))
            rk = insert_as_of(s, Project(slug="rk", name="RK", overlap=2, mode="ranking"))
            rater, other = User(username="r1"), User(username="r2")
            s.add_all([rater, other])
            s.flush()
            items = []
            for project, ext, n in ((pw, "three", 3), (pw, "two", 2), (rk, "four", 4)):
                item = insert_as_of(
                    s, Item(project_id=project.id, external_id=ext, content_hash=ext)
                )
                for k in range(n):
                    response = Response(
                        item_id=item.id, external_id=f"r{k}", position=k, content="x"
                    )
                    insert_as_of(s, response)
                items.append(item)
            s.flush()
            for item in items:  # two raters on every item: each was "done" at overlap 2
                s.add_all(
                    Assignment(
                        project_id=item.project_id,
                        item_id=item.id,
                        rater_id=r.id,
                        status="submitted",
                        shown_order=["r0", "r1"],
                        expires_at=utcnow(),
                    )
                    for r in (rater, other)
                )
            # As the service counted them then: 2 taken of an overlap of 2, so not open.
            s.execute(sa.update(ItemSlots.__table__).values(taken=2, open=False))
            s.commit()
        db.upgrade(engine)
        with Session(engine) as s:
            rows = s.execute(
                sa.select(ItemSlots.units, ItemSlots.taken, ItemSlots.open).order_by(
                    ItemSlots.item_id
                )
            ).all()
            assert [tuple(r) for r in rows] == [(3, 2, True), (1, 2, False), (1, 2, False)]
            assert s.execute(sa.select(Project.pairs).order_by(Project.id)).scalars().all() == [
                "all",
                "all",
            ]
            # The item trigger keeps the capacity: unflagging recomputes open with units.
            s.execute(sa.update(Item).where(Item.external_id == "three").values(flagged=True))
            s.execute(sa.update(Item).where(Item.external_id == "three").values(flagged=False))
            s.commit()
            assert (
                s.execute(sa.select(ItemSlots.open).order_by(ItemSlots.item_id)).scalars().all()[0]
            )
        db.downgrade(engine, "assign2")
        db.upgrade(engine)
    finally:
        engine.dispose()


def test_progress_and_cost_count_judgments_per_pair_unit(client, admin_token, make):
    project = make.project(
        slug="star", mode="pairwise", overlap=1, pairs="reference", pair_reference="a"
    )
    (item,) = make.items(project, [item_row("q1", n_responses=3)])  # units ab and ac
    for shown in (["a", "b"], ["b", "c"]):  # as many as its capacity, but bc is no unit
        make.judgment(item, make.user(), shown=shown, preferred=shown[0])
    progress = client.get("/api/v1/projects/star/stats/progress", headers=admin_token).get_json()
    assert progress["items"] == {
        "total": 1,
        "complete": 0,
        "in_progress": 1,
        "untouched": 0,
        "gold": 0,
    }
    assert progress["pace"]["remaining_judgments"] == 1  # ac
    cost = client.get("/api/v1/projects/star/stats/cost", headers=admin_token).get_json()
    assert (cost["finished_items"], cost["remaining_judgments"]) == (0, 1)


def test_item_state_is_done_once_every_pair_unit_is(app, make):
    project = make.project(mode="pairwise", overlap=1, pairs="reference", pair_reference="a")
    (item,) = make.items(project, [item_row("q1", n_responses=3)])  # units ab and ac
    raters = [make.user() for _ in range(2)]
    with app.app_context(), db.write_session() as s:
        # As many submitted leases as the item wants, but bc is no unit (as in data from
        # before pair units): ac still wants its rater.
        for rater, shown in zip(raters, (["a", "b"], ["b", "c"]), strict=True):
            s.add(
                Assignment(
                    project_id=project.id,
                    item_id=item.id,
                    rater_id=rater.id,
                    status="submitted",
                    shown_order=shown,
                    expires_at=utcnow(),
                    finished_at=utcnow(),
                )
            )
            slots.change(session=s, item_id=item.id, taken=1)
    with app.app_context():
        (state,) = workload.item_states(session=db.session(), project=project)
    assert (state["state"], state["wanted"], state["done"]) == ("wanted", 2, 2)


def test_progress_counts_an_item_complete_once_every_pair_is(desk, client, admin_token, make):
    project = make.project(slug="prog", mode="pairwise", overlap=1)
    make.items(project, [item_row("q1", n_responses=3, priority=5), item_row("q2")])
    raters = [make.user() for _ in range(3)]

    def report(name):
        r = client.get(f"/api/v1/projects/prog/stats/{name}", headers=admin_token)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    for rater in raters[:2]:  # two of q1's three pairs (it goes first)
        desk.submit(desk.next(project, rater), rater)
    progress = report("progress")
    assert progress["items"] == {
        "total": 2,
        "complete": 0,
        "in_progress": 1,
        "untouched": 1,
        "gold": 0,
    }
    assert progress["pace"]["remaining_judgments"] == 2  # q1's last pair and q2's one
    assert report("cost")["remaining_judgments"] == 2
    desk.submit(desk.next(project, raters[2]), raters[2])
    assert report("progress")["items"]["complete"] == 1
    assert report("cost")["finished_items"] == 1
