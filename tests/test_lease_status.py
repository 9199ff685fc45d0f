"""A lease's states have one home, ``models.LeaseStatus``; the code names them from it."""

from __future__ import annotations

import re
from pathlib import Path

from service.models import LeaseStatus
from service.rating import slots

SERVICE = Path(__file__).resolve().parent.parent / "service"
STATES = "|".join(s.value for s in LeaseStatus)
# A state written as a string where a lease's status is set, compared or listed.
LITERAL = re.compile(
    rf"(status\s*(==|!=|=|\bin\b|\bnot in\b)\s*\(?|ending\s*=\s*\(|statuses\s*=\s*\()"
    rf"[^#\n]*\"({STATES})\""
)


def test_no_lease_state_is_spelled_out_in_the_code():
    found = [
        f"{path.relative_to(SERVICE)}:{n}: {line.strip()}"
        for path in SERVICE.rglob("*.py")
        if path.name != "models.py" and "migrations" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if LITERAL.search(line) and "PulledFile" not in line
    ]
    assert found == []


def test_the_counters_rules_are_written_in_lease_states():
    assert set(slots.HOLDING) | set(slots.ENDINGS) == set(LeaseStatus)
    assert all(isinstance(s, LeaseStatus) for s in (*slots.HOLDING, *slots.ENDINGS))
