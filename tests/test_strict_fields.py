"""Strict fields: every schema that reads input refuses wrong types instead of coercing them.

JSON bodies and files take JSON types only (``"false"`` is not a boolean, ``1.0`` not a
whole number); query strings take the canonical spelling only (``true``/``false``, ASCII
digits). Extreme times, pages and ids are a 422 or 404 naming the field, never a 500.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields

import service
from service.api import ErrorEnvelopeSchema
from service.rating.labels import JudgmentOutSchema
from service.schemas import (
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    TextBoolean,
    TextFloat,
    TextInteger,
    UtcDateTime,
)

STRICT = {
    fields.Boolean: (StrictBoolean, TextBoolean),
    fields.Number: (StrictInteger, TextInteger, StrictFloat, TextFloat),
    fields.DateTime: (UtcDateTime,),
}


# --- Every schema ---------------------------------------------------------------------


def _all_schemas() -> set[type[Schema]]:
    for module in pkgutil.walk_packages(service.__path__, "service."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = set(), [Schema]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("service."):
                found.add(sub)
    return found


def _schema_class(schema: Any) -> type[Schema] | None:
    if isinstance(schema, Schema):
        return type(schema)
    if isinstance(schema, type) and issubclass(schema, Schema):
        return schema
    return None


def _fields(field: fields.Field) -> list[fields.Field]:
    """Return ``field`` and the fields inside it (list items, dict keys and values)."""
    inner = [getattr(field, name, None) for name in ("inner", "key_field", "value_field")]
    inner += list(getattr(field, "tuple_fields", None) or [])
    return [field] + [f for i in inner if i is not None for f in _fields(i)]


def _nested(schema: type[Schema]) -> set[type[Schema]]:
    out = set()
    for declared in schema._declared_fields.values():
        for field in _fields(declared):
            if isinstance(field, fields.Nested):
                cls = _schema_class(field.nested)
                if cls is not None:
                    out |= {cls} | _nested(cls)
    return out


def _documented(app, part: str) -> set[type[Schema]]:
    """Return the schemas the API reads (``part="input"``) or only writes (``"output"``)."""
    out: set[type[Schema]] = set()
    for view in app.view_functions.values():
        doc = getattr(view, "_apidoc", {})
        if part == "input":
            found = [p["schema"] for p in doc.get("arguments", {}).get("parameters", [])]
            body = doc.get("manual_doc", {}).get("requestBody", {}).get("content", {})
            found += [c.get("schema") for c in body.values()]
        else:
            responses = doc.get("response", {}).get("responses", {}).values()
            found = [r.get("schema") for rs in responses for r in rs if isinstance(r, dict)]
        classes = {c for c in map(_schema_class, found) if c is not None}
        out |= classes | {n for c in classes for n in _nested(c)}
    return out


def _output_only(app) -> set[type[Schema]]:
    # Written, never read: the API's responses, the error envelope, and the judgment as
    # the rater's screen and API show it (dumped by hand).
    written = _documented(app, "output") | {ErrorEnvelopeSchema, JudgmentOutSchema}
    return written - _documented(app, "input")


def _lenient(schema: type[Schema]) -> list[str]:
    out = []
    for name, declared in schema._declared_fields.items():
        if declared.dump_only:
            continue  # never read
        for field in _fields(declared):
            for base, strict in STRICT.items():
                if isinstance(field, base) and not isinstance(field, strict):
                    out.append(
                        f"{schema.__module__}.{schema.__name__}.{name}: {type(field).__name__}"
                    )
    return out


def test_no_schema_that_reads_input_has_a_lenient_field(app):
    readers = _all_schemas() - _output_only(app)
    # The walk reaches the schemas that matter (API bodies, imports, sources, exports).
    names = {s.__name__ for s in readers}
    assert {"JudgmentInSchema", "ItemRowSchema", "ProjectSchema", "PageArgs"} <= names
    assert {"ExportOptionsSchema", "GenerationConfigSchema", "AuditListArgs"} <= names
    assert [problem for s in sorted(readers, key=str) for problem in _lenient(s)] == []


# --- The field classes ------------------------------------------------------------------


def _load(field: fields.Field, value: Any) -> Any:
    return field.deserialize(value)


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        (StrictBoolean(), [True, False], ["false", "true", 0, 1, None, "yes", []]),
        (TextBoolean(), ["true", "false", True], ["1", "yes", "True", "", "on", 1]),
        (StrictInteger(), [0, -5, 2**63 - 1], [1.0, 1.5, "12", True, 2**63, -(2**63) - 1]),
        (
            TextInteger(),
            ["12", "-3", "+4", 7],
            ["1.0", " 1", "1_000", "\u0663", "", "9" * 20, "9" * 5000, True],
        ),
        (StrictFloat(), [0.5, 3, -1e300], ["0.5", True, float("nan"), float("inf"), 10**400]),
        (TextFloat(), ["0.5", "1e3", "-2", ".5", 0.25], ["nan", "inf", "1e999", "0x10", "1_0", ""]),
    ],
    ids=[
        "StrictBoolean",
        "TextBoolean",
        "StrictInteger",
        "TextInteger",
        "StrictFloat",
        "TextFloat",
    ],
)
def test_strict_field_takes_only_its_type(field, good, bad):
    for value in good:
        _load(field, value)
    for value in bad:
        with pytest.raises(ValidationError):
            _load(field, value)


# --- Through the API ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"overlap": 3.0}, "overlap", "Not a valid integer."),
        ({"overlap": "3"}, "overlap", "Not a valid integer."),
        ({"gold_rate": "0.5"}, "gold_rate", "Not a valid number."),
        (
            {
                "rubric": [
                    {
                        "name": "q",
                        "label": "Q",
                        "scope": "item",
                        "kind": "text",
                        "required": "false",
                    }
                ]
            },
            "rubric.0.required",
            "Not a valid boolean.",
        ),
    ],
)
def test_project_fields_are_not_coerced(client, admin_headers, change, field, message):
    r = client.post(
        "/api/v1/projects", json={"slug": "p", "name": "P"} | change, headers=admin_headers
    )
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["errors"] == [{"field": field, "message": message}]
    assert client.get("/api/v1/projects/p", headers=admin_headers).status_code == 404


def test_a_5000_digit_integer_in_any_json_body_is_named(client, admin_headers):
    body = '{"slug": "p", "name": "P", "overlap": ' + "7" * 5000 + "}"
    r = client.post(
        "/api/v1/projects", data=body, content_type="application/json", headers=admin_headers
    )
    assert r.status_code == 422
    message = "a whole number of 5000 digits is too large."
    assert r.get_json()["errors"] == [{"field": "overlap", "message": message}]


UTC_RANGE = "Not a time that exists in UTC (years 1 to 9999)."


FILTERS = [
    ("since=0001-01-01T00:00:00%2B05:00", "since", UTC_RANGE),
    ("until=9999-12-31T23:59:59-05:00", "until", UTC_RANGE),
    ("actor_id=%201", "actor_id", "Not a valid integer."),
]
# Query-string numbers are ASCII digits: int() would take these.
PAGES = [
    ("page=1_0", "page", "Not a valid integer."),
    ("per_page=%2050", "per_page", "Not a valid integer."),
    ("page=%D9%A3", "page", "Not a valid integer."),  # an Arabic-Indic three
]


@pytest.mark.parametrize(
    ("path", "query", "field", "message"),
    [("/api/v1/audit", *case) for case in FILTERS + PAGES]
    + [("/api/v1/audit/export", *case) for case in FILTERS],
)
def test_extreme_audit_queries_are_refused_naming_the_field(
    client, admin_headers, path, query, field, message
):
    r = client.get(f"{path}?{query}", headers=admin_headers)
    assert r.status_code == 422, r.data
    assert r.get_json()["errors"] == [{"field": field, "message": message}]


def test_admin_pages_refuse_a_page_past_the_last_possible(client, auth):
    auth.as_role("admin")
    r = client.get("/admin/audit?page=" + "9" * 30, headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {"field": "page", "message": "a whole number from 1 to 1000000"}
    ]


@pytest.mark.parametrize("value", ["yes", "1", "True", "on"])
def test_query_booleans_are_true_or_false(client, admin_headers, value):
    r = client.get(f"/api/v1/users?active={value}", headers=admin_headers)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [{"field": "active", "message": "Not a valid boolean."}]
    assert client.get("/api/v1/users?active=false", headers=admin_headers).status_code == 200


def test_a_path_id_of_5000_digits_is_not_found(client, admin_headers):
    r = client.get("/api/v1/assignments/" + "9" * 5000, headers=admin_headers)
    assert r.status_code == 404 and r.get_json()["ok"] is False


def test_a_dashboard_date_past_the_calendar_is_refused(client, admin_headers, make):
    make.project(slug="dash")
    r = client.get("/api/v1/projects/dash/stats/progress?to=9999-12-31", headers=admin_headers)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [{"field": "to", "message": "a date up to 9999-12-30"}]


def test_export_since_before_year_one_in_utc_is_refused_by_api_and_cli(
    client, admin_headers, make, runner, tmp_path
):
    from service import cli

    make.project(slug="ex")
    since = "0001-01-01T00:00:00+05:00"
    r = client.get(
        "/api/v1/export",
        query_string={"format": "raw", "project": "ex", "since": since},
        headers=admin_headers,
    )
    assert r.status_code == 422
    message = "not a time that exists in UTC (years 1 to 9999)"
    assert r.get_json()["errors"] == [{"field": "since", "message": message}]
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        cli.main,
        ["export", "--format", "raw", "--project", "ex", "--since", since, "--output", str(out)],
    )
    assert result.exit_code != 0
    assert message in result.output
