"""Every rule and filter of the export, applied to the fixed dataset on both databases."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.dashboards.adjudication import adjudicate
from service.errors import Forbidden, InvalidInput, NotFound
from service.export import rules
from service.export.exporter import Export
from service.export.options import parse_options
from service.models import AuditEvent, Project, User
from tests import export_dataset
from tests.export_dataset import T0, export_bytes, export_rows
from tests.factories import item_row


@pytest.fixture
def data(make: Any) -> dict[str, Any]:
    return export_dataset.build(make)


def _pairs(rows: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [
        (
            r["metadata"]["item_id"],
            "".join(r["metadata"]["response_ids"]),
            r["metadata"]["judgment_id"],
        )
        for r in rows
    ]


def test_only_current_judgments(app, data):
    ids = [r["judgment_id"] for r in export_rows(app, format="raw", project="text")]
    assert ids == [1, 2, 3, 4, 6, 7, 8, 9, 10]  # 5 was edited: 6 supersedes it
    row6 = export_rows(app, format="raw", project="text")[4]
    assert (row6["version"], row6["supersedes_id"], row6["guideline_version"]) == (2, 5, 2)


def test_ties_dropped_by_default_and_counted(app, data):
    _, summary = export_bytes(app, format="dpo")
    assert summary.dropped["tied_pairs"] == 1
    assert ("t1", "ab", 3) not in _pairs(export_rows(app, format="dpo"))


def test_ties_both_orders_with_zero_margin(app, data):
    rows = [
        r
        for r in export_rows(app, format="reward", ties="both-orders")
        if r["metadata"]["judgment_id"] == 3
    ]
    assert [(r["metadata"]["response_ids"], r["margin"]) for r in rows] == [
        (["a", "b"], 0.0),
        (["b", "a"], 0.0),
    ]


def test_pairs_of_identical_responses_are_dropped(app, make, data):
    (t5,) = make.items(
        data["projects"]["text"],
        [
            {
                "id": "t5",
                "prompt": "Echo.",
                "responses": export_dataset._responses(("a", "m1", "Same."), ("b", "m2", "Same.")),
            }
        ],
    )
    make.judgment(
        t5, data["raters"]["ann"], shown=["a", "b"], preferred="a", strength=1, scale_value=3
    )
    rows, summary = export_bytes(app, format="dpo")
    assert b'"item_id":"t5"' not in rows
    assert summary.dropped["pairs_with_identical_responses"] == 1


def test_both_bad_excluded_unless_asked(app, data):
    _, summary = export_bytes(app, format="dpo")
    assert summary.dropped["judgments_both_bad"] == 1
    assert 4 not in [j for _, _, j in _pairs(export_rows(app, format="dpo"))]
    assert ("t2", "ba", 4) in _pairs(export_rows(app, format="dpo", include_both_bad=True))


def test_both_bad_labels_both_responses_undesirable_in_kto(app, data):
    rows = [r for r in export_rows(app, format="kto") if r["metadata"]["judgment_id"] == 4]
    assert [(r["metadata"]["response_id"], r["label"]) for r in rows] == [
        ("b", False),
        ("a", False),
    ]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("all", {"ba", "bc", "bd", "ad", "cd"}),
        ("best-vs-rest", {"ba", "bc", "bd"}),
        ("adjacent", {"ba", "bc", "ad", "cd"}),
    ],
)
def test_ranking_to_pairs(app, data, rule, expected):
    rows = export_rows(app, format="dpo", project="chat", pairs=rule)
    ann = {p for item, p, j in _pairs(rows) if j == 11}
    assert ann == expected


def test_consensus_majority_one_row_per_pair(app, data):
    rows = export_rows(app, format="reward", aggregation="consensus")
    got = [(r["metadata"]["item_id"], r["metadata"]["response_ids"], r["margin"]) for r in rows]
    # t1: a, a, tie -> a (strengths 2, 1); t2: b, b (both-bad left out) -> b; t3: a, b, a -> a.
    assert got == [("t1", ["a", "b"], 1.5), ("t2", ["b", "a"], 3.0), ("t3", ["a", "b"], 2.5)]
    assert all(r["metadata"]["rater"] is None for r in rows)


def test_consensus_rater_weights_from_gold(app, make, data):
    (t4,) = make.items(
        data["projects"]["text"],
        [
            {
                "id": "t4",
                "prompt": "Pick one.",
                "responses": export_dataset._responses(("a", "m", "A."), ("b", "m", "B.")),
            }
        ],
    )
    raters = data["raters"]
    make.judgment(t4, raters["ann"], shown=["a", "b"], preferred="a", strength=1, scale_value=3)
    make.judgment(t4, raters["bob"], shown=["a", "b"], preferred="b", strength=1, scale_value=5)
    equal = export_rows(app, format="dpo", aggregation="consensus", tag=[], exclude_gold=False)
    assert "t4" not in [r["metadata"]["item_id"] for r in equal]  # 1:1, no majority
    weighted = export_rows(app, format="dpo", aggregation="consensus", rater_weights="gold")
    # ann got the gold item right (weight 2/3), bob wrong (1/3).
    t4_rows = [r for r in weighted if r["metadata"]["item_id"] == "t4"]
    assert [r["metadata"]["response_ids"] for r in t4_rows] == [["a", "b"]]


def test_consensus_obeys_an_admins_adjudication(app, make, data):
    admin = make.user(role="admin")
    with db.write_session() as s:
        for slug, item, verdict in (
            ("text", "t3", {"preferred": "b"}),
            ("chat", "c1", {"ranking": [["d"], ["a", "b"], ["c"]]}),
        ):
            adjudicate(
                session=s,
                project=s.get(Project, data["projects"][slug].id),
                item_id=data["items"][item].id,
                admin=s.get(User, admin.id),
                verdict=verdict,
                note="settled by the clinical lead",
                confirm_override=True,  # it overrules the raters' majority on purpose
            )
    rows = export_rows(app, format="dpo", aggregation="consensus")
    # t3 was a, b, a by vote -> a; the adjudication makes it b.
    t3 = [r["metadata"]["response_ids"] for r in rows if r["metadata"]["item_id"] == "t3"]
    assert t3 == [["b", "a"]]
    ranked = export_rows(app, format="ranking", project="chat")
    c1 = {r["id"]: r["rank"] for r in ranked[0]["responses"]}
    assert c1 == {"d": 1.0, "a": 2.5, "b": 2.5, "c": 4.0}  # tied responses share their mean rank


def test_consensus_best_vs_rest_on_rankings(app, data):
    rows = export_rows(
        app, format="dpo", project="chat", aggregation="consensus", pairs="best-vs-rest"
    )
    c1 = [r["metadata"]["response_ids"] for r in rows if r["metadata"]["item_id"] == "c1"]
    # b beats a 2:1, c 3:0, d 3:0 by direct majority; b is the Copeland winner.
    assert c1 == [["b", "a"], ["b", "c"], ["b", "d"]]


def test_consensus_bradley_terry(app, data):
    rows = export_rows(app, format="ranking", project="chat", consensus="bradley-terry")
    c1 = {r["id"]: r["rank"] for r in rows[0]["responses"]}
    assert c1 == {"b": 1, "a": 2, "c": 3, "d": 4}
    pairs = export_rows(app, format="dpo", aggregation="consensus", consensus="bradley-terry")
    assert [r["metadata"]["response_ids"] for r in pairs] == [["a", "b"], ["b", "a"], ["a", "b"]]


def test_min_judgments_and_min_agreement(app, data):
    items = {
        r["metadata"]["item_id"]
        for r in export_rows(app, format="ranking", project="chat", min_judgments=2)
    }
    assert items == {"c1"}
    kept = {r["metadata"]["item_id"] for r in export_rows(app, format="dpo", min_agreement=0.7)}
    assert kept == {"t2"}  # t1 and t3 agree 2 of 3; t2 3 of 3
    none = export_rows(app, format="ranking", project="chat", min_agreement=-1)
    assert [r["metadata"]["item_id"] for r in none] == ["c1"]  # c2's agreement is unknown


def test_margin_only_when_every_project_has_strength(app, data):
    assert all("margin" in r for r in export_rows(app, format="reward"))
    assert not any(
        "margin" in r for r in export_rows(app, format="reward", project=["text", "chat"])
    )
    assert not any("margin" in r for r in export_rows(app, format="reward", margin=False))


def test_mixed_projects_are_all_conversational(app, data):
    rows = export_rows(app, format="dpo", project=["text", "chat"])
    assert {type(r[k]).__name__ for r in rows for k in ("prompt", "chosen", "rejected")} == {"list"}
    t1 = next(r for r in rows if r["metadata"]["item_id"] == "t1")
    assert t1["prompt"] == [{"role": "user", "content": "What is the capital of Australia?"}]
    assert t1["chosen"] == [{"role": "assistant", "content": "Canberra."}]


def test_conversational_flag_and_separator_and_no_metadata(app, data):
    conv = export_rows(app, format="kto", conversational=True)
    assert conv[0]["prompt"] == [{"role": "user", "content": "What is the capital of Australia?"}]
    plain = export_rows(app, format="dpo", separator=" ", metadata=False)
    assert plain[0] == {
        "prompt": "What is the capital of Australia?",
        "chosen": " Canberra.",
        "rejected": " Sydney.",
    }


def test_kto_threshold_rule(app, data):
    default = [
        (r["metadata"]["response_id"], r["label"])
        for r in export_rows(app, format="kto", project="rate")
    ]
    assert default == [("a", True), ("b", False), ("a", True)]  # 5, 2, 4 vs 3; bob's 3 is neutral
    low = [
        (r["metadata"]["response_id"], r["label"])
        for r in export_rows(app, format="kto", project="rate", kto_threshold=2.5)
    ]
    assert low == [("a", True), ("b", False), ("a", True), ("b", True)]
    consensus = export_rows(
        app, format="kto", project="rate", aggregation="consensus", kto_threshold=2.5
    )
    assert [(r["metadata"]["response_id"], r["label"]) for r in consensus] == [
        ("a", True)
    ]  # b: 1:1


def test_kto_from_verdicts_takes_best_and_worst_groups(app, data):
    rows = [
        r
        for r in export_rows(app, format="kto", project="chat")
        if r["metadata"]["judgment_id"] == 11
    ]
    assert [(r["metadata"]["response_id"], r["label"]) for r in rows] == [("b", True), ("d", False)]


def test_rating_dimension_must_exist(app, data):
    with pytest.raises(InvalidInput, match="rating_dimension"):
        export_bytes(app, format="kto", project="rate", rating_dimension="nope")
    # A choice dimension cannot rank responses: named, with the ones that can.
    with pytest.raises(InvalidInput, match="dimension 'tone'; it has: helpfulness"):
        export_bytes(app, format="kto", project="rate", rating_dimension="tone")
    with pytest.raises(InvalidInput, match="kto_threshold"):
        export_bytes(app, format="kto", project="text", kto_from="ratings")


def test_date_filters(app, data):
    since = (T0 + timedelta(minutes=3)).isoformat()
    until = (T0 + timedelta(minutes=7)).isoformat()
    ids = [r["judgment_id"] for r in export_rows(app, format="raw", since=since, until=until)]
    assert ids == [4, 6, 7]  # minutes 3 to 6; 5 (minute 4) is superseded
    _, summary = export_bytes(app, format="raw", since=since, until=until)
    assert summary.dropped["judgments_before_since"] == 3
    assert summary.dropped["judgments_after_until"] == 3


def test_tag_model_rater_expertise_gold_filters(app, data):
    assert {r["metadata"]["item_id"] for r in export_rows(app, format="dpo", tag=["geo"])} == {"t1"}
    models = export_rows(app, format="dpo", project="chat", model=["m-large", "m-small"])
    assert {"".join(r["metadata"]["response_ids"]) for r in models} == {"ab", "ba"}
    ann = data["raters"]["ann"]
    only_ann = export_rows(app, format="raw", rater=["ann"])
    assert {r["rater"] for r in only_ann} == {rules.pseudonym("test-secret", ann.id)}
    law = export_rows(app, format="raw", expertise=["law"])
    assert [r["judgment_id"] for r in law] == [2, 6, 9]
    no_gold = export_rows(app, format="raw", exclude_gold=True)
    assert "t3" not in {r["item_id"] for r in no_gold}


def test_min_gold_accuracy_excludes_raters_below(app, data):
    _, summary = export_bytes(app, format="raw", min_gold_accuracy=0.5)
    rows = export_rows(app, format="raw", min_gold_accuracy=0.5)
    bob = rules.pseudonym("test-secret", data["raters"]["bob"].id)
    assert bob not in {r["rater"] for r in rows}  # bob chose "No." on the gold item
    assert summary.excluded_raters == 1


def test_complete_only(app, data):
    items = {
        r["metadata"]["item_id"]
        for r in export_rows(app, format="ranking", project="chat", complete_only=True)
    }
    assert items == {"c1"}  # overlap 3; c2 has one judgment


def _pairwise_item(make: Any, n: int, **settings: Any) -> tuple[Project, Any]:
    project = make.project(mode="pairwise", overlap=settings.pop("overlap", 2), **settings)
    (item,) = make.items(project, [item_row("p1", n_responses=n)])
    return project, item


def _judge(make: Any, item: Any, pairs: list[str]) -> None:
    """One new rater per pair shown ("ab": a left, b right), preferring the left one."""
    for shown in pairs:
        make.judgment(item, make.user(), shown=list(shown), preferred=shown[0])


def _complete_only(app: Any, project: Project, fmt: str) -> tuple[list[str], Any]:
    data, summary = export_bytes(app, format=fmt, project=project.slug, complete_only=True)
    rows = [json.loads(line) for line in data.splitlines()]
    if fmt == "raw":
        return sorted("".join(r["shown_order"]) for r in rows), summary
    if fmt == "ranking":
        return [str(r["metadata"]["n_judgments"]) for r in rows], summary
    return sorted("".join(r["metadata"]["response_ids"]) for r in rows), summary


def test_complete_only_wants_overlap_on_every_pair_unit(app, make):
    project, item = _pairwise_item(make, 3)  # pairs "all": ab, ac, bc, each wanting 2
    _judge(make, item, ["ab", "ca"])  # overlap judgments in all, but no pair has 2
    for fmt in ("dpo", "raw", "ranking"):
        rows, summary = _complete_only(app, project, fmt)
        assert (rows, dict(summary.dropped)) == ([], {"items_incomplete": 1})
    _judge(make, item, ["ba", "ac", "bc", "cb"])
    assert _complete_only(app, project, "dpo")[0] == ["ab", "ac", "ba", "bc", "ca", "cb"]
    assert _complete_only(app, project, "ranking")[0] == ["6"]


def test_complete_only_keeps_the_complete_pairs_in_pair_formats(app, make):
    project, item = _pairwise_item(make, 3)
    _judge(make, item, ["ab", "ba", "ca"])  # ab has its 2, ac one, bc none
    rows, summary = _complete_only(app, project, "dpo")
    assert rows == ["ab", "ba"]
    assert dict(summary.dropped) == {"judgments_on_incomplete_pairs": 1}
    assert summary.as_dict()["dropped_reasons"]["judgments_on_incomplete_pairs"]
    assert _complete_only(app, project, "raw")[0] == ["ab", "ba"]
    # A ranking sums up the whole item: it waits for every pair.
    assert _complete_only(app, project, "ranking")[0] == []


def test_complete_only_follows_round_robin_and_reference_pairs(app, make):
    ring, item = _pairwise_item(make, 4, pairs="round_robin", overlap=1)  # ab, bc, cd, da
    _judge(make, item, ["ab", "bc", "dc", "ca"])  # as many judgments as the item wants,
    # but ca is no pair of the ring and da has none
    assert _complete_only(app, ring, "dpo")[0] == ["ab", "bc", "dc"]
    assert _complete_only(app, ring, "ranking")[0] == []
    star, item = _pairwise_item(make, 3, pairs="reference", pair_reference="b", overlap=1)
    _judge(make, item, ["ba", "ac"])  # units ba and bc; ac is no unit
    assert _complete_only(app, star, "dpo")[0] == ["ba"]
    assert _complete_only(app, star, "ranking")[0] == []


def test_a_project_without_judgments_exports_nothing(app, make, data):
    make.project(slug="empty")
    data_bytes, summary = export_bytes(app, format="dpo", project="empty")
    assert data_bytes == b""
    assert (summary.rows, summary.items, summary.complete) == ({"": 0}, 0, True)


def test_unknown_project_and_rater(app, data):
    with pytest.raises(NotFound, match="nope"):
        export_bytes(app, format="dpo", project="nope")
    with pytest.raises(InvalidInput, match="zed"):
        export_bytes(app, format="dpo", rater=["zed"])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"format": "csv"}, "format"),
        ({"format": "dpo", "pairs": "some"}, "pairs"),
        ({"format": "dpo", "split": "train=0.9,test=0.2"}, "split"),
        ({"format": "dpo", "split": "train=1", "part": "test"}, "part"),
        ({"format": "dpo", "since": "yesterday"}, "since"),
        ({"format": "dpo", "since": "2025-02-01", "until": "2025-01-01"}, "until"),
        ({"format": "dpo", "min_agreement": 2}, "min_agreement"),
        ({"format": "dpo", "consensus": "bradley-terry", "rater_weights": "gold"}, "rater_weights"),
    ],
)
def test_bad_options_name_the_field(args, field):
    with pytest.raises(InvalidInput) as exc:
        parse_options({"project": ["text"], **args})
    assert [e["field"] for e in exc.value.errors] == [field]


# --- Splits ---


@pytest.fixture
def many(make: Any) -> Any:
    """40 items, two of which share a prompt, each judged once."""
    project = make.project(slug="many", mode="pairwise")
    rows = [
        {
            "id": f"m{i}",
            "prompt": f"Question {i % 39}?",
            "responses": export_dataset._responses(("a", "x", f"A{i}."), ("b", "y", f"B{i}.")),
        }
        for i in range(40)
    ]
    items = make.items(project, rows)
    rater = make.user(username="solo")
    for item in items:
        make.judgment(item, rater, shown=["a", "b"], preferred="a")
    return project


def test_split_assigns_whole_prompts_deterministically(app, many):
    split = "train=0.7,test=0.3"
    train, s1 = export_bytes(app, format="dpo", project="many", split=split, seed=3, part="train")
    test, s2 = export_bytes(app, format="dpo", project="many", split=split, seed=3, part="test")
    assert (
        export_bytes(app, format="dpo", project="many", split=split, seed=3, part="train")[0]
        == train
    )
    prompts = {
        name: [json.loads(line)["prompt"] for line in data.splitlines()]
        for name, data in (("train", train), ("test", test))
    }
    assert not set(prompts["train"]) & set(prompts["test"])  # no prompt in both
    assert len(prompts["train"]) + len(prompts["test"]) == 40
    assert "Question 0?" in prompts["train"] + prompts["test"]
    # Items m0 and m39 share "Question 0?": they land in the same split.
    together = [p for p in prompts["train"] + prompts["test"] if p == "Question 0?"]
    assert len(together) == 2 and (together[0] in prompts["train"]) == (
        together[1] in prompts["train"]
    )
    other_seed, _ = export_bytes(
        app, format="dpo", project="many", split=split, seed=4, part="train"
    )
    assert other_seed != train
    assert (s1.rows, s2.rows) == ({"train": len(prompts["train"])}, {"test": len(prompts["test"])})


def test_split_writes_every_part_in_one_pass(app, many):
    import io

    from service.export.exporter import export_preferences

    options = parse_options({"format": "raw", "project": ["many"], "split": "train=0.5,test=0.5"})
    out = {"train": io.BytesIO(), "test": io.BytesIO()}
    with Session(db.engine()) as session:
        summary = export_preferences(
            session=session, options=options, out=out, secret_key="test-secret"
        )
    assert summary.rows == {
        "train": len(out["train"].getvalue().splitlines()),
        "test": len(out["test"].getvalue().splitlines()),
    }
    assert sum(summary.rows.values()) == 40
    single, _ = export_bytes(
        app, format="raw", project="many", split="train=0.5,test=0.5", part="test"
    )
    assert single == out["test"].getvalue()


# --- Privacy and audit ---


def test_raters_are_pseudonymous_and_stable(app, data):
    ann = data["raters"]["ann"]
    rows = export_rows(app, format="raw")
    names = {r["rater"] for r in rows}
    assert rules.pseudonym("test-secret", ann.id) in names
    assert not names & {"ann", "bob", "cid"}
    assert export_rows(app, format="raw") == rows


def test_real_usernames_need_admin(app, make, data):
    engineer, admin = make.user(role="engineer"), make.user(role="admin")
    options = parse_options({"format": "raw", "project": ["text"], "real_usernames": True})
    with Session(db.engine()) as session:
        with pytest.raises(Forbidden, match="admins"):
            Export(session=session, options=options, secret_key="k", actor=engineer)
        job = Export(session=session, options=options, secret_key="k", actor=admin)
        rows = [json.loads(line) for _, data in job.chunks() for line in data.splitlines()]
    assert {r["rater"] for r in rows} == {"ann", "bob", "cid"}


def test_export_is_audited(app, make, data):
    engineer = make.user(role="engineer")
    options = parse_options({"format": "dpo", "project": ["text"], "tag": ["geo"]})
    with Session(db.engine()) as session:
        job = Export(session=session, options=options, secret_key="k", actor=engineer)
        list(job.chunks())
    with Session(db.engine()) as session:
        event = session.execute(sa.select(AuditEvent)).scalar_one()
    assert (event.actor_id, event.action, event.target) == (engineer.id, "export", "dpo:text")
    assert event.details["rows"] == 2
    assert event.details["complete"] is True
    assert event.details["filters"]["tags"] == ["geo"]
    assert event.details["filters"]["format"] == "dpo"


def test_votes_rows_keep_every_vote_with_its_spread_and_the_consensus(app, data):
    rows = {r["metadata"]["item_id"]: r for r in export_rows(app, format="votes", project="text")}
    t1 = rows["t1"]
    assert (t1["response_a"]["id"], t1["response_b"]["id"]) == ("a", "b")
    assert [(v["judgment_id"], v["choice"], v["strength"]) for v in t1["votes"]] == [
        (1, "a", 2),
        (2, "a", 1),
        (3, "tie", None),
    ]
    assert (t1["distribution"], t1["n_votes"], t1["agreement"], t1["consensus"]) == (
        {"a": 2, "b": 0, "tie": 1},
        3,
        0.6667,
        "a",
    )
    # Both-bad votes are kept (marked): a soft label may want them.
    assert [v["both_bad"] for v in rows["t2"]["votes"]] == [True, False, False]


def test_with_votes_gives_each_row_the_share_of_raters_behind_its_order(app, data):
    rows = export_rows(app, format="dpo", project="text", with_votes=True)
    shares = {(r["metadata"]["judgment_id"], r["vote_share"], r["vote_count"]) for r in rows}
    # t3: two raters preferred a, one (judgment 9) preferred b.
    assert {s for s in shares if s[0] in (8, 9, 10)} == {
        (8, 0.6667, 3),
        (9, 0.3333, 3),
        (10, 0.6667, 3),
    }
    # t2: the both-bad vote is not counted, as its row is not written.
    assert {s for s in shares if s[0] in (6, 7)} == {(6, 1.0, 2), (7, 1.0, 2)}
    with pytest.raises(InvalidInput, match="--with-votes changes only dpo, reward, openai, hh"):
        parse_options({"format": "kto", "project": ["text"], "with_votes": True})
