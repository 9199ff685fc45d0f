"""Faults answer 503 with Retry-After and lose nothing: the database locked, full or down."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from service import create_app, db
from service.models import Judgment
from tests import factories
from tests.browser import sign_in
from tests.conftest import Auth
from tests.factories import item_row


def _submit(client, csrf, project):
    lease = client.post(f"/api/v1/projects/{project.slug}/next", headers={"X-CSRF-Token": csrf})
    assert lease.status_code == 200, lease.get_json()
    lease_id = lease.get_json()["assignment"]["id"]
    payload = {"client_id": str(uuid.uuid4()), "verdict": {"choice": "A"}}
    url = f"/api/v1/assignments/{lease_id}/judgment"
    return lambda: client.post(url, json=payload, headers={"X-CSRF-Token": csrf})


def _assert_503(response, words):
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 503
    assert words in body["error"] and "Try again in 5 s" in body["error"]


def _judgments(app):
    with app.app_context(), db.write_session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(Judgment)).scalar()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_locked_past_the_timeout_is_503_then_the_retry_lands(app, client, auth, make):
    app.config["DATABASE_LOCK_SECONDS"] = 0.2
    db.engine_of(app).dispose()
    app.extensions["rankroom.engine"] = db.make_engine(app.config["DATABASE_URL"], lock_seconds=0.2)
    project = make.project(mode="pairwise", scale="binary")
    make.items(project, [item_row("q1")])
    auth.as_role("rater")
    submit = _submit(client, auth.csrf(), project)
    # A backup or a sqlite3 shell holding the write lock: outside Rankroom's writer queue.
    other = sqlite3.connect(sa.make_url(app.config["DATABASE_URL"]).database)
    other.execute("BEGIN EXCLUSIVE")
    try:
        _assert_503(submit(), "The database is unavailable")
    finally:
        other.rollback()
        other.close()
    assert _judgments(app) == 0
    assert submit().status_code == 201 and _judgments(app) == 1


@pytest.fixture
def small_disk(tmp_path: Path, sqlite_template: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs holding a fresh database: a disk that can really fill."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI and scripts/test run as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        shutil.copy(sqlite_template, mount / "rankroom.db")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_disk_full_is_503_and_the_retry_lands(small_disk):
    url = f"sqlite:///{small_disk / 'rankroom.db'}"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "x"})
    make, client = factories.Factory(app), app.test_client()
    project = make.project(mode="pairwise", scale="binary")
    make.items(project, [item_row("q1")])
    auth = Auth(client, make)
    auth.as_role("rater")
    submit = _submit(client, auth.csrf(), project)
    # The last connection's close checkpoints and removes the write-ahead log, so the
    # next write must allocate a new one on the full disk.
    db.engine_of(app).dispose()
    filler = _fill(small_disk)
    try:
        response = submit()
        assert response.status_code == 503, response.get_json()
        _assert_503(response, "The database")
    finally:
        filler.unlink()
    db.engine_of(app).dispose()
    assert _judgments(app) == 0
    assert submit().status_code == 201 and _judgments(app) == 1
    db.engine_of(app).dispose()


def test_database_down_is_503_with_the_envelope(tmp_path):
    # Nothing listens on port 9: every request needing the database fails to connect.
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2",
            "SECRET_KEY": "x",
            "CHECK_SCHEMA": False,
            "TESTING": True,
        }
    )
    client = app.test_client()
    token = {"Authorization": "Bearer rr_not-checkable-while-the-database-is-down"}
    _assert_503(client.get("/api/v1/projects", headers=token), "The database is unavailable")
    form = {"username": "a", "password": "b", "csrf_token": Auth(client, None).csrf()}
    page = client.post("/login", data=form)
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert b"The database is unavailable" in page.data
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["error"] == "Database unreachable."
    db.engine_of(app).dispose()


def test_readyz_fails_under_the_free_disk_floor(app, client):
    app.config["READY_MIN_FREE_MB"] = 2**40
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "Free disk under" in r.get_json()["error"] and "floor" in r.get_json()["error"]
    app.config["READY_MIN_FREE_MB"] = 0
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_readyz_fails_when_postgres_refuses_writes(app, client, database_url):
    name = sa.make_url(database_url).database
    with db.engine().connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        conn.commit()
    db.engine().dispose()
    r = client.get("/readyz")
    assert r.status_code == 503 and "accepts no writes" in r.get_json()["error"]


@pytest.mark.browser
def test_the_rating_screen_pauses_saving_and_keeps_the_work(page, browser_app, browser_make):
    # The database is locked by something outside Rankroom (a backup): the submit
    # gets 503, the screen says so, keeps the draft, and saves once the lock is gone.
    browser_app.config["RETRY_AFTER_SECONDS"] = 1
    db.engine_of(browser_app).dispose()
    url = browser_app.config["DATABASE_URL"]
    browser_app.extensions["rankroom.engine"] = db.make_engine(url, lock_seconds=0.3)
    rater = browser_make.user(role="rater")
    project = browser_make.project(mode="pairwise", scale="binary", rubric=[], overlap=1)
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    sign_in(page, rater.username)
    page.goto(f"/rate/{project.slug}")
    form = page.locator("form.item")
    form.wait_for()
    first = int(form.get_attribute("data-assignment-id"))
    page.keyboard.press("1")
    other = sqlite3.connect(sa.make_url(url).database)
    other.execute("BEGIN EXCLUSIVE")
    try:
        page.keyboard.press("Control+Enter")
        paused = page.get_by_text("Saving paused: the server cannot save right now.")
        paused.wait_for()
        assert "Your work is kept in this browser" in paused.inner_text()
        draft = page.evaluate(f"localStorage.getItem('rankroom:draft:{first}')")
        assert draft and '"verdict"' in draft
        assert other.execute("SELECT count(*) FROM judgment").fetchone() == (0,)
    finally:
        other.rollback()
        other.close()
    # The retry goes by itself, with the same client id: one judgment, the next item shown.
    page.wait_for_function(
        "id => document.querySelector('form.item')?.dataset.assignmentId !== id", arg=str(first)
    )
    assert _judgments(browser_app) == 1
    assert page.evaluate(f"localStorage.getItem('rankroom:draft:{first}')") is None
