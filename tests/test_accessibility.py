"""axe-core inside every screen in Chromium, on a desktop and a phone: no serious or critical
violation (contrast, names, labels, landmarks...).

axe-core comes from npm (tests/js/package.json; scripts/test runs ``npm ci --prefix tests/js``).
Without it the module skips, unless RANKROOM_REQUIRE_AXE is set (scripts/test sets it), so CI
cannot pass by not checking.

The data (the demo's four projects with their simulated history, plus a token, a source and
an audit trail) is built once per module, and one browser context per viewport is shared by
its screens: every screen is a separate test but the whole module takes seconds, not minutes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlmodel import select

from service import db
from service.accounts import invites, users
from service.cli.demo import load_demo
from service.models import Item, Project, User
from service.projects import projects
from tests import factories
from tests.browser import LiveServer, sign_in
from tests.conftest import _make_app
from tests.pullkit import add_source

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "js" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": (1366, 768), "phone": (390, 844)}
BLOCKING = ("serious", "critical")

# (name, who signs in, URL template, what to wait for before checking: the element a
# page's script adds after loading, or None when the page is complete on "load").
# The templates are filled from the seeded ids (see ``seeded``).
SCREENS = [
    ("login", None, "/login", None),
    ("not-found", None, "/no-such-page", None),
    ("invite", None, "/invite/{secret}", None),
    ("rater-home", "rater1", "/rate", None),
    ("rate-pairwise", "rater1", "/rate/demo-coding-pairwise", "form.item"),
    ("rate-ranking", "rater1", "/rate/demo-expert-ranking", "form.item"),
    ("rate-rating", "rater1", "/rate/demo-all-rating", "form.item"),
    ("rate-likert7", "rater1", "/rate/demo-expert-pairwise-7pt", "form.item"),
    # Images: the item's pictures, fetched through the rater's lease (items/images.py).
    ("rate-images", "rater1", "/rate/demo-images-pairwise", ".item-image img"),
    # Tool use: the tools list opened, call and result blocks in the conversation and answers.
    ("rate-tools", "rater1", "/rate/demo-tool-use-pairwise", ".tool-list[open]"),
    # The guidelines side panel, opened by its button (and the G key).
    ("rate-guidelines", "rater1", "/rate/demo-coding-pairwise", "#guidelines-panel"),
    # The rewrite editor (key N after the verdict), with its preview and changes.
    ("rate-rewrite", "rater1", "/rate/demo-coding-pairwise", ".rewrite-preview p"),
    # Sending an empty judgment: the error summary and the fields marked invalid.
    ("rate-errors", "rater1", "/rate/demo-all-rating", ".error-summary"),
    # Error spans: one marked and listed, the label picker open for a second.
    ("rate-spans", "rater1", "/rate/axe-spans", ".span-picker:not([hidden])"),
    # ... and with nothing selected: the picker asks for the words to mark.
    ("rate-spans-find", "rater1", "/rate/axe-spans", ".span-find:not([hidden])"),
    ("home-admin", "admin", "/", None),
    ("progress", "admin", "/projects/{slug}/dashboard/", None),
    (
        "agreement",
        "admin",
        "/projects/{slug}/dashboard/agreement",
        '#kappa-summary [data-figure="median_kappa"]',
    ),
    ("raters", "admin", "/projects/{slug}/dashboard/raters", None),
    ("rater-page", "admin", "/projects/{slug}/dashboard/raters/{rater_id}", None),
    ("items", "admin", "/projects/{slug}/dashboard/items", None),
    ("item-adjudication", "admin", "/projects/{slug}/dashboard/items/{item_id}", None),
    ("cost", "admin", "/projects/{slug}/dashboard/cost", None),
    ("active-time", "admin", "/projects/{slug}/dashboard/active-time", None),
    ("leaderboard", "admin", "/projects/{slug}/dashboard/leaderboard", None),
    ("ranking-dashboard", "admin", "/projects/demo-expert-ranking/dashboard/", None),
    ("people", "admin", "/admin/users", None),
    ("person", "admin", "/admin/users/{rater_id}", None),
    ("tokens", "admin", "/admin/tokens", None),
    ("audit", "admin", "/admin/audit", None),
    ("projects", "admin", "/admin/projects", None),
    ("project", "admin", "/admin/projects/{slug}", None),
    ("guidelines", "admin", "/admin/projects/{slug}/guidelines", None),
    ("guidelines-diff", "admin", "/admin/projects/{slug}/guidelines/diff?{diff}", None),
    ("sources", "admin", "/admin/sources", None),
    ("source", "admin", "/admin/sources/feed", None),
]
SLUG = "demo-coding-pairwise"
ACTIONS = {  # what a screen's state needs done once the item has loaded
    "rate-guidelines": lambda page: page.locator("button.btn-guidelines").click(),
    "rate-errors": lambda page: page.keyboard.press("Control+Enter"),
    "rate-spans": lambda page: _mark_spans(page),
    "rate-spans-find": lambda page: (
        page.locator(".response-body").first.focus(),
        page.keyboard.press("m"),
    ),
    "rate-rewrite": lambda page: (page.keyboard.press("1"), page.keyboard.press("n")),
    "rate-tools": lambda page: page.locator(".tool-list > summary").click(),
}

# Select the first characters of the last stretch of text in response A (after any mark).
_SELECT_TEXT = """() => {
  const body = document.querySelector('.response-body');
  const text = Array.from(body.childNodes).filter((n) => n.nodeType === Node.TEXT_NODE).pop();
  const range = document.createRange();
  range.setStart(text, 1);
  range.setEnd(text, 6);
  document.getSelection().removeAllRanges();
  document.getSelection().addRange(range);
}"""


def _mark_spans(page: Any) -> None:
    page.evaluate(_SELECT_TEXT)
    page.keyboard.press("m")
    page.keyboard.press("1")
    page.evaluate(_SELECT_TEXT)
    page.keyboard.press("m")


def _axe_script() -> Path:
    if not AXE.exists():
        message = "axe-core is not installed: run `npm ci --prefix tests/js` (scripts/test does)"
        if os.environ.get("RANKROOM_REQUIRE_AXE"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Any]:
    """One app for the module: the demo, known passwords, a token, a source, an audit trail."""
    _axe_script()
    path = tmp_path_factory.mktemp("axe") / "axe.db"
    shutil.copy(sqlite_template, path)
    app: Flask = _make_app(f"sqlite:///{path}", path.parent / "images")
    with app.app_context():
        list(load_demo(prompts_dir=app.config["PROMPTS_DIR"]))
        with db.write_session() as s:
            for user in s.exec(select(User).where(User.username.in_(["admin", "rater1"]))):
                user.password_hash = users.hash_password(factories.PASSWORD)
                s.add(user)
        with db.write_session() as s:
            project = s.exec(select(Project).where(Project.slug == SLUG)).one()
            sim = s.exec(select(User).where(User.username == "sim-ana")).one()
            item_id = s.exec(
                select(Item.id).where(Item.project_id == project.id).order_by(Item.id)
            ).first()
            ids = {"slug": SLUG, "rater_id": sim.id, "item_id": item_id}
            # A second guidelines version, so there is a diff to show (and an audit entry).
            before = project.guideline_version
            projects.update_guidelines(
                session=s,
                project=project,
                guidelines=(project.guidelines or "") + "\n\n## Ties\n\nTie only when equal.\n",
                actor_id=None,
                address=None,
            )
            ids["diff"] = f"from={before}&to={project.guideline_version}"
            invitation = invites.invite_user(
                session=s, data={"email": "new@example.org", "display_name": "New Rater"}
            )
            ids["secret"] = invitation.secret
    make = factories.Factory(app)
    spans = make.project(slug="axe-spans", name="Spans", span_labels=["factual error", "unsafe"])
    make.items(spans, [factories.item_row("s1"), factories.item_row("s2")])
    admin = make.user("admin", username="axe-admin")
    make.token(admin, ["stats"])
    add_source(
        app,
        name="feed",
        project=SLUG,
        kind="remote",
        config={"url": "http://127.0.0.1:9/x.jsonl", "retries": 0},
    )
    with LiveServer(app) as server:
        yield server, ids
    db.engine_of(app).dispose()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def contexts(request: pytest.FixtureRequest, chromium: Any, seeded: Any) -> Iterator[Any]:
    """One browser context per viewport and account, signed in once."""
    server, ids = seeded
    width, height = VIEWPORTS[request.param]
    opened: dict[str | None, Any] = {}

    def page_for(username: str | None) -> Any:
        if username not in opened:
            context = chromium.new_context(
                base_url=server.url,
                viewport={"width": width, "height": height},
                # The pages' CSP forbids inline scripts, and Playwright injects axe inline.
                bypass_csp=True,
            )
            page = context.new_page()
            if username:
                sign_in(page, username)
            opened[username] = page
        return opened[username]

    yield page_for, ids
    for page in opened.values():
        page.context.close()


def _blocking(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:8])
        for v in violations
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize(("name", "who", "url", "ready"), SCREENS, ids=[s[0] for s in SCREENS])
def test_no_serious_axe_violation(contexts, name, who, url, ready):
    page_for, ids = contexts
    page = page_for(who)
    response = page.goto(url.format(**ids))
    assert response.status == (404 if name == "not-found" else 200), page.url
    if name in ACTIONS:
        page.locator("form.item").wait_for()
        ACTIONS[name](page)
    if ready:
        page.locator(ready).first.wait_for()
    assert page.url.rstrip("/").endswith(url.format(**ids).rstrip("/")), page.url
    page.add_script_tag(path=str(_axe_script()))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    found = _blocking(violations)
    assert not found, f"{name} at {page.viewport_size}:\n" + "\n".join(found)
