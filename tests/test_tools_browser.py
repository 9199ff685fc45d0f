"""Tool calls on the rating screen, in a real browser: inert, collapsible by keyboard, blind."""

from __future__ import annotations

import pytest

from tests.browser import screenshot, sign_in
from tests.tool_rows import tool_row

# Each a script that must stay text: in arguments, a JSON result and a plain-text result.
IMG = '<img src=x onerror="window.pwned=2">'


def _hostile_row() -> dict:
    row = tool_row()
    answer = row["responses"][0]["messages"]
    answer[0]["tool_calls"][0]["function"]["arguments"] = (
        '{"city": "<script>window.pwned=3</script>"}'
    )
    answer[1]["content"] = f"Sunny. {IMG}"  # not JSON: shown as text
    row["tools"][0]["function"]["description"] = f"Weather. {IMG} <script>window.pwned=4</script>"
    return row


def _tab_to(page, selector: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.browser
def test_tool_calls_render_inert_and_fold_by_keyboard(page, browser_app, browser_make):
    project = browser_make.project(slug="tools", mode="pairwise", overlap=1)
    browser_make.items(project, [_hostile_row()])
    rater = browser_make.user(role="rater")
    sign_in(page, rater.username)
    page.goto(f"/rate/{project.slug}")
    page.locator("form.item").wait_for()

    # Nothing of the tool data ran: the payloads are on the page as text.
    assert page.evaluate("window.pwned") is None
    assert page.locator("form.item img").count() == 0
    assert page.locator("form.item .tool-call script, form.item .tool-list script").count() == 0
    assert page.evaluate("window.__cspViolations") == []
    answer = page.locator(".response .tool-call")
    assert answer.count() == 1
    assert "<script>window.pwned=3</script>" in answer.locator("pre").first.inner_text()
    assert answer.locator(".tool-result").inner_text() == f"Sunny. {IMG}"
    # The prompt's JSON result (among the folded earlier turns) is indented, its script text.
    earlier = page.locator(".earlier-turns .tool-result").text_content()
    assert '\n  "note": "<script>window.pwned = 1</script>"' in earlier

    # The tools list starts folded; a keyboard user opens it, and folds a call.
    tools = page.locator(".tool-list")
    assert tools.evaluate("d => d.open") is False
    _tab_to(page, ".tool-list > summary")
    page.keyboard.press("Enter")
    assert tools.evaluate("d => d.open") is True
    assert IMG in tools.locator("dd").inner_text()
    assert answer.evaluate("d => d.open") is True
    _tab_to(page, ".response .tool-call > summary")
    page.keyboard.press("Enter")
    assert answer.evaluate("d => d.open") is False
    screenshot(page, "tools-screen")

    # Blind: no imported call id (they name a model here) anywhere in the page.
    assert "secret-model" not in page.content()
    assert page.evaluate("window.pwned") is None
    assert page.console_errors == []
