"""Database lifecycle: the engine, one session per request, and schema migrations."""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlmodel import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code's migrations."""


class WriterLock:
    """Queue SQLite writers on one host with flock, so a waiter wakes the moment it may go.

    SQLite's own busy handler polls with sleeps growing to 100 ms; under many
    concurrent writers that, not the work, sets the latency (p99 near a second at 32
    raters). An exclusive flock on a file beside the database, taken just before
    BEGIN IMMEDIATE and dropped just after COMMIT or ROLLBACK, makes writers queue
    in the kernel instead. SQLite's lock still guards correctness (and other hosts,
    which SQLite does not support over network file systems anyway); a thread that
    already holds the flock does not take it again, so a nested write transaction
    falls back to the busy timeout instead of waiting on itself.
    """

    def __init__(self, path: str) -> None:
        self.path: str | None = path
        self.held: dict[int, int] = {}  # id of the DBAPI connection -> lock file descriptor
        self.local = threading.local()

    def acquire(self, dbapi_conn: Any) -> None:
        if getattr(self.local, "depth", 0) or self.path is None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            # A read-only folder: fall back to SQLite's own busy handler.
            log.warning("SQLite writer queue off (%s); writers will poll instead", exc)
            self.path = None
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.held[id(dbapi_conn)] = fd
        self.local.depth = 1

    def release(self, dbapi_conn: Any) -> None:
        raw = getattr(dbapi_conn, "dbapi_connection", dbapi_conn)
        fd = self.held.pop(id(raw), None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
            self.local.depth = 0


def _queue_writers(engine: sa.Engine) -> None:
    """Wrap the engine's COMMIT and ROLLBACK to drop the writer lock right after them."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    lock = WriterLock(database + "-writers.lock")
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            lock.release(dbapi_conn)

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            lock.release(dbapi_conn)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback  # type: ignore[method-assign]
    # Safety nets: a connection going back to the pool, or dropped, never keeps the lock.
    for name in ("checkin", "invalidate", "close"):
        sa.event.listen(engine, name, lambda dbapi_conn, *_: lock.release(dbapi_conn))
    engine.info_writer_lock = lock  # type: ignore[attr-defined]


def make_engine(url: str, *, lock_seconds: float = 30) -> sa.Engine:
    """Build an engine tuned for the backend: SQLite in WAL mode, or a PostgreSQL pool.

    ``lock_seconds``: how long a SQLite statement waits on a lock before it fails.
    """
    if url.startswith("sqlite"):
        connect_args = {"timeout": lock_seconds, "check_same_thread": False}
        engine = sa.create_engine(url, connect_args=connect_args)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let pysqlite stop issuing its own BEGIN so that ours (below) is the only one.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(lock_seconds * 1000)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        _queue_writers(engine)

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # BEGIN IMMEDIATE takes the write lock up front, so two workers never both
            # read then fail to upgrade to a write (SQLITE_BUSY mid-transaction).
            options = conn.get_execution_options()
            if options.get("rankroom_read_once"):
                return  # one SELECT: SQLite runs it in its own implicit read transaction
            if options.get("rankroom_write"):
                lock = getattr(engine, "info_writer_lock", None)
                if lock is not None:
                    lock.acquire(conn.connection.dbapi_connection)
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except BaseException:
                    if lock is not None:
                        lock.release(conn.connection.dbapi_connection)
                    raise
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused this long is checked before use (it may have been cut by
# a server restart, a failover or a firewall). SQLAlchemy's pool_pre_ping checks on
# every checkout instead: a round trip more on every request (a judgment took 18
# round trips with it, 16 without, before the other savings).
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: sa.Engine) -> None:
    """Ping connections that sat idle in the pool; replace those that are gone.

    A connection the server dropped while it was busy in the last few seconds still
    fails its next request once; SQLAlchemy then discards the whole pool, so the
    requests after it reconnect.
    """

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_from = record.info.get("idle_from")
        if idle_from is None or time.monotonic() - idle_from < IDLE_PING_SECONDS:
            return
        try:
            ok = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool retries the checkout with a fresh connection.
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc
        if not ok:
            raise sa.exc.DisconnectionError("stale pooled connection")


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
    bind(app)
    # At the end of each request too: an app context can outlive many requests (tests,
    # CLI), and a read transaction left open there would pin an old SQLite snapshot.
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)


def bind(app: Flask) -> None:
    """Build ``app``'s engine from its DATABASE_URL and DATABASE_LOCK_SECONDS settings."""
    app.extensions["rankroom.engine"] = make_engine(
        app.config["DATABASE_URL"], lock_seconds=float(app.config["DATABASE_LOCK_SECONDS"])
    )


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

    A request that may write (``declare_writes``) takes SQLite's write lock when its
    transaction begins, so concurrent workers queue rather than fail.
    """
    if "db_session" not in g:
        eng = engine()
        if g.get("db_writes"):
            eng = _writer(eng)
        g.db_session = Session(bind=eng, expire_on_commit=False)
    return g.db_session


def declare_writes() -> None:
    """Say that this request may write: its session begins with SQLite's write lock."""
    g.db_writes = True


@contextmanager
def _lookup_bind() -> Iterator[Session | sa.Connection]:
    """Yield where a request reads before its own work (who is asking).

    On SQLite it is a separate connection that runs one statement, so a writing request
    does not hold the write lock while it is authenticated and its body parsed (callers
    must not run more than one statement in it); on PostgreSQL, where reads take no
    lock, it is the request's own session, outside any transaction (``autocommit``).
    """
    eng = engine()
    if eng.dialect.name != "sqlite":
        with autocommit(session()) as s:
            yield s
        return
    # No BEGIN: the lookup is one SELECT, atomic on its own, and an explicit transaction
    # would cost two more statements on every request.
    with eng.connect().execution_options(rankroom_read_once=True) as conn:
        yield conn


def lookup(statement: sa.Executable, params: dict[str, Any]) -> sa.Row | None:
    """Run one Core statement where a request reads before its own work; return its first row.

    No ORM session on SQLite: it costs more than the statement (the user lookup of every
    signed-in request took 0.16 ms with one, 0.10 ms without).
    """
    with _lookup_bind() as bind:
        return bind.execute(statement, params).first()


@contextmanager
def lookup_session() -> Iterator[Session]:
    """Yield a session where a request reads before its own work (for an ORM query)."""
    with _lookup_bind() as bind:
        if isinstance(bind, Session):
            yield bind
            return
        with Session(bind=bind, expire_on_commit=False) as s:
            yield s


@contextmanager
def autocommit(s: Session) -> Iterator[Session]:
    """On PostgreSQL, run the block's statements outside a transaction, each on its own.

    BEGIN and COMMIT are round trips of their own: for reads, which under READ
    COMMITTED see a fresh snapshot per statement anyway, and for single statements
    atomic by themselves, they buy nothing. A transaction already open (or SQLite,
    whose BEGIN costs no round trip) is left as it is. Statements after the block begin
    a transaction as usual.
    """
    if is_sqlite(s):
        yield s
        return
    from psycopg.pq import TransactionStatus  # PostgreSQL only: its dialect loaded it

    raw = s.connection().connection.driver_connection
    if raw.info.transaction_status != TransactionStatus.IDLE:
        yield s
        return
    raw.autocommit = True
    try:
        yield s
    finally:
        # A connection lost in the block is discarded by the pool; a live one goes on.
        if not raw.closed:
            raw.autocommit = False


_SNAPSHOT = "rankroom_snapshot"


@contextmanager
def read_snapshot(s: Session) -> Iterator[Session]:
    """Hold one read-only transaction on ``s`` for the block, so every read sees the same data.

    PostgreSQL: REPEATABLE READ, READ ONLY (its snapshot is taken at the first statement).
    SQLite: one deferred BEGIN held open; in WAL mode the first read fixes the snapshot,
    and writers on other connections go on meanwhile. Code that ends its reads with a
    rollback asks ``in_snapshot`` first. The transaction is rolled back at the end.
    """
    s.rollback()  # a transaction already open may have read before: start afresh
    if is_sqlite(s):
        # Any read of the file starts SQLite's read transaction, and with it the snapshot.
        s.execute(sa.text("SELECT count(*) FROM sqlite_master"))
    else:
        s.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    s.info[_SNAPSHOT] = True
    try:
        yield s
    finally:
        s.info.pop(_SNAPSHOT, None)
        s.rollback()


def in_snapshot(s: Session) -> bool:
    """Tell whether ``s`` holds a ``read_snapshot`` (its reads must not end the transaction)."""
    return bool(s.info.get(_SNAPSHOT))


def _close_session(_exc: BaseException | None) -> None:
    g.pop("db_writes", None)
    s = g.pop("db_session", None)
    if s is not None:
        s.close()


@contextmanager
def write_session(eng: sa.Engine | None = None) -> Iterator[Session]:
    """Open a session for one short write transaction, committed on success.

    On SQLite the transaction starts with BEGIN IMMEDIATE so concurrent writers
    queue on the busy timeout instead of failing halfway.
    """
    with Session(bind=_writer(eng or engine()), expire_on_commit=False) as s, s.begin():
        yield s
        s.flush()


# alembic is imported where migrations run, not at start-up: it and what it brings
# (mako, pygments) cost every command and every worker about 0.1 s.


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache  # the shipped scripts do not change while we run; reading them takes ~20 ms
def head_revision() -> str:
    """Return the newest migration revision shipped with the code."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    return script.get_current_head() or ""


def current_revision(eng: sa.Engine) -> str | None:
    """Return the database's migration revision, or None when it has none."""
    from alembic.runtime.migration import MigrationContext

    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(eng: sa.Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    from alembic import command

    _migrate(eng, command.upgrade, revision)


def downgrade(eng: sa.Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` ("base" empties the database)."""
    from alembic import command

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
