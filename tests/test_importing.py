"""Importing prompt/response sets: every shape, every kind of bad line, all or nothing."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.errors import InvalidInput
from service.items import importing
from service.models import ImportBatch, Item, Judgment, Response
from tests.factories import add_judge, add_verdict, item_row


def _run(app, project, lines, **kwargs):
    body = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()
    with app.app_context():
        return importing.import_items(
            engine=db.engine(),
            project=project,
            rows=importing.read_jsonl(io.BytesIO(body)),
            **kwargs,
        )


def _items(app, project):
    with app.app_context(), db.write_session() as s:
        items = s.exec(select(Item).where(Item.project_id == project.id).order_by(Item.id)).all()
        return [
            (
                i,
                s.exec(
                    select(Response).where(Response.item_id == i.id).order_by(Response.position)
                ).all(),
            )
            for i in items
        ]


def _errors(app, project, lines):
    with pytest.raises(InvalidInput) as info:
        _run(app, project, lines)
    return info.value.errors


@pytest.fixture
def project(make):
    return make.project()


def test_native_text_and_conversation_rows(app, project):
    conv = item_row(
        "c1",
        n_responses=3,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Dose?"},
        ],
        tags=["b", "a", "b"],
        expertise=["Medicine"],
        metadata={"src": "x"},
        priority=5,
        gold={"preferred": "b"},
    )
    del conv["prompt"]
    result = _run(app, project, [item_row("t1"), conv])
    assert (result.created, result.unchanged, result.error_count) == (2, 0, 0)
    (t1, t1_resp), (c1, c1_resp) = _items(app, project)
    assert t1.prompt == "Question t1?" and t1.messages is None
    assert [(r.external_id, r.model, r.content) for r in t1_resp] == [
        ("a", "model-0", "Answer 0 to t1."),
        ("b", "model-1", "Answer 1 to t1."),
    ]
    assert c1.prompt is None and c1.messages[-1] == {"role": "user", "content": "Dose?"}
    assert (c1.tags, c1.expertise, c1.meta, c1.priority) == (
        ["a", "b"],
        ["medicine"],
        {"src": "x"},
        5,
    )
    assert c1.is_gold and c1.gold == {"preferred": "b"}
    assert len(c1_resp) == 3


def test_trl_explicit_prompt_pair(app, project):
    _run(app, project, [{"prompt": "Capital?", "chosen": "Canberra.", "rejected": "Sydney."}])
    ((item, responses),) = _items(app, project)
    assert item.prompt == "Capital?" and item.external_id.startswith("sha-")
    assert [(r.external_id, r.content, r.meta) for r in responses] == [
        ("chosen", "Canberra.", {"original_label": "chosen"}),
        ("rejected", "Sydney.", {"original_label": "rejected"}),
    ]


def test_trl_conversational_pairs_explicit_and_implicit(app, project):
    user = [{"role": "user", "content": "Capital?"}]
    explicit = {
        "id": "e1",
        "prompt": user,
        "chosen": [{"role": "assistant", "content": "Canberra."}],
        "rejected": [{"role": "assistant", "content": "Sydney."}],
    }
    implicit = {
        "id": "i1",
        "chosen": user + [{"role": "assistant", "content": "Canberra."}],
        "rejected": user + [{"role": "assistant", "content": "Sydney."}],
    }
    _run(app, project, [explicit, implicit])
    for item, responses in _items(app, project):
        assert item.messages == user
        assert [r.content for r in responses] == ["Canberra.", "Sydney."]


def test_hh_transcripts(app, project):
    row = {
        "chosen": "\n\nHuman: Hi there\n\nAssistant: Hello!",
        "rejected": "\n\nHuman: Hi there\n\nAssistant: Go away.",
    }
    _run(app, project, [row])
    ((item, responses),) = _items(app, project)
    assert item.messages == [{"role": "user", "content": "Hi there"}]
    assert [r.content for r in responses] == ["Hello!", "Go away."]


def test_completions_shape_with_models(app, project):
    row = {
        "id": "k1",
        "prompt": "Pick",
        "completions": [
            "one",
            {"model": "m2", "content": "two"},
            {"role": "assistant", "content": "three"},
        ],
        "source": "ultrafeedback",
    }
    _run(app, project, [row])
    ((item, responses),) = _items(app, project)
    assert [(r.external_id, r.model, r.content) for r in responses] == [
        ("1", "", "one"),
        ("2", "m2", "two"),
        ("3", "", "three"),
    ]
    assert item.meta == {"original": {"source": "ultrafeedback"}}


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            "{not json",
            "",
            "invalid JSON: Expecting property name enclosed in double quotes at column 2",
        ),
        ("[1, 2]", "", "expected a JSON object, got list"),
        (
            {"id": "x", "responses": [{"id": "a", "content": "1"}, {"id": "b", "content": "2"}]},
            "prompt",
            "give exactly one of prompt (text) or messages (a conversation)",
        ),
        (item_row("x", n_responses=1), "responses", "need 2 to 9 responses, got 1"),
        (item_row("x", n_responses=10), "responses", "need 2 to 9 responses, got 10"),
        (
            item_row("x", responses=[{"id": "a", "content": "1"}, {"id": "a", "content": "2"}]),
            "responses",
            "duplicate response id(s): a",
        ),
        (item_row("x", colour="red"), "colour", "Unknown field."),
        (item_row("x", priority="high"), "priority", "Not a valid integer."),
        (item_row("x", tags="urgent"), "tags", "Not a valid list."),
        (
            {"prompt": "p"},
            "responses",
            "no responses: give responses (native), chosen and rejected, or completions",
        ),
        (
            item_row(
                "x", responses=[{"id": "a", "content": "y" * 200_001}, {"id": "b", "content": "2"}]
            ),
            "responses.0.content",
            "200001 characters, over the limit of 200000",
        ),
        (
            item_row(
                "x",
                messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                prompt=None,
            ),
            "prompt",
            "Field may not be null.",
        ),
        (
            {
                "id": "x",
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a"},
                ],
                "responses": [{"id": "a", "content": "1"}, {"id": "b", "content": "2"}],
            },
            "messages",
            "a conversation must end with a user (or tool) turn",
        ),
        (
            {
                "id": "x",
                "messages": [{"role": "bot", "content": "q"}],
                "responses": [{"id": "a", "content": "1"}, {"id": "b", "content": "2"}],
            },
            "messages.0.role",
            "Must be one of: system, user, assistant, tool.",
        ),
        (
            item_row("x", gold={"preferred": "zz"}),
            "gold",
            "preferred 'zz' is not a response id of this item",
        ),
        (
            {"prompt": "p", "chosen": "a"},
            "rejected",
            "missing: a preference row needs both chosen and rejected",
        ),
        (
            {"chosen": "just text", "rejected": "other text"},
            "chosen",
            "a text completion without a prompt is ambiguous: add a prompt field (or use HH transcripts with Human:/Assistant: turns)",
        ),
    ],
)
def test_bad_line_is_reported_with_line_field_and_reason(app, project, line, field, message):
    errors = _errors(app, project, [item_row("good-1"), line])
    assert {"line": 2, "field": field, "message": message} in [
        {k: e[k] for k in ("line", "field", "message")} for e in errors
    ]
    assert _items(app, project) == []


def test_non_utf8_line(app, project):
    body = json.dumps(item_row("ok")).encode() + b"\n\xff\xfe{}\n"
    with pytest.raises(InvalidInput) as info, app.app_context():
        importing.import_items(
            engine=db.engine(), project=project, rows=importing.read_jsonl(io.BytesIO(body))
        )
    assert info.value.errors == [{"line": 2, "field": "", "message": "not valid UTF-8 (byte 0)"}]


def test_all_or_nothing_writes_nothing_not_even_a_batch(app, project):
    _errors(app, project, [item_row("a1"), item_row("a2"), "oops"])
    with app.app_context(), db.write_session() as s:
        assert s.exec(select(sa.func.count()).select_from(ImportBatch)).one() == 0
        assert s.exec(select(sa.func.count()).select_from(Response)).one() == 0


def test_skip_invalid_keeps_good_lines_and_reports_bad(app, project):
    result = _run(app, project, [item_row("a1"), "oops", item_row("a2")], skip_invalid=True)
    assert (result.created, result.error_count) == (2, 1)
    assert [e.line for e in result.errors] == [2]
    with app.app_context(), db.write_session() as s:
        batch = s.get(ImportBatch, result.batch_id)
        assert (batch.created_count, batch.error_count) == (2, 1)
        assert batch.errors[0]["line"] == 2


def test_duplicate_id_within_batch(app, project):
    errors = _errors(app, project, [item_row("d1"), item_row("d1")])
    assert errors == [
        {"line": 2, "field": "id", "message": "duplicate id 'd1' earlier in this batch", "id": "d1"}
    ]


def test_reimport_is_idempotent(app, project):
    rows = [item_row("r1"), item_row("r2")]
    _run(app, project, rows)
    again = _run(app, project, rows)
    assert (again.created, again.unchanged, again.updated) == (0, 2, 0)
    assert len(_items(app, project)) == 2


def test_changed_item_needs_update_flag(app, project):
    _run(app, project, [item_row("u1")])
    changed = item_row("u1", prompt="A better question?")
    errors = _errors(app, project, [changed])
    assert (
        errors[0]["message"] == "item 'u1' exists with different content; use update to replace it"
    )
    result = _run(app, project, [changed], update=True)
    assert result.updated == 1
    ((item, responses),) = _items(app, project)
    assert item.prompt == "A better question?" and len(responses) == 2


def test_judged_item_is_never_altered(app, project, make):
    _run(app, project, [item_row("j1")])
    ((item, responses),) = _items(app, project)
    rater = make.user()
    with app.app_context(), db.write_session() as s:
        s.add(
            Judgment(
                client_id="c" * 8,
                project_id=project.id,
                item_id=item.id,
                rater_id=rater.id,
                mode="pairwise",
                shown_sha256="0" * 64,
            )
        )
    errors = _errors(app, project, [item_row("j1", prompt="Changed?")])
    assert "already has judgments" in errors[0]["message"]
    with pytest.raises(InvalidInput):
        _run(app, project, [item_row("j1", prompt="Changed?")], update=True)
    ((after, _),) = _items(app, project)
    assert after.prompt == "Question j1?"


def test_an_item_a_model_judge_judged_is_never_altered(app, project):
    """Budget mode and triage act on a judge's verdict and exports carry it with the text
    the judge saw: the item's content stays, as for a rater's judgment."""
    _run(app, project, [item_row("m1")])
    ((item, _),) = _items(app, project)
    add_verdict(app, item, add_judge(app, project), ["a", "b"], preferred="a")
    errors = _errors(app, project, [item_row("m1", prompt="Changed?")])
    assert errors[0]["message"].startswith("item 'm1' already has judgments")
    with pytest.raises(InvalidInput):
        _run(app, project, [item_row("m1", prompt="Changed?")], update=True)
    ((after, _),) = _items(app, project)
    assert after.prompt == "Question m1?"


def test_progress_reports_lines(app, project):
    seen = []
    _run(app, project, [item_row() for _ in range(3)], progress=seen.append)
    assert seen[-1] == 3


def test_api_import_accepts_a_bom_and_names_a_nul(app, client, make, admin_headers):
    project = make.project(slug="api-bom")
    url = f"/api/v1/projects/{project.slug}/items"
    headers = {**admin_headers, "Content-Type": "application/x-ndjson"}
    body = b"\xef\xbb\xbf" + json.dumps(item_row("b1")).encode() + b"\n"
    r = client.post(url, data=body, headers=headers)
    assert r.status_code == 201 and r.get_json()["created"] == 1
    bad = item_row("b2")
    bad["prompt"] = "a\x00b"
    r = client.post(url, data=json.dumps(bad).encode(), headers=headers)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "line": 1,
            "field": "prompt",
            "message": "contains a NUL character (\\u0000), which cannot be stored.",
            "id": "b2",
        }
    ]
