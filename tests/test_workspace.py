"""The rater's pages and what they show: projects with progress, item fragments."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlmodel import select

from service import db
from service.models import Assignment, Judgment, utcnow
from service.rating import workspace
from tests.factories import item_row

RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "help": "Are the **facts** right?",
        "scope": "response",
        "kind": "likert",
        "points": 5,
        "required": True,
        "anchors": {"1": "Wrong", "5": "Right"},
    },
    {"name": "rationale", "label": "Rationale", "scope": "item", "kind": "text"},
]


@pytest.fixture
def rater(auth):
    return auth.as_role("rater")


def _csrf(auth):
    return {"X-CSRF-Token": auth.csrf(), "Accept": "application/json"}


def _next(client, auth, slug):
    r = client.post(f"/rate/{slug}/next", headers=_csrf(auth))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _submit(client, auth, assignment_id, verdict, active_ms):
    r = client.post(
        f"/api/v1/assignments/{assignment_id}/judgment",
        json={"client_id": uuid.uuid4().hex, "verdict": verdict, "active_ms": active_ms},
        headers=_csrf(auth),
    )
    assert r.status_code == 201, r.get_json()


def test_rater_home_lists_active_projects_with_own_progress(app, client, auth, make, rater):
    project = make.project(name="Cardiology pairs", mode="pairwise", scale="binary", overlap=2)
    make.project(name="Paused one", status="paused")
    make.items(project, [item_row(f"q{i}") for i in range(4)])
    for ms in (4000, 10000, 30000):
        fragment = _next(client, auth, project.slug)
        _submit(client, auth, fragment["assignment_id"], {"choice": "A"}, ms)
    with app.app_context():
        # One of the three was done yesterday: it counts in the total, not today.
        s = db.session()
        lease = s.get(Assignment, fragment["assignment_id"])
        lease.finished_at = utcnow() - timedelta(days=1)
        s.add(lease)
        s.commit()
    _next(client, auth, project.slug)  # a live lease: the button says Continue

    with app.app_context():
        (row,) = workspace.rater_projects(session=db.session(), rater=rater)
    assert (row.project.slug, row.items, row.done_today, row.done_total) == (project.slug, 4, 2, 3)
    assert row.median_seconds == 10.0 and row.has_live_item is True

    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Cardiology pairs" in html and "Paused one" not in html
    assert re.search(r"<dt>Done today</dt><dd>2</dd>", html)
    assert re.search(r"<dt>Done in total</dt><dd>3 <span class=\"muted\">of 4 items</span>", html)
    assert "<dt>Median time per item</dt><dd>10 s</dd>" in html
    assert f'href="/rate/{project.slug}"' in html and ">Continue</a>" in html
    assert client.get("/rate").get_data(as_text=True) == html


def test_other_roles_keep_their_home_and_cannot_rate(client, auth, make):
    make.project(name="Some project")
    auth.as_role("admin")
    assert "Projects" in client.get("/").get_data(as_text=True)
    r = client.get("/rate", headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.get_json()["status"] == 403


def test_next_item_fragment_shows_labels_only_and_safe_html(app, client, auth, make, rater):
    project = make.project(mode="ranking", rubric=RUBRIC)
    row = item_row("q1", n_responses=3)
    row["responses"][0]["content"] = "**Bold** <script>alert(1)</script>"
    make.items(project, [row])
    fragment = _next(client, auth, project.slug)
    html = fragment["html"]
    with app.app_context():
        lease = db.session().get(Assignment, fragment["assignment_id"])
        shown = list(lease.shown_order)
    assert fragment["assignment_id"] == lease.id
    for label in "ABC":
        assert f'<section class="response card" data-label="{label}"' in html
    for i in range(3):
        assert f"model-{i}" not in html  # model names never reach the rater
    assert "<strong>Bold</strong> &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-field="rubric.response.C.correctness"' in html
    assert 'data-field="verdict.ranking"' in html and 'data-field="rubric.item.rationale"' in html
    assert "Are the <strong>facts</strong> right?" in html
    data = json.loads(re.search(r'class="item-data">(.*?)</script>', html).group(1))
    # The lease's time left, counted on the server (the rater's clock may be wrong).
    assert 30 * 60 - 60 <= data.pop("lease_seconds_left") <= 30 * 60
    assert data == {
        "id": lease.id,
        "project": project.slug,
        "mode": "ranking",
        "scale": None,
        "status": "active",
        "lease_minutes": 30,
        "guideline_version": 1,
        "labels": ["A", "B", "C"],
        "excerpts": {
            label: ("Bold <script>alert(1)</script>" if rid == "a" else f"Answer {ord(rid) - 97} to q1.")
            for label, rid in zip("ABC", shown, strict=True)
        },
        "dims": [
            {"name": "correctness", "label": "Correctness", "scope": "response", "kind": "likert", "required": True},
            {"name": "rationale", "label": "Rationale", "scope": "item", "kind": "text", "required": False},
        ],
    }  # fmt: skip
    # The same lease comes back until it is finished (a reload shows the same item).
    assert _next(client, auth, project.slug)["assignment_id"] == lease.id


def test_next_item_needs_the_csrf_token(client, auth, make, rater):
    project = make.project()
    make.items(project, [item_row("q1")])
    r = client.post(f"/rate/{project.slug}/next", headers={"Accept": "application/json"})
    assert r.status_code == 403 and "CSRF" in r.get_json()["error"]


def test_no_work_left_says_so(client, auth, make, rater):
    project = make.project()
    fragment = _next(client, auth, project.slug)
    assert fragment["assignment_id"] is None
    assert fragment["message"] == "No items left for you in this project. Thank you!"
    assert "Back to your projects" in fragment["html"]


def test_assignment_fragment_is_only_for_its_rater(app, client, auth, make, rater):
    project = make.project(overlap=2)
    make.items(project, [item_row("q1")])
    mine = _next(client, auth, project.slug)["assignment_id"]
    r = client.get(f"/rate/assignments/{mine}", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["assignment_id"] == mine
    client.post("/logout", data={"csrf_token": auth.csrf()})
    auth.as_role("rater")
    r = client.get(f"/rate/assignments/{mine}", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.get_json() == {
        "ok": False,
        "error": f"No assignment {mine} of yours.",
        "errors": [],
        "status": 404,
        "request_id": r.headers["X-Request-Id"],
    }


def test_screen_page_carries_config_and_guidelines(client, auth, make, rater):
    project = make.project(guidelines="# Rules\n\n<script>x()</script>", guideline_version=4)
    html = client.get(f"/rate/{project.slug}").get_data(as_text=True)
    config = json.loads(re.search(r'id="rate-config">(.*?)</script>', html).group(1))
    assert config["slug"] == project.slug and config["next_url"] == f"/rate/{project.slug}/next"
    assert config["api"] == "/api/v1" and config["assignment_url"] == "/rate/assignments/"
    assert "<h1>Rules</h1>" in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "version 4" in html


class _CspAudit(HTMLParser):
    """Collect what a strict Content-Security-Policy (script-src 'self') would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}>")
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style>")
        if tag == "a" and (names.get("href") or "").lower().startswith("javascript:"):
            self.problems.append("javascript: link")


