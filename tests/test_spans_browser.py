"""Error spans on the rating screen in a real browser: select, label, restore, remove, submit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from service import db
from service.models import Judgment
from tests.browser import screenshot
from tests.factories import item_row

pytestmark = pytest.mark.browser

LABELS = ["factual error", "unsafe", "hallucinated citation"]
# Astral characters before the marked words: the page counts UTF-16 units, the server
# code points; the stored offsets must be the code points.
TEXT_A = "Hi 👋🏽! The 🐍 Python language\nwas first released in 1989."
TEXT_B = "Python 1.0 came out in January 1994 (see Smith, 2031)."


def _rows(app: Any) -> list[Judgment]:
    with app.app_context():
        rows = list(db.session().exec(select(Judgment).order_by(Judgment.id)))
        db.session().close()
        return rows


def _sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/")


def _open(page: Any, slug: str) -> int:
    page.goto(f"/rate/{slug}")
    form = page.locator("form.item")
    form.wait_for()
    return int(form.get_attribute("data-assignment-id"))


def _label_showing(page: Any, text: str) -> str:
    for card in page.locator(".response").all():
        if card.locator(".response-body").text_content() == text:
            return card.get_attribute("data-label")
    raise AssertionError("no response shows the text")


# Select ``word`` (its first occurrence) in a response body, as a drag of the mouse would.
SELECT = """([label, word]) => {
  const body = document.querySelector(`.response[data-label="${label}"] .response-body`);
  const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(word);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + word.length);
    const sel = document.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    return true;
  }
  return false;
}"""

# The centre of ``word`` in a response body, for a double click on it.
CENTRE = """([label, word]) => {
  const body = document.querySelector(`.response[data-label="${label}"] .response-body`);
  const node = body.firstChild;
  const at = node.data.indexOf(word);
  const range = document.createRange();
  range.setStart(node, at);
  range.setEnd(node, at + word.length);
  const box = range.getBoundingClientRect();
  return [box.x + box.width / 2, box.y + box.height / 2];
}"""


def test_spans_by_keyboard_and_mouse_survive_a_reload_and_are_stored_in_code_points(
    page, browser_app, browser_make
):
    rater = browser_make.user(role="rater")
    project = browser_make.project(
        mode="pairwise", scale="ternary", overlap=1, span_labels=LABELS, name="Spans"
    )
    row = item_row(
        "q1",
        responses=[
            {"id": "a", "model": "m-a", "content": TEXT_A},
            {"id": "b", "model": "m-b", "content": TEXT_B},
        ],
    )
    browser_make.items(project, [row])
    _sign_in(page, rater.username)
    lease = _open(page, project.slug)
    a, b = _label_showing(page, TEXT_A), _label_showing(page, TEXT_B)

    # Keyboard: select, M, then 1 picks "factual error".
    assert page.evaluate(SELECT, [a, "1989"])
    page.keyboard.press("m")
    picker = page.locator(".span-picker")
    assert picker.is_visible() and picker.locator(".span-quote").inner_text() == "1989"
    page.keyboard.press("1")
    assert picker.is_hidden()
    card_a = page.locator(f'.response[data-label="{a}"]')
    assert card_a.locator(".span-mark").all_inner_texts() == ["1989"]
    assert card_a.locator(".span-list li").all_inner_texts() == ["factual error 1989 Remove"]
    # The digit picked a label, not the verdict.
    assert page.locator('[data-field="verdict.choice"] input:checked').count() == 0

    # Mouse: double-click a word (its trailing space is left out), the button, a label, a note.
    page.mouse.dblclick(*page.evaluate(CENTRE, [b, "Smith"]))
    page.locator(f'.response[data-label="{b}"] .btn-mark-span').click()
    picker.get_by_label("hallucinated citation").check()
    # While the picker is open the page's keys wait: no verdict, no skip, no submit.
    for key in ("a", "s", "Control+Enter"):
        page.keyboard.press(key)
    assert page.locator('[data-field="verdict.choice"] input:checked').count() == 0
    assert page.evaluate("document.getElementById('skip-dialog').open") is False
    assert picker.is_visible() and _rows(browser_app) == []
    picker.locator(".span-note").fill("no such paper")
    screenshot(page, "spans-picker")
    picker.get_by_role("button", name="Add span").click()
    card_b = page.locator(f'.response[data-label="{b}"]')
    assert card_b.locator(".span-mark").all_inner_texts() == ["Smith"]
    screenshot(page, "spans-marked")

    # A third span, then removed by keyboard.
    assert page.evaluate(SELECT, [a, "🐍 Python"])
    page.keyboard.press("m")
    page.keyboard.press("2")
    assert card_a.locator(".span-mark").all_inner_texts() == ["🐍 Python", "1989"]
    card_a.get_by_role("button", name="Remove span: unsafe, 🐍 Python").focus()
    page.keyboard.press("Enter")
    assert card_a.locator(".span-mark").all_inner_texts() == ["1989"]

    # Keyboard only, no selection: M asks for the words, Tab to the labels, 2 is "unsafe".
    card_b.locator(".response-body").focus()
    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.matches('.span-find-input')")
    page.keyboard.type("1994")
    assert "Match 1 of 1" in picker.locator(".span-find-status").inner_text()
    page.keyboard.press("Tab")
    page.keyboard.press("2")
    assert card_b.locator(".span-mark").all_inner_texts() == ["1994", "Smith"]

    # A reload restores the spans from the draft.
    page.reload()
    assert _open(page, project.slug) == lease
    assert page.locator(".status").inner_text() == "Your unsaved work on this item was restored."
    assert card_a.locator(".span-mark").all_inner_texts() == ["1989"]
    assert card_b.locator(".span-list li").all_inner_texts() == [
        "unsafe 1994 Remove",
        "hallucinated citation Smith no such paper Remove",
    ]
    # The body is still exactly the stored text (marks hold text only).
    assert card_a.locator(".response-body").text_content() == TEXT_A

    page.keyboard.press("1")  # A is better
    page.keyboard.press("Control+Enter")
    page.locator(".done-card, .error-summary:not([hidden])").first.wait_for()
    assert page.locator(".error-summary:not([hidden])").count() == 0, page.locator(
        ".error-summary"
    ).inner_text()
    (judgment,) = _rows(browser_app)
    start, year, cited = TEXT_A.index("1989"), TEXT_B.index("1994"), TEXT_B.index("Smith")
    on_a = [("a", start, start + 4, "factual error", "")]
    on_b = [
        ("b", year, year + 4, "unsafe", ""),
        ("b", cited, cited + 5, "hallucinated citation", "no such paper"),
    ]
    stored = [(s["response"], s["start"], s["end"], s["label"], s["note"]) for s in judgment.spans]
    assert stored == (on_a + on_b if a == "A" else on_b + on_a)
    assert TEXT_A[start : start + 4] == "1989" and TEXT_B[cited : cited + 5] == "Smith"
