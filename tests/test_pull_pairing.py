"""Adaptive model pairing of generated items, against a real chat server and real databases."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import Session, select

from service import db
from service.models import Generation, Item, Project, Response
from service.pull import pairing
from tests.pullkit import FAST, ChatServer, add_source, jsonl, pull_now
from tests.raters import Desk

MODELS = ("a", "b", "c", "d")


@pytest.fixture
def chat():
    with ChatServer() as server:
        yield server


def _generate(app, chat, tmp_path, prompts: int, prefix: str = "q"):
    path = tmp_path / f"{prefix}.jsonl"
    path.write_bytes(jsonl([{"id": f"{prefix}{k}", "prompt": f"Tell {k}"} for k in range(prompts)]))
    gens = [{"name": g, "url": chat.v1, "model": f"m-{g}"} for g in MODELS]
    add_source(
        app,
        name=f"gen-{prefix}",
        project="gen-p",
        kind="generation",
        config={"prompts": str(path), "generators": gens, "concurrency": 8, **FAST},
    )
    return pull_now(app, f"gen-{prefix}")


def _pairs(app, prefix: str) -> Counter[tuple[str, ...]]:
    with Session(db.engine_of(app)) as s:
        items = s.exec(select(Item).where(Item.external_id.startswith(prefix))).all()
        return Counter(
            tuple(
                sorted(r.model for r in s.exec(select(Response).where(Response.item_id == item.id)))
            )
            for item in items
        )


def test_adaptive_items_compare_two_models_and_every_reply_is_kept(app, make, chat, tmp_path):
    make.project(slug="gen-p", overlap=1, pairing="adaptive")
    run = _generate(app, chat, tmp_path, prompts=30)
    assert run.status == "succeeded", run.error
    assert (run.summary["ok"], run.summary["created"]) == (120, 30)
    pairs = _pairs(app, "q")
    assert sum(pairs.values()) == 30
    assert all(len(p) == 2 and p[0] != p[1] for p in pairs)
    with Session(db.engine_of(app)) as s:
        assert len(s.exec(select(Generation).where(Generation.status == "ok")).all()) == 120
    # The same prompts and judgments draw the same pairs: nothing to publish again.
    again = pull_now(app, "gen-q", mode="retry")
    assert again.summary["created"] == again.summary["updated"] == 0
    assert _pairs(app, "q") == pairs


def test_all_pairing_publishes_every_reply(app, make, chat, tmp_path):
    make.project(slug="gen-p", overlap=1)
    _generate(app, chat, tmp_path, prompts=3)
    assert _pairs(app, "q") == {("m-a", "m-b", "m-c", "m-d"): 3}


def _pin_down_a_versus_b(app, make, project: Project, judged: int) -> None:
    """Publish ``judged`` items comparing m-a with m-b and have one rater judge them all."""
    rows = [
        {
            "id": f"pinned{k}",
            "prompt": f"Pinned {k}?",
            "responses": [
                {"id": "a", "model": "m-a", "content": f"A{k}"},
                {"id": "b", "model": "m-b", "content": f"B{k}"},
            ],
        }
        for k in range(judged)
    ]
    make.items(project, rows)
    desk, rater = Desk(app), make.user()
    for k in range(judged):
        desk.submit(desk.next(project, rater), rater, {"choice": "A" if k % 2 else "B"})


def test_after_judgments_pin_down_a_pair_new_items_favour_the_uncertain_pairs(
    app, make, chat, tmp_path
):
    project = make.project(slug="gen-p", overlap=1, pairing="adaptive")
    _pin_down_a_versus_b(app, make, project, judged=60)
    run = _generate(app, chat, tmp_path, prompts=120)
    assert run.summary["created"] == 120
    pairs = _pairs(app, "q")
    pinned = pairs[("m-a", "m-b")]
    others = [n for p, n in pairs.items() if p != ("m-a", "m-b")]
    # Uniform pairing would give each of the 6 pairs 20 items; the pinned pair gets about its
    # uniform share's floor (0.3 / 6 of 120 = 6), the five others share the rest.
    assert len(others) == 5 and sum(others) + pinned == 120
    assert pinned <= 10 and min(others) > 2 * pinned, pairs


def test_the_uniform_share_is_respected(app, make):
    project = make.project(slug="gen-p", overlap=1, pairing="adaptive")
    _pin_down_a_versus_b(app, make, project, judged=60)
    offers = {f"p{k}": [(g, f"m-{g}") for g in MODELS] for k in range(300)}
    pinned = {}
    for share in (0.0, 0.3, 1.0):
        with Session(db.engine_of(app)) as s:
            row = s.get(Project, project.id)
            row.pairing_uniform_share = share
            picks = pairing.choose_replies(session=s, project=row, offers=offers)
        counts = Counter(tuple(p) for p in picks.values())
        assert sum(counts.values()) == 300
        pinned[share] = counts[("a", "b")]
    # Uniform: about 300 / 6 = 50; adaptive keeps at least share / 6 of the draws (15 at 0.3).
    assert 35 <= pinned[1.0] <= 65, pinned
    assert pinned[0.0] < pinned[0.3] < pinned[1.0], pinned
    assert pinned[0.3] >= 8, pinned


def test_a_prompt_with_replies_from_one_model_keeps_them_all(app, make):
    project = make.project(slug="gen-p", pairing="adaptive")
    offers = {"p": [("a-1", "m-a"), ("a-2", "m-a")], "q": [("a", "m-a"), ("b", "m-b")]}
    with Session(db.engine_of(app)) as s:
        picks = pairing.choose_replies(session=s, project=s.get(Project, project.id), offers=offers)
    assert picks == {"q": ["a", "b"]}
