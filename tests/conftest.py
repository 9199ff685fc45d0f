"""Fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

PostgreSQL tests run when RANKROOM_TEST_POSTGRES_URL points at a server (scripts/test
starts one); with RANKROOM_REQUIRE_POSTGRES=1 (as in CI) its absence is an error.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from service import create_app, db
from service.accounts import users
from service.rating import doctor
from tests import factories
from tests.browser import chromium, live_server, page  # noqa: F401  (fixtures)
from tests.pg_databases import WorkerDatabase, url_of

PG_URL = os.environ.get("RANKROOM_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help="The quick loop: SQLite only, no browser, no API fuzz (needs neither PostgreSQL"
        " nor Chromium).",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("quick"):
        return
    if os.environ.get("RANKROOM_REQUIRE_POSTGRES") == "1" and not PG_URL:
        raise pytest.UsageError(
            "RANKROOM_REQUIRE_POSTGRES=1 but RANKROOM_TEST_POSTGRES_URL is unset"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that drives Chromium as browser; with --quick, leave those, PG and
    the API fuzz out (the fuzz alone was a quarter of the quick loop; CI runs it)."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    if not config.getoption("quick"):
        return
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgres"
        slow = any(item.get_closest_marker(m) for m in ("browser", "fuzz"))
        (left_out if on_postgres or slow else kept).append(item)
    config.hook.pytest_deselected(items=left_out)
    items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection built (modules, the app's imports, test items) out of the
    garbage collector's sight: it lives to the end, yet every full collection during the
    run, and pytest's five at its end, walked all of it again (~4% of a worker's CPU)."""
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Hash test passwords with scrypt at n=512 instead of 2**15 (~1 ms of CPU, not ~0.1 s).

    Hundreds of tests create users and sign in; at full cost hashing was a third of the
    suite's time. What is tested (hash on create, check on sign-in) stays the same.
    """
    strong = users.PASSWORD_METHOD
    users.PASSWORD_METHOD = "scrypt:512:8:1"
    yield
    users.PASSWORD_METHOD = strong


# Connections checked out of any SQLAlchemy pool and not yet returned (see _return_leaks).
_checked_out: set[int] = set()
sa.event.listen(sa.pool.Pool, "checkout", lambda _c, record, _p: _checked_out.add(id(record)))
sa.event.listen(sa.pool.Pool, "checkin", lambda _c, record: _checked_out.discard(id(record)))


def _return_leaks() -> None:
    """Send connections a test left to the garbage collector back to their pools now.

    Returned later, once its database is dropped, such a connection fails its reset
    whenever it is finalised, possibly in the middle of ast.parse in a later test, which
    CPython 3.11.7 reports as "AST constructor recursion depth mismatch". A full
    collection costs ~0.2 s, so it runs only when a connection is still out.
    """
    if _checked_out:
        gc.collect()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite quick)."""
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a migrated PostgreSQL database that each test clones."""
    if not PG_URL:
        pytest.skip("no PostgreSQL: set RANKROOM_TEST_POSTGRES_URL (scripts/test does)")
    name = f"rr_tmpl_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = db.make_engine(url_of(PG_URL, name))
    db.upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def pg_worker_database(pg_template: str) -> Iterator[WorkerDatabase]:
    """This worker's PostgreSQL test database, emptied after each test (pg_databases.py)."""
    worker_db = WorkerDatabase(PG_URL, pg_template)
    yield worker_db
    worker_db.close()


@pytest.fixture(scope="session")
def sqlite_worker_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this worker's SQLite test database lives (a fresh copy for each test)."""
    return tmp_path_factory.mktemp("worker") / "rankroom.db"


