"""Invite links and bulk-adding raters from CSV, through the API, the pages and the CLI."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from service import db
from service.accounts import invites, users
from service.cli import main
from service.errors import Unauthorized
from service.models import AuditEvent, Invite, User, utcnow

CSV = (
    "username,email,display_name,expertise\n"
    "ada,ada@example.org,Dr. Ada,medicine; cardiology\n"
    ",grace@example.org,Grace H.,coding\n"
)


def _secret(url: str) -> str:
    return url.rsplit("/invite/", 1)[1]


def _users() -> list[tuple]:
    with db.write_session() as s:
        rows = s.exec(select(User).where(User.role != "admin").order_by(User.id)).all()
        return [(u.username, u.email, u.display_name, u.expertise, u.password_hash) for u in rows]


def test_invite_creates_a_passwordless_account_and_a_one_time_link(app, client, admin_headers):
    r = client.post(
        "/api/v1/users/invites",
        json={"email": "Ada@Example.org", "display_name": "Dr. Ada", "expertise": ["Law", "law "]},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["invite_url"].startswith("http://localhost/invite/")
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "Ada@Example.org",
        "display_name": "Dr. Ada",
        "email": "Ada@Example.org",
        "role": "rater",
        "expertise": ["law"],
        "active": True,
        "pending": True,
        "erased_at": None,
        "created_at": body["user"]["created_at"],
    }
    with db.write_session() as s:
        invite = s.exec(select(Invite)).one()
        assert invite.user_id == body["user"]["id"]
        assert _secret(body["invite_url"]) not in invite.token_hash  # stored hashed only
        assert timedelta(days=6.9) < invite.expires_at - utcnow() <= timedelta(days=7)
        assert s.exec(select(AuditEvent.action)).all() == ["user.invite"]


def test_invitee_sets_password_once_and_is_signed_in(app, client, admin_headers):
    url = client.post(
        "/api/v1/users/invites", json={"username": "ada"}, headers=admin_headers
    ).get_json()["invite_url"]
    path = "/invite/" + _secret(url)
    browser = app.test_client()
    page = browser.get(path)
    assert page.status_code == 200 and b"Choose a password for <strong>ada</strong>" in page.data
    with browser.session_transaction() as sess:
        token = sess["csrf"]
    short = browser.post(path, data={"password": "short", "confirm": "short", "csrf_token": token})
    assert short.status_code == 422 and b"at least 10 characters" in short.data
    r = browser.post(
        path,
        data={"password": "a long passphrase", "confirm": "a long passphrase", "csrf_token": token},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert browser.get("/").status_code == 200
    assert browser.get(path).status_code == 410
    with db.write_session() as s:
        assert s.exec(select(Invite.used_at)).one() is not None
        assert s.exec(select(User).where(User.username == "ada")).one().password_hash


def test_expired_replaced_and_unknown_links_are_refused(app, client, admin_headers):
    first = client.post("/api/v1/users/invites", json={"username": "ada"}, headers=admin_headers)
    second = client.post("/api/v1/users/ada/invite", headers=admin_headers)
    assert second.status_code == 201
    assert client.get("/invite/" + _secret(first.get_json()["invite_url"])).status_code == 410
    new = "/invite/" + _secret(second.get_json()["invite_url"])
    assert client.get(new).status_code == 200
    with db.write_session() as s:
        s.execute(sa.update(Invite).values(expires_at=utcnow() - timedelta(seconds=1)))
    gone = client.get(new)
    assert gone.status_code == 410 and b"expired" in gone.data
    assert client.get("/invite/not-a-real-secret").status_code == 404


def test_invite_refuses_bad_and_taken_names(app, client, admin_headers, make):
    make.user("rater", username="ada")
    r = client.post("/api/v1/users/invites", json={"username": "ADA"}, headers=admin_headers)
    assert r.status_code == 409 and r.get_json()["error"] == "User 'ADA' already exists."
    r = client.post(
        "/api/v1/users/invites",
        json={"username": "bad name", "display_name": "x\x07y"},
        headers=admin_headers,
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.get_json()["errors"]}
    assert fields == {"username", "display_name"}
    r = client.post("/api/v1/users/invites", json={}, headers=admin_headers)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "username"


def test_csv_import_adds_and_invites_every_rater(app, client, admin_headers):
    r = client.post(
        "/api/v1/users/import?days=3",
        data=CSV.encode(),
        headers={**admin_headers, "Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert [b["user"]["username"] for b in body] == ["ada", "grace@example.org"]
    assert all("/invite/" in b["invite_url"] for b in body)
    assert _users() == [
        ("ada", "ada@example.org", "Dr. Ada", ["cardiology", "medicine"], None),
        ("grace@example.org", "grace@example.org", "Grace H.", ["coding"], None),
    ]


def test_csv_import_is_all_or_nothing_and_names_each_bad_line(app, client, admin_headers, make):
    make.user("rater", username="taken")
    bad = CSV + "taken,,Someone,\nbad name!,,X,\nada,,Twice,\n"
    r = client.post(
        "/api/v1/users/import", data=bad, headers={**admin_headers, "Content-Type": "text/csv"}
    )
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "3 problem(s) in the CSV; nobody was added."
    assert [(e["line"], e["field"]) for e in body["errors"]] == [
        (4, "username"),
        (5, "username"),
        (6, "username"),
    ]
    assert [u[0] for u in _users()] == ["taken"]


def test_csv_refuses_unknown_columns_and_non_utf8(app, client, admin_headers):
    h = {**admin_headers, "Content-Type": "text/csv"}
    r = client.post("/api/v1/users/import", data="login,password\na,b\n", headers=h)
    assert r.status_code == 422 and "unknown: login, password" in r.get_json()["error"]
    r = client.post("/api/v1/users/import", data=b"username\n\xff\xfe\n", headers=h)
    assert r.status_code == 422 and "not valid UTF-8" in r.get_json()["error"]
    r = client.post("/api/v1/users/import", data="username\na\x00b\n", headers=h)
    assert r.status_code == 422


def test_admin_pages_invite_and_import(app, auth, client):
    auth.as_role("admin")
    page = client.get("/admin/users")
    assert page.status_code == 200 and b'<label for="csv-file">CSV file</label>' in page.data
    r = client.post(
        "/admin/users/invite",
        data={
            "username": "ada",
            "display_name": "Dr. Ada",
            "expertise": "law; tax",
            "csrf_token": auth.csrf(),
        },
    )
    assert r.status_code == 201 and b"/invite/" in r.data
    r = client.post(
        "/admin/users/import",
        data={
            "file": (__import__("io").BytesIO(b"username\nbob\ncy\n"), "r.csv"),
            "csrf_token": auth.csrf(),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 201 and r.data.count(b"/invite/") == 2
    assert [u[0] for u in _users()] == ["ada", "bob", "cy"]
    assert _users()[0][3] == ["law", "tax"]


def test_cli_invite_and_import(app, runner, tmp_path):
    result = runner.invoke(
        main, ["users", "invite", "ada", "--name", "Dr. Ada", "--expertise", "law;tax"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("http://127.0.0.1:8000/invite/")
    again = runner.invoke(main, ["users", "invite", "ada"])
    assert again.exit_code == 0 and again.output != result.output
    path = tmp_path / "raters.csv"
    path.write_text(CSV.replace("ada,", "ada2,"), encoding="utf-8")
    out = tmp_path / "links.csv"
    result = runner.invoke(main, ["users", "import-csv", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "username,display_name,invite_url" and len(lines) == 3
    assert lines[1].startswith("ada2,Dr. Ada,http://127.0.0.1:8000/invite/")
    bad = runner.invoke(main, ["users", "import-csv", str(path)])
    assert bad.exit_code == 1 and "line 2: username: 'ada2' already exists" in bad.output


def test_twenty_simultaneous_accepts_let_exactly_one_in(app, make):
    # Each request in its own thread and connection, all released at once: one sets the
    # password and signs in; the others are told the link was used.
    with db.write_session() as s:
        user = users.create_user(session=s, username="racer", role="rater")
        secret = invites.create_invite(session=s, user=user).secret
    barrier = threading.Barrier(20)

    def accept(k: int) -> tuple[int, str]:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["csrf"] = "t"
        password = f"racer password number {k:02d}"
        barrier.wait()
        form = {"password": password, "confirm": password, "csrf_token": "t"}
        return client.post(f"/invite/{secret}", data=form).status_code, password

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(accept, range(20)))
    codes = sorted(code for code, _ in results)
    assert codes == [302] + [410] * 19
    (winner,) = [password for code, password in results if code == 302]
    with db.write_session() as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "user.accept-invite"))
        assert len(events.all()) == 1
        stored = s.exec(select(User).where(User.username == "racer")).one()
        assert users.verify_password(stored, winner) is not None
        loser = next(p for code, p in results if code == 410)
        with pytest.raises(Unauthorized):
            users.verify_password(stored, loser)
