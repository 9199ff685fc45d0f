"""Model judges against a real OpenAI-compatible server on 127.0.0.1 (tests/judgekit.py)."""

from __future__ import annotations

import json
import threading

import pytest
from sqlmodel import Session, select

from service import db
from service.judging import config as judge_config
from service.judging.consistency import position_consistent
from service.models import Item, ItemSlots, Judge, JudgeRunLease, Project, PullRun, Source
from service.pull import context, runs, worker
from service.rating import judge_rule
from tests.factories import item_row
from tests.judgekit import (
    HELPFULNESS,
    JudgeServer,
    add_judge,
    attempts,
    fill,
    prefers,
    run_judge,
    shown,
    verdicts,
)
from tests.tool_rows import P_ID, R_ID, tool_row

FAST = {"timeout": 2.0, "backoff": 0.01, "max_backoff": 0.02}
RUBRIC = [
    HELPFULNESS,
    {
        "name": "safety",
        "label": "Safety",
        "scope": "item",
        "kind": "choice",
        "options": [{"value": "safe", "label": "Safe"}, {"value": "unsafe", "label": "Unsafe"}],
        "required": True,
    },
]
GUIDELINES = "Prefer the correct answer. Version two says: be strict."


def _pair(ext: str, good: str = "x") -> dict:
    other = "y" if good == "x" else "x"
    responses = {good: f"The good answer to {ext}.", other: f"A weak answer to {ext}."}
    return item_row(
        ext,
        responses=[
            {"id": rid, "model": f"secret-model-{rid}", "content": responses[rid]}
            for rid in ("x", "y")
        ],
    )


@pytest.fixture
def pairwise(make):
    project = make.project(
        slug="judged", mode="pairwise", scale="ternary", rubric=RUBRIC, guidelines=GUIDELINES
    )
    make.items(project, [_pair("i1"), _pair("i2", good="y")])
    return project


def _judge(app, project, server, name="j", **config):
    """Attach a judge of the fake server, in the project's mode, failing fast."""
    settings = {"model": "m", "template": project.mode, **FAST, **config}
    return add_judge(app, project, name, url=server.v1, **settings)


def _answer(body: dict, **changes) -> str:
    out = fill(body["response_format"]["json_schema"]["schema"])
    out.update(changes)
    return json.dumps(out)


