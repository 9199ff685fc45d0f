"""The record of how the data was made: computed from the database, equal to the dashboards.

The card (README.md) and croissant.json written by ``rankroom export --card`` state it; the
numbers must be the ones the dashboards' API serves for the same project, the guideline
hashes those of the stored texts, and no rater may be named anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.cli import main
from service.dashboards.record import build_record
from service.dashboards.summaries import stat_dict
from service.export import record_text
from service.models import GuidelineVersion, Project
from service.projects import projects
from tests.demo_data import RATERS, seed_campaign
from tests.factories import item_row

# mlcroissant is imported by the tests that use it: ~0.6 s less at collection, in every worker.

REPORTS = ("progress", "agreement", "raters", "items", "cost", "leaderboard")


@pytest.fixture
def campaign(app, make):
    project, _ = seed_campaign(app, make, n_items=12)
    with app.app_context(), db.write_session() as s:
        projects.update_guidelines(
            session=s, project=s.get(Project, project.id), guidelines="Prefer the *correct* one."
        )
    return project


@pytest.fixture
def admin_headers(make):
    _, secret = make.token(make.user("admin"), ["admin"])
    return {"Authorization": f"Bearer {secret}"}


def _record(app, project, summary=None):
    with app.app_context(), Session(db.engine()) as s:
        return build_record(session=s, project=s.get(Project, project.id), summary=summary)


def _reports(client, headers, slug):
    out = {}
    for name in REPORTS:
        response = client.get(f"/api/v1/projects/{slug}/stats/{name}", headers=headers)
        assert response.status_code == 200, response.get_json()
        out[name] = response.get_json()
    return out


def test_record_numbers_equal_the_dashboards(app, client, admin_headers, campaign):
    r = _reports(client, admin_headers, campaign.slug)
    record = _record(app, campaign)

    progress = r["progress"]
    assert (
        record.coverage.items,
        record.coverage.gold_items,
        record.coverage.complete,
        record.coverage.in_progress,
        record.coverage.untouched,
        record.coverage.judgments,
        record.coverage.revisions,
    ) == (
        progress["items"]["total"],
        progress["items"]["gold"],
        progress["items"]["complete"],
        progress["items"]["in_progress"],
        progress["items"]["untouched"],
        progress["judgments"]["total"],
        progress["judgments"]["revisions"],
    )
    assert record.coverage.overlap == 4
    assert record.coverage.per_day == {d["date"]: d["judgments"] for d in progress["per_day"]}
    assert sum(record.coverage.per_day.values()) == record.coverage.judgments
    assert sum(record.coverage.per_item.values()) == progress["items"]["total"]
    assert record.pool.raters == progress["raters"]["total"] == len(RATERS)
    assert record.pool.by_expertise == {"cardiology": 3, "pharmacy": 2}

    agreement = r["agreement"]
    expected = [("overall", s) for s in agreement["overall"]]
    expected += [(d["name"], s) for d in agreement["dimensions"] for s in d["stats"]]
    assert [(f.scope, f.key, stat_dict(f.stat)) for f in record.quality.agreement] == [
        (scope, s["key"], s["stat"]) for scope, s in expected
    ]
    assert {f.scope for f in record.quality.agreement} == {"overall", "correctness", "clarity"}
    assert record.quality.adjudicated_items == r["items"]["adjudicated_items"] == 3
    assert record.quality.adjudications == 3
    assert record.quality.promoted_to_gold == 3

    cost = r["cost"]
    assert record.time.hours == cost["hours"]
    assert record.time.median_seconds == cost["median_minutes"] * 60
    assert record.time.judgments == cost["judgments"]

    raters = [row for row in r["raters"]["raters"] if row["judgments"]]
    gold = sorted(row["gold_accuracy"]["value"] for row in raters if row["gold_accuracy"]["n"])
    assert record.pool.raters_with_gold == len(gold)
    assert record.pool.gold_accuracy["p50"] == pytest.approx(float(_median(gold)))
    assert stat_dict(record.biases.position) == r["raters"]["position_bias"]
    style = {f["feature"]: f["coefficient"] for f in r["leaderboard"]["style"]["features"]}
    assert stat_dict(record.biases.length) == style["length"]
    assert sum(record.biases.raters_length.values()) == len(RATERS)


def _median(values):
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


def test_pooled_position_bias_counts_every_raters_verdicts(client, admin_headers, campaign):
    body = _reports(client, admin_headers, campaign.slug)["raters"]
    rows = body["raters"]
    decided = sum(row["position_bias"]["n"] for row in rows)
    first_won = sum(
        round(row["position_bias"]["value"] * row["position_bias"]["n"])
        for row in rows
        if row["position_bias"]["n"]
    )
    pooled = body["position_bias"]
    assert pooled["n"] == decided > 0
    assert pooled["value"] == pytest.approx(first_won / decided)
    assert pooled["low"] < pooled["value"] < pooled["high"]


def test_guideline_versions_hashes_dates_and_judgments(app, campaign):
    record = _record(app, campaign)
    with app.app_context(), Session(db.engine()) as s:
        stored = (
            s.execute(
                sa.select(GuidelineVersion)
                .where(GuidelineVersion.project_id == campaign.id)
                .order_by(GuidelineVersion.version)
            )
            .scalars()
            .all()
        )
        expected = [
            (g.version, hashlib.sha256(g.text.encode()).hexdigest(), g.created_at.isoformat())
            for g in stored
        ]
    assert [(g.version, g.sha256, g.created_at) for g in record.protocol.guidelines] == expected
    assert [g.judgments for g in record.protocol.guidelines] == [record.coverage.judgments, 0]
    assert len(expected) == 2


def _export(runner, campaign, tmp_path, *extra):
    out = tmp_path / "prefs.jsonl"
    result = runner.invoke(
        main,
        ["export", "--project", campaign.slug, "--format", "dpo", "-o", str(out), "--card", *extra],
    )
    assert result.exit_code == 0, result.output
    return out, (tmp_path / "README.md").read_text(), (tmp_path / "croissant.json")


def test_card_states_the_record(app, runner, campaign, tmp_path):
    out, card, _ = _export(runner, campaign, tmp_path)
    record = _record(app, campaign)
    for g in record.protocol.guidelines:
        assert f"| {g.version} | `{g.sha256}` | {g.created_at} | {g.judgments} |" in card
    assert record_text.per_item(record) in card
    assert record_text.biases(record) in card
    for f in record.quality.agreement:
        assert f"| {f.scope} | {f.label} |" in card
        assert record_text.number(f.stat.value) in card
    assert f"Active hours: {record.time.hours:.2f} over {record.time.judgments} judgments" in card
    assert f"median seconds per judgment: {record.time.median_seconds:.1f}" in card
    assert "Adjudications: 3 on 3 items" in card
    assert "Model judges: 0 judgments" in card
    assert f"First judgment {record.first_judgment}, last {record.last_judgment}." in card


# mlcroissant 1.1.1 builds its graph with rdflib's deprecated ConjunctiveGraph: their warning.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_croissant_validates_and_states_the_record(app, runner, campaign, tmp_path, caplog):
    import mlcroissant

    out, _, path = _export(runner, campaign, tmp_path)
    caplog.set_level(logging.WARNING)
    dataset = mlcroissant.Dataset(jsonld=str(path))
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    assert not [r for r in caplog.records if "not standard" in r.getMessage()]
    rows = list(dataset.records("default"))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["default/prompt"].decode() for row in rows] == [x["prompt"] for x in lines]

    meta = json.loads(path.read_text())
    record = _record(app, campaign)
    assert meta["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    (file,) = meta["distribution"]
    assert file["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert file["encodingFormat"] == "application/jsonlines"
    assert meta["rai:annotationsPerItem"] == [record_text.per_item(record)]
    assert meta["rai:annotatorDemographics"] == [record_text.demographics(record)]
    assert meta["rai:dataBiases"] == [record_text.biases(record)]
    assert meta["rai:dataAnnotationProtocol"] == [record_text.protocol(record)]
    assert meta["rai:dataCollectionTimeFrame"] == [record.first_judgment, record.last_judgment]
    for g in record.protocol.guidelines:
        assert g.sha256 in meta["rai:dataAnnotationProtocol"][0]
    fields = {f["name"]: f["dataType"] for f in meta["recordSet"][0]["field"]}
    assert fields == {"prompt": "sc:Text", "chosen": "sc:Text", "rejected": "sc:Text"}
    assert "metadata" in meta["recordSet"][0]["description"]


def test_no_rater_is_named_in_card_or_croissant(runner, campaign, tmp_path):
    _, card, path = _export(runner, campaign, tmp_path)
    text = card + path.read_text()
    for username, name, *_ in RATERS:
        assert username not in text
        for part in name.replace(".", " ").split():
            if len(part) > 3:
                assert part not in text
    assert "chief" not in text.lower() and "Chief Editor" not in text


EVIL = '<img src=x onerror="alert(1)">&'


def test_html_report_is_standalone_escaped_and_states_the_record(app, runner, campaign, tmp_path):
    with app.app_context(), db.write_session() as s:
        s.execute(sa.update(Project).where(Project.id == campaign.id).values(name=EVIL))
    out = tmp_path / "audit.html"
    result = runner.invoke(main, ["report", "--project", campaign.slug, "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    record = _record(app, campaign)

    # Standalone: nothing fetched, nothing run.
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "src=" not in html.replace("src=x", "") and "url(" not in html
    assert "<style>" in html and html.count("<svg") >= 3
    # User input is escaped, everywhere it appears.
    assert EVIL not in html and "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in html
    # The record's figures.
    for g in record.protocol.guidelines:
        assert f"<code>{g.sha256}</code>" in html
    for f in record.quality.agreement:
        assert record_text.number(f.stat.value) in html
    assert f"Active hours {record.time.hours:.2f} over {record.time.judgments}" in html
    assert record_text.interval(record.biases.position) in html
    for username, name, *_ in RATERS:
        assert username not in html and name not in html


def test_report_of_an_unknown_project_fails_and_writes_nothing(runner, tmp_path):
    out = tmp_path / "reports" / "audit.html"
    out.parent.mkdir()
    result = runner.invoke(main, ["report", "--project", "nope", "--out", str(out)])
    assert result.exit_code == 1
    assert "No project" in result.output
    assert list(out.parent.iterdir()) == []


def test_api_card_states_the_same_record(app, client, admin_headers, runner, campaign, tmp_path):
    _, cli_card, _ = _export(runner, campaign, tmp_path)
    response = client.get(
        f"/api/v1/export/card?format=dpo&project={campaign.slug}", headers=admin_headers
    )
    assert response.status_code == 200
    api_card = response.get_data(as_text=True)
    section = "\n".join(record_text.markdown(_record(app, campaign)))
    assert section in api_card and section in cli_card
    assert (
        api_card.split("## How the data was made")[1]
        == cli_card.split("## How the data was made")[1]
    )


@pytest.mark.parametrize("mode", ["pairwise", "ranking", "rating"])
def test_a_project_without_judgments_has_a_record_of_nothing(app, runner, make, tmp_path, mode):
    rubric = [{"name": "q", "label": "Quality", "scope": "response", "kind": "likert", "points": 5}]
    project = make.project(slug=f"empty-{mode}", mode=mode, rubric=rubric)
    make.items(project, [item_row("q1", n_responses=3)])
    record = _record(app, project)
    assert (record.coverage.judgments, record.pool.raters, record.time.hours) == (0, 0, 0.0)
    assert (record.first_judgment, record.last_judgment) == (None, None)
    assert record.coverage.per_item == {0: 1}
    assert record.biases.position.value is None and record.biases.position.reason
    out = tmp_path / "empty.html"
    result = runner.invoke(main, ["report", "--project", project.slug, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "First judgment n/a, last n/a." in out.read_text()


def test_machine_involvement_counts_generations_by_model(app, make):
    from service.models import Generation, Source

    project = make.project(slug="gen")
    make.items(project, [item_row("q1")])
    with app.app_context(), db.write_session() as s:
        source = Source(name="gen-src", project_id=project.id, kind="generation", config={})
        s.add(source)
        s.flush()
        for k, (generator, status, model) in enumerate(
            [
                ("fast", "ok", "gpt-x"),
                ("fast", "ok", "gpt-x"),
                ("slow", "ok", None),
                ("slow", "failed", None),
            ]
        ):
            s.add(
                Generation(
                    source_id=source.id,
                    prompt_id=f"p{k}",
                    prompt_hash="0" * 64,
                    generator=generator,
                    status=status,
                    meta={"model": model} if model else {},
                )
            )
    machine = _record(app, project).machine
    assert machine.generated == {"fast (gpt-x)": 2, "slow": 1}
    assert machine.failed_generations == 1
    assert machine.responses_by_model == {"model-0": 1, "model-1": 1}
    assert (machine.judge_judgments, machine.judgments_by_role) == (0, {})


def _folder(runner, campaign, tmp_path, *formats):
    dest = tmp_path / "ds"
    chosen = [a for f in formats for a in ("--format", f)]
    result = runner.invoke(
        main, ["export", "--project", campaign.slug, *chosen, "--to-folder", str(dest)]
    )
    assert result.exit_code == 0, result.output
    return dest


def test_folder_card_states_the_record_once_as_the_plain_card_does(app, runner, campaign, tmp_path):
    _, card, _ = _export(runner, campaign, tmp_path)
    readme = (_folder(runner, campaign, tmp_path, "dpo", "votes", "raw") / "README.md").read_text()
    assert readme.count("# Rankroom export: ") == 3
    for heading in ("## How the data was made", "### Annotation protocol", "### Rater pool"):
        assert readme.count(heading) == 1, heading
    # Once, after every config's own section.
    assert readme.index("## How the data was made") > readme.rindex("# Rankroom export: ")
    assert "\n".join(record_text.markdown(_record(app, campaign))) in readme
    assert "`croissant.json` describes the same files and record" in readme
    assert readme.split("## How the data was made")[1] == card.split("## How the data was made")[1]


# mlcroissant 1.1.1 builds its graph with rdflib's deprecated ConjunctiveGraph, and reads
# Parquet with pandas' deprecated reset_index(inplace=True): their warnings.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_folder_croissant_validates_and_reads_back_the_parquet_rows(
    app, runner, campaign, tmp_path, caplog
):
    import mlcroissant
    import pyarrow.parquet as pq

    dest = _folder(runner, campaign, tmp_path, "dpo", "votes", "raw")
    path = dest / "croissant.json"
    caplog.set_level(logging.WARNING)
    dataset = mlcroissant.Dataset(jsonld=str(path))
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    assert not [r for r in caplog.records if "not standard" in r.getMessage()]

    meta = json.loads(path.read_text())
    names = [f"{fmt}/train-00000-of-00001.parquet" for fmt in ("dpo", "votes", "raw")]
    assert [(f["contentUrl"], f["encodingFormat"], f["sha256"]) for f in meta["distribution"]] == [
        (n, "application/x-parquet", hashlib.sha256((dest / n).read_bytes()).hexdigest())
        for n in names
    ]
    sets = {s["name"]: s for s in meta["recordSet"]}
    assert list(sets) == ["dpo_train", "votes_train", "raw_train"]
    typed = {name: {f["name"]: f["dataType"] for f in s["field"]} for name, s in sets.items()}
    assert typed["dpo_train"] == {"prompt": "sc:Text", "chosen": "sc:Text", "rejected": "sc:Text"}
    assert typed["raw_train"]["judgment_id"] == "sc:Integer"
    assert typed["raw_train"]["both_bad"] == "sc:Boolean"
    # Lists, structs and JSON are named, not typed.
    assert "spans" not in typed["raw_train"] and "rewrite" not in typed["raw_train"]
    for column in ("spans", "rewrite", "verdict", "responses"):
        assert column in sets["raw_train"]["description"]
    assert "metadata" in sets["dpo_train"]["description"]

    record = _record(app, campaign)
    assert meta["rai:dataAnnotationProtocol"] == [record_text.protocol(record)]
    assert meta["rai:annotationsPerItem"] == [record_text.per_item(record)]
    preprocessing = meta["rai:dataPreprocessingProtocol"]
    assert [fmt in preprocessing for fmt in ("dpo: ", "votes: ", "raw: ")] == [True] * 3

    # mlcroissant reads the Parquet files back (through pandas): the same rows.
    nulls = 0
    for name, fmt in (("dpo_train", "dpo"), ("raw_train", "raw")):
        table = pq.read_table(dest / f"{fmt}/train-00000-of-00001.parquet").to_pylist()
        got = list(dataset.records(name))
        assert len(got) == len(table) > 0
        for row, want in zip(got, table, strict=True):
            for column in typed[name]:
                value = row[f"{name}/{column}"]
                value = value.decode() if isinstance(value, bytes) else value
                assert value == want[column], (name, column, value, want[column])
                nulls += want[column] is None
    assert nulls > 0  # null cells (no confidence, no earlier version) read back as None
