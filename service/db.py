"""Database lifecycle: the engine, one session per request, and schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app, g, has_request_context, request
from sqlmodel import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code's migrations."""


def make_engine(url: str) -> sa.Engine:
    """Build an engine tuned for the backend: SQLite in WAL mode, or a PostgreSQL pool."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let pysqlite stop issuing its own BEGIN so that ours (below) is the only one.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # BEGIN IMMEDIATE takes the write lock up front, so two workers never both
            # read then fail to upgrade to a write (SQLITE_BUSY mid-transaction).
            write = conn.get_execution_options().get("rankroom_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def is_sqlite(session_or_engine: Session | sa.Engine) -> bool:
    """Tell whether a session or engine talks to SQLite."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


def init_app(app: Flask) -> None:
    """Build the engine for the app and close the request's session at teardown."""
    app.extensions["rankroom.engine"] = make_engine(app.config["DATABASE_URL"])
    # At the end of each request too: an app context can outlive many requests (tests,
    # CLI), and a read transaction left open there would pin an old SQLite snapshot.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)


def engine_of(app: Flask) -> sa.Engine:
    """Return ``app``'s engine."""
    return app.extensions["rankroom.engine"]


def engine() -> sa.Engine:
    """Return the current app's engine."""
    return engine_of(current_app)  # type: ignore[arg-type]


def _writer(eng: sa.Engine) -> sa.Engine:
    """The same engine, flagged so SQLite transactions begin with the write lock."""
    return eng.execution_options(rankroom_write=True)


def session() -> Session:
    """Return this request's session, opening it on first use.

    A request that may write (any method but GET/HEAD/OPTIONS) takes SQLite's write
    lock when its transaction begins, so concurrent workers queue rather than fail.
    """
    if "db_session" not in g:
        eng = engine()
        if has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS"):
            eng = _writer(eng)
        g.db_session = Session(bind=eng, expire_on_commit=False)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


@contextmanager
def read_session(eng: sa.Engine | None = None) -> Iterator[Session]:
    """Open a session for a short read; objects read stay usable after it closes."""
    with Session(bind=eng or engine(), expire_on_commit=False) as s:
        yield s


@contextmanager
def write_session(eng: sa.Engine | None = None) -> Iterator[Session]:
    """Open a session for one short write transaction, committed on success.

    On SQLite the transaction starts with BEGIN IMMEDIATE so concurrent writers
    queue on the busy timeout instead of failing halfway.
    """
    with Session(bind=_writer(eng or engine()), expire_on_commit=False) as s, s.begin():
        yield s
        s.flush()


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """Return the newest migration revision shipped with the code."""
    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return script.get_current_head() or ""


def current_revision(eng: sa.Engine) -> str | None:
    """Return the database's migration revision, or None when it has none."""
    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(eng: sa.Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    _migrate(eng, command.upgrade, revision)


def downgrade(eng: sa.Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` ("base" empties the database)."""
    _migrate(eng, command.downgrade, revision)


def _migrate(eng: sa.Engine, step: Any, revision: str) -> None:
    cfg = _alembic_config(str(eng.url.render_as_string(hide_password=False)))
    with eng.connect() as conn:
        cfg.attributes["connection"] = conn
        step(cfg, revision)
        conn.commit()


def check_schema(eng: sa.Engine) -> None:
    """Raise SchemaOutOfDate unless the database is at the code's newest migration."""
    current, head = current_revision(eng), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"Database schema is at {current or 'nothing'}, the code needs {head}. "
            "Run `rankroom db upgrade` first."
        )