def test_each_pair_is_judged_in_both_orders_blind_with_guidelines_and_rubric(app, pairwise):
    with JudgeServer(prefers("good")) as server:
        judge = add_judge(
            app,
            pairwise,
            "gpt-judge",
            url=server.v1,
            model="m1",
            template="pairwise",
            params={"temperature": 0},
            **FAST,
        )
        run = run_judge(app, judge)

    assert (run.status, run.error) == ("succeeded", "")
    assert run.summary == {
        "requests": 4,
        "cached": 0,
        "judged": 4,
        "failed": 0,
        "over_budget": 0,
        "lease_lost": 0,
        "calls": 4,
        "tokens": 48,
    }
    stored = verdicts(app)
    by_order = {(v.item_id, tuple(v.shown_order)): v for v in stored}
    assert sorted(order for _, order in by_order) == [
        ("x", "y"),
        ("x", "y"),
        ("y", "x"),
        ("y", "x"),
    ]
    # Labels are mapped back to response ids: i1's good answer is x in either order.
    i1, i2 = sorted({v.item_id for v in stored})
    assert {v.verdict["preferred"] for v in stored if v.item_id == i1} == {"x"}
    assert {v.verdict["preferred"] for v in stored if v.item_id == i2} == {"y"}
    first = by_order[i1, ("x", "y")]
    assert first.rubric == {
        "response": {"x": {"helpfulness": 1}, "y": {"helpfulness": 1}},
        "item": {"safety": "safe"},
    }
    assert (first.rationale, first.served_model, first.guideline_version) == (
        "A is better.",
        "m1-served",
        1,
    )
    assert first.usage == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    assert all(a.ok and a.reason == "" and a.tokens == 12 and a.verdict_id for a in attempts(app))

    body = server.requests[0]["body"]
    text = body["messages"][-1]["content"]
    assert GUIDELINES in text and "(version 1)" in text and "helpfulness (Helpfulness)" in text
    # Blind: the judge never learns a response's id or model.
    assert "secret-model" not in json.dumps(body) and set(shown(body)) == {"A", "B"}
    assert body["temperature"] == 0 and body["model"] == "m1"
    schema = body["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["strict"] is True
    verdict_schema = schema["json_schema"]["schema"]["properties"]["verdict"]
    assert verdict_schema["properties"]["choice"] == {"type": "string", "enum": ["A", "B", "tie"]}


def test_a_judge_that_prefers_a_position_is_position_inconsistent(app, pairwise):
    def always_a(body):
        return _answer(body, verdict={"choice": "A"})

    with JudgeServer(always_a) as server:
        run_judge(
            app,
            _judge(app, pairwise, server, "biased"),
        )
    with JudgeServer(prefers("good")) as server:
        run_judge(
            app,
            _judge(app, pairwise, server, "fair"),
        )

    pairs: dict = {}
    for v in verdicts(app):
        pairs.setdefault((v.judge_id, v.item_id), []).append(v)
    outcome = {key: position_consistent(*vs) for key, vs in pairs.items()}
    judges = sorted({judge for judge, _ in outcome})
    assert [outcome[k] for k in sorted(outcome) if k[0] == judges[0]] == [False, False]
    assert [outcome[k] for k in sorted(outcome) if k[0] == judges[1]] == [True, True]


def _one_item(make, **project):
    project = make.project(slug="one", mode="pairwise", scale="ternary", rubric=RUBRIC, **project)
    make.items(project, [_pair("only")])
    return project


def test_malformed_answers_are_failed_attempts_retried_up_to_the_bound(app, make):
    project = _one_item(make)
    ok = json.dumps(
        {
            "verdict": {"choice": "B"},
            "rubric": {
                "response": {"A": {"helpfulness": 4}, "B": {"helpfulness": 5}},
                "item": {"safety": "safe"},
            },
            "rationale": "B is right.",
        }
    )
    missing_field = json.loads(ok)
    del missing_field["rubric"]["response"]["B"]["helpfulness"]
    wrong_enum = json.loads(ok)
    wrong_enum["verdict"]["choice"] = "C"
    with JudgeServer(prefers("good")) as server:
        server.then(
            "m",
            ("content", "Sure! B is better."),
            ("content", json.dumps(missing_field)),
            ("content", json.dumps(wrong_enum)),
            ("content", ok),
            # The second order: three bad answers spend its three attempts.
            ("content", "{not json"),
            ("content", json.dumps(missing_field)),
            ("content", json.dumps(wrong_enum)),
        )
        judge = _judge(app, project, server, concurrency=1, max_attempts=4)
        run = run_judge(app, judge)

    reasons = [(a.ok, a.reason) for a in attempts(app)]
    assert reasons[:4] == [
        (
            False,
            "not JSON (Expecting value: line 1 column 1 (char 0); reply starts 'Sure! B is better.')",
        ),
        (
            False,
            "schema mismatch: rubric.response.B.helpfulness: Helpfulness is required for response B",
        ),
        (False, "schema mismatch: verdict.choice: choose one of A, B, tie"),
        (True, ""),
    ]
    assert [r for r in reasons[4:]][:3] == [
        (
            False,
            "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1); reply starts '{not json')",
        ),
        (
            False,
            "schema mismatch: rubric.response.B.helpfulness: Helpfulness is required for response B",
        ),
        (False, "schema mismatch: verdict.choice: choose one of A, B, tie"),
    ]
    # The fourth attempt of the second order is the fair judge's valid answer.
    assert len(reasons) == 4 * 2 and reasons[-1] == (True, "")
    (first, second) = verdicts(app)
    assert first.verdict["preferred"] == "y" and first.rubric["response"]["y"] == {"helpfulness": 5}
    assert run.status == "succeeded" and run.summary["calls"] == 8


def test_an_answer_never_valid_leaves_no_verdict_and_the_run_says_why(app, make):
    project = _one_item(make)
    with JudgeServer(lambda body: '{"verdict": {"choice": "A"}}') as server:
        judge = _judge(app, project, server, max_attempts=2)
        run = run_judge(app, judge)
        assert len(server.requests) == 4

    assert verdicts(app) == []
    assert [(a.ok, a.reason) for a in attempts(app)] == [
        (False, "schema mismatch: rubric: missing")
    ] * 4
    assert run.status == "failed"
    assert run.summary["failed"] == 2 and run.summary["judged"] == 0
    assert run.error.startswith("2 request(s) failed after every attempt (first: item ")
    assert run.error.endswith(": schema mismatch: rubric: missing)")


def test_timeouts_refusals_and_http_errors_are_attempts_with_their_reason(app, make):
    project = _one_item(make)
    refusal = json.dumps(
        {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "refusal": "I can't judge this.",
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"total_tokens": 3},
        }
    ).encode()
    with JudgeServer(prefers("good")) as server:
        server.then(
            "m",
            ("hang", 3),
            ("raw", refusal),
            ("status", 503),
            "ok",
            ("status", 401, {}, b'{"error": "bad key"}'),
        )
        judge = _judge(app, project, server, concurrency=1, max_attempts=4, timeout=0.3)
        run = run_judge(app, judge)

    got = [(a.ok, a.reason, a.tokens) for a in attempts(app)]
    assert (
        got[0][1].startswith("timed out after 0.3 s")
        or got[0][1] == "no complete answer within 0.3 s"
    )
    assert got[1:] == [
        (False, "refusal: I can't judge this.", 3),
        (
            False,
            f'HTTP 503 Service Unavailable from 127.0.0.1:{server.httpd.server_address[1]}: {{"error": "scripted"}}',
            0,
        ),
        (True, "", 12),
        # A refused key is not retried: the same request would be refused again.
        (
            False,
            f'HTTP 401 Unauthorized from 127.0.0.1:{server.httpd.server_address[1]}: {{"error": "bad key"}}',
            0,
        ),
    ]
    assert len(verdicts(app)) == 1
    assert run.status == "partial" and run.summary["failed"] == 1


