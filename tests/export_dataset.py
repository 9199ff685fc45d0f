"""A small fixed dataset that exercises every export rule, and helpers to export it.

Projects: ``text`` (pairwise likert7, plain-text prompts: agreement, a tie, both-bad,
an edited judgment, a gold item), ``chat`` (ranking, conversations with a system
turn, 4- and 2-response items), ``rate`` (rating mode with a likert rubric) and
``support`` (rating mode, a support chat rated per assistant turn too).
Times and names are fixed so exports are byte-for-byte stable.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from service import db
from service.export.exporter import export_preferences
from service.export.options import parse_options
from service.rating.shown import text_sha256
from tests.factories import Factory

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CHAT = [
    {"role": "system", "content": "You are a careful clinician."},
    {"role": "user", "content": "I have a headache."},
    {"role": "assistant", "content": "How long has it lasted?"},
    {"role": "user", "content": "Two days."},
]
RUBRIC = [
    {
        "name": "helpfulness",
        "label": "Helpfulness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {
        "name": "tone",
        "label": "Tone",
        "scope": "response",
        "kind": "choice",
        "options": [{"value": "formal", "label": "Formal"}, {"value": "casual", "label": "Casual"}],
    },
]


def _rewrite(response_id: str, original: str, text: str) -> dict[str, Any]:
    """Return a judgment's rewrite columns, as a submission stores them."""
    return {
        "rewrite_response_id": response_id,
        "rewrite_text": text,
        "rewrite_original_sha256": text_sha256(original),
    }


def _responses(*pairs: tuple[str, str, str]) -> list[dict[str, str]]:
    return [{"id": i, "model": m, "content": c} for i, m, c in pairs]


