"""A stats token reads a project's figures, not its people: raters by pseudonym, only its own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service import db
from service.dashboards import REPORTS
from service.dashboards.adjudication import adjudicate
from service.export.rules import pseudonym
from service.models import User
from tests.factories import item_row
from tests.seeding import judge_table, tiny_campaign

# Every name, display name and email below contains "zq", which no pseudonym (hex), id,
# report key or figure does: a scan for it finds any person a report names.
MARK = "zq"


@pytest.fixture
def people(app, make):
    """The tiny project's three raters, a rater of another project, an engineer, an admin."""
    tiny = tiny_campaign(app, make)
    other = make.project(slug="elsewhere", mode="pairwise", scale="ternary", overlap=1)
    items = make.items(other, [item_row("e1")])
    outsider = make.user("rater")
    judge_table(app, other, [outsider], {"e1": ["a"]})
    engineer, admin = make.user("engineer"), make.user("admin")
    with db.write_session() as s:
        adjudicate(
            session=s,
            project=tiny["project"],
            item_id=tiny["items"]["q4"].id,
            admin=s.get(User, admin.id),
            verdict={"preferred": "a"},
            note="",
            promote_to_gold=False,
        )
        for user in s.exec(sa.select(User)).scalars():
            user.username = f"{MARK}-{user.username}"
            user.display_name = f"Person {MARK.upper()} {user.id}"
            user.email = f"{MARK}{user.id}@example.org"
            user.hourly_rate = 30.0
    return {
        "raters": [r.id for r in tiny["raters"]],
        "others": [outsider.id, engineer.id, admin.id],
        "items": [i.id for i in [*tiny["items"].values(), *items]],
        "engineer": engineer,
        "admin": admin,
    }


def _every_stats_answer(client, headers, people) -> dict[str, tuple[int, str]]:
    """Call every stats route of the project: each report as JSON and each CSV table."""
    base = "/api/v1/projects/tiny/stats"
    paths = [base]
    for name, spec in REPORTS.items():
        paths += [f"{base}/{name}", *(f"{base}/{name}.csv?table={t}" for t in spec.tables)]
    paths += [f"{base}/raters/{uid}/judgments" for uid in people["raters"] + people["others"]]
    paths += [f"{base}/items/{iid}" for iid in people["items"]]
    answers = {}
    for path in paths:
        r = client.get(path, headers=headers)
        answers[path] = (r.status_code, r.get_data(as_text=True))
    return answers


@pytest.mark.parametrize("holder", ["engineer", "admin"])
def test_a_stats_token_names_no_one_and_sees_only_the_projects_raters(
    app, client, make, people, holder
):
    _, secret = make.token(people[holder], ["stats"])
    answers = _every_stats_answer(client, {"Authorization": f"Bearer {secret}"}, people)
    named = sorted(path for path, (_, text) in answers.items() if MARK in text.lower())
    assert named == []
    base = "/api/v1/projects/tiny/stats/raters"
    assert [answers[f"{base}/{uid}/judgments"][0] for uid in people["raters"]] == [200] * 3
    # Another project's rater, an engineer, an admin: no such rater here, not an account.
    assert [answers[f"{base}/{uid}/judgments"][0] for uid in people["others"]] == [404] * 3
    body = client.get(
        "/api/v1/projects/tiny/stats/raters", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    # The export's pseudonym, so statistics join a pseudonymous dataset.
    expected = sorted(pseudonym("test-secret", uid) for uid in people["raters"])
    assert sorted(r["username"] for r in body["raters"]) == expected
    assert sorted(r["name"] for r in body["raters"]) == expected


def test_an_admin_scoped_token_sees_names(app, client, make, people):
    _, secret = make.token(people["admin"], ["admin"])
    answers = _every_stats_answer(client, {"Authorization": f"Bearer {secret}"}, people)
    assert MARK in answers["/api/v1/projects/tiny/stats/raters"][1]
    assert MARK in answers[f"/api/v1/projects/tiny/stats/items/{people['items'][3]}"][1].lower()
    base = "/api/v1/projects/tiny/stats/raters"
    assert [answers[f"{base}/{uid}/judgments"][0] for uid in people["others"]] == [404] * 3


@pytest.mark.parametrize(("scopes", "status"), [(["export"], 403), (["admin"], 200)])
def test_real_usernames_need_an_admins_admin_scope(app, client, make, people, scopes, status):
    _, secret = make.token(people["admin"], scopes)
    r = client.get(
        "/api/v1/export?format=raw&project=tiny&real_usernames=true",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert r.status_code == status
    if status == 403:
        assert r.get_json()["error"] == (
            "Only admins (a session or an admin-scoped token) may export real usernames."
        )