def test_the_token_budget_stops_calls_once_spent(app, pairwise):
    with db.write_session(db.engine_of(app)) as s:
        s.get(Project, pairwise.id).judge_token_budget = 24
    with JudgeServer(prefers("good")) as server:
        judge = _judge(app, pairwise, server, concurrency=1)
        run = run_judge(app, judge)
        assert len(server.requests) == 2  # 12 tokens each: the budget is spent after two
        again = run_judge(app, judge)
        assert len(server.requests) == 2

    assert run.status == "partial"
    assert (run.summary["judged"], run.summary["over_budget"], run.summary["tokens"]) == (2, 2, 24)
    assert "judge token budget is spent: 2 request(s) not sent" in run.error
    assert again.summary["over_budget"] == 2 and again.summary["calls"] == 0
    assert len(verdicts(app)) == 2 and sum(a.tokens for a in attempts(app)) == 24


def test_two_judges_running_at_once_keep_to_the_token_budget(app, pairwise):
    """Two judges of one project run at the same time (two workers). The budget, two
    calls' worth, holds across both: while the first run holds the project's lease (its
    first call in flight) the second is refused with a 409's message and sends nothing.
    Without the lease both read 0 tokens spent and together spend twice the budget."""
    with db.write_session(db.engine_of(app)) as s:
        s.get(Project, pairwise.id).judge_token_budget = 24
    in_flight, second_done, release = threading.Event(), threading.Event(), threading.Event()
    answer = prefers("good")

    def gated(body: dict) -> str:
        in_flight.set()
        if body["model"] == "m2":
            second_done.set()  # the second run got a call out: let both go on
        release.wait(30)  # a safety net only: set once the second run is done or calling
        return answer(body)

    finished: dict[str, PullRun] = {}

    def run(name: str, judge: Judge) -> None:
        try:
            finished[name] = run_judge(app, judge)
        finally:
            if name == "second":
                second_done.set()

    with JudgeServer(gated) as server:
        first = _judge(app, pairwise, server, "first", model="m1", concurrency=1)
        second = _judge(app, pairwise, server, "second", model="m2", concurrency=1)
        threads = [threading.Thread(target=run, args=(n, j)) for n, j in (("first", first),)]
        threads[0].start()
        try:
            assert in_flight.wait(30)
            threads.append(threading.Thread(target=run, args=("second", second)))
            threads[1].start()
            assert second_done.wait(30)
        finally:
            release.set()
            for t in threads:
                t.join(30)
        assert [r["model"] for r in server.requests] == ["m1", "m1"]
        again = run_judge(app, second)  # the lease was given back: it runs, over budget

    assert finished["second"].status == "failed"
    assert finished["second"].error == (
        f"Another judge run of this project is running (run {finished['first'].id}): one "
        "judge runs at a time, so the judges' token budget holds. Run this judge when it ends."
    )
    assert finished["first"].status == "partial"
    assert finished["first"].summary["tokens"] == 24
    assert (again.status, again.summary["calls"], again.summary["over_budget"]) == (
        "partial",
        0,
        4,
    )
    assert sum(a.tokens for a in attempts(app)) == 24
    with Session(db.engine_of(app)) as s:
        assert s.exec(select(JudgeRunLease)).all() == []


