"""Rewriting the preferred response on the rating screen, in a real browser."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from playwright.sync_api import expect

from service.models import Assignment, Item, Judgment
from tests.factories import item_row
from tests.test_rating_screen import _open, _rows, _sign_in_by_keyboard, _wait_for_next

pytestmark = pytest.mark.browser


def _original(app: Any, lease_id: int, label: str) -> tuple[str, str]:
    """Return the id and text of the response shown under ``label`` on a lease."""
    (lease,) = _rows(app, Assignment, id=lease_id)
    (item,) = _rows(app, Item, id=lease.item_id)
    rid = lease.shown_order[ord(label) - ord("A")]
    return rid, f"Answer {ord(rid) - ord('a')} to {item.external_id}."


def test_rewrite_by_keyboard_with_preview_diff_restore_and_submit(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = browser_make.project(mode="pairwise", scale="ternary", overlap=1, edit="preferred")
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    lease_id = _open(page, project.slug)
    rid, original = _original(browser_app, lease_id, "B")

    page.keyboard.press("2")  # B is better
    page.keyboard.press("n")  # open the editor on the preferred response
    editor = page.locator(".rewrite-text")
    expect(editor).to_be_focused()
    expect(editor).to_have_value(original)
    expect(page.locator(".rewrite-which")).to_have_value("B")
    # The model's and the rater's text are untrusted: the preview is sanitised markdown.
    editor.press("Control+End")
    page.keyboard.type(" It is **bold** <img src=x onerror=alert(1)>")
    preview = page.locator(".rewrite-preview")
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview).to_contain_text("<img src=x onerror=alert(1)>")
    assert preview.locator("img").count() == 0
    expect(page.locator(".rewrite-added mark").first).to_have_text("It")
    expect(page.locator(".rewrite-status")).to_have_text("6 words changed in response B.")

    page.reload()
    assert _open(page, project.slug) == lease_id
    expect(page.locator(".status")).to_have_text("Your unsaved work on this item was restored.")
    typed = f"{original} It is **bold** <img src=x onerror=alert(1)>"
    expect(page.locator(".rewrite-text")).to_have_value(typed)
    expect(page.locator(".rewrite-preview strong")).to_have_text("bold")

    page.keyboard.press("Control+Enter")
    _wait_for_next(page, lease_id)
    (judgment,) = _rows(browser_app, Judgment)
    assert (judgment.rewrite_response_id, judgment.rewrite_text) == (rid, typed)
    assert judgment.rewrite_original_sha256 == hashlib.sha256(original.encode()).hexdigest()
    assert page.console_errors == []


def test_whitespace_only_rewrite_is_not_sent_and_nothing_leaks(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = browser_make.project(mode="pairwise", scale="ternary", overlap=1, edit="any")
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    lease_id = _open(page, project.slug)
    # Blind: the page's data names responses by label only, never by id or model.
    data = page.evaluate("document.querySelector('.item-data').textContent")
    assert "model-0" not in data and '"a"' not in data and '"b"' not in data
    page.keyboard.press("1")
    page.keyboard.press("n")
    page.locator(".rewrite-text").press("Control+End")
    page.keyboard.type("\n\n   ")
    expect(page.locator(".rewrite-status")).to_have_text(
        "No word changed yet: without a changed word the rewrite is not sent."
    )
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, lease_id)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.rewrite_response_id is None and judgment.rewrite_text is None
