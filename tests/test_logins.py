"""Sign-in: throttling per account and address, audit, session fixation, CSRF, sign-out."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import select

from service import create_app, db
from service.accounts import logins
from service.models import AuditEvent, LoginAttempt, utcnow
from tests.factories import PASSWORD


def _fail(auth, username: str, address: str = "127.0.0.1"):
    return auth.client.post(
        "/login",
        data={"username": username, "password": "wrong password!", "csrf_token": auth.csrf()},
        environ_base={"REMOTE_ADDR": address},
    )


def _login(auth, username: str, address: str = "127.0.0.1"):
    return auth.client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": auth.csrf()},
        environ_base={"REMOTE_ADDR": address},
    )


def test_fifth_failure_locks_the_account_even_for_the_right_password(app, auth, make):
    rater = make.user("rater")
    for _ in range(5):
        assert _fail(auth, rater.username).status_code == 401
    r = _login(auth, rater.username)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 15 * 60
    assert b"Too many failed sign-ins for this account" in r.data
    # Another account from the same address is not affected.
    other = make.user("rater")
    assert _login(auth, other.username).status_code == 302


def test_account_throttle_counts_across_addresses_and_workers(app, auth, make, tmp_path):
    rater = make.user("rater")
    for i in range(3):
        _fail(auth, rater.username, address=f"10.0.0.{i}")
    # A second app on the same database (another gunicorn worker or host) sees the same count.
    second = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "test-secret"})
    client2 = second.test_client()
    with client2.session_transaction() as sess:
        sess["csrf"] = "t"
    for i in range(2):
        client2.post(
            "/login",
            data={"username": rater.username.upper(), "password": "nope", "csrf_token": "t"},
            environ_base={"REMOTE_ADDR": f"10.0.1.{i}"},
        )
    db.engine_of(second).dispose()
    assert _login(auth, rater.username, address="10.9.9.9").status_code == 429


def test_address_throttle_after_twenty_failures_over_many_accounts(app, auth, make):
    for i in range(20):
        assert _fail(auth, f"nobody{i}", address="203.0.113.7").status_code == 401
    real = make.user("rater")
    r = _login(auth, real.username, address="203.0.113.7")
    assert r.status_code == 429 and b"for this address" in r.data
    assert _login(auth, real.username, address="203.0.113.8").status_code == 302


def test_success_resets_the_account_count(app, auth, make):
    rater = make.user("rater")
    for _ in range(4):
        _fail(auth, rater.username)
    assert _login(auth, rater.username).status_code == 302
    auth.client.post("/logout", data={"csrf_token": auth.csrf()})
    for _ in range(4):
        _fail(auth, rater.username)
    assert _login(auth, rater.username).status_code == 302


def _failed(session, username, address, seconds_ago, succeeded=False):
    when = utcnow() - timedelta(seconds=seconds_ago)
    session.add(
        LoginAttempt(username=username, address=address, created_at=when, succeeded=succeeded)
    )


def test_waits_double_after_the_free_failures_and_never_lock(app, make):
    limits = logins.Limits(per_account=2, per_address=100, first_delay=timedelta(seconds=30))
    assert [limits.account_wait(n).total_seconds() for n in range(7)] == [
        0,
        0,
        30,
        60,
        120,
        240,
        480,
    ]
    assert limits.account_wait(40) == limits.window  # capped: never a lock
    with db.write_session() as s:
        _failed(s, "ada", "a", seconds_ago=100)
        _failed(s, "ada", "a", seconds_ago=10)
    with db.write_session() as s:
        with pytest.raises(logins.TooManyRequests) as caught:
            logins.check_allowed(session=s, username="Ada", address="b", limits=limits)
        # 30 s after the latest failure, which was 10 s ago.
        assert 19 <= caught.value.retry_after <= 21
        later = utcnow() + timedelta(seconds=21)
        logins.check_allowed(session=s, username="ada", address="b", limits=limits, now=later)


def test_guesses_from_elsewhere_never_keep_the_owner_out(app, auth, make):
    admin = make.user("admin")
    assert _login(auth, admin.username, address="198.51.100.1").status_code == 302
    auth.client.post("/logout", data={"csrf_token": auth.csrf()})
    for i in range(40):  # an attacker who knows the name, from many addresses
        _fail(auth, admin.username, address=f"203.0.113.{i}")
    # The admin's usual address is not throttled by them.
    assert _login(auth, admin.username, address="198.51.100.1").status_code == 302
    auth.client.post("/logout", data={"csrf_token": auth.csrf()})
    # A new address waits, but at most the window, and is told how long.
    r = _login(auth, admin.username, address="192.0.2.200")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 15 * 60
    # The trusted address still has its own throttle.
    for _ in range(5):
        _fail(auth, admin.username, address="198.51.100.1")
    assert _login(auth, admin.username, address="198.51.100.1").status_code == 429


def test_sign_ins_are_audited(app, auth, make):
    rater = make.user("rater")
    _fail(auth, rater.username, address="198.51.100.1")
    _fail(auth, "ghost", address="198.51.100.1")
    _login(auth, rater.username, address="198.51.100.2")
    with db.write_session() as s:
        events = [
            (e.action, e.actor_id, e.target, e.address)
            for e in s.exec(select(AuditEvent).order_by(AuditEvent.id))
        ]
    assert events == [
        ("login.failed", rater.id, f"user:{rater.id}", "198.51.100.1"),
        ("login.failed", None, "username:ghost", "198.51.100.1"),
        ("login", rater.id, f"user:{rater.id}", "198.51.100.2"),
    ]


def test_session_is_renewed_at_sign_in(app, auth, make, client):
    rater = make.user("rater")
    client.get("/login")
    planted_csrf = auth.csrf()
    before = client.get_cookie("session").value
    with client.session_transaction() as sess:
        assert "sid" not in sess
    assert _login(auth, rater.username).status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as sess:
        assert sess["uid"] == rater.id and sess["sid"] and sess["csrf"] != planted_csrf
    first_sid = sess["sid"]
    client.post("/logout", data={"csrf_token": sess["csrf"]})
    _login(auth, rater.username)
    with client.session_transaction() as sess:
        assert sess["sid"] != first_sid


def test_a_planted_pre_login_cookie_gains_nothing(app, auth, make, client):
    client.get("/login")
    planted = client.get_cookie("session").value
    rater = make.user("rater")
    _login(auth, rater.username)
    attacker = app.test_client()
    attacker.set_cookie("session", planted)
    assert attacker.get("/").status_code == 302  # still anonymous: sent to /login


def test_sign_out_kills_copies_of_the_cookie(app, auth, make, client):
    rater = make.user("rater")
    _login(auth, rater.username)
    stolen = client.get_cookie("session").value
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    r = thief.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_state_changing_requests_need_the_csrf_token(app, auth, make, client):
    admin = auth.as_role("admin")
    r = client.post("/api/v1/users/invites", json={"username": "newbie"})
    assert r.status_code == 403 and "CSRF" in r.get_json()["error"]
    r = client.post(
        "/api/v1/users/invites", json={"username": "newbie"}, headers={"X-CSRF-Token": "forged"}
    )
    assert r.status_code == 403
    r = client.post("/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = client.post(
        "/api/v1/users/invites", json={"username": "newbie"}, headers={"X-CSRF-Token": auth.csrf()}
    )
    assert r.status_code == 201
    assert admin.id


def test_login_refuses_a_cross_site_post_without_token(app, client, make):
    rater = make.user("rater")
    r = client.post("/login", data={"username": rater.username, "password": PASSWORD})
    assert r.status_code == 403


def test_idle_session_ends(app, auth, make, client):
    rater = make.user("rater")
    _login(auth, rater.username)
    with client.session_transaction() as sess:
        sess["seen"] -= app.config["SESSION_IDLE_MINUTES"] * 60 + 1
    assert client.get("/").status_code == 302


def test_overlong_credentials_are_refused_without_hashing(app, auth):
    r = auth.client.post(
        "/login",
        data={"username": "a" * 400, "password": "x", "csrf_token": auth.csrf()},
    )
    assert r.status_code == 400 and b"too long" in r.data


def test_a_burst_of_parallel_guesses_gets_no_more_than_the_limit(app, make):
    """Twelve wrong passwords at once, from twelve connections: five are checked, the
    rest refused before their password is looked at (no check-then-write race)."""
    rater = make.user("rater")
    barrier = threading.Barrier(12)

    def guess(k: int) -> int:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["csrf"] = "t"
        barrier.wait()
        r = client.post(
            "/login",
            data={"username": rater.username, "password": f"guess number {k}", "csrf_token": "t"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{k}"},
        )
        return r.status_code

    with ThreadPoolExecutor(12) as pool:
        codes = sorted(pool.map(guess, range(12)))
    assert codes == [401] * 5 + [429] * 7
    with db.write_session() as s:
        attempts = s.exec(select(LoginAttempt).where(LoginAttempt.username == rater.username))
        assert [a.succeeded for a in attempts] == [False] * 5
