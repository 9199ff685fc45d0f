"""Per-turn fields on the rating screen, in a real browser: keys J / K, drafts, submit."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from service.models import Judgment
from tests.test_rating_screen import _open, _rows, _sign_in_by_keyboard, _wait_for_next
from tests.test_turns import TURN_RUBRIC, chat_row

pytestmark = pytest.mark.browser


def _field(page, turn, name):
    return page.locator(f'[data-field="rubric.turn.{turn}.{name}"]')


def test_turn_fields_by_keyboard_survive_a_reload_and_are_submitted(
    page, browser_app, browser_make
):
    rater = browser_make.user(role="rater")
    project = browser_make.project(
        mode="pairwise",
        scale="ternary",
        overlap=1,
        rubric=TURN_RUBRIC,
        confirm_contradictions=False,
    )
    browser_make.items(project, [chat_row("c1"), chat_row("c2")])
    _sign_in_by_keyboard(page, rater.username)
    lease_id = _open(page, project.slug)
    # The conversation is shown open, each assistant turn with its own fields.
    expect(page.locator(".earlier-turns")).to_have_attribute("open", "")
    expect(page.locator(".rubric-turn")).to_have_count(2)

    page.keyboard.press("?")  # the shortcuts list names the turn keys
    expect(page.locator("#shortcuts-dialog")).to_contain_text(
        "Next / previous assistant turn of the conversation to rate"
    )
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-dialog")).not_to_be_visible()

    page.keyboard.press("j")  # the first turn: its first field to answer
    expect(_field(page, 0, "turn_helpful")).to_be_focused()
    page.keyboard.press("r")  # point 4; the highlight moves on to turn 2's required field
    expect(_field(page, 1, "turn_helpful")).to_be_focused()
    page.keyboard.press("k")  # back to turn 1: its first field still unanswered
    expect(_field(page, 0, "turn_issue")).to_be_focused()
    page.keyboard.press("w")  # its second option, "Wrong"
    page.keyboard.press("j")
    expect(_field(page, 1, "turn_helpful")).to_be_focused()
    page.keyboard.press("1")  # A is better; turn 2 is still to rate
    page.keyboard.press("Control+Enter")
    expect(page.locator(".error-summary")).to_contain_text(
        "Turn helpfulness is required for assistant turn 2."
    )
    assert _rows(browser_app, Judgment) == []

    page.reload()
    assert _open(page, project.slug) == lease_id
    expect(page.locator(".status")).to_have_text("Your unsaved work on this item was restored.")
    expect(_field(page, 0, "turn_helpful").locator("input[value='4']")).to_be_checked()
    expect(_field(page, 0, "turn_issue").locator("input[value='wrong']")).to_be_checked()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(_field(page, 1, "turn_helpful")).to_be_focused()
    page.keyboard.press("e")  # point 3
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, lease_id)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.rubric["turn"] == {
        "0": {"turn_helpful": 4, "turn_issue": "wrong"},
        "1": {"turn_helpful": 3},
    }
    assert page.console_errors == []
