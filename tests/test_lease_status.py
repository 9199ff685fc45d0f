"""A lease's states have one home, ``models.LeaseStatus``; the code names them from it."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from service.models import LeaseStatus
from service.rating import slots

SERVICE = Path(__file__).resolve().parent.parent / "service"
# The same words that are not a lease's state, each counted so a new literal next to
# them is still caught.
NOT_LEASE_STATES = Counter(
    {
        ("cli/accounts.py", "expired"): 1,  # an API token's state
        ("pull/folder.py", "skipped"): 1,  # a pulled file's status
        ("rating/judgments.py", "submitted"): 1,  # the name of a CTE
    }
)


def _spelled_out(path: Path) -> list[ast.Constant]:
    """String constants in ``path`` equal to a lease state, other than docstrings, dict
    keys and subscripts (the field names of report rows and tallies)."""
    tree = ast.parse(path.read_text())
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                allowed.add(id(first.value))
        elif isinstance(node, ast.Dict):
            allowed.update(id(key) for key in node.keys if key is not None)
        elif isinstance(node, ast.Subscript):
            allowed.add(id(node.slice))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in set(LeaseStatus)
        and id(node) not in allowed
    ]


def test_no_lease_state_is_spelled_out_in_the_code():
    found = Counter(
        (path.relative_to(SERVICE).as_posix(), node.value)
        for path in SERVICE.rglob("*.py")
        if path != SERVICE / "models.py" and "migrations" not in path.parts
        for node in _spelled_out(path)
    )
    assert found == NOT_LEASE_STATES


def test_the_counters_rules_are_written_in_lease_states():
    assert set(slots.HOLDING) | set(slots.ENDINGS) == set(LeaseStatus)
    assert all(isinstance(s, LeaseStatus) for s in (*slots.HOLDING, *slots.ENDINGS))
