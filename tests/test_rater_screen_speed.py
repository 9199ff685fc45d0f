"""The rating screen at expert speed, in a real browser: above the fold, few keys, compare aids.

Items come from the shipped demo (prompts/demo, what ``rankroom demo`` loads) where the
layout is at stake, so the checks hold for lifelike prompts and responses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment
from service.projects import projects
from tests.browser import screenshot
from tests.factories import item_row

pytestmark = pytest.mark.browser

DEMO = Path(__file__).resolve().parent.parent / "prompts" / "demo"
WIDE = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _rows(app: Any, model: Any, **where: Any) -> list[Any]:
    with app.app_context():
        query = select(model).order_by(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        rows = list(db.session().exec(query))
        db.session().close()
        return rows


def _last_turn(row: dict[str, Any]) -> int:
    return len(row.get("prompt") or row["messages"][-1]["content"])


def _conversation(row: dict[str, Any]) -> int:
    return len(row.get("prompt") or "") + sum(len(m["content"]) for m in row.get("messages") or [])


def _demo_project(app: Any, make: Any, slug: str, longest: Any = _conversation) -> Any:
    """Create one of the demo's projects with its hardest item for the layout.

    The hardest: the most responses shown at once (all, in a ranking; two, in a
    pairwise project), then the ``longest`` prompt (whole conversation, or last turn).
    """
    (campaign,) = [c for c in json.loads((DEMO / "projects.json").read_text()) if c["slug"] == slug]
    data = projects.load_template(app.config["PROMPTS_DIR"], campaign["template"])
    data.update(campaign.get("settings") or {}, slug=slug, name=campaign["name"], overlap=1)
    project = make.project(**data)
    rows = [
        json.loads(line)
        for name in campaign["files"]
        for line in (DEMO / name).read_text().splitlines()
        if line.strip()
    ]

    def weight(row: dict[str, Any]) -> tuple[int, int]:
        shown = len(row["responses"]) if project.mode == "ranking" else 2
        return shown, longest(row)

    make.items(project, [max((r for r in rows if not r.get("gold")), key=weight)])
    return project


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


def _wait_for_next(page: Any, previous: int) -> None:
    page.wait_for_function(
        "id => { const f = document.querySelector('form.item');"
        " return document.querySelector('.done-card') || (f && f.dataset.assignmentId != id); }",
        arg=str(previous),
    )


# Where each response's first lines are, and whether they are inside the viewport.
FOLD = """() => Array.from(document.querySelectorAll('.response')).map((card) => {
  const body = card.querySelector('.response-body').getBoundingClientRect();
  const title = card.querySelector('.response-title').getBoundingClientRect();
  return {label: card.dataset.label, titleTop: title.top, bodyTop: body.top,
          left: body.left, right: body.right,
          firstLinesBottom: body.top + Math.min(body.height, 60)};
})"""


@pytest.mark.parametrize(
    ("slug", "longest"),
    [
        ("demo-coding-pairwise", _conversation),
        ("demo-coding-pairwise", _last_turn),
        ("demo-expert-pairwise-7pt", _conversation),
        ("demo-expert-ranking", _conversation),
    ],
)
def test_demo_items_show_every_response_above_the_fold(
    page, browser_app, browser_make, slug, longest
):
    rater = browser_make.user(expertise=["coding", "medicine", "law"])
    project = _demo_project(browser_app, browser_make, slug, longest)
    page.set_viewport_size(WIDE)
    _sign_in(page, rater.username)
    _open(page, project.slug)
    boxes = page.evaluate(FOLD)
    assert len(boxes) >= 2
    assert page.evaluate("window.scrollY") == 0
    for box in boxes:
        assert box["titleTop"] >= 0 and box["firstLinesBottom"] <= WIDE["height"], box
        assert box["left"] >= 0 and box["right"] <= WIDE["width"], box
    if slug == "demo-coding-pairwise":
        # Side by side: A and B start on the same line.
        assert boxes[0]["bodyTop"] == boxes[1]["bodyTop"] and boxes[0]["right"] < boxes[1]["left"]
    screenshot(page, f"above-the-fold-{slug}-{longest.__name__.strip('_')}")
    assert page.console_errors == []


RUBRIC2 = [
    {
        "name": "helpfulness",
        "label": "Helpfulness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
    },
]
MAX_KEYS = 8


def _typed(page: Any, keys: list[str]) -> int:
    """Press ``keys`` with page.keyboard only; return how many keydown events the page saw."""
    page.evaluate(
        "() => { window.__keys = [];"
        " document.addEventListener('keydown', (e) => window.__keys.push(e.key), true); }"
    )
    for key in keys:
        page.keyboard.press(key)
    return page.evaluate("window.__keys.length")


def test_pairwise_with_strength_and_two_rubric_dimensions_in_at_most_8_keys(
    page, browser_app, browser_make
):
    rater = browser_make.user()
    project = browser_make.project(mode="pairwise", scale="likert7", rubric=RUBRIC2, overlap=1)
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    page.set_viewport_size(WIDE)
    _sign_in(page, rater.username)
    first = _open(page, project.slug)
    # 6: B better; then Helpfulness and Correctness of A (2, 3), of B (4, 5); submit.
    keys = _typed(page, ["6", "w", "e", "r", "t", "Control+Enter"])
    _wait_for_next(page, first)
    assert keys <= MAX_KEYS, f"{keys} keys"
    (judgment,) = _rows(browser_app, Judgment)
    left, right = judgment.shown_order
    assert judgment.assignment_id == first
    assert judgment.verdict == {"preferred": right, "strength": 2, "scale_value": 6}
    assert judgment.rubric == {
        "response": {
            left: {"helpfulness": 2, "correctness": 3},
            right: {"helpfulness": 4, "correctness": 5},
        },
        "item": {},
    }
    assert judgment.contradiction_asked is False
    assert page.console_errors == []


def test_ranking_of_four_in_at_most_8_keys(page, browser_app, browser_make):
    rater = browser_make.user()
    project = browser_make.project(mode="ranking", rubric=[], overlap=1)
    browser_make.items(project, [item_row("r1", n_responses=4), item_row("r2", n_responses=4)])
    page.set_viewport_size(WIDE)
    _sign_in(page, rater.username)
    first = _open(page, project.slug)
    # Ranks for A, B, C, D in turn: B best, A and D tied second, C last.
    keys = _typed(page, ["2", "1", "3", "2", "Control+Enter"])
    _wait_for_next(page, first)
    assert keys <= MAX_KEYS, f"{keys} keys"
    (judgment,) = _rows(browser_app, Judgment)
    (lease,) = _rows(browser_app, Assignment, id=first)
    a, b, c, d = lease.shown_order
    assert judgment.verdict == {"ranking": [[b], [a, d], [c]]}


def test_digits_pick_the_verdict_even_from_a_rubric_field(page, browser_app, browser_make):
    rater = browser_make.user()
    project = browser_make.project(mode="pairwise", scale="ternary", rubric=RUBRIC2, overlap=1)
    browser_make.items(project, [item_row("q1")])
    _sign_in(page, rater.username)
    _open(page, project.slug)
    page.locator('[data-field="rubric.response.A.helpfulness"] input[value="3"]').focus()
    page.keyboard.press("2")
    assert page.locator('[data-field="verdict.choice"] input[value="B"]').is_checked()
    assert (
        page.locator('[data-field="rubric.response.A.helpfulness"] input[value="2"]').is_checked()
        is False
    )
    # The row under the digits answers the highlighted scale: here the one with focus.
    page.locator('[data-field="rubric.response.B.correctness"]').focus()
    page.keyboard.press("q")
    assert page.locator(
        '[data-field="rubric.response.B.correctness"] input[value="1"]'
    ).is_checked()
    # ...and the highlight moved on to the first field still to answer.
    active = page.evaluate("document.activeElement.closest('[data-field]')?.dataset.field")
    assert active == "rubric.response.A.helpfulness"
    page.keyboard.press("?")
    overlay = page.locator("#shortcuts-dialog")
    assert overlay.is_visible()
    text = overlay.inner_text()
    assert "Point 1, 2, 3, 4, 5" in text and "A is better" in text and "Tie" in text
    screenshot(page, "shortcuts-overlay")


def test_contradicting_verdict_asks_then_stores_the_answer(page, browser_app, browser_make):
    rater = browser_make.user()
    project = browser_make.project(mode="pairwise", scale="binary", rubric=RUBRIC2, overlap=1)
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in(page, rater.username)
    first = _open(page, project.slug)
    # A preferred, yet scored below B on both scales.
    for key in ["1", "q", "q", "t", "t", "Control+Enter"]:
        page.keyboard.press(key)
    question = page.locator(".contradiction")
    question.wait_for()
    assert "You put A above B but scored A lower on Helpfulness, Correctness." in (
        question.inner_text()
    )
    assert _rows(browser_app, Judgment) == []
    screenshot(page, "contradiction")
    page.keyboard.type("B pads its answer with errors.")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.contradiction_asked is True
    assert judgment.contradiction_rationale == "B pads its answer with errors."
    assert judgment.verdict["preferred"] == judgment.shown_order[0]


def test_word_diff_and_length_hints(page, browser_app, browser_make):
    rater = browser_make.user()
    project = browser_make.project(mode="pairwise", scale="binary", rubric=[], overlap=1)
    row = item_row("q1")
    row["responses"][0]["content"] = "Take **two** tablets <b>daily</b> with water."
    row["responses"][1]["content"] = "Take **three** tablets <b>daily</b> with food."
    browser_make.items(project, [row])
    _sign_in(page, rater.username)
    _open(page, project.slug)
    hints = page.locator(".length-hint")
    page.wait_for_function("() => document.querySelector('.length-hint').textContent !== ''")
    assert hints.nth(0).inner_text() == "6 words · <1 min read"
    page.keyboard.press("d")
    diffs = page.locator(".response-diff")
    marked = [[m.inner_text() for m in diffs.nth(i).locator("mark").all()] for i in range(2)]
    # Each side marks the words the other lacks (the display order is random).
    assert sorted(marked) == [["three", "food."], ["two", "water."]]
    # The raw markup in the responses is text in the diff, never an element.
    assert page.locator(".response-diff b").count() == 0
    assert "<b>daily</b>" in page.locator(".response-diff").first.inner_text()
    assert page.locator(".response-body").first.is_hidden()
    page.keyboard.press("d")
    assert page.locator(".response-body").first.is_visible()


LONG = (
    "A sentence with a long word: pneumonoultramicroscopicsilicovolcanoconiosis and "
    "https://example.org/a/very/long/path/that/goes/on/and/on/without/any/break/at/all\n\n"
    "```python\n" + "x = 1  # " + "a" * 300 + "\n```\n\n"
    "| column one | column two | column three | column four | column five |\n"
    "|---|---|---|---|---|\n"
    "| a cell with several words | another cell | more | text | here |\n"
)


@pytest.mark.parametrize("width", [360, 390, 1366])
def test_long_content_scrolls_inside_and_the_page_never_sideways(
    page, browser_app, browser_make, width
):
    rater = browser_make.user(display_name="A rather long display name for a rater")
    rubric = [
        {
            "name": "correctness",
            "label": "Correctness",
            "scope": "response",
            "kind": "likert",
            "points": 5,
            "anchors": {"1": "Seriously wrong", "4": "Essentially correct", "5": "Fully correct"},
        }
    ]
    project = browser_make.project(mode="pairwise", scale="likert7", rubric=rubric, overlap=1)
    row = item_row("long")
    row["responses"][0]["content"] = LONG
    browser_make.items(project, [row])
    page.set_viewport_size({"width": width, "height": 800})
    _sign_in(page, rater.username)
    _open(page, project.slug)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    code = page.locator(".response-body pre").first
    table = page.locator(".response-body table").first
    for box in (code, table):
        assert box.evaluate("e => getComputedStyle(e).overflowX") == "auto"
    assert code.evaluate("e => e.scrollWidth > e.clientWidth")  # scrolls inside itself
    if width < 600:
        assert table.evaluate("e => e.scrollWidth > e.clientWidth")
    # No scroll box inside another on the same axis.
    nested = page.evaluate(
        """() => {
          // A scroll box on an axis: lets the user scroll it, and has something to scroll.
          const scrolls = (e, axis) => {
            const s = getComputedStyle(e)['overflow' + axis];
            const more = axis === 'X' ? e.scrollWidth > e.clientWidth + 1
                                      : e.scrollHeight > e.clientHeight + 1;
            return (s === 'auto' || s === 'scroll') && more;
          };
          const out = [];
          // A text box scrolls its own text, as every text box does: not a layout box.
          for (const e of document.querySelectorAll('main *:not(textarea)')) {
            for (const axis of ['X', 'Y']) {
              if (!scrolls(e, axis)) continue;
              for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
                if (scrolls(p, axis)) out.push(e.className + ' in ' + p.className);
              }
            }
          }
          return out;
        }"""
    )
    assert nested == []
    # Prose wraps between words: the long word is on one line unless it cannot fit.
    word_breaks = page.evaluate("getComputedStyle(document.querySelector('.md')).overflowWrap")
    assert word_breaks == "break-word"
    screenshot(page, f"long-content-{width}")


def test_lease_clock_warns_renews_on_activity_and_says_when_it_expired(
    page, browser_app, browser_make
):
    rater = browser_make.user()
    project = browser_make.project(
        mode="pairwise", scale="binary", rubric=[], overlap=1, lease_minutes=10
    )
    browser_make.items(project, [item_row("q1")])
    _sign_in(page, rater.username)
    page.clock.install()
    lease_id = _open(page, project.slug)
    clock = page.locator(".lease-clock")
    # The form can be on the page before the screen's script has shown the clock: wait.
    expect(clock).to_have_text("Item held for you: 10 min")
    warning = page.locator(".lease-warning")
    assert warning.is_hidden()
    renewals: list[str] = []
    page.on("request", lambda r: renewals.append(r.url) if r.url.endswith("/renew") else None)
    page.clock.fast_forward("08:05")  # idle: no renewal, so the warning comes up
    warning.wait_for()
    assert "ends in under 2 minutes" in warning.inner_text()
    assert renewals == []
    page.mouse.move(200, 200)
    page.clock.fast_forward("00:02")
    page.wait_for_function("() => document.querySelector('.lease-warning').hidden")
    assert len(renewals) == 1
    assert clock.inner_text() == "Item held for you: 10 min"
    page.clock.fast_forward("10:05")  # idle again, past the end
    page.wait_for_function(
        "() => document.querySelector('.lease-warning').textContent.includes('expired')"
    )
    assert "Your answers are still here" in warning.inner_text()
    assert clock.inner_text() == "Hold on this item expired"
    (lease,) = _rows(browser_app, Assignment, id=lease_id)
    assert lease.status == "active"  # nobody else took it: submitting would still count


def test_restored_notice_only_when_something_was_restored(page, browser_app, browser_make):
    rater = browser_make.user()
    project = browser_make.project(mode="pairwise", scale="binary", rubric=[], overlap=1)
    browser_make.items(project, [item_row("q1")])
    _sign_in(page, rater.username)
    first = _open(page, project.slug)
    page.reload()
    assert _open(page, project.slug) == first
    assert page.locator(".status").inner_text() == ""
    page.keyboard.press("b")
    page.reload()
    _open(page, project.slug)
    assert page.locator(".status").inner_text() == "Your unsaved work on this item was restored."


def test_rater_home_lists_only_projects_with_work_for_the_rater(page, browser_app, browser_make):
    rater = browser_make.user(expertise=["law"])
    ready = browser_make.project(name="Has work", mode="pairwise", scale="binary", rubric=[])
    browser_make.items(ready, [item_row("q1"), item_row("q2")])
    browser_make.project(name="Empty one", mode="pairwise", scale="binary", rubric=[])
    other = browser_make.project(name="Not my field", mode="pairwise", scale="binary", rubric=[])
    row = item_row("q3")
    row["expertise"] = ["cardiology"]
    browser_make.items(other, [row])
    page.set_viewport_size(PHONE)
    _sign_in(page, rater.username)
    names = page.locator(".project-row h2")
    assert [names.nth(i).inner_text() for i in range(names.count())] == ["Has work"]
    assert page.locator(".project-row .available").inner_text() == "2"
    assert "Nothing left for you in: Empty one, Not my field." in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "rater-home-phone")
