"""One poison value: refused on submit (422 naming the field), survived by exports and reports.

Python's JSON parser reads ``NaN``, ``Infinity`` and ``1e400`` (as infinity); no standard
reader reads them back. Before submissions were checked, SQLite stored them as written, and
every export that read the row died mid-stream. Legacy rows are simulated here by writing
the token into a stored judgment directly.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from service import db
from service.cli import main
from service.models import Assignment, Item, Judgment
from tests import export_dataset
from tests.factories import item_row, rewriting_history

NUMBER = {"name": "score", "label": "Score", "scope": "response", "kind": "number"}
LIKERT = {"name": "quality", "label": "Quality", "scope": "response", "kind": "likert", "points": 5}
ITEM_NUMBER = {"name": "effort", "label": "Effort", "scope": "item", "kind": "number"}

# Legacy rows are written straight into the database, past the counters.
pytestmark = pytest.mark.drift


# --- Refused on submit ---------------------------------------------------------------


@pytest.fixture
def rater(auth):
    return auth.as_role("rater")


def _lease(client, auth, slug):
    r = client.post(f"/api/v1/projects/{slug}/next", headers={"X-CSRF-Token": auth.csrf()})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["assignment"]


def _post_raw(client, auth, url, body: str):
    """POST a JSON body as text: Python's json module writes no Infinity tokens for us."""
    headers = {"X-CSRF-Token": auth.csrf(), "Accept": "application/json"}
    return client.post(url, data=body, content_type="application/json", headers=headers)


def _body(payload: dict[str, Any], token: str) -> str:
    """Return ``payload`` as JSON text with ``token`` written where it says "TOKEN"."""
    return json.dumps({"client_id": str(uuid.uuid4()), **payload}).replace('"TOKEN"', token)


def _judgments(app) -> list[Judgment]:
    with app.app_context():
        return list(db.session().exec(sa.select(Judgment)).scalars())


@pytest.mark.parametrize("token", ["1e400", "Infinity", "NaN", "-Infinity", "-1e400", "1e16"])
@pytest.mark.parametrize(
    ("dims", "rubric", "field"),
    [
        ([NUMBER], {"response": {"A": {"score": "TOKEN"}}}, "rubric.response.A.score"),
        ([ITEM_NUMBER], {"item": {"effort": "TOKEN"}}, "rubric.item.effort"),
    ],
    ids=["response", "item"],
)
def test_non_finite_or_huge_number_is_refused_naming_the_field(
    app, client, auth, make, rater, token, dims, rubric, field
):
    project = make.project(mode="pairwise", scale="ternary", rubric=dims)
    make.items(project, [item_row("q1")])
    shown = _lease(client, auth, project.slug)
    body = _body({"verdict": {"choice": "A"}, "rubric": rubric}, token)
    r = _post_raw(client, auth, f"/api/v1/assignments/{shown['id']}/judgment", body)
    assert r.status_code == 422, r.data
    body = r.get_json()
    assert body.pop("request_id")
    assert body == {
        "ok": False,
        "status": 422,
        "error": "The judgment is incomplete or invalid.",
        "errors": [{"field": field, "message": "a number from -1e+15 to 1e+15"}],
    }
    assert _judgments(app) == []
    with app.app_context():
        assert db.session().get(Assignment, shown["id"]).status == "active"


def test_bounds_of_a_number_field_stay_within_the_limit(app, client, auth, make, rater):
    project = make.project(
        mode="pairwise", scale="ternary", rubric=[NUMBER | {"min": 0, "max": 10}]
    )
    make.items(project, [item_row("q1")])
    shown = _lease(client, auth, project.slug)
    url = f"/api/v1/assignments/{shown['id']}/judgment"

    def send(score: float) -> Any:
        rubric = {"response": {"B": {"score": score}}}
        return _post_raw(
            client, auth, url, _body({"verdict": {"choice": "A"}, "rubric": rubric}, "")
        )

    r = send(11)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "rubric.response.B.score", "message": "a number from 0 to 10"}
    ]
    assert send(1e15).status_code == 422  # within the limit, past the field's own max
    good = send(9.5)
    assert good.status_code == 201, good.get_json()
    (j,) = _judgments(app)
    assert j.rubric["response"][j.shown_order[1]] == {"score": 9.5}


def test_project_rubric_bounds_must_be_finite_and_within_the_limit(client, admin_headers):
    dim = NUMBER | {"max": 1e300}
    r = client.post(
        "/api/v1/projects",
        json={"slug": "huge", "name": "Huge", "rubric": [dim]},
        headers=admin_headers,
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.get_json()["errors"]] == ["rubric.0.max"]


