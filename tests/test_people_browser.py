"""People and adjudication in Chromium, at a laptop's 1366x768 and a phone's 390x844."""

from __future__ import annotations

import re

import pytest

from tests.browser import assert_no_sideways_scroll, screenshot, sign_in
from tests.seeding import tiny_campaign

pytestmark = pytest.mark.browser

SIZES = {"laptop": (1366, 768), "phone": (390, 844)}


@pytest.fixture(params=list(SIZES))
def sized(request, page):
    width, height = SIZES[request.param]
    page.set_viewport_size({"width": width, "height": height})
    page.size_name = request.param
    return page


@pytest.fixture
def tiny(browser_app, browser_make):
    campaign = tiny_campaign(browser_app, browser_make)
    browser_make.user("admin", username="chief")
    return campaign


def test_people_invite_copy_and_team(sized, tiny):
    page = sized
    sign_in(page, "chief")
    page.get_by_role("link", name="People", exact=True).first.click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="People").is_visible()
    page.get_by_label("Username (optional when an email is given)").fill("newbie")
    page.get_by_role("button", name="Create invite link").click()
    page.wait_for_load_state("networkidle")
    link = page.get_by_label("Invite link for newbie")
    assert re.match(r"http://127\.0\.0\.1:\d+/invite/", link.input_value())
    page.get_by_role("button", name="Copy link").click()
    # Headless Chromium may refuse the clipboard: then the link is selected for Ctrl+C.
    page.wait_for_function("document.querySelector('.copied').textContent !== ''")
    assert page.locator(".copied").inner_text() in ("Copied", "Selected: press Ctrl+C")
    assert page.evaluate("window.getSelection().toString() || document.activeElement.value")
    assert_no_sideways_scroll(page)
    screenshot(page, f"people-invited-{page.size_name}")

    page.goto("/admin/users")
    page.get_by_role("link", name="r1", exact=True).click()
    page.wait_for_load_state("networkidle")
    row = page.locator('tr[data-project="tiny"]')
    assert row.locator('[data-figure="standing"]').inner_text() == "yes (open project)"
    row.get_by_label("Expertise for Tiny").fill("law; tax")
    row.get_by_role("button", name="Add to team").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("status").inner_text() == "r1 is on the team of Tiny."
    row = page.locator('tr[data-project="tiny"]')
    assert row.locator('[data-figure="standing"]').inner_text() == "yes (member)"
    page.get_by_label("Role").select_option("engineer")
    page.get_by_role("button", name="Change role").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("status").inner_text() == "r1 is now engineer."
    assert_no_sideways_scroll(page)
    screenshot(page, f"people-person-{page.size_name}")
    assert page.console_errors == []


def test_adjudication_overrules_the_majority_only_when_confirmed(sized, tiny):
    page = sized
    sign_in(page, "chief")
    q2 = tiny["items"]["q2"]  # the raters said a, a, b
    url = f"/projects/tiny/dashboard/items/{q2.id}"
    page.goto("/projects/tiny/dashboard/items")
    page.locator(f'tr[data-item="{q2.id}"] td[data-figure="agreement"]').click()
    page.wait_for_url(f"**{url}")
    assert page.get_by_label("a is better").is_checked()  # the majority, prefilled
    assert "The raters' majority: a." in page.locator("#majority").inner_text()
    page.get_by_label("b is better").check()
    page.get_by_label("Note", exact=True).fill("b cites the current guideline")
    page.get_by_role("button", name="Record adjudication").click()
    page.wait_for_load_state("networkidle")
    assert "overrules the raters' majority" in page.locator("main").inner_text()
    page.goto(url)
    page.get_by_label("b is better").check()
    page.get_by_label("Note", exact=True).fill("b cites the current guideline")
    page.get_by_label("I overrule the raters' majority").check()
    page.get_by_role("button", name="Record adjudication").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("status").inner_text() == "Adjudication recorded."
    history = page.locator("#adjudications").inner_text()
    assert "overruled the majority" in history and "b cites the current guideline" in history
    assert_no_sideways_scroll(page)
    screenshot(page, f"adjudication-{page.size_name}")
    assert page.console_errors == []