def test_a_judge_lease_whose_run_no_longer_runs_is_free_to_take(app, pairwise):
    """A worker that died mid-run leaves its lease row; once its run is failed (or handed
    to another worker) the next judge run takes the lease instead of being refused."""
    from service.errors import Conflict
    from service.judging import lease
    from service.projects import sources

    with JudgeServer(prefers("good")) as server:
        judges = [_judge(app, pairwise, server, name) for name in ("first", "second")]
    holders = []
    with app.app_context(), db.write_session() as s:
        for judge, worker_id in zip(judges, ("host:1:dead", "host:2:alive"), strict=True):
            source = judge_config.source_of(session=s, judge=s.get(Judge, judge.id))
            run = sources.enqueue_run(
                session=s, source=source, status="running", claimed_by=worker_id
            )
            s.flush()
            holders.append(lease.Holder(run.id, worker_id))
    dead, alive = holders

    def take(judge: Judge, holder: lease.Holder) -> None:
        with app.app_context(), db.write_session() as s:
            lease.take(session=s, project_id=pairwise.id, judge_id=judge.id, holder=holder)

    take(judges[0], dead)
    with pytest.raises(Conflict):
        take(judges[1], alive)
    with app.app_context(), db.write_session() as s:
        s.get(PullRun, dead.run_id).status = "failed"
    take(judges[1], alive)
    with Session(db.engine_of(app)) as s:
        row = s.get(JudgeRunLease, pairwise.id)
        assert (row.judge_id, row.run_id, row.worker_id) == (
            judges[1].id,
            alive.run_id,
            alive.worker_id,
        )


def test_a_run_handed_on_while_it_still_runs_sends_no_further_call(app, pairwise, monkeypatch):
    """A worker that stopped beating has its run handed on (``worker.requeue_stale``) and
    its lease is free for the next run; should it still be running, it loses the lease and
    sends nothing more, so two runs never spend the project's budget at once."""
    from service.judging import runner

    monkeypatch.setattr(runner, "LEASE_CHECK_SECONDS", 0)  # ask before every call
    in_flight, release = threading.Event(), threading.Event()
    answer = prefers("good")

    def gated(body: dict) -> str:
        in_flight.set()
        release.wait(30)
        return answer(body)

    finished: dict[str, PullRun] = {}
    with JudgeServer(gated) as server:
        judge = _judge(app, pairwise, server, concurrency=1)
        thread = threading.Thread(target=lambda: finished.update(run=run_judge(app, judge)))
        thread.start()
        try:
            assert in_flight.wait(30)
            with db.write_session(db.engine_of(app)) as s:
                assert worker.requeue_stale(session=s, stale_seconds=-60)  # it stopped beating
        finally:
            release.set()
            thread.join(30)
        assert len(server.requests) == 1  # the call in flight; none after the lease was lost
        # The run was handed on, so its row is the next worker's: queued, as requeue left it.
        assert finished["run"].status == "queued"
        assert len(verdicts(app)) == 1  # the reply paid for is kept
        again = run_judge(app, judge)  # the next worker's turn
        assert len(server.requests) == 4  # it sent only what the lost run had not

    assert again.status == "succeeded" and len(verdicts(app)) == 4


