"""The rubric's rules on literals (kinds, numeric, main dimension, values a dimension
accepts), its one parse point, and a guard that the code reads dimensions as objects.

``service.rubric`` owns the rubric: ``rubric_of`` parses ``Project.rubric`` (stored JSON, as
``schemas.RubricDimensionSchema`` loads it) into a ``Rubric`` of frozen ``Dimension``
objects. The last tests fail if code elsewhere reads a dimension dict by key again.
"""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from service import db
from service.models import Project
from service.rubric import (
    NUMBER_LIMIT,
    TEXT_LIMIT,
    Dimension,
    InvalidValue,
    Option,
    Rubric,
    RubricKind,
    RubricScope,
    rubric_of,
)
from service.schemas import ProjectSchema, RubricDimensionSchema

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "service"


def dim(kind: str, scope: str = "response", name: str = "x", **more: Any) -> Dimension:
    stored = {"name": name, "label": name.title(), "scope": scope, "kind": kind, **more}
    return Dimension.from_stored(RubricDimensionSchema().load(stored))


OPTIONS = [{"value": "warm", "label": "Warm"}, {"value": "cold", "label": "Cold"}]
LIKERT = {"kind": "likert", "points": 5}
NUMBER = {"kind": "number", "min": 0, "max": 10}


def test_the_kinds_are_the_ones_the_schema_accepts():
    assert [k.value for k in RubricKind] == ["likert", "choice", "flags", "text", "number"]
    assert [s.value for s in RubricScope] == ["response", "item", "turn"]
    errors = RubricDimensionSchema().validate(
        {"name": "x", "label": "X", "scope": "response", "kind": "stars"}
    )
    assert errors == {"kind": ["Must be one of: likert, choice, flags, text, number."]}


def test_a_turn_dimension_is_answered_per_turn_not_per_response_or_item():
    rubric = Rubric(
        (dim("likert", "response", "r", points=5), dim("likert", "turn", "t", points=5))
        + (dim("text", "item", "i"),)
    )
    assert [d.name for d in rubric.per_turn] == ["t"]
    assert [d.name for d in rubric.per_response] == ["r"]
    assert [d.name for d in rubric.per_item] == ["i"]
    # A turn score ranks no response: the main rating stays the response scale.
    assert rubric.main_rating.name == "r"
    assert [d.name for d in rubric.comparable()] == ["r", "t"]


@pytest.mark.parametrize(
    ("stored", "numeric", "comparable"),
    [
        (LIKERT, True, True),
        (NUMBER, True, False),
        ({"kind": "choice", "options": OPTIONS}, False, True),
        ({"kind": "flags", "options": OPTIONS}, False, False),
        ({"kind": "text"}, False, False),
    ],
)
def test_which_kinds_are_scores_and_which_compare_raters(stored, numeric, comparable):
    d = dim(**stored)
    assert (d.numeric, d.comparable) == (numeric, comparable)


@pytest.mark.parametrize(
    ("names", "main"),
    [
        # (name, scope, kind): the first per-response likert or number, in rubric order.
        (
            [
                ("hard", "item", "likert"),
                ("tone", "response", "choice"),
                ("score", "response", "number"),
                ("quality", "response", "likert"),
            ],
            "score",
        ),
        ([("quality", "response", "likert"), ("score", "response", "number")], "quality"),
        ([("hard", "item", "likert"), ("tone", "response", "choice")], None),
        ([("note", "response", "text"), ("issues", "response", "flags")], None),
        ([], None),
    ],
)
def test_the_main_rating_dimension(names, main):
    extra = {"likert": LIKERT, "number": NUMBER, "choice": {"options": OPTIONS}}
    extra["flags"] = extra["choice"]
    dims = tuple(dim(scope=s, name=n, **(extra.get(k, {}) | {"kind": k})) for n, s, k in names)
    rubric = Rubric(dims)
    assert (rubric.main_rating.name if rubric.main_rating else None) == main
    assert [d.name for d in rubric.per_response] == [n for n, s, _ in names if s == "response"]
    assert [d.name for d in rubric.per_item] == [n for n, s, _ in names if s == "item"]


@pytest.mark.parametrize(
    ("stored", "midpoint"),
    [
        (LIKERT, 3.0),
        ({"kind": "likert", "points": 4}, 2.5),
        (NUMBER, 5.0),
        ({"kind": "number", "min": -1}, None),  # no upper bound: no middle
        ({"kind": "text"}, None),
    ],
)
def test_the_midpoint_of_a_scale(stored, midpoint):
    assert dim(**stored).midpoint() == midpoint


ACCEPTED = [
    # (dimension, value sent, value stored)
    (LIKERT, 1, 1),
    (LIKERT, 5, 5),
    ({"kind": "choice", "options": OPTIONS}, "cold", "cold"),
    ({"kind": "flags", "options": OPTIONS}, ["warm", "cold"], ["cold", "warm"]),
    ({"kind": "flags", "options": OPTIONS}, [], []),
    ({"kind": "text"}, "  fine  ", "fine"),
    ({"kind": "text"}, "x" * TEXT_LIMIT, "x" * TEXT_LIMIT),
    (NUMBER, 0, 0),
    (NUMBER, 9.5, 9.5),
    ({"kind": "number"}, -NUMBER_LIMIT, -NUMBER_LIMIT),
]
REFUSED = [
    # (dimension, value sent, what the rater is told)
    (LIKERT, 0, "choose a point from 1 to 5"),
    (LIKERT, 6, "choose a point from 1 to 5"),
    (LIKERT, 3.0, "choose a point from 1 to 5"),
    (LIKERT, True, "choose a point from 1 to 5"),
    (LIKERT, "3", "choose a point from 1 to 5"),
    ({"kind": "choice", "options": OPTIONS}, "hot", "choose one of cold, warm"),
    ({"kind": "choice", "options": OPTIONS}, ["warm"], "choose one of cold, warm"),
    ({"kind": "flags", "options": OPTIONS}, ["warm", "warm"], "choose any of cold, warm"),
    ({"kind": "flags", "options": OPTIONS}, ["hot"], "choose any of cold, warm"),
    ({"kind": "flags", "options": OPTIONS}, "warm", "choose any of cold, warm"),
    ({"kind": "text"}, "x" * (TEXT_LIMIT + 1), "text up to 20000 characters"),
    ({"kind": "text"}, 5, "text up to 20000 characters"),
    (NUMBER, 10.5, "a number from 0 to 10"),
    (NUMBER, math.nan, "a number from 0 to 10"),
    (NUMBER, False, "a number from 0 to 10"),
    ({"kind": "number"}, math.inf, "a number from -1e+15 to 1e+15"),
    ({"kind": "number"}, 2e15, "a number from -1e+15 to 1e+15"),
    ({"kind": "number", "min": 1}, 0.5, "a number from 1 to 1e+15"),
]


