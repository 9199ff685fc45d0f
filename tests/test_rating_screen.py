"""The rating screen in a real browser: keyboard, drag-and-drop, drafts, idempotency, XSS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment
from tests.browser import screenshot
from tests.factories import item_row

pytestmark = pytest.mark.browser

RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "help": "Are the facts right?",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
        "anchors": {"1": "Seriously wrong", "3": "Minor errors", "5": "Fully correct"},
    },
    {
        "name": "flags",
        "label": "Flags",
        "scope": "item",
        "kind": "flags",
        "options": [
            {"value": "unsafe", "label": "Unsafe content"},
            {"value": "factual_error", "label": "Factual error"},
        ],
    },
    {"name": "rationale", "label": "Rationale", "scope": "item", "kind": "text"},
    {
        "name": "confidence",
        "label": "Confidence",
        "scope": "item",
        "kind": "likert",
        "points": 3,
        "required": True,
        "anchors": {"1": "Unsure", "2": "Fairly confident", "3": "Very confident"},
    },
]
GUIDELINES = "# How to judge\n\nPrefer the **correct** answer. Version three."


def _rows(app: Any, model: Any, **where: Any) -> list[Any]:
    with app.app_context():
        query = select(model).order_by(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        rows = list(db.session().exec(query))
        db.session().close()
        return rows


def _project(make: Any, mode: str = "pairwise", **kwargs: Any) -> Any:
    kwargs.setdefault("rubric", RUBRIC)
    return make.project(mode=mode, guidelines=GUIDELINES, guideline_version=3, overlap=1, **kwargs)


def _sign_in_by_keyboard(page: Any, username: str) -> None:
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


def _tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the focused element matches ``selector``: keyboard only."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _wait_for_next(page: Any, previous: int) -> None:
    page.wait_for_function(
        "id => { const f = document.querySelector('form.item');"
        " return document.querySelector('.done-card') || (f && f.dataset.assignmentId != id); }",
        arg=str(previous),
    )


def _answer_rubric_by_mouse(page: Any, labels: list[str]) -> None:
    for label in labels:
        page.locator(f'[data-field="rubric.response.{label}.correctness"] .point').nth(3).click()
    page.locator('[data-field="rubric.item.confidence"] .point').nth(1).click()


def test_pairwise_item_by_keyboard_only_is_stored_as_done(page, browser_app, browser_make):
    rater = browser_make.user(role="rater", display_name="Dr. Keys")
    project = _project(browser_make, scale="ternary", name="Keyboard project")
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    screenshot(page, "rater-home")
    page.get_by_role("link", name="Start").focus()
    began = time.monotonic()
    page.keyboard.press("Enter")
    form = page.locator("form.item")
    form.wait_for()
    first = int(form.get_attribute("data-assignment-id"))
    screenshot(page, "pairwise")

    page.keyboard.press("2")  # B is better
    _tab_to(page, '[data-field="rubric.response.A.correctness"] input')
    page.keyboard.press("w")  # the row under the digits scores: W is point 2
    _tab_to(page, '[data-field="rubric.response.B.correctness"] input')
    page.keyboard.press("t")
    _tab_to(page, '[data-field="rubric.item.flags"] input[value="factual_error"]')
    page.keyboard.press("Space")
    _tab_to(page, '[data-field="rubric.item.rationale"] textarea')
    # Shortcut letters and digits typed into a text box are text, nothing else.
    page.keyboard.type("A states 2 wrong dates; see the guidelines. T")
    _tab_to(page, '[data-field="rubric.item.confidence"] input')
    page.keyboard.press("ArrowRight")  # arrows move along a scale: to point 1...
    page.keyboard.press("e")  # ...and E (under the 3) picks point 3
    assert page.locator("dialog[open]").count() == 0
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    elapsed_ms = (time.monotonic() - began) * 1000
    # One round trip: the submission's answer carries the next item.
    assert [url.split("/", 3)[3] for url in posts] == [f"rate/assignments/{first}/judgment"]

    (judgment,) = _rows(browser_app, Judgment)
    (lease,) = _rows(browser_app, Assignment, id=first)
    left, right = lease.shown_order
    assert judgment.assignment_id == first and lease.status == "submitted"
    assert judgment.shown_order == [left, right]
    assert judgment.verdict == {"preferred": right, "strength": None, "scale_value": None}
    assert judgment.rubric == {
        "response": {left: {"correctness": 2}, right: {"correctness": 5}},
        "item": {
            "flags": ["factual_error"],
            "rationale": "A states 2 wrong dates; see the guidelines. T",
            "confidence": 3,
        },
    }
    assert judgment.flags == ["factual_error"] and judgment.confidence == 3
    assert judgment.guideline_version == 3 and judgment.both_bad is False
    assert 0 < judgment.active_ms <= elapsed_ms
    assert judgment.started_at is not None and judgment.started_at <= judgment.created_at
    assert page.locator(".done-today").inner_text() == "1"
    assert page.locator(".edit-bar").is_visible()
    assert page.console_errors == []


def test_likert7_and_both_bad_by_keyboard(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="likert7", rubric=[])
    browser_make.items(project, [item_row("q1")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("6")
    page.keyboard.press("x")
    screenshot(page, "pairwise-likert7")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    right = judgment.shown_order[1]
    assert judgment.verdict == {"preferred": right, "strength": 2, "scale_value": 6}
    assert judgment.both_bad is True


def _ranking_project(make: Any) -> tuple[Any, list[Any]]:
    project = _project(make, mode="ranking", name="Ranking project")
    items = make.items(project, [item_row("r1", n_responses=4), item_row("r2", n_responses=4)])
    return project, items


def _shown_ranks(page: Any) -> list[tuple[str, str]]:
    chips = page.locator(".ranking-list .chip")
    return [
        (chips.nth(i).get_attribute("data-label"), chips.nth(i).locator(".rank").inner_text())
        for i in range(chips.count())
    ]


def _ids(lease: Assignment, groups: list[list[str]]) -> list[list[str]]:
    by_label = {chr(ord("A") + i): rid for i, rid in enumerate(lease.shown_order)}
    return [[by_label[label] for label in group] for group in groups]


def test_ranking_by_drag_and_drop_with_a_tie(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project, _ = _ranking_project(browser_make)
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    chip = page.locator(".ranking-list .chip")
    # Drag D to the top, then B's tie button ties it with the response above it (A).
    chip.nth(3).drag_to(chip.nth(0), target_position={"x": 30, "y": 5})
    assert [label for label, _ in _shown_ranks(page)] == ["D", "A", "B", "C"]
    page.locator('.chip[data-label="B"] .tie-btn').click()
    assert _shown_ranks(page) == [("D", "1"), ("A", "2="), ("B", "2="), ("C", "3")]
    _answer_rubric_by_mouse(page, ["A", "B", "C", "D"])
    screenshot(page, "ranking-drag")
    page.get_by_role("button", name="Submit").click()
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    (lease,) = _rows(browser_app, Assignment, id=first)
    assert judgment.verdict == {"ranking": _ids(lease, [["D"], ["A", "B"], ["C"]])}
    assert judgment.shown_order == lease.shown_order and len(lease.shown_order) == 4
    assert page.console_errors == []


def test_ranking_by_keyboard_with_a_tie(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project, _ = _ranking_project(browser_make)
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    for label in "ABCD":
        _tab_to(page, f'[data-field="rubric.response.{label}.correctness"] input')
        page.keyboard.press("r")  # R, under the 4: point 4
    _tab_to(page, '.chip[data-label="A"]')  # to the ranking: focus is on A
    page.keyboard.press("ArrowDown")  # B A C D
    page.keyboard.press("ArrowDown")  # B C A D
    page.keyboard.press("Tab")  # to D
    page.keyboard.press("ArrowUp")  # B C D A
    page.keyboard.press("Shift+ArrowUp")  # D ties with C: B, C=D, A
    assert _shown_ranks(page) == [("B", "1"), ("C", "2="), ("D", "2="), ("A", "3")]
    live = page.locator(".ranking-live").inner_text()
    assert live == "Response D: rank 2, tied with C"
    _tab_to(page, '[data-field="rubric.item.confidence"] input')
    page.keyboard.press("w")
    screenshot(page, "ranking-keyboard")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    (lease,) = _rows(browser_app, Assignment, id=first)
    assert judgment.verdict == {"ranking": _ids(lease, [["B"], ["C", "D"], ["A"]])}
    assert judgment.rubric["response"] == {rid: {"correctness": 4} for rid in lease.shown_order}
    assert judgment.confidence == 2


def test_untouched_ranking_asks_once_before_keeping_the_display_order(
    page, browser_app, browser_make
):
    rater = browser_make.user(role="rater")
    project, _ = _ranking_project(browser_make)
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    _answer_rubric_by_mouse(page, ["A", "B", "C", "D"])
    page.keyboard.press("Control+Enter")
    error = page.locator('[data-field="verdict.ranking"] .field-error')
    assert "not changed the starting order" in error.inner_text()
    assert _rows(browser_app, Judgment) == []
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    (lease,) = _rows(browser_app, Assignment, id=first)
    assert judgment.verdict == {"ranking": [[rid] for rid in lease.shown_order]}


def test_required_fields_block_submit_with_messages_next_to_them(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    rubric = [
        *RUBRIC,
        {"name": "minutes", "label": "Minutes to fix", "scope": "item", "kind": "number",
         "min": 0, "max": 60},
    ]  # fmt: skip
    project = _project(browser_make, scale="binary", rubric=rubric)
    browser_make.items(project, [item_row("q1")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")
    b_error = page.locator('[data-field="rubric.response.B.correctness"] .field-error')
    assert b_error.is_visible()
    assert b_error.inner_text() == "Correctness is required for response B."
    assert page.locator('[data-field="rubric.item.confidence"] .field-error').inner_text() == (
        "Confidence is required."
    )
    assert page.locator('[data-field="verdict.choice"] .field-error').is_hidden()
    # The first field in error has the focus, so the rater can answer it straight away.
    assert (
        page.evaluate("document.activeElement.closest('[data-field]').dataset.field")
        == "rubric.response.A.correctness"
    )
    screenshot(page, "required-fields")
    assert _rows(browser_app, Judgment) == []

    # The page cannot know every rule; the server's 422 lands next to the right field too.
    _answer_rubric_by_mouse(page, ["A", "B"])
    page.get_by_label("Minutes to fix").fill("90")
    page.keyboard.press("Control+Enter")
    server_error = page.locator('[data-field="rubric.item.minutes"] .field-error')
    server_error.wait_for()
    assert server_error.inner_text().startswith("a number from 0")
    assert page.locator(".error-summary li").inner_text().startswith("Minutes to fix: a number")
    assert _rows(browser_app, Judgment) == []
    assert _rows(browser_app, Assignment, id=first)[0].status == "active"
    screenshot(page, "server-errors")


def test_reload_mid_item_restores_the_draft(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="ternary")
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("0")  # tie
    page.locator('[data-field="rubric.response.A.correctness"] .point').nth(0).click()
    page.get_by_label("Factual error").check()
    page.get_by_label("Rationale").fill("Both miss the point.")
    started = page.evaluate(f"JSON.parse(localStorage['rankroom:draft:{first}']).started_at")

    page.reload()
    assert _open(page, project.slug) == first
    assert page.locator(".status").inner_text() == "Your unsaved work on this item was restored."
    assert page.locator('[data-field="verdict.choice"] input[value="tie"]').is_checked()
    assert page.locator(
        '[data-field="rubric.response.A.correctness"] input[value="1"]'
    ).is_checked()
    assert page.get_by_label("Factual error").is_checked()
    assert page.get_by_label("Rationale").input_value() == "Both miss the point."
    screenshot(page, "draft-restored")

    page.locator('[data-field="rubric.response.B.correctness"] .point').nth(4).click()
    page.locator('[data-field="rubric.item.confidence"] .point').nth(0).click()
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.verdict["preferred"] is None and judgment.rationale == "Both miss the point."
    assert judgment.started_at.isoformat().startswith(started[:19])
    assert page.evaluate(f"localStorage['rankroom:draft:{first}']") is None


def test_double_submit_and_retry_after_lost_answer_store_one_judgment(
    page, browser_app, browser_make
):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="binary", rubric=[])
    browser_make.items(project, [item_row(f"q{n}") for n in range(1, 5)])
    page.clock.install()  # time flows as usual until the test moves it on
    _sign_in_by_keyboard(page, rater.username)

    first = _open(page, project.slug)
    page.keyboard.press("b")
    page.locator(".btn-submit").dblclick()
    _wait_for_next(page, first)
    assert len(_rows(browser_app, Judgment, assignment_id=first)) == 1

    # The server stores the judgment but its answer never reaches the page: the request
    # hangs (a dead connection) until the page stops waiting for it.
    second = int(page.locator("form.item").get_attribute("data-assignment-id"))
    lost: list[int] = []

    def hold_answer(route: Any) -> None:
        if not lost:
            lost.append(route.fetch().status)  # stored; the route is never answered
        else:
            route.continue_()

    page.route("**/judgment", hold_answer)
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")
    while not lost:
        page.wait_for_timeout(20)
    page.clock.run_for(36_000)
    page.locator(".error-summary").wait_for()
    paused = page.locator(".error-summary").inner_text()
    assert "Saving paused: could not reach the server" in paused
    assert "Your work is kept in this browser" in paused
    assert lost == [201]
    page.keyboard.press("Control+Enter")  # the retry carries the same client id
    _wait_for_next(page, second)
    assert len(_rows(browser_app, Judgment, assignment_id=second)) == 1
    assert len(_rows(browser_app, Judgment)) == 2
    # ...and moves on to the item the lost answer carried: no third item taken.
    assert len(_rows(browser_app, Assignment)) == 3


PAYLOAD = (
    "Try this: <script>window.pwned = 1; alert('script')</script>\n\n"
    "<img src=x onerror=\"window.pwned = 2; alert('img')\">\n\n"
    "[click me](javascript:alert('link')) <svg onload=\"alert('svg')\"></svg>\n\n"
    '<a href="javascript:alert(1)">raw link</a> ![pic](data:image/svg+xml;base64,PHN2Zz4=)'
)


def test_hostile_response_markup_does_not_execute(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="ternary", rubric=[])
    row = item_row("xss", prompt="Say <b onmouseover=alert(9)>hi</b> <script>alert(8)</script>")
    row["responses"][0]["content"] = PAYLOAD
    row["responses"][1]["content"] = "```html\n<script>alert('code')</script>\n```"
    browser_make.items(project, [row])
    _sign_in_by_keyboard(page, rater.username)
    _open(page, project.slug)
    page.locator(".response-body").first.hover()
    page.mouse.move(10, 10)
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert page.console_errors == []  # no alert dialog, no script error
    bodies = page.locator(".response-body, .prompt-text")
    text = " ".join(bodies.nth(i).inner_text() for i in range(bodies.count()))
    assert "<script>window.pwned = 1; alert('script')</script>" in text
    assert "<img src=x onerror=" in text and "<script>alert('code')</script>" in text
    assert "<b onmouseover=alert(9)>hi</b>" in text
    assert page.locator(".md script, .md img, .md svg, .md iframe, .md b").count() == 0
    assert page.locator(".md a[href^='javascript'], .md a[href^='data']").count() == 0
    screenshot(page, "hostile-markup")


def test_undo_edit_last_judgment_creates_a_new_version(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="ternary", rubric=[])
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("1")
    page.wait_for_timeout(2000)  # the first version takes 2 s or more
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    second = int(page.locator("form.item").get_attribute("data-assignment-id"))
    page.keyboard.press("0")  # some work on the new item, kept while editing the old one

    revising_from = time.monotonic()
    page.keyboard.press("z")
    page.locator("form.item.revising").wait_for()
    assert int(page.locator("form.item").get_attribute("data-assignment-id")) == first
    assert page.locator('[data-field="verdict.choice"] input[value="A"]').is_checked()
    screenshot(page, "revise")
    page.keyboard.press("2")
    page.keyboard.press("Control+Enter")
    page.locator("form.item:not(.revising)").wait_for()
    revising_ms = (time.monotonic() - revising_from) * 1000
    assert int(page.locator("form.item").get_attribute("data-assignment-id")) == second
    assert page.locator('[data-field="verdict.choice"] input[value="tie"]').is_checked()

    old, new = _rows(browser_app, Judgment)
    assert (old.version, new.version, new.supersedes_id) == (1, 2, old.id)
    # Each version records its own active time (the cost report adds up the chain): the
    # revision's is at most the time spent revising, not the first version's plus that.
    assert old.active_ms >= 2000 and 0 < new.active_ms <= revising_ms
    assert old.verdict["preferred"] == old.shown_order[0]
    assert new.verdict["preferred"] == new.shown_order[1]
    assert "version 2" in page.locator(".edit-bar").inner_text()


def test_skip_with_a_reason_by_keyboard(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="ternary", rubric=[])
    browser_make.items(project, [item_row("q1"), item_row("q2")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("s")
    dialog = page.locator("#skip-dialog")
    assert dialog.is_visible()
    page.keyboard.press("3")  # other: the note is required and gets the focus
    page.keyboard.type("Prompt is cut off.")
    screenshot(page, "skip-dialog")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (lease,) = _rows(browser_app, Assignment, id=first)
    assert (lease.status, lease.skip_reason, lease.skip_note) == (
        "skipped",
        "other",
        "Prompt is cut off.",
    )
    assert _rows(browser_app, Judgment) == []


def test_guidelines_and_shortcuts_open_without_leaving_the_item(page, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="ternary")
    browser_make.items(project, [item_row("q1")])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    page.keyboard.press("1")
    page.keyboard.press("g")
    panel = page.locator("#guidelines-panel")
    assert panel.is_visible()
    assert "version 3" in panel.locator("h2").inner_text()
    assert panel.locator("strong").inner_text() == "correct"
    screenshot(page, "guidelines")
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    page.keyboard.press("?")
    assert page.locator("#shortcuts-dialog").is_visible()
    screenshot(page, "shortcuts")
    page.keyboard.press("Escape")
    assert int(page.locator("form.item").get_attribute("data-assignment-id")) == first
    assert page.locator('[data-field="verdict.choice"] input[value="A"]').is_checked()


def test_rating_mode_and_narrow_screen(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, mode="rating")
    browser_make.items(project, [item_row("q1", n_responses=3)])
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    screenshot(page, "rating")
    _answer_rubric_by_mouse(page, ["A", "B", "C"])
    page.set_viewport_size({"width": 420, "height": 860})
    screenshot(page, "rating-narrow")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.verdict == {} and judgment.confidence == 2
    assert judgment.rubric["response"] == {rid: {"correctness": 4} for rid in judgment.shown_order}


def test_hidden_tab_time_is_not_counted(page, browser_app, browser_make):
    rater = browser_make.user(role="rater")
    project = _project(browser_make, scale="binary", rubric=[])
    browser_make.items(project, [item_row("q1")])
    _sign_in_by_keyboard(page, rater.username)
    began = time.monotonic()
    first = _open(page, project.slug)
    hide = "v => { Object.defineProperty(document, 'hidden', {value: v, configurable: true});"
    hide += " document.dispatchEvent(new Event('visibilitychange')); }"
    page.evaluate(hide, True)
    hidden_from = time.monotonic()
    page.wait_for_timeout(2500)
    hidden_ms = (time.monotonic() - hidden_from) * 1000
    page.evaluate(hide, False)
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    total_ms = (time.monotonic() - began) * 1000
    (judgment,) = _rows(browser_app, Judgment)
    assert 0 < judgment.active_ms <= total_ms - hidden_ms


STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@pytest.fixture
def strict_csp(browser_app):
    @browser_app.after_request
    def _csp(response):
        response.headers["Content-Security-Policy"] = STRICT_CSP
        return response


@pytest.mark.own_app
def test_screens_work_under_a_strict_content_security_policy(
    page, browser_app, browser_make, strict_csp
):
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    rater = browser_make.user(role="rater")
    project, _ = _ranking_project(browser_make)
    _sign_in_by_keyboard(page, rater.username)
    first = _open(page, project.slug)
    assert page.evaluate("document.contentType") == "text/html"
    chip = page.locator(".ranking-list .chip")
    chip.nth(2).drag_to(chip.nth(0), target_position={"x": 30, "y": 5})
    _answer_rubric_by_mouse(page, ["A", "B", "C", "D"])
    page.keyboard.press("g")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    _wait_for_next(page, first)
    (judgment,) = _rows(browser_app, Judgment)
    assert judgment.verdict["ranking"][0] == [judgment.shown_order[2]]
    assert violations == [] and page.console_errors == []
