"""People pages: the nav link, roles, project teams and requalifying, and the rater page's actions."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from service import db
from service.models import (
    Assignment,
    LeaseStatus,
    Project,
    ProjectMember,
    QualificationReset,
    User,
)
from service.rating import assignment
from tests.factories import item_row
from tests.seeding import tiny_campaign


@pytest.fixture
def tiny(app, make):
    return tiny_campaign(app, make)


def _member(app, user_id):
    with app.app_context():
        return (
            db.session()
            .execute(sa.select(ProjectMember).where(ProjectMember.user_id == user_id))
            .scalar_one_or_none()
        )


def test_people_is_in_the_navigation_for_admins_only(client, auth):
    auth.as_role("rater")
    assert 'class="nav-people"' not in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": auth.csrf()})
    auth.as_role("admin")
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/admin/users" class="nav-people">People</a>' in html


def test_invite_links_have_a_copy_button(client, auth):
    auth.as_role("admin")
    html = client.post(
        "/admin/users/invite", data={"username": "newbie", "csrf_token": auth.csrf()}
    ).get_data(as_text=True)
    assert re.search(r'<input class="copy" id="link-1" value="http[^"]+/invite/', html)
    assert '<button type="button" class="copy-link" data-copy="link-1">Copy link</button>' in html
    assert "js/people.js" in html


def test_role_changes_from_the_list_but_not_your_own(app, client, auth, make):
    admin = auth.as_role("admin")
    rater = make.user("rater")
    html = client.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{rater.id}/role"' in html
    assert f'action="/admin/users/{admin.id}/role"' not in html
    response = client.post(
        f"/admin/users/{rater.id}/role",
        data={"role": "engineer", "back": "list", "csrf_token": auth.csrf()},
    )
    assert (response.status_code, response.headers["Location"]) == (302, "/admin/users")
    with app.app_context():
        assert db.session().get(User, rater.id).role == "engineer"
    mine = client.post(
        f"/admin/users/{admin.id}/role", data={"role": "rater", "csrf_token": auth.csrf()}
    )
    assert mine.status_code == 409
    with app.app_context():
        assert db.session().get(User, admin.id).role == "admin"


def test_person_page_adds_and_removes_a_rater_and_sets_project_tags(app, client, auth, tiny):
    auth.as_role("admin")
    r1 = tiny["raters"][0]
    page = f"/admin/users/{r1.id}"
    html = client.get(page).get_data(as_text=True)
    assert re.search(
        r'data-project="tiny">.*?data-figure="standing">yes \(open project\)', html, re.S
    )
    response = client.post(
        f"{page}/projects/tiny/join", data={"expertise": "Law; tax", "csrf_token": auth.csrf()}
    )
    assert response.status_code == 302
    row = _member(app, r1.id)
    assert (row.active, row.expertise) == (True, ["law", "tax"])
    html = client.get(page).get_data(as_text=True)
    assert re.search(r'data-figure="standing">yes \(member\)', html)
    assert "law, tax <small" in html
    client.post(f"{page}/projects/tiny/remove", data={"csrf_token": auth.csrf()})
    assert _member(app, r1.id).active is False
    html = client.get(page).get_data(as_text=True)
    assert re.search(r'data-figure="standing">no \(removed\)', html)


def test_person_page_refuses_without_csrf(app, client, auth, tiny):
    auth.as_role("admin")
    r1 = tiny["raters"][0]
    response = client.post(f"/admin/users/{r1.id}/projects/tiny/join", data={})
    assert response.status_code == 403
    assert _member(app, r1.id) is None


def test_rater_page_shows_figures_and_removes_and_requalifies(app, client, auth, make, tiny):
    admin = auth.as_role("admin")
    r3 = tiny["raters"][2]
    url = f"/projects/tiny/dashboard/raters/{r3.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'data-figure="judgments">4<' in html
    assert re.search(r'data-figure="median_seconds">\d+ s', html)
    assert 'data-figure="standing">yes<' in html
    assert 'data-figure="qualification">passed<' in html
    # r3 holds a lease when removed: it is released.
    make.items(tiny["project"], [item_row("q9")])
    with app.app_context(), db.write_session() as s:
        lease = assignment.next_assignment(
            session=s, project=s.get(Project, tiny["project"].id), rater=s.get(User, r3.id)
        )
    response = client.post(f"{url}/remove", data={"csrf_token": auth.csrf()})
    assert (response.status_code, response.headers["Location"]) == (302, url)
    after = client.get(url).get_data(as_text=True)
    assert "Removed r3 from Tiny; 1 item(s) released." in after
    assert 'data-figure="standing">removed<' in after
    assert "Remove from project</button>" not in after
    with app.app_context():
        assert db.session().get(Assignment, lease.id).status == LeaseStatus.RELEASED
    client.post(f"{url}/requalify", data={"csrf_token": auth.csrf()})
    with app.app_context():
        reset = db.session().execute(sa.select(QualificationReset)).scalar_one()
        assert (reset.rater_id, reset.admin_id) == (r3.id, admin.id)


def test_rater_and_item_rows_open_their_pages(client, auth, tiny):
    auth.as_role("admin")
    r1 = tiny["raters"][0]
    raters = client.get("/projects/tiny/dashboard/raters").get_data(as_text=True)
    assert f'data-href="/projects/tiny/dashboard/raters/{r1.id}"' in raters
    items = client.get("/projects/tiny/dashboard/items").get_data(as_text=True)
    q2 = tiny["items"]["q2"]
    assert f'data-href="/projects/tiny/dashboard/items/{q2.id}"' in items
