"""XSS payloads in names are shown as text, never run, in a real browser under our CSP."""

from __future__ import annotations

import pytest

from service import db
from service.accounts import invites
from service.models import User
from tests.browser import screenshot, sign_in
from tests.factories import PASSWORD

PAYLOADS = [
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<script>window.__xss=2;alert(2)</script>",
    '"><svg onload="window.__xss=3">',
]


def _inert(page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("main script").count() == 0
    assert page.evaluate("window.__cspViolations") == []


@pytest.mark.browser
def test_payloads_in_names_are_inert_on_every_admin_page(browser_app, browser_make, page):
    make = browser_make
    admin = make.user("admin", username="boss", display_name=PAYLOADS[1])
    for i, payload in enumerate(PAYLOADS):
        make.user("rater", username=f"xss{i}", display_name=payload, expertise=[payload[:100]])
    make.project(slug="xss", name=PAYLOADS[2])
    make.token(admin, ["admin"], name=PAYLOADS[0])
    with browser_app.app_context(), db.write_session() as s:
        invitee = invites.invite_user(
            session=s, data={"username": "newbie", "display_name": PAYLOADS[0]}
        )

    sign_in(page, admin.username, PASSWORD)
    for path in ("/", "/admin/users", "/admin/tokens", "/admin/audit"):
        page.goto(path)
        _inert(page)
        screenshot(page, "xss-" + (path.strip("/").replace("/", "-") or "home"))
    page.goto("/admin/users")
    for payload in PAYLOADS:
        assert page.locator("td.display-name", has_text=payload).count() >= 1
    assert page.locator(".who").inner_text().startswith(PAYLOADS[1])

    page.goto(f"/invite/{invitee.secret}")
    _inert(page)
    assert page.locator("h1 .display-name").inner_text() == PAYLOADS[0]
    screenshot(page, "xss-invite")


@pytest.mark.browser
def test_pages_work_under_the_csp(browser_app, browser_make, live_server, page):
    """The stylesheet loads and the forms submit with the strict policy in force."""
    rater = browser_make.user("rater", username="ada", display_name="Ada")
    sign_in(page, rater.username, PASSWORD)
    assert page.locator(".who").inner_text() == "Ada · rater"
    background = page.evaluate(
        "getComputedStyle(document.querySelector('.topbar')).backgroundColor"
    )
    assert background == "rgb(255, 255, 255)"  # from /static/css/rankroom.css
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login")
    assert page.evaluate("window.__cspViolations") == []
    with browser_app.app_context(), db.write_session() as s:
        assert s.get(User, rater.id).session_epoch == 1