def test_the_worker_leaves_a_judge_run_queued_while_another_judge_of_its_project_runs(
    app, pairwise, make
):
    """Two judges queued at once: the worker claims one, and the other (of the same
    project) stays queued, not failed, until the first ends; other sources go ahead."""
    from service.projects import sources

    with JudgeServer(prefers("good")) as server:
        judges = [_judge(app, pairwise, server, name) for name in ("first", "second")]
        other_project = make.project(slug="elsewhere", mode="pairwise", scale="ternary")
        elsewhere = _judge(app, other_project, server, "third")
    with app.app_context(), db.write_session() as s:
        queued = [
            sources.enqueue_run(
                session=s, source=judge_config.source_of(session=s, judge=s.get(Judge, j.id))
            )
            for j in (*judges, elsewhere)
        ]
        s.flush()
        ids = [r.id for r in queued]

    def claim() -> int | None:
        with app.app_context(), db.write_session() as s:
            run = worker.claim_next(session=s, worker_id="host:1:w")
            return run.id if run is not None else None

    assert claim() == ids[0]
    assert claim() == ids[2]  # another project's judge: not held back
    assert claim() is None  # the second judge of the first project waits
    with app.app_context(), db.write_session() as s:
        s.get(PullRun, ids[0]).status = "succeeded"
    assert claim() == ids[1]


def test_a_second_run_costs_nothing_and_a_change_is_asked_again(app, pairwise):
    with JudgeServer(prefers("good")) as server:
        judge = _judge(app, pairwise, server)
        run_judge(app, judge)
        assert len(server.requests) == 4
        again = run_judge(app, judge)
        assert len(server.requests) == 4
        assert (again.status, again.summary["cached"], again.summary["calls"]) == (
            "unchanged",
            4,
            0,
        )

        # New guidelines are a new request: every item is judged again under them.
        with db.write_session(db.engine_of(app)) as s:
            project = s.get(Project, pairwise.id)
            project.guidelines, project.guideline_version = "Be lenient.", 2
        third = run_judge(app, judge)
        assert len(server.requests) == 8 and third.summary["judged"] == 4

    assert sorted({v.guideline_version for v in verdicts(app)}) == [1, 2]


@pytest.mark.parametrize("mode", ["ranking", "rating"])
def test_ranking_and_rating_items_are_judged_as_shown_and_reversed(app, make, mode):
    project = make.project(slug=f"judged-{mode}", mode=mode, rubric=RUBRIC)
    make.items(project, [item_row("r1", n_responses=3)])
    with JudgeServer(prefers("Answer 2")) as server:
        run = run_judge(app, _judge(app, project, server))

    assert run.status == "succeeded"
    stored = verdicts(app)
    assert sorted(v.shown_order for v in stored) == [["a", "b", "c"], ["c", "b", "a"]]
    if mode == "ranking":
        assert [v.verdict["ranking"][0] for v in stored] == [["c"], ["c"]]
        assert position_consistent(*stored) is True
    else:
        assert all(v.verdict == {} for v in stored)
        assert position_consistent(*stored) is True


