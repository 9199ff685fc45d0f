"""db.autocommit: statements outside a transaction on PostgreSQL, and nothing else changes."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from service import db

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
IDLE, INTRANS = psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.INTRANS


@pytest.fixture
def session(database_url):
    engine = db.make_engine(database_url)
    with Session(engine) as s:
        s.execute(sa.text("CREATE TEMP TABLE t (x int)"))
        s.commit()
        yield s
    engine.dispose()


def _status(s: Session) -> psycopg.pq.TransactionStatus:
    return s.connection().connection.driver_connection.info.transaction_status


def test_statements_in_the_block_open_no_transaction_and_later_ones_do(session):
    with db.autocommit(session):
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert _status(session) == IDLE  # already committed: no BEGIN, no COMMIT
    session.execute(sa.text("INSERT INTO t VALUES (2)"))
    assert _status(session) == INTRANS
    session.rollback()
    assert session.execute(sa.text("SELECT array_agg(x) FROM t")).scalar() == [1]


def test_a_transaction_already_open_stays_one(session):
    session.execute(sa.text("INSERT INTO t VALUES (1)"))
    with db.autocommit(session):
        session.execute(sa.text("INSERT INTO t VALUES (2)"))
        assert _status(session) == INTRANS
    session.rollback()
    assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0


def test_a_failed_statement_in_the_block_leaves_the_connection_transactional(session):
    with pytest.raises(sa.exc.DataError), db.autocommit(session):
        session.execute(sa.text("SELECT 1 / 0"))
    session.rollback()
    session.execute(sa.text("INSERT INTO t VALUES (3)"))
    assert _status(session) == INTRANS
    session.rollback()
    assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
