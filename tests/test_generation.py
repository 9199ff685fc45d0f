"""Generation sources against a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.models import Generation, Item, Judgment, Response, Source
from tests.factories import item_row
from tests.pullkit import FAST, ChatServer, add_source, jsonl, pull_now

PROMPTS = [
    {"id": "q1", "prompt": "What is 2+2?", "tags": ["math"]},
    {"id": "q2", "messages": [{"role": "user", "content": "Name a prime."}]},
]


@pytest.fixture
def chat():
    with ChatServer() as server:
        yield server


@pytest.fixture
def prompt_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl(PROMPTS))
    return path


def _generator(chat, name, **extra):
    return {"name": name, "url": chat.v1, "model": f"m-{name}", **extra}


def _source(app, make, chat, prompt_file, generators=("a", "b"), **config):
    make.project(slug="gen-p")
    gens = [g if isinstance(g, dict) else _generator(chat, g) for g in generators]
    return add_source(
        app,
        name="candidates",
        project="gen-p",
        kind="generation",
        config={"prompts": str(prompt_file), "generators": gens, **FAST, **config},
    )


def _items(app):
    with Session(db.engine_of(app)) as s:
        items = s.exec(select(Item).order_by(Item.external_id)).all()
        return {
            i.external_id: s.exec(
                select(Response).where(Response.item_id == i.id).order_by(Response.position)
            ).all()
            for i in items
        }


def _generations(app, status=None):
    with Session(db.engine_of(app)) as s:
        query = select(Generation).order_by(Generation.prompt_id, Generation.generator)
        if status:
            query = query.where(Generation.status == status)
        return s.exec(query).all()


def test_every_prompt_gets_a_reply_from_every_generator(app, make, chat, prompt_file, monkeypatch):
    monkeypatch.setenv("GEN_KEY_A", "sk-test-aaaa")
    gens = [_generator(chat, "a", api_key_env="GEN_KEY_A", params={"temperature": 0.7}), "b"]
    source = _source(app, make, chat, prompt_file, generators=gens, system="Be brief.")
    run = pull_now(app, "candidates")
    assert run.status == "succeeded" and run.error == "" and run.errors == []
    assert {k: run.summary[k] for k in ("prompts", "attempted", "ok", "failed", "created")} == {
        "prompts": 2,
        "attempted": 4,
        "ok": 4,
        "failed": 0,
        "created": 2,
    }
    items = _items(app)
    assert sorted(items) == ["q1", "q2"]
    a, b = items["q1"]
    assert (a.external_id, a.model, a.content) == ("a", "m-a", "m-a answers: What is 2+2?")
    assert (b.external_id, b.model) == ("b", "m-b")
    meta = dict(a.meta)
    assert isinstance(meta.pop("latency_ms"), int) and meta.pop("generated_at")
    assert meta == {
        "endpoint": "a",
        "model": "m-a",
        "served_model": "m-a-served",
        "params": {"temperature": 0.7},
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
        "finish_reason": "stop",
        "attempts": 1,
        "sample": 1,
    }
    sent = [
        r
        for r in chat.requests
        if r["model"] == "m-a" and r["body"]["messages"][-1]["content"] == "What is 2+2?"
    ]
    assert sent[0]["body"] == {
        "model": "m-a",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "temperature": 0.7,
    }
    assert sent[0]["headers"]["Authorization"] == "Bearer sk-test-aaaa"
    assert all("Authorization" not in r["headers"] for r in chat.requests if r["model"] == "m-b")
    # The key itself is stored nowhere: not in the config, the responses or the run.
    with db.engine_of(app).connect() as conn:
        for table in ("source", "response", "generation", "pull_run", "item"):
            dump = json.dumps(
                [list(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))], default=str
            )
            assert "sk-test-aaaa" not in dump, table
    with Session(db.engine_of(app)) as s:
        assert s.get(Source, source.id).config["generators"][0]["api_key_env"] == "GEN_KEY_A"
        item = s.exec(select(Item).where(Item.external_id == "q1")).one()
        assert item.tags == ["math"]
        assert item.meta == {"generation": {"source": "candidates", "system": "Be brief."}}


def test_a_second_pull_asks_for_nothing_already_answered(app, make, chat, prompt_file):
    _source(app, make, chat, prompt_file)
    pull_now(app, "candidates")
    second = pull_now(app, "candidates")
    assert second.status == "unchanged" and second.summary["attempted"] == 0
    assert len(chat.requests) == 4


def test_rate_limit_is_retried_after_the_time_asked(app, make, chat, prompt_file):
    chat.then("m-a", ("status", 429, {"Retry-After": "1"}, b'{"error": "slow down"}'))
    _source(app, make, chat, prompt_file, concurrency=1, max_backoff=2)
    run = pull_now(app, "candidates")
    assert run.status == "succeeded" and run.summary["ok"] == 4
    first, second = [r for r in chat.requests if r["model"] == "m-a"][:2]
    assert first["body"] == second["body"]
    assert second["at"] - first["at"] >= 1.0
    [retried] = [g for g in _generations(app) if g.generator == "a" and g.attempts == 2]
    assert retried.meta["attempts"] == 2


def test_failed_generations_are_listed_and_retry_fills_them_in(app, make, chat, prompt_file):
    # Generator c fails on every try for q1; q1 still has two good replies (a, b).
    chat.then("m-c", *[("status", 500, {}, b"boom")] * 3)
    _source(app, make, chat, prompt_file, generators=("a", "b", "c"), concurrency=1)
    run = pull_now(app, "candidates")
    assert run.status == "partial"
    assert run.summary["failed"] == 1 and run.summary["created"] == 2
    [failure] = run.errors
    assert {k: failure[k] for k in ("prompt_id", "generator", "sample")} == {
        "prompt_id": "q1",
        "generator": "c",
        "sample": 1,
    }
    assert failure["message"].startswith("HTTP 500 Internal Server Error from 127.0.0.1")
    assert failure["message"].endswith("boom (gave up after 3 attempts)")
    assert [r.external_id for r in _items(app)["q1"]] == ["a", "b"]
    [failed] = _generations(app, "failed")
    assert (failed.prompt_id, failed.generator, failed.attempts) == ("q1", "c", 3)

    # A plain pull does not hammer the broken endpoint again; a retry does.
    assert pull_now(app, "candidates").summary["attempted"] == 0
    retry = pull_now(app, "candidates", mode="retry")
    assert retry.status == "succeeded"
    assert (retry.summary["attempted"], retry.summary["updated"]) == (1, 1)
    assert [r.external_id for r in _items(app)["q1"]] == ["a", "b", "c"]
    assert _generations(app, "failed") == []


def test_an_item_is_ratable_only_with_two_good_replies(app, make, chat, prompt_file):
    chat.then("m-b", *[("status", 503)] * 3)
    _source(app, make, chat, prompt_file, concurrency=1)
    run = pull_now(app, "candidates")
    assert run.status == "partial"
    assert (run.summary["ready"], run.summary["waiting"], run.summary["created"]) == (1, 1, 1)
    assert "1 prompt(s) wait for a second good response" in run.error
    assert list(_items(app)) == ["q2"]
    retry = pull_now(app, "candidates", mode="retry")
    assert retry.status == "succeeded" and retry.summary["created"] == 1
    assert sorted(_items(app)) == ["q1", "q2"]


def test_all_generations_failing_fails_the_run(app, make, chat, prompt_file):
    _source(app, make, chat, prompt_file, generators=[
        {"name": "a", "url": chat.url + "/wrong", "model": "x"},
        {"name": "b", "url": chat.url + "/wrong", "model": "y"},
    ])  # fmt: skip
    run = pull_now(app, "candidates")
    assert run.status == "failed" and run.summary["ok"] == 0
    assert run.errors[0]["message"].startswith("HTTP 404 Not Found")
    assert _items(app) == {}


@pytest.mark.parametrize(
    ("behaviour", "message", "tries"),
    [
        (("hang", 5), "timed out after 0.3 s waiting for data", 2),
        (("raw", b"<html>upstream error</html>"), "malformed response: not JSON", 1),
        (("raw", b'{"choices": []}'), "malformed response: no choices", 1),
        (
            ("raw", b'{"error": {"message": "model not loaded"}}'),
            "the endpoint answered with an error: model not loaded",
            1,
        ),
        ("cut", "closed the connection before the full response arrived", 2),
        (
            ("finish", "length"),
            "the reply was cut off at the token limit (finish_reason=length)",
            1,
        ),
        (("content", "   "), "malformed response: empty reply content", 1),
    ],
)
def test_bad_answers_fail_with_a_clear_error(
    app, make, chat, prompt_file, behaviour, message, tries
):
    # Concurrency 1 keeps the order: q1's tries at m-b meet the script, q2's the default.
    chat.then("m-b", *[behaviour] * tries)
    _source(app, make, chat, prompt_file, concurrency=1, timeout=0.3, retries=1)
    run = pull_now(app, "candidates")
    failures = [e for e in run.errors if e["generator"] == "b" and e["prompt_id"] == "q1"]
    assert len(failures) == 1, run.errors
    assert message in failures[0]["message"]
    assert len([r for r in chat.requests if r["model"] == "m-b"]) == tries + 1
    assert "q1" not in _items(app)


def test_truncated_replies_can_be_allowed(app, make, chat, prompt_file):
    chat.then("m-b", ("finish", "length"))
    _source(app, make, chat, prompt_file, concurrency=1, allow_truncated=True)
    run = pull_now(app, "candidates")
    assert run.status == "succeeded"
    [b] = [r for r in _items(app)["q1"] if r.external_id == "b"]
    assert b.meta["finish_reason"] == "length"


def test_n_samples_from_one_model(app, make, chat, prompt_file):
    _source(app, make, chat, prompt_file, generators=[_generator(chat, "solo", n=3)])
    run = pull_now(app, "candidates")
    assert run.status == "succeeded"
    assert [r.external_id for r in _items(app)["q1"]] == ["solo-1", "solo-2", "solo-3"]
    assert [r.meta["sample"] for r in _items(app)["q1"]] == [1, 2, 3]


def test_concurrency_is_bounded(app, make, chat, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_bytes(jsonl([{"id": f"p{i}", "prompt": f"Q{i}"} for i in range(6)]))
    for model in ("m-a", "m-b"):
        # Long enough that two calls overlap even on a loaded machine.
        chat.then(model, *[("delay", 0.2)] * 6)
    _source(app, make, chat, path, concurrency=2)
    assert pull_now(app, "candidates").summary["ok"] == 12
    assert chat.max_in_flight == 2


def test_a_bad_prompt_set_generates_nothing(app, make, chat, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        jsonl([{"id": "ok", "prompt": "fine"}, {"id": "x", "prompt": "a", "messages": []}])
        + b"[1]\n"
    )
    _source(app, make, chat, path)
    run = pull_now(app, "candidates")
    assert run.status == "failed"
    assert run.error == f"2 problem(s) in the prompt set {path}; nothing was generated."
    assert run.errors == [
        {"line": 2, "field": "messages", "message": "Shorter than minimum length 1."},
        {"line": 3, "field": "", "message": "expected a JSON object, got list"},
    ]  # fmt: skip
    assert chat.requests == [] and _generations(app) == []


def test_an_unset_key_variable_fails_before_any_call(app, make, chat, prompt_file, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    gens = [_generator(chat, "a", api_key_env="NO_SUCH_KEY"), "b"]
    _source(app, make, chat, prompt_file, generators=gens)
    run = pull_now(app, "candidates")
    assert run.status == "failed" and "environment variable NO_SUCH_KEY is not set" in run.error
    assert chat.requests == []


def test_a_changed_prompt_is_asked_again(app, make, chat, prompt_file):
    _source(app, make, chat, prompt_file)
    pull_now(app, "candidates")
    prompt_file.write_bytes(jsonl([{"id": "q1", "prompt": "What is 3+3?"}, PROMPTS[1]]))
    run = pull_now(app, "candidates")
    assert (run.summary["attempted"], run.summary["updated"]) == (2, 1)
    assert _items(app)["q1"][0].content == "m-a answers: What is 3+3?"


def test_judged_and_foreign_items_are_never_changed(app, make, chat, prompt_file):
    project = make.project(slug="gen-p")
    [foreign] = make.items(project, [item_row("q2")])
    chat.then("m-c", *[("status", 500)] * 6)
    gens = [_generator(chat, n) for n in ("a", "b", "c")]
    add_source(app, name="candidates", project="gen-p", kind="generation",
               config={"prompts": str(prompt_file), "generators": gens, "concurrency": 1, **FAST})  # fmt: skip
    first = pull_now(app, "candidates")
    assert first.summary["created"] == 1  # q1; q2's id belongs to the file import
    rater = make.user(role="rater")
    with db.write_session(db.engine_of(app)) as s:
        q1 = s.exec(select(Item).where(Item.external_id == "q1")).one()
        s.add(
            Judgment(
                client_id="j1",
                project_id=project.id,
                item_id=q1.id,
                rater_id=rater.id,
                mode="pairwise",
                shown_sha256="0" * 64,
            )
        )
    retry = pull_now(app, "candidates", mode="retry")
    assert retry.status == "partial" and retry.summary["updated"] == 0
    notes = {e["prompt_id"]: e["message"] for e in retry.errors}
    assert notes == {
        "q1": "the item already has judgments; its new replies are kept, unpublished",
        "q2": "the id is taken by an item from another import; not published",
    }
    items = _items(app)
    assert [r.external_id for r in items["q1"]] == ["a", "b"]
    assert [r.content for r in items["q2"]] == [r.content for r in _items_of(app, foreign.id)]


def _items_of(app, item_id):
    with Session(db.engine_of(app)) as s:
        return s.exec(select(Response).where(Response.item_id == item_id)).all()


def test_prompt_set_over_http(app, make, chat):
    from tests.pullkit import FileServer

    with FileServer() as files:
        files.files["/prompts.jsonl"] = jsonl(PROMPTS)
        make.project(slug="gen-p")
        add_source(app, name="candidates", project="gen-p", kind="generation", config={
            "prompts": files.url + "/prompts.jsonl",
            "generators": [_generator(chat, "a"), _generator(chat, "b")], **FAST,
        })  # fmt: skip
        run = pull_now(app, "candidates")
    assert run.status == "succeeded" and run.summary["created"] == 2