@pytest.mark.parametrize(("stored", "value", "kept"), ACCEPTED)
def test_a_dimension_accepts_a_value_and_stores_it_so(stored, value, kept):
    assert dim(**stored).check(value) == kept


@pytest.mark.parametrize(("stored", "value", "message"), REFUSED)
def test_a_dimension_refuses_a_value_and_says_what_it_takes(stored, value, message):
    with pytest.raises(InvalidValue) as refused:
        dim(**stored).check(value)
    assert str(refused.value) == message


@pytest.mark.parametrize("template", ["pairwise", "pairwise-likert7", "ranking", "rating"])
def test_a_stored_rubric_reads_back_to_the_same_json(template):
    data = json.loads((ROOT / "prompts" / "templates" / f"{template}.json").read_text())
    stored = ProjectSchema().load({"slug": "t", "name": "T", **data})["rubric"]
    rubric = Rubric.from_stored(stored)
    assert json.dumps([d.as_dict() for d in rubric]) == json.dumps(stored)
    assert all(isinstance(d.kind, RubricKind) and isinstance(d.scope, RubricScope) for d in rubric)
    likert = next(d for d in rubric if d.kind == RubricKind.LIKERT)
    assert likert.anchor(1) and likert.anchor(99) == ""


def test_options_are_typed_in_rubric_order():
    assert dim("choice", options=OPTIONS).options == (
        Option("warm", "Warm"),
        Option("cold", "Cold"),
    )


def test_a_rubric_is_parsed_once_and_again_when_it_changes(app, make):
    first = [{"name": "quality", "label": "Q", "scope": "response", "kind": "likert", "points": 5}]
    project = make.project(mode="rating", rubric=first)
    with app.app_context():
        rubric = rubric_of(db.session().get(Project, project.id))
        assert rubric.main_rating.name == "quality"
    with app.app_context():  # the next request loads the row again: parsed once
        row = db.session().get(Project, project.id)
        assert rubric_of(row) is rubric
        row.rubric = [*row.rubric, {**first[0], "name": "depth", "points": 3}]
        assert rubric_of(row).names == ["quality", "depth"]
        assert rubric_of(row).get("depth").midpoint() == 2.0
        db.session().expire(row)  # read from the database again: the stored rubric
        assert rubric_of(row).names == ["quality"]
        row.rubric[0]["points"] = 7  # changed in place (never saved, but still read alike)
        assert rubric_of(row).main_rating.points == 7


# --- guard: nothing outside the rubric module reads a dimension dict by key ------------------

# Keys of a stored dimension that name no other dict in the code ("name" and "label" do).
DIMENSION_KEYS = {"kind", "scope", "points", "anchors", "options", "required", "min", "max"}
# Where those words index something that is not a rubric dimension, each counted so a new
# read next to them is still caught.
NOT_DIMENSIONS = Counter(
    {
        (
            "export/card.py",
            "options",
        ): 3,  # the export summary's options (the variant line, the list, rewrites)
        ("items/importing.py", "kind"): 1,  # an import batch's kind
        ("projects/sources.py", "kind"): 2,  # a pull source's kind
        ("web/sources.py", "kind"): 1,  # the pull source form's field
    }
)
# schemas.py checks the stored shape on the way in; rubric.py parses it.
OWNERS = {"rubric.py", "schemas.py"}


def _keys_read(path: Path) -> list[str]:
    """String keys in DIMENSION_KEYS read from a dict in ``path``: ``d["kind"]``,
    ``d.get("kind")``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            key = node.args[0].value
        if key in DIMENSION_KEYS:
            found.append(key)
    return found


def _project_rubric_reads(path: Path) -> list[int]:
    """Lines reading ``project.rubric`` (the stored dicts) rather than ``rubric_of``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == "rubric"
        and isinstance(node.value, ast.Name)
        and node.value.id in ("project", "p")
    ]


def _code() -> list[Path]:
    return [
        path
        for path in SERVICE.rglob("*.py")
        if "migrations" not in path.parts and path.relative_to(SERVICE).as_posix() not in OWNERS
    ]


def test_no_code_reads_a_rubric_dimension_by_key():
    found = Counter(
        (path.relative_to(SERVICE).as_posix(), key) for path in _code() for key in _keys_read(path)
    )
    assert found == NOT_DIMENSIONS


def test_the_stored_rubric_is_read_through_rubric_of():
    reads = {
        path.relative_to(SERVICE).as_posix(): len(lines)
        for path in _code()
        if (lines := _project_rubric_reads(path))
    }
    # The API shows the rubric as stored; the dashboard cache keys on it.
    assert reads == {"rating/assignment.py": 1, "dashboards/cache.py": 1}
