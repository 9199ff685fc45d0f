"""The admin's project console in Chromium: create, upload, settings, guidelines."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from service import db
from service.models import GuidelineVersion, Item, Project
from tests.browser import assert_no_sideways_scroll, screenshot, sign_in
from tests.factories import item_row

pytestmark = pytest.mark.browser

SIZES = {"desktop": (1366, 768), "phone": (390, 844)}


def _jsonl(*rows):
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.mark.parametrize("size", SIZES)
def test_create_upload_settings_guidelines(browser_app, browser_make, page, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    browser_make.user("admin", username="chief")
    sign_in(page, "chief")

    page.get_by_role("link", name="Projects").click()
    page.get_by_label("Start from").select_option("pairwise")
    page.get_by_label("Slug").fill("web-camp")
    page.get_by_label("Name (default: the template's)").fill("Web campaign")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/admin/projects/web-camp")
    assert "Created project web-camp." in page.locator(".notice").inner_text()
    assert_no_sideways_scroll(page)

    # One bad line: nothing is imported, and the line, field and reason are shown.
    bad = _jsonl(item_row("q1"), {"id": "q2", "prompt": "No responses?"}, item_row("q3"))
    page.get_by_label("JSON Lines file").set_input_files(
        {"name": "items.jsonl", "mimeType": "application/x-ndjson", "buffer": bad}
    )
    page.get_by_role("button", name="Upload and import").click()
    errors = page.locator("#upload-errors")
    errors.wait_for(state="visible")
    assert "1 bad line(s); nothing was imported." in errors.inner_text()
    cells = errors.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["2", "responses"], cells
    assert cells[2]
    assert page.locator("#upload-phase").inner_text() == "Nothing was imported."
    with browser_app.app_context():
        assert db.session().exec(select(Item)).all() == []
    assert_no_sideways_scroll(page)

    # The fixed file goes in whole; the bar reaches the end.
    good = _jsonl(item_row("q1"), item_row("q2"), item_row("q3"))
    page.get_by_label("JSON Lines file").set_input_files(
        {"name": "items.jsonl", "mimeType": "application/x-ndjson", "buffer": good}
    )
    page.get_by_role("button", name="Upload and import").click()
    phase = page.locator("#upload-phase")
    phase.filter(has_text="Imported:").wait_for()
    assert phase.inner_text().startswith("Imported: 3 created, 0 updated, 0 unchanged")
    assert page.locator("#upload-bar").evaluate("b => b.value") == 100
    assert errors.is_hidden()

    # Settings.
    page.get_by_label("Overlap (raters per item)").fill("2")
    page.get_by_label("Gold rate (0–1)").fill("0.1")
    page.get_by_role("button", name="Save settings").click()
    page.wait_for_url("**/admin/projects/web-camp")
    assert "Saved: overlap, gold_rate." in page.locator(".notice").inner_text()
    with browser_app.app_context():
        project = db.session().exec(select(Project).where(Project.slug == "web-camp")).one()
        assert (project.overlap, project.gold_rate) == (2, 0.1)
    page.get_by_label("Gold rate (0–1)").fill("2")
    page.get_by_role("button", name="Save settings").click()
    assert "gold_rate: Must be greater than or equal to 0" in page.get_by_role("alert").inner_text()
    screenshot(page, f"admin-project-{size}")

    # Guidelines: a new version, and its diff.
    page.get_by_role("link", name="Guidelines (version 1)").click()
    text = page.get_by_label("Guidelines (Markdown)")
    text.fill(text.input_value() + "\nNew rule: <b>never</b> guess.")
    page.get_by_role("button", name="Save as a new version").click()
    assert "Saved guidelines version 2." in page.locator(".notice").inner_text()
    assert "Version 2 (current)" in page.locator(".versions").inner_text()
    assert_no_sideways_scroll(page)
    page.get_by_role("link", name="changes from version 1").click()
    assert page.locator(".diff ins").inner_text() == "+New rule: <b>never</b> guess."
    assert_no_sideways_scroll(page)
    screenshot(page, f"admin-guidelines-diff-{size}")
    with browser_app.app_context():
        versions = db.session().exec(select(GuidelineVersion.version)).all()
        assert sorted(versions) == [1, 2]

    assert page.console_errors == []
    assert page.evaluate("window.__cspViolations") == []
