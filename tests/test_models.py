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


def test_adopt_refreshes_the_object_the_session_holds(app, make):
    # Submitting reads a lease and its project in Core; an object the request already
    # holds must take the row's values, as an ORM load with populate_existing would.
    from sqlmodel import Session

    from service import db
    from service.models import Project, adopt

    project = make.project(name="Before")
    with Session(db.engine_of(app), expire_on_commit=False) as s:
        held = s.get(Project, project.id)
        values = {c.key: getattr(held, c.key) for c in Project.__table__.c} | {"name": "After"}
        assert adopt(s, Project, values) is held
        assert held.name == "After" and not s.dirty
        s.expunge(held)
        fresh = adopt(s, Project, values | {"name": "Fresh"})
        assert fresh is not held and fresh in s and fresh.name == "Fresh" and not s.dirty


def test_a_project_read_for_work_loads_its_long_texts_on_first_access(app, make):
    # "Next" and "submit" read a project without its guidelines (kilobytes, on every
    # judgment); code that does want them still gets them.
    import sqlalchemy as sa
    from sqlmodel import Session

    from service import db
    from service.models import PROJECT_WORK_COLUMNS, Project, adopt

    made = make.project(guidelines="Prefer the answer a careful expert would give.")
    with Session(db.engine_of(app)) as s:
        row = s.execute(sa.select(*PROJECT_WORK_COLUMNS).where(Project.id == made.id)).one()
        keys = [c.key for c in PROJECT_WORK_COLUMNS]
        project = adopt(s, Project, dict(zip(keys, row, strict=True)))
        assert sa.inspect(project).unloaded == {"description", "guidelines"}
        assert project.guidelines == "Prefer the answer a careful expert would give."
        assert not s.dirty
