"""Judge verdicts stay out of human data: exports, overlap and progress; --include-judges."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.cli import main
from service.errors import InvalidInput
from service.export.options import parse_options
from service.models import ItemSlots, JudgeVerdict
from tests import export_dataset
from tests.judgekit import JudgeServer, add_judge, prefers, run_judge, verdicts


@pytest.fixture
def judged(app, make):
    """The export dataset, its human-only exports, then a judge's verdicts on ``text``."""
    data = export_dataset.build(make)
    before = {
        fmt: export_dataset.export_bytes(app, format=fmt, project=["text", "chat"])[0]
        for fmt in ("dpo", "raw", "ranking")
    }
    with Session(db.engine_of(app)) as s:
        slots_before = s.execute(
            sa.select(ItemSlots.item_id, ItemSlots.taken, ItemSlots.open)
        ).all()
    with JudgeServer(prefers("Canberra")) as server:
        for slug in ("text", "chat"):
            project = data["projects"][slug]
            template = project.mode
            add_judge(
                app,
                project,
                f"judge-{slug}",
                url=server.v1,
                model="m",
                template=template,
                backoff=0.01,
            )
        for judge in _judges(app):
            run = run_judge(app, judge)
            assert run.status == "succeeded", run.error
    return data, before, slots_before


def _judges(app):
    from sqlmodel import select

    from service.models import Judge

    with Session(db.engine_of(app)) as s:
        return list(s.exec(select(Judge).order_by(Judge.id)))


def test_judge_verdicts_change_no_human_export_and_no_overlap(app, judged):
    _, before, slots_before = judged
    assert len(verdicts(app)) > 0
    for fmt, data in before.items():
        assert export_dataset.export_bytes(app, format=fmt, project=["text", "chat"])[0] == data
    with Session(db.engine_of(app)) as s:
        assert (
            s.execute(sa.select(ItemSlots.item_id, ItemSlots.taken, ItemSlots.open)).all()
            == slots_before
        )


def test_include_judges_adds_each_verdict_marked_with_its_judge(app, judged):
    _, before, _ = judged
    rows = export_dataset.export_rows(
        app, format="dpo", project=["text", "chat"], include_judges=True
    )
    human = [r for r in rows if r["annotator_type"] == "human"]
    model = [r for r in rows if r["annotator_type"] == "model"]
    # The human rows are today's rows, marked; nothing else of them changes.
    assert [json.dumps({k: v for k, v in r.items() if k != "annotator_type"}) for r in human] == [
        json.dumps(json.loads(line)) for line in before["dpo"].splitlines()
    ]
    assert all("judge" not in r for r in human)
    with Session(db.engine_of(app)) as s:
        stored = {v.id: v for v in s.execute(sa.select(JudgeVerdict)).scalars()}
    assert {r["metadata"]["judgment_id"] for r in model} <= set(stored)
    assert {r["judge"] for r in model} == {"judge-text", "judge-chat"}
    assert all(r["metadata"]["rater"] == r["judge"] for r in model)
    t1 = [r for r in model if r["metadata"]["item_id"] == "t1"]
    # Both orders of t1 are verdicts of their own, shown_sha256 each the order it saw.
    assert len(t1) == 2 and len({r["metadata"]["shown_sha256"][0] for r in t1}) == 2
    assert sorted(r["metadata"]["shown_sha256"][0] for r in t1) == sorted(
        v.shown_sha256 for v in stored.values() if v.item_id == judged[0]["items"]["t1"].id
    )


def test_raw_export_with_judges_and_the_card(app, judged, runner, tmp_path):
    rows = export_dataset.export_rows(app, format="raw", project=["text"], include_judges=True)
    model = [r for r in rows if r["annotator_type"] == "model"]
    text_verdicts = [v for v in verdicts(app) if v.project_id == judged[0]["projects"]["text"].id]
    assert sorted(r["judgment_id"] for r in model) == sorted(v.id for v in text_verdicts)
    first = next(r for r in model if r["judgment_id"] == text_verdicts[0].id)
    assert (first["judge"], first["rater"], first["shown_order"]) == (
        "judge-text",
        "judge-text",
        text_verdicts[0].shown_order,
    )
    assert (first["verdict"], first["rationale"]) == (
        text_verdicts[0].verdict,
        text_verdicts[0].rationale,
    )

    out, card = tmp_path / "raw.jsonl", tmp_path / "card.md"
    args = ["--format", "raw", "--project", "text", "--include-judges", "-o", str(out)]
    r = runner.invoke(main, ["export", *args, "--card", str(card)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().count(b'"annotator_type":"model"') == len(model)
    assert "## Model judges" in card.read_text()
    # The record of how the data was made counts the judges' verdicts (kept apart).
    assert f"- Model judges: {len(text_verdicts)} judgments;" in card.read_text()
    runner.invoke(
        main,
        ["export", "--format", "raw", "--project", "text", "-o", str(out), "--card", str(card)],
    )
    assert b"annotator_type" not in out.read_bytes() and "## Model judges" not in card.read_text()


def test_include_judges_is_refused_where_it_would_do_nothing():
    with pytest.raises(InvalidInput) as refused:
        parse_options({"format": "kto", "project": ["text"], "include_judges": True})
    assert refused.value.errors == [
        {
            "field": "include_judges",
            "message": "--include-judges changes only dpo, reward, openai, hh, raw rows, not kto: leave it out",
        }
    ]


def test_judge_rows_follow_the_exports_item_model_and_time_filters(app, judged):
    """--tags, --models and --since/--until choose judge rows as they choose human ones."""
    every = export_dataset.export_rows(
        app, format="raw", project=["text", "chat"], include_judges=True
    )
    model_items = {r["item_id"] for r in every if r.get("annotator_type") == "model"}
    assert {"t1", "t2", "c1"} <= model_items
    geo = export_dataset.export_rows(
        app, format="raw", project=["text", "chat"], include_judges=True, tag=["geo"]
    )
    assert {r["item_id"] for r in geo if r["annotator_type"] == "model"} == {"t1"}
    # c1 compares four models: a verdict naming m-tiny or m-huge is not one of these pairs.
    pair = export_dataset.export_rows(
        app,
        format="raw",
        project=["chat"],
        include_judges=True,
        model=["m-large", "m-small"],
    )
    for r in pair:
        if r["annotator_type"] == "model":
            assert set(r["shown_order"]) <= {"a", "b"}, r["shown_order"]
    later = export_dataset.export_rows(
        app,
        format="raw",
        project=["text", "chat"],
        include_judges=True,
        since="2999-01-01T00:00:00Z",
    )
    assert [r for r in later if r["annotator_type"] == "model"] == []