# Infinity, NaN and 1e400 were refused already (the API's schema, the domain's int check);
# a whole number past the 32-bit column made PostgreSQL fail with a 500.
@pytest.mark.parametrize("value", ["2147483648", "1" + "0" * 40])
def test_active_time_out_of_range_is_refused(app, client, auth, make, rater, value):
    project = make.project(mode="pairwise", scale="ternary")
    make.items(project, [item_row("q1")])
    shown = _lease(client, auth, project.slug)
    body = _body({"verdict": {"choice": "A"}, "active_ms": "TOKEN"}, value)
    r = _post_raw(client, auth, f"/api/v1/assignments/{shown['id']}/judgment", body)
    assert r.status_code == 422, r.data
    message = "milliseconds of active time, a whole number up to 2147483647"
    assert [(e["field"], e["message"]) for e in r.get_json()["errors"]] == [("active_ms", message)]
    assert _judgments(app) == []


def test_rating_screen_submit_refuses_infinity_too(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="ternary", rubric=[NUMBER])
    make.items(project, [item_row("q1")])
    shown = _lease(client, auth, project.slug)
    rubric = {"response": {"B": {"score": "TOKEN"}}}
    body = _body({"verdict": {"choice": "A"}, "rubric": rubric}, "-Infinity")
    r = _post_raw(client, auth, f"/rate/assignments/{shown['id']}/judgment", body)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "rubric.response.B.score", "message": "a number from -1e+15 to 1e+15"}
    ]
    assert _judgments(app) == []


# --- Survived by exports --------------------------------------------------------------

FORMATS = ("dpo", "reward", "kto", "openai", "hh", "ranking", "ratings", "raw")
# PostgreSQL's json type refuses NaN and Infinity; it keeps 1e400, which nothing reads back.
TOKENS = {"sqlite": ["Infinity", "NaN", "1e400", "-Infinity"], "postgresql": ["1e400", "-1e400"]}


def _poison(app, judgment: Judgment, token: str) -> None:
    """Write ``token`` in place of the stored "POISON" marker, as a legacy row would hold it."""
    table = Judgment.__table__
    with app.app_context(), db.write_session() as s, rewriting_history(s):
        text = sa.func.replace(sa.cast(table.c.rubric, sa.Text), '"POISON"', token)
        s.execute(
            table.update()
            .where(table.c.id == judgment.id)
            .values(rubric=sa.cast(text, table.c.rubric.type) if not _sqlite(app) else text)
        )


def _sqlite(app) -> bool:
    with app.app_context():
        return db.engine().dialect.name == "sqlite"


@pytest.fixture
def poisoned(app, make) -> dict[str, Any]:
    """A pairwise and a rating project, each with two good judgments and one poisoned."""
    dims = [NUMBER, LIKERT]
    pw = make.project(slug="pw", mode="pairwise", scale="ternary", rubric=dims, overlap=3)
    rt = make.project(slug="rt", mode="rating", rubric=dims, overlap=3)
    raters = [make.user(username=f"u{i}") for i in range(3)]
    (p1,) = make.items(pw, [item_row("p1")])
    (r1,) = make.items(rt, [item_row("r1")])
    out: dict[str, Any] = {"good": {}, "bad": {}}
    for project, item in (("pw", p1), ("rt", r1)):
        made = []
        for i, rater in enumerate(raters):
            poison = "POISON" if i == 2 else 2
            scores = {"a": {"score": 7 - i, "quality": 5 - i}, "b": {"score": poison, "quality": 2}}
            if i == 2:
                scores["b"]["quality"] = "POISON"
            mode = "pairwise" if project == "pw" else "rating"
            made.append(
                make.judgment(
                    item,
                    rater,
                    mode=mode,
                    preferred="a" if mode == "pairwise" else None,
                    rubric={"response": scores, "item": {}},
                )
            )
        out["good"][project] = [j.id for j in made[:2]]
        out["bad"][project] = made[2]
    return out


def _dialect(app) -> str:
    return "sqlite" if _sqlite(app) else "postgresql"


def _strict_lines(data: bytes) -> list[dict[str, Any]]:
    fail = lambda c: pytest.fail(f"{c} in the export")  # noqa: E731
    return [json.loads(line, parse_constant=fail) for line in data.splitlines()]


