"""Signing in through the real browser."""

import pytest

from tests.browser import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_rater_signs_in_and_sees_home(page, browser_make):
    user = browser_make.user(role="rater", display_name="Dr. Ada")
    sign_in(page, user.username)
    assert page.get_by_text("Dr. Ada").is_visible()
    screenshot(page, "home")
    assert page.console_errors == []


def test_wrong_password_shows_error(page, browser_make):
    user = browser_make.user(role="rater")
    sign_in(page, user.username, "wrong-password")
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    screenshot(page, "login-error")
