"""Property-based fuzz of the JSON API from its own OpenAPI document, in-process.

Schemathesis generates valid and invalid requests for every documented operation
and sends them to the WSGI app as an admin (bearer token): no answer may be a
server error, and every answer must match its documented status, type and schema.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import SQLModel

from service import db
from tests.factories import item_row

pytestmark = pytest.mark.fuzz

# The suite's bounded run; scripts/fuzz_api.py raises both for a longer one.
EXAMPLES = int(os.environ.get("RANKROOM_FUZZ_EXAMPLES", "12"))
SEQUENCES = int(os.environ.get("RANKROOM_FUZZ_SEQUENCES", "15"))

# How many cases each operation gets, the same every run.
CASES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# Operations whose invalid coverage cases repeat what other cases already show; they keep
# their valid coverage cases and the random ones. (The coverage phase sends every invalid
# value of every field of every operation: 6,658 requests a backend, 5,399 with this; every
# 200 and 201 answer is still among them.)
# - GET /export/card reads its query with the same schema and decorator as GET /export
#   (ExportOptionsSchema), which refuses a bad value before either handler runs: the same
#   729 refusals twice.
# - The rating calls refuse the admin, who is no rater, before reading the body: 247
#   coverage cases each, every one a 403.
VALID_COVERAGE_ONLY = [  # by path alone: schemathesis ORs a method and a path filter
    "/api/v1/export/card",
    "/api/v1/assignments/{assignment_id}/judgment",
    "/api/v1/assignments/{assignment_id}/judgment-and-next",
    "/api/v1/judgments/{judgment_id}/revise",
]
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {"include-path": path, "phases": {"coverage": {"generation": {"mode": "positive"}}}}
            for path in VALID_COVERAGE_ONLY
        ]
    }
)


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@CASES
def test_api_answers_as_documented(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


def _rows(engine: sa.Engine) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        return {
            t.name: [dict(r._mapping) for r in conn.execute(t.select())]
            for t in SQLModel.metadata.sorted_tables
        }


def _restore(engine: sa.Engine, rows: dict[str, list[dict]]) -> None:
    tables = SQLModel.metadata.sorted_tables
    with engine.begin() as conn:
        for t in reversed(tables):
            conn.execute(t.delete())
        for t in tables:
            if rows[t.name]:
                conn.execute(t.insert(), rows[t.name])


# The one write a refused call may make: a token records its use (once a minute at most),
# whatever the answer.
BOOKKEEPING = {("api_token", "last_used_at")}


def _stored(engine: sa.Engine) -> list:
    """Every table's rows (but BOOKKEEPING) as the driver returns them, to compare.

    Raw SQL, and one round trip on PostgreSQL: the rating fuzz takes this after each of
    its ~800 calls, and 29 typed SQLAlchemy queries made it half of that test's time.
    """
    queries = []
    for t in SQLModel.metadata.sorted_tables:
        columns = ", ".join(f'"{c.name}"' for c in t.columns if (t.name, c.name) not in BOOKKEEPING)
        order = ", ".join(f'"{c.name}"' for c in t.primary_key.columns)
        queries.append((f'SELECT {columns} FROM "{t.name}"', order))
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            every = ", ".join(f"(SELECT json_agg(x ORDER BY {o}) FROM ({q}) x)" for q, o in queries)
            return list(conn.exec_driver_sql(f"SELECT {every}").one())
        return [conn.exec_driver_sql(f"{q} ORDER BY {o}").all() for q, o in queries]


@pytest.fixture
def workflow(app, api_schema, admin_headers):
    """Call sequences built from the links schemathesis infers between operations."""
    engine = db.engine_of(app)
    start = _rows(engine)

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def teardown(self):
            # Every sequence starts from the same database. Hypothesis replays a sequence
            # to shrink it and requires the same answers; what an earlier sequence left
            # (a project taken, the admin deactivated) would change them.
            _restore(engine, start)

        def get_call_kwargs(self, case):
            return {"headers": admin_headers}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=CHECKS)

    return Workflow


def test_api_call_sequences_answer_as_documented(workflow):
    # Create a project or source, then read, change and use it: no step may be a 500.
    workflow.run(
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


# The rating calls as their one caller, a rater on a live lease: every valid and invalid
# value of every field of the judgment body (the coverage phase), then random bodies.
RUBRIC = [
    {"name": "correct", "label": "Correct", "scope": "response", "kind": "likert", "points": 5},
    {
        "name": "issues",
        "label": "Issues",
        "scope": "item",
        "kind": "flags",
        "options": [{"value": "wrong", "label": "Wrong"}],
    },
    {"name": "why", "label": "Why", "scope": "item", "kind": "text"},
]
RATING_PATHS = "^/api/v1/(assignments/[^/]+/judgment(-and-next)?|judgments/[^/]+/revise)$"


@pytest.fixture
def rating_api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


rating_schema = schemathesis.pytest.from_fixture("rating_api_schema").include(
    path_regex=RATING_PATHS
)


@pytest.fixture
def rater_on_a_lease(client, make):
    """A rater's bearer headers, their judgment to revise and a live lease (``Rater``)."""
    project = make.project(mode="pairwise", scale="ternary", rubric=RUBRIC, overlap=3)
    make.items(project, [item_row(f"q{i}") for i in range(20)])
    _, secret = make.token(make.user("rater"), ["admin"])  # all the rater's role allows
    rater = Rater(client, f"/api/v1/projects/{project.slug}/next", secret)
    first = rater.lease()
    done = client.post(
        f"/api/v1/assignments/{first}/judgment",
        headers=rater.headers,
        json={"client_id": "first-judgment", "verdict": {"choice": "A"}},
    )
    assert done.status_code == 201, done.get_json()
    rater.ids = {"assignment_id": rater.lease(), "judgment_id": done.get_json()["id"]}
    return rater


class Rater:
    """A rater through the API: bearer headers, and the ids the fuzzed calls act on."""

    def __init__(self, client, next_path: str, secret: str) -> None:
        self.client, self.next_path = client, next_path
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.ids: dict[str, int] = {}
        self.rows: list | None = None

    def lease(self) -> int:
        answer = self.client.post(self.next_path, headers=self.headers).get_json()
        assert answer["assignment"], answer  # the project has items enough for the run
        return answer["assignment"]["id"]

    def after(self, case, response) -> None:
        """Move on from what an accepted call used up: a submitted lease, a revised judgment."""
        if case.path.endswith("/revise"):
            self.ids["judgment_id"] = response.json()["id"]
        else:
            self.ids["assignment_id"] = self.lease()


@rating_schema.parametrize()
@CASES
def test_rating_bodies_from_a_rater_answer_as_documented_and_store_nothing_when_refused(
    case, app, rater_on_a_lease
):
    rater, engine = rater_on_a_lease, db.engine_of(app)
    if rater.rows is None:  # the database as the last accepted call left it
        rater.rows = _stored(engine)
    # The rater's own lease and judgment: other ids are refused before the body is read.
    case.path_parameters = {k: rater.ids[k] for k in case.path_parameters}
    response = case.call_and_validate(headers=rater.headers, checks=CHECKS)
    if response.status_code >= 400 or case.method != "POST":  # refused, or OPTIONS
        assert _stored(engine) == rater.rows, response.text
    else:
        rater.after(case, response)
        rater.rows = None
