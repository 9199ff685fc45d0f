"""Images on the rating screen, in a real browser: shown and zoomed for the team, refused to others."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from playwright.sync_api import expect

from service import db
from service.accounts import memberships
from service.http.hardening import CONTENT_SECURITY_POLICY
from service.images import ImageStore, image_url
from service.items import importing
from tests.browser import sign_in
from tests.pictures import shapes
from tests.test_rating_screen import _open, _tab_to

pytestmark = pytest.mark.browser

PICTURE = shapes("triangle", (200, 0, 0))
SHA = hashlib.sha256(PICTURE).hexdigest()


def _image_project(app: Any, make: Any, rater: Any) -> Any:
    """A project whose team is ``rater``, with one item whose prompt shows PICTURE."""
    project = make.project(slug="pictures", mode="pairwise", scale="binary", overlap=1)
    url = "data:image/png;base64," + base64.b64encode(PICTURE).decode()
    row = {
        "id": "secret-import-name",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Name this shape:"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
        "responses": [
            {"id": "a", "model": "vision-model-x", "content": "A triangle."},
            {"id": "b", "model": "vision-model-y", "content": "A circle."},
        ],
    }
    with app.app_context():
        with db.write_session() as s:
            memberships.add_member(session=s, project=project, user=rater, actor_id=None)
        result = importing.import_items(
            engine=db.engine(),
            project=project,
            rows=[(1, row)],
            source="secret-source.jsonl",
            images=ImageStore.from_config(app.config),
        )
        assert result.created == 1, result.errors
    return project


def test_the_team_sees_and_zooms_the_image_another_projects_rater_gets_nothing(
    page, chromium, live_server, browser_app, browser_make
):
    rater = browser_make.user(role="rater")
    outsider = browser_make.user(role="rater")
    project = _image_project(browser_app, browser_make, rater)
    other = browser_make.project(slug="other-team")
    with browser_app.app_context(), db.write_session() as s:
        memberships.add_member(session=s, project=other, user=outsider, actor_id=None)
    src = image_url(project.id, SHA)

    sign_in(page, rater.username)
    _open(page, project.slug)
    image = page.locator(".prompt .item-image img")
    expect(image).to_have_attribute("src", src)
    page.wait_for_function("() => document.querySelector('.item-image img').naturalWidth === 96")
    # Blind: the page names neither the models nor the import nor its source.
    html = page.content()
    for secret in ("vision-model", "secret-import-name", "secret-source"):
        assert secret not in html
    # Zoom by keyboard: Tab to the image, Enter; Esc shrinks it back.
    _tab_to(page, ".image-zoom")
    page.keyboard.press("Enter")
    expect(page.locator(".item-image")).to_have_class("item-image zoomed")
    expect(page.locator(".image-zoom")).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(page.locator(".item-image")).to_have_class("item-image")
    # And by mouse.
    image.click()
    expect(page.locator(".item-image")).to_have_class("item-image zoomed")
    page.locator(".image-zoom").click()
    expect(page.locator(".item-image")).to_have_class("item-image")

    answer = page.request.get(src)
    assert answer.status == 200
    assert answer.body() == PICTURE
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.evaluate("window.__cspViolations") == []
    assert page.console_errors == []

    # A rater of another project, in their own browser, is refused the bytes.
    context = chromium.new_context(base_url=live_server.url)
    try:
        stranger = context.new_page()
        sign_in(stranger, outsider.username)
        response = stranger.goto(src)
        assert response is not None and response.status == 404
        assert PICTURE not in response.body()
        fetched = stranger.evaluate(
            "async (u) => { const r = await fetch(u); return [r.status, (await r.text()).length]; }",
            src,
        )
        assert fetched[0] == 404
    finally:
        context.close()