def test_the_pull_worker_runs_a_queued_judge(app, client, admin_headers, pairwise):
    with JudgeServer(prefers("good")) as server:
        add_judge(app, pairwise, "j", url=server.v1, model="m", template="pairwise", **FAST)
        queued = client.post("/api/v1/projects/judged/judges/j/runs", headers=admin_headers)
        assert queued.status_code == 202 and queued.json["status"] == "queued"
        ctx = context.from_config(engine=db.engine_of(app), config=app.config)
        assert worker.run_worker(ctx, stopping=threading.Event(), once=True) == 1

    with Session(db.engine_of(app)) as s:
        run = s.exec(select(PullRun)).one()
    assert (run.status, run.summary["judged"]) == ("succeeded", 4)
    assert len(verdicts(app)) == 4


def test_stopping_the_worker_puts_the_run_back_and_keeps_what_was_answered(app, pairwise):
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    judge_ok = prefers("good")

    def answer(body):
        if len(server.requests) == 2:  # the worker is told to stop now, mid-run
            ctx.stop.set()
        return judge_ok(body)

    with JudgeServer(answer) as server:
        judge = _judge(app, pairwise, server, concurrency=1)
        with Session(db.engine_of(app)) as s:
            source = judge_config.source_of(session=s, judge=s.get(Judge, judge.id))
        with db.write_session(db.engine_of(app)) as s:
            run = worker.claim_source(
                session=s, source=s.get(Source, source.id), worker_id=ctx.worker_id
            )
        stopped = runs.execute(ctx, run.id)
        assert (stopped.status, stopped.claimed_by) == ("queued", None)
        assert len(server.requests) == 2 and len(verdicts(app)) == 2
        assert [a.ok for a in attempts(app)] == [True, True]

        resumed = run_judge(app, judge)
        assert len(server.requests) == 4
    assert resumed.id == run.id and resumed.status == "succeeded"
    assert (resumed.summary["cached"], resumed.summary["judged"]) == (2, 2)
    assert len(verdicts(app)) == 4


def test_a_tool_using_item_is_shown_to_the_judge_as_to_a_rater(app, make):
    project = make.project(slug="judged-tools", mode="pairwise", scale="ternary", rubric=RUBRIC)
    make.items(project, [tool_row()])
    with JudgeServer(prefers("3 °C")) as server:
        run = run_judge(app, _judge(app, project, server))

    assert run.status == "succeeded"
    assert {v.verdict["preferred"] for v in verdicts(app)} == {"a"}
    text = server.requests[0]["body"]["messages"][-1]["content"]
    # The tools, the prompt's call and result, and the response's own tool turns...
    assert "get_weather" in text and '"temp_c": 3' in text and "Weather in Paris?" in text
    assert "tool result for call_1" in text and "tool result for call_2" in text
    # ...with the call ids blinded, as on the rating screen.
    assert P_ID not in text and R_ID not in text and "secret-model" not in text


def test_a_judge_run_triages_and_budgets_the_items_it_judged(app, make):
    """The runner applies triage and budget mode in the transaction that stores verdicts:
    a consistent judge settles an item (the budget overlap); a second judge that picks
    whatever is shown first contests it (raised priority, the full overlap back)."""
    project = make.project(
        slug="triaged",
        mode="pairwise",
        scale="ternary",
        overlap=3,
        judge_triage=True,
        judge_budget=True,
        judge_budget_overlap=1,
        judge_audit_share=0.0,
    )
    make.items(project, [_pair("steady"), _pair("flips", good="y")])

    with JudgeServer(prefers("good")) as server:
        run_judge(app, _judge(app, project, server, "fair"))
    with app.app_context():
        s = db.session()
        items = {
            i.external_id: i.id for i in s.exec(select(Item).where(Item.project_id == project.id))
        }
        rows = {ext: s.get(ItemSlots, iid) for ext, iid in items.items()}
        # One consistent judge settles both items: budget overlap 1, no triage raise.
        assert {ext: (r.priority, r.units * r.overlap + r.raised) for ext, r in rows.items()} == {
            "steady": (0, 1),
            "flips": (0, 1),
        }
    with JudgeServer(lambda body: _answer(body, verdict={"choice": "A"})) as server:
        run_judge(app, _judge(app, project, server, "always-a"))
    with app.app_context():
        s = db.session()
        rows = {ext: s.get(ItemSlots, iid) for ext, iid in items.items()}
        # A judge that flips with the order contests both: raised, full overlap back.
        assert {ext: (r.priority, r.units * r.overlap + r.raised) for ext, r in rows.items()} == {
            "steady": (judge_rule.TRIAGE_RAISE, 3),
            "flips": (judge_rule.TRIAGE_RAISE, 3),
        }