TURN_RUBRIC = [
    RUBRIC[0],
    {
        "name": "turn_helpful",
        "label": "Turn helpfulness",
        "scope": "turn",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
    {
        "name": "turn_issue",
        "label": "Turn issue",
        "scope": "turn",
        "kind": "choice",
        "options": [{"value": "none", "label": "None"}, {"value": "wrong", "label": "Wrong"}],
    },
]


def _support(make: Factory) -> tuple[Any, Any]:
    """Return the ``support`` project and its one conversation of two assistant turns."""
    support = make.project(slug="support", mode="rating", rubric=TURN_RUBRIC, overlap=2)
    (s1,) = make.items(
        support,
        [
            {
                "id": "s1",
                "messages": [
                    {"role": "user", "content": "My parcel is late."},
                    {"role": "assistant", "content": "Sorry! What is the order number?"},
                    {"role": "user", "content": "1234."},
                    {"role": "assistant", "content": "It was delivered yesterday."},
                    {"role": "user", "content": "No, it was not. Can I get a refund?"},
                ],
                "responses": _responses(
                    ("a", "m-large", "Yes: I have refunded order 1234."),
                    ("b", "m-small", "Please wait."),
                ),
            }
        ],
    )
    return support, s1


def build(make: Factory) -> dict[str, Any]:
    """Create the dataset; return its projects, items and raters by name."""
    text = make.project(slug="text", mode="pairwise", scale="likert7", overlap=3)
    chat = make.project(slug="chat", mode="ranking", overlap=3)
    rate = make.project(slug="rate", mode="rating", rubric=RUBRIC, overlap=2)
    ann = make.user(username="ann", expertise=["medicine"])
    bob = make.user(username="bob", expertise=["law"])
    cid = make.user(username="cid")
    t1, t2, t3 = make.items(
        text,
        [
            {
                "id": "t1",
                "prompt": "What is the capital of Australia?",
                "tags": ["geo"],
                "responses": _responses(("a", "m-large", "Canberra."), ("b", "m-small", "Sydney.")),
            },
            {
                "id": "t2",
                "prompt": "Name a prime number.",
                "tags": ["math"],
                "responses": _responses(("a", "m-large", "Nine."), ("b", "m-small", "Seven.")),
            },
            {
                "id": "t3",
                "prompt": "Is 2 + 2 = 4?",
                "gold": {"preferred": "a"},
                "responses": _responses(("a", "m-large", "Yes."), ("b", "m-small", "No.")),
            },
        ],
    )
    c1, c2 = make.items(
        chat,
        [
            {
                "id": "c1",
                "messages": CHAT,
                "tags": ["clinic"],
                "responses": _responses(
                    ("a", "m-large", "Rest and drink water; see a doctor if it worsens."),
                    ("b", "m-small", "Take ibuprofen and check for fever."),
                    ("c", "m-tiny", "Headaches are common."),
                    ("d", "m-huge", "I cannot help with medical questions."),
                ),
            },
            {
                "id": "c2",
                "messages": [{"role": "user", "content": "Say hi."}],
                "responses": _responses(("a", "m-large", "Hi!"), ("b", "m-small", "Hello.")),
            },
        ],
    )
    (g1,) = make.items(
        rate,
        [
            {
                "id": "g1",
                "prompt": "Explain photosynthesis briefly.",
                "responses": _responses(
                    ("a", "m-large", "Plants turn light, water and CO2 into sugar and oxygen."),
                    ("b", "m-small", "Plants eat sunlight."),
                ),
            }
        ],
    )
    at = iter(T0 + timedelta(minutes=m) for m in range(1000))

    def pair(item: Any, rater: Any, shown: list[str], scale_value: int, **kw: Any) -> Any:
        # likert7: 1 = left much better .. 4 = same .. 7 = right much better
        kw.setdefault("guideline_version", 1)
        preferred = None if scale_value == 4 else (shown[0] if scale_value < 4 else shown[1])
        return make.judgment(
            item,
            rater,
            shown=shown,
            preferred=preferred,
            strength=abs(scale_value - 4),
            scale_value=scale_value,
            created_at=next(at),
            **kw,
        )

    # Rewrites: ann's and cid's count; bob's changes 2 words; the tie's changes only
    # whitespace (stored here directly: a submission refuses it); bob's first version's
    # is superseded by a version without one.
    pair(
        t1,
        ann,
        ["a", "b"],
        2,
        rationale="Canberra is right.",
        confidence=5,
        active_ms=4200,
        **_rewrite("a", "Canberra.", "Canberra is the capital of Australia."),
    )
    pair(t1, bob, ["b", "a"], 5, **_rewrite("a", "Canberra.", "Canberra!"))
    pair(t1, cid, ["a", "b"], 4, **_rewrite("b", "Sydney.", "  Sydney.\n"))
    pair(t2, ann, ["a", "b"], 6, both_bad=True, flags=["factual_error"])
    first = pair(t2, bob, ["b", "a"], 3, **_rewrite("a", "Nine.", "Nine is not prime."))
    pair(t2, bob, ["b", "a"], 1, supersedes=first, guideline_version=2)
    pair(
        t2, cid, ["a", "b"], 7, **_rewrite("b", "Seven.", "Seven: it has no divisors but 1 and 7.")
    )
    pair(t3, ann, ["a", "b"], 1)
    pair(t3, bob, ["a", "b"], 7)
    pair(t3, cid, ["b", "a"], 6)

    def rank(item: Any, rater: Any, ranking: list[list[str]], **kw: Any) -> Any:
        return make.judgment(
            item, rater, mode="ranking", ranking=ranking, created_at=next(at), **kw
        )

    ibuprofen = "Take ibuprofen and check for fever."
    rest = "Rest and drink water; see a doctor if it worsens."
    rank(
        c1,
        ann,
        [["b"], ["a", "c"], ["d"]],
        **_rewrite("b", ibuprofen, "Take ibuprofen if you can, and check for fever."),
    )
    rank(
        c1,
        bob,
        [["a"], ["b"], ["c"], ["d"]],
        **_rewrite("a", rest, "Rest and drink water; see a doctor if it lasts or worsens."),
    )
    rank(c1, cid, [["b"], ["a"], ["d"], ["c"]])
    rank(c2, ann, [["a"], ["b"]])

    def rating(rater: Any, scores: dict[str, dict[str, Any]]) -> Any:
        return make.judgment(
            g1,
            rater,
            mode="rating",
            shown=["a", "b"],
            rubric={"response": scores, "item": {}},
            created_at=next(at),
        )

    rating(ann, {"a": {"helpfulness": 5, "tone": "formal"}, "b": {"helpfulness": 2}})
    rating(bob, {"a": {"helpfulness": 4, "tone": "formal"}, "b": {"helpfulness": 3}})
    support, s1 = _support(make)
    for rater, scores, turns in (
        (
            ann,
            {"a": 5, "b": 2},
            {
                "0": {"turn_helpful": 4, "turn_issue": "none"},
                "1": {"turn_helpful": 2, "turn_issue": "wrong"},
            },
        ),
        (
            bob,
            {"a": 4, "b": 2},
            {"0": {"turn_helpful": 5}, "1": {"turn_helpful": 3, "turn_issue": "wrong"}},
        ),
    ):
        make.judgment(
            s1,
            rater,
            mode="rating",
            shown=["a", "b"],
            rubric={
                "response": {k: {"helpfulness": v} for k, v in scores.items()},
                "item": {},
                "turn": turns,
            },
            created_at=next(at),
        )
    return {
        "projects": {"text": text, "chat": chat, "rate": rate, "support": support},
        "items": {"t1": t1, "t2": t2, "t3": t3, "c1": c1, "c2": c2, "g1": g1, "s1": s1},
        "raters": {"ann": ann, "bob": bob, "cid": cid},
    }


def export_bytes(app: Any, **args: Any) -> tuple[bytes, Any]:
    """Export with these options (CLI-style names) into memory; return bytes and summary."""
    args.setdefault("project", ["text"])
    if isinstance(args["project"], str):
        args["project"] = [args["project"]]
    options = parse_options(args)
    out = io.BytesIO()
    with app.app_context(), Session(db.engine()) as session:
        summary = export_preferences(
            session=session, options=options, out=out, secret_key=app.config["SECRET_KEY"]
        )
    return out.getvalue(), summary


def export_rows(app: Any, **args: Any) -> list[dict[str, Any]]:
    """Export and parse the rows."""
    import json

    data, _ = export_bytes(app, **args)
    return [json.loads(line) for line in data.splitlines()]
