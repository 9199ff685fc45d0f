"""Tool calls in conversations: import shapes, every refusal naming its field, storage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.models import Assignment, ImportBatch, Item, Judgment, Response
from tests.tool_rows import P_ID, R_ID, RESULT, WEATHER, call, tool_row


def _post(client: Any, headers: dict[str, str], rows: list[dict[str, Any]]) -> Any:
    body = "\n".join(json.dumps(r) for r in rows)
    return client.post(
        "/api/v1/projects/tools/items",
        data=body,
        content_type="application/x-ndjson",
        headers=headers,
    )


def _stored(app: Any) -> list[tuple[Item, list[Response]]]:
    with app.app_context():
        s = db.session()
        items = s.exec(select(Item).order_by(Item.id)).all()
        return [
            (
                i,
                list(
                    s.exec(
                        select(Response).where(Response.item_id == i.id).order_by(Response.position)
                    )
                ),
            )
            for i in items
        ]


@pytest.fixture
def project(make):
    return make.project(slug="tools")


STORED_PROMPT = [
    {"role": "system", "content": "You can look up the weather."},
    {"role": "user", "content": "Weather in Paris?"},
    # A tool-call turn's null content is stored as "": every message has a text.
    {"role": "assistant", "content": "", "tool_calls": [call(P_ID)]},
    {"role": "tool", "content": RESULT, "tool_call_id": P_ID},
    {"role": "user", "content": "And in Oslo?"},
]
STORED_TURNS = [
    {"role": "assistant", "content": "", "tool_calls": [call(R_ID, "Oslo")]},
    {"role": "tool", "content": '{"temp_c": 3}', "tool_call_id": R_ID},
]


def test_a_tool_using_item_is_stored_with_its_tools_and_turns(app, client, admin_headers, project):
    r = _post(client, admin_headers, [tool_row()])
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["created"], r.get_json()["error_count"]) == (1, 0)
    ((item, (a, b)),) = _stored(app)
    assert item.tools == [WEATHER]
    assert item.messages == STORED_PROMPT
    # The rater reads (and spans, rewrites and hashes use) the final text; the turns ride beside.
    assert (a.external_id, a.content, a.tool_turns) == ("a", "It is 3 °C in Oslo.", STORED_TURNS)
    assert (b.external_id, b.content, b.tool_turns) == ("b", "Probably cold.", None)
    # The same item again, given as stored (content and tool_turns), is unchanged.
    again = tool_row()
    again["responses"][0] = {
        "id": "a",
        "model": "m-tools",
        "content": "It is 3 °C in Oslo.",
        "tool_turns": STORED_TURNS,
    }
    r = _post(client, admin_headers, [again])
    assert (r.status_code, r.get_json()["unchanged"], r.get_json()["created"]) == (201, 1, 0)


def test_a_trl_pair_with_tool_turns_in_chosen(app, client, admin_headers, project):
    row = tool_row()
    answer = row["responses"][0]["messages"]
    trl = {
        "id": "p1",
        "tools": row["tools"],
        "prompt": row["messages"],
        "chosen": answer,
        "rejected": [{"role": "assistant", "content": "Probably cold."}],
    }
    implicit = {
        "id": "p2",
        "tools": row["tools"],
        "chosen": row["messages"] + answer,
        "rejected": row["messages"] + [{"role": "assistant", "content": "Probably cold."}],
    }
    r = _post(client, admin_headers, [trl, implicit])
    assert r.status_code == 201, r.get_json()
    for item, (chosen, rejected) in _stored(app):
        assert (item.messages, item.tools) == (STORED_PROMPT, [WEATHER])
        assert (chosen.content, chosen.tool_turns) == ("It is 3 °C in Oslo.", STORED_TURNS)
        assert (rejected.content, rejected.tool_turns) == ("Probably cold.", None)


def _drop_prompt_result(row: dict[str, Any]) -> None:
    del row["messages"][3]


def _drop_answer_result(row: dict[str, Any]) -> None:
    del row["responses"][0]["messages"][1]


def _result_without_call(row: dict[str, Any]) -> None:
    row["responses"][0]["messages"][1]["tool_call_id"] = "c9"


def _unknown_tool(row: dict[str, Any]) -> None:
    row["responses"][0]["messages"][0]["tool_calls"][0]["function"]["name"] = "get_time"


def _arguments_not_json(row: dict[str, Any]) -> None:
    row["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"city": Paris'


def _duplicate_ids(row: dict[str, Any]) -> None:
    row["responses"][0]["messages"][0]["tool_calls"][0]["id"] = P_ID
    row["responses"][0]["messages"][1]["tool_call_id"] = P_ID


def _duplicate_ids_in_one_turn(row: dict[str, Any]) -> None:
    row["messages"][2]["tool_calls"].append(call(P_ID, "Rome"))


def _tools_not_functions(row: dict[str, Any]) -> None:
    row["tools"] = [{"type": "function", "function": {"name": "get weather"}}]


Mutation = Callable[[dict[str, Any]], None]
BAD: dict[str, tuple[Mutation, str, str]] = {
    "a call in the prompt without its result": (
        _drop_prompt_result,
        "messages.2.tool_calls.0",
        "tool call 'call_secret-model_p1' has no tool result right after its turn",
    ),
    "a call in an answer without its result": (
        _drop_answer_result,
        "responses.0.messages",
        "a tool call without its tool result: the answer must end with the final text",
    ),
    "a tool result without a call": (
        _result_without_call,
        "responses.0.tool_turns.1.tool_call_id",
        "answers no tool call of the assistant turn before it: 'c9'",
    ),
    "a call to a tool not in tools": (
        _unknown_tool,
        "responses.0.tool_turns.0.tool_calls.0.function.name",
        "calls 'get_time', which is not in tools",
    ),
    "arguments that are not JSON": (
        _arguments_not_json,
        "messages.2.tool_calls.0.function.arguments",
        "must be a JSON object written as a string",
    ),
    "a call id used in the prompt and again in an answer": (
        _duplicate_ids,
        "responses.0.tool_turns.0.tool_calls.0.id",
        "duplicate tool call id 'call_secret-model_p1'",
    ),
    "two calls of one turn with one id": (
        _duplicate_ids_in_one_turn,
        "messages.2.tool_calls.1.id",
        "duplicate tool call id 'call_secret-model_p1'",
    ),
    "a tool that is not a function definition": (
        _tools_not_functions,
        "tools.0.function.name",
        "1-64 letters, digits, _ or -",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_tool_use_is_refused_naming_the_field(app, client, admin_headers, project, case):
    mutate, field, message = BAD[case]
    bad = tool_row("bad")
    mutate(bad)
    r = _post(client, admin_headers, [tool_row("good"), bad])
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["errors"] == [{"line": 2, "id": "bad", "field": field, "message": message}]
    with app.app_context():
        s = db.session()
        counts = [s.scalar(sa.select(sa.func.count()).select_from(t)) for t in (ImportBatch, Item)]
    assert counts == [0, 0]  # nothing stored, not even the good line


def _rater_takes_item(app, client, auth, make) -> tuple[dict[str, Any], list[str]]:
    make.items(make.project(slug="tools", overlap=1), [tool_row()])
    auth.as_role("rater")
    r = client.post("/api/v1/projects/tools/next", headers={"X-CSRF-Token": auth.csrf()})
    assert r.status_code == 200, r.get_json()
    shown = r.get_json()["assignment"]
    with app.app_context():
        lease = db.session().get(Assignment, shown["id"])
        return shown, list(lease.shown_order)


def _blind(call_id: str, city: str) -> dict[str, Any]:
    return call(call_id, city)


def test_the_rater_gets_tool_use_with_positional_call_ids(app, client, auth, make):
    shown, order = _rater_takes_item(app, client, auth, make)
    assert shown["tools"] == [WEATHER]
    assert shown["messages"] == [
        *STORED_PROMPT[:2],
        {"role": "assistant", "content": "", "tool_calls": [_blind("call_1", "Paris")]},
        {"role": "tool", "content": RESULT, "tool_call_id": "call_1"},
        STORED_PROMPT[4],
    ]
    turns = [
        {"role": "assistant", "content": "", "tool_calls": [_blind("call_2", "Oslo")]},
        {"role": "tool", "content": '{"temp_c": 3}', "tool_call_id": "call_2"},
    ]
    texts = {"a": "It is 3 °C in Oslo.", "b": "Probably cold."}
    assert shown["responses"] == [
        {"label": label, "content": texts[rid], "tool_turns": turns if rid == "a" else None}
        for label, rid in zip("AB", order, strict=True)
    ]
    assert "secret-model" not in json.dumps(shown)


def test_the_screen_shows_calls_and_results_as_escaped_blocks(app, client, auth, make):
    shown, order = _rater_takes_item(app, client, auth, make)
    html = client.get(f"/rate/assignments/{shown['id']}").get_json()["html"]
    assert "secret-model" not in html and "<script>window" not in html
    assert html.count('<details class="tool-call" open>') == 2  # the prompt's and answer a's
    assert html.count('<details class="tool-list">') == 1  # collapsed
    assert "&#34;note&#34;: &#34;&lt;script&gt;window.pwned = 1&lt;/script&gt;&#34;" in html
    assert "<code>{\n  &#34;city&#34;: &#34;Oslo&#34;\n}</code>" in html  # arguments, indented
    label = "AB"[order.index("a")]
    section = html.split(f'data-label="{label}"')[1].split("</section>")[0]
    assert '<ol class="tool-steps"' in section and "get_weather" in section


def test_the_hash_of_what_was_shown_covers_tools_and_tool_turns(app, client, auth, make):
    shown, order = _rater_takes_item(app, client, auth, make)
    r = client.post(
        f"/api/v1/assignments/{shown['id']}/judgment",
        json={"client_id": "tool-hash-1", "verdict": {"choice": "A"}},
        headers={"X-CSRF-Token": auth.csrf()},
    )
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        judgment = db.session().exec(select(Judgment)).one()
    texts = {"a": "It is 3 °C in Oslo.", "b": "Probably cold."}
    plain = {
        "guideline_version": 1,
        "messages": STORED_PROMPT,
        "prompt": None,
        "responses": [texts[rid] for rid in order],
    }
    with_tools = plain | {
        "tools": [WEATHER],
        "tool_turns": [STORED_TURNS if rid == "a" else None for rid in order],
    }
    assert judgment.shown_sha256 == _sha256(with_tools) != _sha256(plain)


def _sha256(shown: dict[str, Any]) -> str:
    canonical = json.dumps(shown, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def test_call_ids_are_blinded_when_the_item_lists_no_tools(app, client, auth, make):
    """Tool calls without a ``tools`` list (allowed) and plain answers: the prompt's
    imported call id still never reaches the rater."""
    row = tool_row()
    del row["tools"]
    row["responses"] = [
        {"id": "a", "model": "m1", "content": "Cold."},
        {"id": "b", "model": "m2", "content": "Warm."},
    ]
    make.items(make.project(slug="tools", overlap=1), [row])
    auth.as_role("rater")
    r = client.post("/api/v1/projects/tools/next", headers={"X-CSRF-Token": auth.csrf()})
    shown = r.get_json()["assignment"]
    assert P_ID not in json.dumps(shown)
    assert shown["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert shown["messages"][3]["tool_call_id"] == "call_1"