def test_pages_have_no_inline_scripts_handlers_or_styles(client, auth, make, rater):
    project = make.project(mode="pairwise", scale="likert7", rubric=RUBRIC)
    make.items(project, [item_row("q1")])
    pages = [
        client.get("/").get_data(as_text=True),
        client.get(f"/rate/{project.slug}").get_data(as_text=True),
        _next(client, auth, project.slug)["html"],
    ]
    for html in pages:
        audit = _CspAudit()
        audit.feed(html)
        assert audit.problems == []


def test_revisions_do_not_count_again(app, client, auth, make, rater):
    project = make.project(mode="pairwise", scale="binary")
    make.items(project, [item_row("q1")])
    fragment = _next(client, auth, project.slug)
    _submit(client, auth, fragment["assignment_id"], {"choice": "A"}, 5000)
    with app.app_context():
        first = db.session().exec(select(Judgment)).one()
    r = client.post(
        f"/api/v1/judgments/{first.id}/revise",
        json={"client_id": uuid.uuid4().hex, "verdict": {"choice": "B"}, "active_ms": 90000},
        headers=_csrf(auth),
    )
    assert r.status_code == 201
    with app.app_context():
        (row,) = workspace.rater_projects(session=db.session(), rater=rater)
    assert (row.done_total, row.done_today, row.median_seconds) == (1, 1, 5.0)
