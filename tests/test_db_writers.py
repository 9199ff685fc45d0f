"""SQLite writers queue on a lock file beside the database, and never leave it held."""

from __future__ import annotations

import shutil
import threading

import pytest
import sqlalchemy as sa

from service import create_app, db
from service.models import Project
from tests import factories


@pytest.fixture
def sqlite_app(sqlite_template, tmp_path):
    """An app on a fresh SQLite file (the writer queue is SQLite's alone)."""
    path = tmp_path / "writers.db"
    shutil.copy(sqlite_template, path)
    application = create_app(
        {"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "t"}
    )
    yield application
    db.engine_of(application).dispose()


@pytest.fixture
def sqlite_make(sqlite_app):
    return factories.Factory(sqlite_app)


def _write_in_thread(app, name: str) -> list[str]:
    done: list[str] = []

    def work() -> None:
        with app.app_context(), db.write_session() as s:
            s.execute(sa.update(Project).values(name=name))
        done.append(name)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=20)  # a leaked lock would block here for good
    return done


def test_a_failed_write_transaction_releases_the_queue(sqlite_app, sqlite_make):
    sqlite_make.project()
    with pytest.raises(RuntimeError), sqlite_app.app_context(), db.write_session() as s:
        s.execute(sa.update(Project).values(name="never"))
        raise RuntimeError("boom")
    assert _write_in_thread(sqlite_app, "after a failure") == ["after a failure"]
    with sqlite_app.app_context():
        assert db.session().execute(sa.select(Project.name)).scalar() == "after a failure"


def test_writers_in_threads_take_turns(sqlite_app, sqlite_make):
    sqlite_make.project()
    names = [f"writer {k}" for k in range(8)]
    threads = [threading.Thread(target=_write_in_thread, args=(sqlite_app, n)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with sqlite_app.app_context():
        assert db.session().execute(sa.select(Project.name)).scalar() in names
    lock = db.engine_of(sqlite_app).info_writer_lock
    assert lock.held == {}
