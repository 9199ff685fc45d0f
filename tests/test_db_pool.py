"""PostgreSQL pool: a connection the server dropped while it sat idle is replaced unseen."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service import db

_TERMINATE_OTHERS = sa.text(
    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS killed"
)


pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def pg_engine(database_url):
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def _pooled_connection_dropped_by_server(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # one connection now idles in the pool
    with sa.create_engine(engine.url, poolclass=sa.NullPool).connect() as admin:
        assert admin.execute(_TERMINATE_OTHERS).scalar() == 1


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_engine, monkeypatch):
    _pooled_connection_dropped_by_server(pg_engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    with pg_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_a_busy_connection_is_not_pinged(pg_engine, monkeypatch):
    # Within the idle window the pooled connection is used as is: no round trip spent on
    # a ping, so a connection dropped that recently fails once and the pool starts over.
    _pooled_connection_dropped_by_server(pg_engine)
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 3600.0)
    with pytest.raises(sa.exc.OperationalError), pg_engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    with pg_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
