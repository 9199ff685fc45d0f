"""Real-browser fixtures: the app served over HTTP in a thread, driven by Debian's Chromium.

Browser downloads do not work here, so Playwright launches the system Chromium
(RANKROOM_CHROMIUM, default /usr/bin/chromium). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests import factories

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class LiveServer:
    """The app on a real socket on 127.0.0.1, in a background thread."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(browser_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(browser_app) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = os.environ.get("RANKROOM_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).exists():
        pytest.fail(f"Chromium not found at {executable} (scripts/test installs it)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Records Content-Security-Policy violations so tests can assert there were none.
_WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) that records what went wrong.

    ``page.console_errors`` gathers uncaught errors and dialogs, ``page.dialogs`` the
    dialog messages alone, and ``window.__cspViolations`` the CSP violations.
    """
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 900}
    )
    context.add_init_script(_WATCH_CSP)
    pg = context.new_page()
    pg.console_errors = []  # type: ignore[attr-defined]
    pg.dialogs = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        pg.dialogs.append(dialog.message)
        pg.console_errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    pg.on("dialog", on_dialog)
    yield pg
    context.close()


def sign_in(page: Any, username: str, password: str = factories.PASSWORD) -> None:
    """Sign in through the real form."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def assert_no_sideways_scroll(page: Any) -> None:
    """The page, once its stylesheets apply, fits the viewport's width.

    A click resolves when the new page commits, before its stylesheets have loaded;
    measured then, unstyled wide content (a diff's <pre>) overflows by hundreds of px.
    """
    page.wait_for_load_state("load")
    overflow = page.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    wide = page.evaluate(
        """[...document.querySelectorAll('main *')]
        .filter((e) => !e.closest('.scroll'))
        .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .slice(0, 5).map((e) => e.tagName + '.' + e.className + '#' + e.id)"""
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px: {wide}"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screens/ and return its path."""
    path = ARTIFACTS / "screens" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
