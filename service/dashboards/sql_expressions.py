"""Portable SQL the dashboards' queries need, compiled for SQLite and for PostgreSQL.

Pulling numbers out of JSON columns in the database is several times faster than decoding
100,000 JSON documents in Python, and epoch seconds are cheaper than datetimes.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class epoch_seconds(FunctionElement):  # noqa: N801 (SQL functions read lowercase)
    """Seconds since 1970 (UTC) of a timestamp column, as a float."""

    type = sa.Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    # SQLite keeps UTC timestamps as ISO text; julianday() parses them.
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"


class json_list_contains(FunctionElement):  # noqa: N801
    """True when a JSON list column holds a string value."""

    type = sa.Boolean()
    inherit_cache = True

    def __init__(self, column: Any, value: str) -> None:
        super().__init__(column, sa.literal(value), sa.literal(json.dumps([value])))


@compiles(json_list_contains, "sqlite")
def _contains_sqlite(element: json_list_contains, compiler: Any, **kw: Any) -> str:
    column, value, _ = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


@compiles(json_list_contains, "postgresql")
def _contains_pg(element: json_list_contains, compiler: Any, **kw: Any) -> str:
    column, _, as_list = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({column} AS JSONB) @> CAST({as_list} AS JSONB))"


class _ResponseScore(FunctionElement):
    """rubric["response"][<response id>][dimension] of a judgment.

    The response id is an SQL expression: the id shown at a screen position (read from the
    judgment's shown order), or a literal id.
    """

    inherit_cache = True

    def __init__(self, rubric: Any, response: Any, dimension: str) -> None:
        super().__init__(rubric, response, sa.literal(dimension))


class response_number(_ResponseScore):  # noqa: N801
    """A per-response rubric score as a number (likert, number dimensions)."""

    type = sa.Float()
    inherit_cache = True


class response_text(_ResponseScore):  # noqa: N801
    """A per-response rubric value as text (choice dimensions)."""

    type = sa.String()
    inherit_cache = True


def _score_sqlite(element: _ResponseScore, compiler: Any, **kw: Any) -> str:
    rubric, response, dimension = (compiler.process(c, **kw) for c in element.clauses)
    # The path $.response."<id>"."<dimension>"; SQLite evaluates it once per statement when
    # the id is a literal, and per row when it comes from the shown order.
    path = f"'$.response.' || json_quote({response}) || '.' || json_quote({dimension})"
    return f"json_extract({rubric}, {path})"


def _score_pg(element: _ResponseScore, compiler: Any, **kw: Any) -> str:
    rubric, response, dimension = (compiler.process(c, **kw) for c in element.clauses)
    # One path lookup (#>>) parses the json text once; chained -> operators parse it per step.
    value = (
        f"(({rubric}) #>> ARRAY['response', CAST({response} AS TEXT), CAST({dimension} AS TEXT)])"
    )
    return f"CAST({value} AS DOUBLE PRECISION)" if isinstance(element, response_number) else value


for _cls in (response_number, response_text):
    compiles(_cls, "sqlite")(_score_sqlite)
    compiles(_cls, "postgresql")(_score_pg)
