"""The PostgreSQL test database a worker reuses starts every test as the template is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL
from tests.pg_databases import WorkerDatabase


@pytest.fixture
def worker_db(pg_template):
    lent = WorkerDatabase(PG_URL, pg_template)
    yield lent
    lent.close()


def _run(url: str, *statements: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as conn:
        results = [conn.exec_driver_sql(s) for s in statements]
        results = [r.all() if r.returns_rows else [] for r in results]
    engine.dispose()
    return results


def test_rows_and_sequences_are_reset_and_connections_left_open_ended(worker_db):
    url = worker_db.lend()
    _run(
        url,
        "INSERT INTO login_attempt (username, created_at, succeeded, address)"
        " VALUES ('ada', now(), true, '127.0.0.1')",
    )
    # A connection the test left open is ended, not waited for.
    left_open = sa.create_engine(url, poolclass=sa.NullPool).connect()
    left_open.exec_driver_sql("SELECT 1 FROM login_attempt FOR UPDATE")
    worker_db.give_back()
    assert worker_db.lend() == url  # the same database, emptied
    [count, [(new_id,)]] = _run(
        url,
        "SELECT count(*) FROM login_attempt",
        "INSERT INTO login_attempt (username, created_at, succeeded, address)"
        " VALUES ('bo', now(), false, '127.0.0.1') RETURNING id",
    )
    assert count == [(0,)] and new_id == 1
    with pytest.raises(sa.exc.OperationalError):
        left_open.exec_driver_sql("SELECT 1")
    left_open.close()


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE judgment DISABLE TRIGGER judgment_append_only",
        "ALTER TABLE login_attempt ADD COLUMN extra integer",
        "UPDATE alembic_version SET version_num = 'base'",
    ],
)
def test_a_database_a_test_changed_beyond_its_rows_is_replaced(worker_db, change):
    url = worker_db.lend()
    _run(url, change)
    worker_db.give_back()
    fresh = worker_db.lend()
    assert fresh != url
    assert _run(fresh, "SELECT version_num FROM alembic_version")[0] != [("base",)]


def test_a_database_setting_is_not_carried_to_the_next_test(worker_db):
    url = worker_db.lend()
    name = sa.make_url(url).database
    _run(url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    worker_db.give_back()
    assert worker_db.lend() != url
