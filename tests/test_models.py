"""Model helpers that hot paths rely on."""

from __future__ import annotations

import subprocess
import sys


def test_as_loaded_works_before_any_orm_query():
    # A fresh gunicorn worker reads its first user this way, before the ORM has run.
    code = (
        "from service.models import User, as_loaded\n"
        "u = as_loaded(User, {'id': 7, 'username': 'ann', 'role': 'rater', 'active': True})\n"
        "import sqlalchemy as sa\n"
        "state = sa.inspect(u)\n"
        "assert state.detached and state.identity == (7,) and not state.modified, state\n"
        "assert (u.username, u.role) == ('ann', 'rater')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