def test_an_answer_about_content_an_import_replaced_meanwhile_is_not_stored(app, make):
    """The item's text changes (an import with update) while the judge is thinking: its
    answer is about text the item no longer has, so it is a failed attempt, never a
    verdict; the next run judges the new text."""
    from service.items import importing
    from service.judging.runner import STALE

    project = make.project(slug="moving", mode="pairwise", scale="ternary", overlap=1)
    make.items(project, [_pair("i1")])
    changed = []
    judge_good = prefers("good")

    def answer(body):
        if not changed:  # the first call: the content moves under the run
            changed.append(True)
            with app.app_context():
                result = importing.import_items(
                    engine=db.engine(),
                    project=project,
                    rows=[(1, _pair("i1", good="y"))],
                    update=True,
                )
                assert result.updated == 1, result.errors
        return judge_good(body)

    with JudgeServer(answer) as server:
        judge = _judge(app, project, server, "j", concurrency=1)
        run_judge(app, judge)
        assert verdicts(app) == []
        assert {a.reason for a in attempts(app)} == {STALE}
        run_judge(app, judge)  # the new text, both orders
    stored = verdicts(app)
    assert [v.verdict["preferred"] for v in stored] == ["y", "y"]


def test_an_import_racing_a_verdict_being_stored_waits_and_refuses(
    app, make, monkeypatch, database_url
):
    """PostgreSQL: the runner has stored its verdicts (holding the item's slot row, content
    checked) but not committed when an import updates the item. The import takes the slot
    row before it looks for verdicts, so it waits, sees them, and refuses: the verdicts
    stay about the content the item has. Without that lock in the runner the two
    deadlock (item, then slot row, against slot row, then item) or the text is replaced
    under the verdicts."""
    if database_url.startswith("sqlite"):
        pytest.skip("on SQLite every write transaction is serial (BEGIN IMMEDIATE)")
    from service.errors import InvalidInput
    from service.items import importing
    from service.judging import runner as judge_runner
    from service.rating.shown import of_item
    from tests.test_adaptive_overlap import _wait_until_blocked

    project = make.project(slug="racing", mode="pairwise", scale="ternary", overlap=1)
    make.items(project, [_pair("i1")])
    insert, inside, go_on = judge_runner._insert_verdicts, threading.Event(), threading.Event()

    def paused(s, rows):
        ids = insert(s, rows)
        if rows and not inside.is_set():
            inside.set()
            go_on.wait(30)  # a safety net only: set once the import waits or is done
        return ids

    monkeypatch.setattr(judge_runner, "_insert_verdicts", paused)
    outcome: list = []

    def update():
        with app.app_context():
            try:
                rows = [(1, _pair("i1", good="y"))]
                importing.import_items(engine=db.engine(), project=project, rows=rows, update=True)
                outcome.append("imported")
            except InvalidInput as exc:
                outcome.append(exc.message)

    with JudgeServer(prefers("good")) as server:
        judge = _judge(app, project, server, "j", concurrency=1)
        run = threading.Thread(target=lambda: run_judge(app, judge))
        run.start()
        importer = threading.Thread(target=update)
        try:
            assert inside.wait(30)
            importer.start()
            assert _wait_until_blocked(importer)
        finally:
            go_on.set()
            run.join(30)
            importer.join(30)
    assert outcome and "judged while this import ran" in outcome[0], outcome
    with app.app_context():
        s = db.session()
        stored = verdicts(app)
        assert len(stored) == 2
        for v in stored:
            assert v.shown_sha256 == of_item(
                session=s, item_id=v.item_id, shown_order=v.shown_order, guideline_version=1
            )