@pytest.mark.parametrize("project", ["pw", "rt"])
def test_every_format_skips_and_names_a_poisoned_judgment(
    app, client, runner, make, poisoned, project, tmp_path
):
    engineer = make.user(role="engineer", username="eng")
    _, secret = make.token(engineer, ["export"])
    headers = {"Authorization": f"Bearer {secret}"}
    bad = poisoned["bad"][project]
    _poison(app, bad, TOKENS[_dialect(app)][0])
    for fmt in FORMATS:
        query = f"format={fmt}&project={project}&kto_threshold=4.5"
        r = client.get(f"/api/v1/export?{query}", headers=headers)
        assert r.status_code == 200
        rows = _strict_lines(r.get_data())
        assert rows, fmt
        ids = {(row.get("metadata") or row).get("judgment_id") for row in rows}
        # Pair formats of a pairwise project read the verdict, not the rubric: the
        # poisoned judgment's verdict is fine and is exported.
        reads_rubric = fmt in ("raw", "ratings", "kto") or project == "rt"
        assert (bad.id in ids) is (not reads_rubric and fmt != "ranking"), fmt
        if fmt == "raw":
            assert sorted(ids) == poisoned["good"][project]
        card = client.get(f"/api/v1/export/card?{query}", headers=headers).get_data(as_text=True)
        if reads_rubric:
            assert "1 stored row(s) could not be read or written" in card, fmt
            assert f"| {bad.id} | {'p1' if project == 'pw' else 'r1'} | rubric | " in card
        else:  # pair formats of a pairwise project never read the rubric
            assert "None: every stored row could be read." in card, fmt
    out = tmp_path / "raw.jsonl"
    result = runner.invoke(
        main, ["export", "--format", "raw", "--project", project, "-o", str(out), "--card"]
    )
    assert result.exit_code == 0, result.output
    assert len(_strict_lines(out.read_bytes())) == 2
    assert "Warning: 1 stored row(s) could not be exported:" in result.stderr
    assert f"judgment {bad.id} (item {'p1' if project == 'pw' else 'r1'}, rubric): " in (
        result.stderr
    )
    assert f"| {bad.id} |" in (tmp_path / "README.md").read_text()


def test_each_poison_token_is_named_with_its_reason(app, make, poisoned):
    bad = poisoned["bad"]["rt"]
    named = []
    for token in TOKENS[_dialect(app)]:
        # One more poisoned judgment per token, each by a new rater.
        with app.app_context():
            item = db.session().get(Item, bad.item_id)
        j = make.judgment(
            item,
            make.user(),
            mode="rating",
            rubric={"response": {"a": {"score": "POISON"}}, "item": {}},
        )
        _poison(app, j, token)
        named.append(j.id)
    _poison(app, bad, TOKENS[_dialect(app)][0])
    data, summary = export_dataset.export_bytes(app, format="ratings", project="rt")
    assert len(_strict_lines(data)) == 2  # responses a and b, from the two good judgments
    assert [s["judgment_id"] for s in summary.skipped] == sorted([bad.id, *named])
    reason = "not standard JSON (NaN, Infinity or a number past float range): "
    for skipped in summary.skipped:
        assert (skipped["item_id"], skipped["field"]) == ("r1", "rubric")
        assert skipped["reason"].startswith(reason)
    assert summary.as_dict()["skipped_rows"] == summary.skipped
    assert summary.complete


# --- Survived by dashboards -----------------------------------------------------------


# The reports that read the rubric's likert dimension (the others never see the poison).
READ_RUBRIC = {
    "pw": {"agreement", "raters"},
    "rt": {"agreement", "kappa", "raters", "items", "leaderboard"},
}


@pytest.mark.parametrize("project", ["pw", "rt"])
def test_every_report_skips_and_names_a_poisoned_judgment(app, client, make, poisoned, project):
    from service.dashboards import REPORTS

    admin = make.user("admin")
    _, secret = make.token(admin, ["stats"])
    headers = {"Authorization": f"Bearer {secret}"}
    bad = poisoned["bad"][project]
    _poison(app, bad, TOKENS[_dialect(app)][0])
    for name in REPORTS:
        r = client.get(f"/api/v1/projects/{project}/stats/{name}", headers=headers)
        assert r.status_code == 200, (name, r.data[:300])
        (body,) = _strict_lines(r.data)
        named = [(s["judgment_id"], s["field"]) for s in body["skipped_rows"]]
        assert named == ([(bad.id, "rubric")] if name in READ_RUBRIC[project] else []), name
        reasons = [s["reason"] for s in body["skipped_rows"]]
        assert all(r.startswith("not standard JSON (NaN, Infinity") for r in reasons)


def test_dashboard_page_names_the_skipped_judgment(app, client, auth, poisoned):
    auth.as_role("admin")
    bad = poisoned["bad"]["rt"]
    _poison(app, bad, TOKENS[_dialect(app)][0])
    r = client.get("/projects/rt/dashboard/raters")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "1 judgment(s) left out: a stored value could not be read." in page
    assert f"Judgment {bad.id}, rubric: not standard JSON" in page