def _fresh_copy(template: Path, path: Path) -> None:
    """Put a copy of ``template`` at ``path`` as a new file, with no WAL of the last test's.

    A new file (renamed into place), not one overwritten: a connection the last test
    left open keeps writing to its own, now unlinked, file and never reaches this one.
    """
    staged = path.with_name(path.name + ".new")
    shutil.copy(template, staged)
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(staged, path)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty, migrated database for this test."""
    if request.param == "sqlite":
        path = request.getfixturevalue("sqlite_worker_path")
        _fresh_copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    worker_db = request.getfixturevalue("pg_worker_database")
    yield worker_db.lend()
    _return_leaks()  # while the database exists
    worker_db.give_back()


def _make_app(database_url: str, images: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret",
            "IMAGES_DIR": str(images),  # each test its own image files, as its own database
        }
    )


# Engines of this worker's databases by (URL, lock seconds), kept across tests; the
# least recently used first. Three databases: SQLite's, the browser tests', PostgreSQL's.
_engines: dict[tuple[str, float], sa.Engine] = {}


def _worker_engine(url: str, lock_seconds: float) -> sa.Engine:
    """The engine of this worker's database at ``url``, with no connection in its pool.

    SQLAlchemy caches compiled SQL per engine, so a new engine for each test compiled
    every statement again: a quarter of a test's time, most of the doctor's check. The
    worker's databases keep their URL from test to test (SQLite: one path, a fresh file
    each test; PostgreSQL: one database, emptied), so their engine is kept. Its pool is
    emptied at each lending and return, so no connection outlives the test.
    """
    key = (url, lock_seconds)
    engine = _engines.pop(key, None) or db.make_engine(url, lock_seconds=lock_seconds)
    _engines[key] = engine
    if len(_engines) > 3:  # a PostgreSQL database dropped and cloned under a new name
        _engines.pop(next(iter(_engines))).dispose()
    engine.dispose()
    return engine


# This worker's app, shared by the tests it runs (see ``app``).
_worker_app: list[Flask] = []
_lent: list[Flask] = []  # it, while a test has it


@contextlib.contextmanager
def _lent_app(request: pytest.FixtureRequest, database_url: str, images: Path) -> Iterator[Flask]:
    """This worker's app, pointed at the test's own database and image folder.

    Building an app (its routes and OpenAPI document) costs ~0.12 s of CPU, a fifth of
    an average test. Nothing of a test's state lives in the app but its settings and
    its engine, so the test gets its own engine, and its settings are put back after.
    A test that changes the app itself (a hook of its own) is marked ``own_app``.
    """
    if _lent or request.node.get_closest_marker("own_app"):  # a second app is its own too
        yield _make_app(database_url, images)
        return
    if not _worker_app:
        _worker_app.append(_make_app(database_url, images))
        # Flask then refuses a hook added by a test (it would outlive the test) even
        # before the app's first request, so a test that needs one must say own_app.
        _worker_app[0]._got_first_request = True
    application = _worker_app[0]
    settings = dict(application.config)
    application.config.update(DATABASE_URL=database_url, IMAGES_DIR=str(images))
    db.engine_of(application).dispose()  # the last test's, or the one the app was built with
    application.extensions["rankroom.engine"] = _worker_engine(
        database_url, float(application.config["DATABASE_LOCK_SECONDS"])
    )
    _lent.append(application)
    try:
        yield application
    finally:
        _lent.clear()
        application.config.clear()
        application.config.update(settings)


def _no_drift(request: pytest.FixtureRequest, application: Flask) -> None:
    """Fail a test that left counters, leases or overlap inconsistent (rankroom doctor)."""
    if request.node.get_closest_marker("drift"):
        return
    _return_leaks()  # while the pool and its database exist, not inside the check
    if db.current_revision(db.engine_of(application)) != db.head_revision():
        return  # a migration test left the schema elsewhere
    with application.app_context(), db.write_session() as s:
        checkup = doctor.check(session=s)
    assert checkup.ok, f"the test left drift behind: {checkup.unresolved}"


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    with _lent_app(request, database_url, tmp_path / "images") as application:
        with application.app_context():
            yield application
        try:
            _no_drift(request, application)
        finally:
            db.engine_of(application).dispose()  # before the database is emptied or replaced


@pytest.fixture
def browser_app(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> Iterator[Flask]:
    """An app on SQLite for browser tests (the browser adds nothing per database)."""
    path = tmp_path_factory.getbasetemp() / "browser.db"  # this worker's, as sqlite_worker_path
    _fresh_copy(sqlite_template, path)
    with _lent_app(request, f"sqlite:///{path}", tmp_path / "images") as application:
        yield application
        try:
            _no_drift(request, application)
        finally:
            db.engine_of(application).dispose()


@pytest.fixture
def browser_make(browser_app: Flask) -> factories.Factory:
    """Build test data for browser tests through the domain functions."""
    return factories.Factory(browser_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def make(app: Flask) -> factories.Factory:
    """Build test data through the domain functions, committed."""
    return factories.Factory(app)


class Auth:
    """Sign a test client in through the real login form."""

    def __init__(self, client: FlaskClient, make: factories.Factory) -> None:
        self.client = client
        self.make = make

    def csrf(self) -> str:
        with self.client.session_transaction() as sess:
            sess.setdefault("csrf", uuid.uuid4().hex)
            return sess["csrf"]

    def login(self, username: str, password: str = factories.PASSWORD) -> Any:
        return self.client.post(
            "/login", data={"username": username, "password": password, "csrf_token": self.csrf()}
        )

    def as_role(self, role: str, **kwargs: Any) -> Any:
        user = self.make.user(role=role, **kwargs)
        response = self.login(user.username)
        assert response.status_code == 302, response.data
        return user


@pytest.fixture
def auth(client: FlaskClient, make: factories.Factory) -> Auth:
    return Auth(client, make)


@pytest.fixture
def admin_headers(make: factories.Factory) -> dict[str, str]:
    """Bearer headers of an admin-scoped token of a fresh admin."""
    admin = make.user("admin", username="root-admin")
    _, secret = make.token(admin, ["admin"])
    return {"Authorization": f"Bearer {secret}"}
