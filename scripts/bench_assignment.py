"""Load-test assignment over real HTTP: N raters looping next -> submit against gunicorn.

Each backend (SQLite file, throwaway PostgreSQL from scripts/pg-tmp) gets a fresh
database with one pairwise project (overlap 3, 5% gold) and N raters who sign in
through the login form and then loop POST /next -> POST /judgment with their session
cookie and CSRF header. The load generator is a few processes of asyncio with a
minimal HTTP/1.1 client, so it costs little CPU; its own share is printed. After
the run the database is checked: no pair of an item over its overlap, no rater twice on an
item, every acknowledged submission stored once, counters equal to a recount.

Run from the repository root: ``python scripts/bench_assignment.py`` (``--help``).
``--profile`` samples the gunicorn workers with py-spy and prints where time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.cli.serve import default_workers  # noqa: E402 (the path just above)

HOST = "127.0.0.1"
PASSWORD = "bench-password-1"
LOOPS = {
    "separate": "next -> submit",
    "together": "submit-and-next (the rating screen's loop)",
}


def start_database(backend: str, tmp: Path, port: int) -> tuple[str, Any]:
    """Return the URL of an empty database and a function that stops it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    pgdir = tmp / "pg"
    require_free(port)
    out = subprocess.run(
        [str(ROOT / "scripts/pg-tmp"), "start", str(pgdir), str(port)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    admin_url = out.strip().split("=", 1)[1]
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE bench")
    engine.dispose()

    def stop() -> None:
        subprocess.run([str(ROOT / "scripts/pg-tmp"), "stop", str(pgdir)], check=False)

    url = admin_url.rsplit("/", 1)[0] + "/bench"
    return url, stop


def set_up(url: str, raters: int, items: int, overlap: int) -> str:
    """Migrate, then create the project, its items and the raters; return the slug."""
    from service import create_app, db
    from service.accounts import users
    from service.items import importing
    from service.projects import projects

    db.upgrade(db.make_engine(url))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        with db.write_session() as s:
            project = projects.create_project(
                session=s,
                data={"slug": "bench", "name": "Bench", "overlap": overlap, "gold_rate": 0.05},
            )
        rows = [
            {
                "id": f"q{i}",
                "prompt": f"Question {i}?",
                "responses": [{"id": r, "content": f"Answer {r} to {i}."} for r in "abc"],
                **({"gold": {"preferred": "a"}} if i < items // 50 else {}),
            }
            for i in range(items)
        ]
        importing.import_items(
            engine=db.engine(), project=project, rows=list(enumerate(rows, 1)), source="bench"
        )
        with db.write_session() as s:
            for k in range(raters):
                users.create_user(session=s, username=f"r{k}", password=PASSWORD)
    # Fresh statistics, as autovacuum would have them a minute after a real import.
    with db.engine_of(app).connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    db.engine_of(app).dispose()
    return "bench"


def refresh_statistics(url: str) -> None:
    """VACUUM ANALYZE, as autovacuum does within a minute (its naptime) of leases arriving.

    The set-up's statistics saw empty lease and judgment tables, and PostgreSQL keeps
    the plans it made for them (sequential scans) until statistics change; nor are any
    pages marked all-visible, which index-only scans need. A campaign lives in the
    state after autovacuum's passes (every submission leaves a dead row version, so
    they come every minute); the window, shorter than the naptime, would otherwise
    measure the first minute (``--cold`` does).
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def require_free(port: int) -> None:
    """Stop with a clear message when something already listens on ``port``."""
    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise SystemExit(f"port {port} is in use; pick another with --port / --pg-port")


def start_server(
    url: str, tmp: Path, port: int, workers: int | None, threads: int | None
) -> subprocess.Popen:
    """Start the service as users do, with ``rankroom serve`` (its defaults unless given)."""
    require_free(port)
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RANKROOM_DATABASE_URL=url,
        RANKROOM_SECRET_KEY="bench-secret",
        RANKROOM_INSTANCE_PATH=str(tmp / "instance"),
    )
    cmd = [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers)] if workers else []
    cmd += ["--threads", str(threads)] if threads else []
    # The access log is written (and costs what it costs), but not shown.
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def sign_in(port: int, username: str) -> tuple[str, str]:
    """Sign in through the login form; return (Cookie header, CSRF token)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://{HOST}:{port}"

    def csrf() -> str:
        page = opener.open(f"{base}/login").read().decode()
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    form = {"username": username, "password": PASSWORD, "csrf_token": csrf()}
    opener.open(f"{base}/login", data=urllib.parse.urlencode(form).encode()).read()
    token = csrf()  # signing in starts a fresh session with a fresh token
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token


class Connection:
    """One rater's HTTP/1.1 connection: kept open when the server allows (gthread
    workers), reopened after each reply when it does not (sync workers close).

    Plain non-blocking sockets on the event loop, not asyncio's streams: with the
    streams' transports and protocols, built for every connection, the generator took
    0.8 ms of CPU per judgment instead of 0.5 (it shares the machine it measures).
    """

    def __init__(self, port: int, cookie: str, csrf: str, close: bool = False) -> None:
        self.port = port
        signed_in = f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n" if cookie else ""
        self.headers = (
            f"Host: {HOST}\r\n{signed_in}"
            "Content-Type: application/json\r\n" + ("Connection: close\r\n" if close else "")
        ).encode()
        self.sock: socket.socket | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.call("POST", path, body)

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.sock is None:
            self.sock = socket.socket()
            self.sock.setblocking(False)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(self.sock, (HOST, self.port))
        request = b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
        head = (method.encode(), path.encode(), self.headers, len(body), body)
        await loop.sock_sendall(self.sock, request % head)
        data = b""
        while b"\r\n\r\n" not in data:
            data += await self._recv(loop)
        head, _, data = data.partition(b"\r\n\r\n")
        head = head.decode("latin-1").lower()
        length = int(re.search(r"content-length: *(\d+)", head).group(1))
        while len(data) < length:
            data += await self._recv(loop)
        if "connection: close" in head:
            self.sock.close()
            self.sock = None
        return int(head[9:12]), data

    async def _recv(self, loop: asyncio.AbstractEventLoop) -> bytes:
        chunk = await loop.sock_recv(self.sock, 65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-reply")
        return chunk


async def _rater(
    port: int,
    who: tuple[str, str],
    window: tuple[float, float],
    out: dict,
    together: bool,
    close: bool,
) -> None:
    """Loop next -> submit; with ``together``, each submission's answer is the next item.

    ``close``: a new connection for every call.
    """
    conn = Connection(port, *who, close=close)
    start, end = window
    submit = "judgment-and-next" if together else "judgment"
    lease = None
    while time.time() < end:
        if lease is None:
            t0 = time.time()
            status, body = await conn.post("/api/v1/projects/bench/next", b"")
            if t0 >= start:
                out["next"].append(time.time() - t0)
            if status != 200:
                out["errors"].append(f"next {status} {body[:200]!r}")
                continue
            lease = json.loads(body)["assignment"]
            if lease is None:
                return
        t1 = time.time()
        payload = {"client_id": uuid.uuid4().hex, "verdict": {"choice": "AB"[int(t1 * 1e6) % 2]}}
        path = f"/api/v1/assignments/{lease['id']}/{submit}"
        status, body = await conn.post(path, json.dumps(payload).encode())
        t2 = time.time()
        lease = None
        if status == 201:
            out["acknowledged"] += 1
            if t1 >= start and t2 <= end:
                out["judgments"] += 1
            if together:
                lease = json.loads(body)["assignment"]
                if lease is None:
                    return
        else:
            out["errors"].append(f"submit {status} {body[:200]!r}")
        if t1 >= start:
            out["submit"].append(t2 - t1)


def generator(
    port: int,
    raters: list[tuple[str, str]],
    window: tuple[float, float],
    begin: float,
    together: bool,
    close: bool,
) -> dict:
    """Run some raters on one asyncio loop (one generator process); return what it saw.

    The raters start at ``begin``; only calls inside ``window`` are measured.
    """
    out: dict[str, Any] = {"next": [], "submit": [], "errors": [], "judgments": 0}
    out["acknowledged"] = 0

    async def main() -> None:
        await asyncio.sleep(max(0.0, begin - time.time()))
        tasks = [asyncio.create_task(_rater(port, r, window, out, together, close)) for r in raters]
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, window[1] - time.time()))
        out["cpu"] = time.process_time() - cpu0
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return out


# Calls that do no rating work: what any call costs the server before its own work.
FLOOR_CALLS = {
    "GET /healthz (no session, no database)": ("/healthz", False),
    "signed-in GET of a lease not the rater's (cookie, user lookup, one query, 404)": (
        "/api/v1/assignments/0",
        True,
    ),
}


def floor_generator(
    port: int, raters: list[tuple[str, str] | None], path: str, window: tuple[float, float]
) -> dict:
    """Call ``GET path`` in a loop as each rater (``None``: signed out) until the window
    ends; count the calls made inside it."""
    out: dict[str, Any] = {"calls": 0, "errors": []}
    start, end = window

    async def caller(who: tuple[str, str] | None) -> None:
        conn = Connection(port, *(who or ("", "")))  # no cookie: signed out
        while time.time() < end:
            t0 = time.time()
            status, body = await conn.call("GET", path)
            if t0 >= start and time.time() <= end:
                out["calls"] += 1
            if status not in (200, 404):
                out["errors"].append(f"{path} {status} {body[:200]!r}")

    async def main() -> None:
        await asyncio.gather(*(caller(r) for r in raters))

    asyncio.run(main())
    return out


def measure_floor(
    port: int, sessions: list, workers: list[int], args: argparse.Namespace
) -> list[str]:
    """Return lines giving gunicorn's CPU per call for the FLOOR_CALLS, as many callers
    as raters (``--floor`` seconds each, after the loop)."""
    lines = ["fixed cost of a call (gunicorn CPU per call; as many callers, no rating work):"]
    ctx = multiprocessing.get_context("spawn")
    for label, (path, signed) in FLOOR_CALLS.items():
        who = sessions if signed else [None] * len(sessions)
        groups = [who[i :: args.procs] for i in range(args.procs)]
        window = (time.time() + 3, time.time() + 3 + args.floor)  # 3 s to start, unmeasured
        with ctx.Pool(args.procs) as pool:
            pending = [
                pool.apply_async(floor_generator, (port, g, path, window)) for g in groups if g
            ]
            time.sleep(max(0.0, window[0] - time.time()))
            before = cpu_ticks(workers)
            time.sleep(max(0.0, window[1] - time.time()))
            cpu = cpu_ticks(workers) - before
            results = [r.get() for r in pending]
        calls = sum(r["calls"] for r in results)
        errors = [e for r in results for e in r["errors"]]
        lines.append(
            f"  {label}: {1000 * cpu / max(calls, 1):.2f} ms ({calls} calls, {len(errors)} errors)"
        )
    return lines


def cpu_ticks(pids: list[int], kernel: bool | None = None) -> float:
    """Return the CPU seconds used so far by these processes (only in the kernel, or
    only outside it, when ``kernel`` says)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            user, system = int(fields[11]), int(fields[12])
            total += {None: user + system, True: system, False: user}[kernel]
        except (FileNotFoundError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def booted_workers(pid: int, expected: int) -> list[int]:
    """Return the gunicorn master's workers once all ``expected`` have booted.

    The first worker answers /healthz while the others may still be forking; counting
    then would leave a worker's CPU out of the gunicorn figures.
    """
    for _ in range(100):
        found = children(pid)
        if len(found) >= expected:
            return found
        time.sleep(0.1)
    return children(pid)


def children(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ValueError):
            pass
    return found


def machine_busy() -> float:
    """Return the CPU seconds all processes on this machine have used so far."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def check(url: str, acknowledged: int) -> tuple[dict[str, int], str]:
    """Check the database after the run: overlap exact, no duplicates, nothing lost.

    Also return ``rankroom doctor``'s line (counters equal to a recount, overlap kept).
    """
    import sqlalchemy as sa

    from service import create_app, db
    from service.models import Assignment, Item, Judgment, Project
    from service.rating import doctor

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context(), db.write_session() as s:
        project = s.execute(sa.select(Project)).scalar_one()
        real = sa.select(Item.id).where(~Item.is_gold)
        # Overlap is per pair unit: (item, the two responses shown).
        judged = Counter(
            (item_id, frozenset(shown))
            for item_id, shown in s.execute(
                sa.select(Judgment.item_id, Judgment.shown_order).where(Judgment.item_id.in_(real))
            )
        )
        taken = Counter(
            (item_id, frozenset(shown))
            for item_id, shown in s.execute(
                sa.select(Assignment.item_id, Assignment.shown_order).where(
                    Assignment.status.in_(("submitted", "active")), Assignment.item_id.in_(real)
                )
            )
        )
        twice = (
            sa.select(Judgment.item_id)
            .group_by(Judgment.item_id, Judgment.rater_id)
            .having(sa.func.count() > 1)
            .subquery()
        )
        count = sa.func.count()
        result = {
            "pairs over overlap": sum(n > project.overlap for n in judged.values()),
            "pairs leased beyond overlap": sum(n > project.overlap for n in taken.values()),
            "rater twice on an item": s.scalar(sa.select(count).select_from(twice)),
            "judgments stored": s.scalar(sa.select(count).select_from(Judgment)),
            "submissions acknowledged": acknowledged,
        }
        found = doctor.check(session=s)
        result["doctor drift rows"] = len(found.drift)
    db.engine_of(app).dispose()
    return result, doctor.summary(found)


LAYERS = (
    ("database calls (driver + server round trip)", ("do_execute", "do_commit", "psycopg/")),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("sqlmodel", ("sqlmodel/",)),
    ("rankroom service code", ("service/",)),
    ("flask-smorest, webargs, marshmallow, apispec", ("smorest", "webargs", "marshmallow")),
    ("flask, werkzeug, itsdangerous, jinja2", ("flask/", "werkzeug/", "itsdangerous/", "jinja2")),
    ("gunicorn", ("gunicorn/",)),
    ("json", ("json/",)),
)


def summarise_profile(path: Path, top: int = 15) -> list[str]:
    """Fold py-spy's raw stacks into shares of worker CPU by layer and by hot function."""
    by_layer: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        total += count
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        leaf = frames[-1] if frames else "?"
        layer = next((name for name, keys in LAYERS if any(k in leaf for k in keys)), "other")
        by_layer[layer] += count
        by_leaf[leaf] += count
        for f in {re.sub(r":\d+\)$", ")", f) for f in frames if "(service/" in f}:
            inclusive[f] += count
    lines = [f"profile: {total} samples of busy gunicorn workers", "  self time by layer:"]
    lines += [f"    {n / total:6.1%}  {name}" for name, n in by_layer.most_common()]
    lines.append("  hottest lines (self time):")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in by_leaf.most_common(top)]
    lines.append("  inclusive time in rankroom functions:")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return lines


def run(backend: str, args: argparse.Namespace) -> bool:
    """Benchmark one backend; print the report; return whether every check passed."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
    os.chmod(tmp, 0o755)
    url, stop_db = start_database(backend, tmp, args.pg_port)
    try:
        set_up(url, args.raters, args.items, args.overlap)
        server = start_server(url, tmp, args.port, args.workers, args.threads)
        try:
            workers = booted_workers(server.pid, args.workers or default_workers())
            args.started = len(workers)  # what the report names: 0 in the settings means auto
            sessions = [sign_in(args.port, f"r{k}") for k in range(args.raters)]
            begin = time.time() + 3  # time for the generator processes to start
            window = (begin + args.warmup, begin + args.warmup + args.seconds)
            spy = None
            if args.profile:
                spy_out = tmp / "profile.txt"
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(server.pid), "--subprocesses"]
                    + ["--format", "raw", "--rate", "200", "-o", str(spy_out)]
                    + ["--duration", str(int(args.seconds))],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            groups = [sessions[i :: args.procs] for i in range(args.procs)]
            together = args.loop == "together"
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(args.procs) as pool:
                pending = [
                    pool.apply_async(generator, (args.port, g, window, begin, together, args.close))
                    for g in groups
                    if g
                ]
                if backend == "postgres" and not args.cold:
                    time.sleep(max(0.0, begin + args.warmup / 2 - time.time()))
                    refresh_statistics(url)
                time.sleep(max(0.0, window[0] - time.time()))
                db_pids = []
                if backend == "postgres":
                    # Now, not at start: workers open their connections (backends) lazily.
                    postmaster = int((tmp / "pg/postmaster.pid").read_text().split()[0])
                    db_pids = [postmaster, *children(postmaster)]
                before = (
                    cpu_ticks(workers),
                    cpu_ticks(db_pids),
                    machine_busy(),
                    cpu_ticks(workers, kernel=True),
                )
                time.sleep(max(0.0, window[1] - time.time()))
                after = (
                    cpu_ticks(workers),
                    cpu_ticks(db_pids),
                    machine_busy(),
                    cpu_ticks(workers, kernel=True),
                )
                results = [p.get() for p in pending]
            if spy is not None:
                spy.wait()
            floor = measure_floor(args.port, sessions, workers, args) if args.floor else []
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
        checks, doctor_line = check(url, sum(r["acknowledged"] for r in results))
    finally:
        stop_db()
    report(backend, args, results, before, after, checks)
    print(doctor_line)
    print("\n".join(floor))
    if args.profile and (tmp / "profile.txt").exists():
        print("\n".join(summarise_profile(tmp / "profile.txt")))
    shutil.rmtree(tmp, ignore_errors=True)
    errors = sum(len(r["errors"]) for r in results)
    return (
        errors == 0
        and all(
            checks[k] == 0
            for k in (
                "pairs over overlap",
                "pairs leased beyond overlap",
                "rater twice on an item",
                "doctor drift rows",
            )
        )
        and checks["judgments stored"] == checks["submissions acknowledged"]
    )


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def report(backend, args, results, before, after, checks) -> None:  # noqa: ANN001
    """Print throughput, latency percentiles, CPU shares and the checks."""
    seconds = args.seconds
    judgments = sum(r["judgments"] for r in results)
    server_cpu, db_cpu, busy, server_kernel = (a - b for a, b in zip(after, before, strict=True))
    gen_cpu = sum(r.get("cpu", 0.0) for r in results)
    cores = os.cpu_count() or 1
    kind = f"gthread x{args.threads}" if args.threads > 1 else "sync"
    print(
        f"\n== {backend}: {args.raters} raters, `rankroom serve` with {args.started} {kind} "
        f"gunicorn workers, {seconds:.0f} s, loop: {LOOPS[args.loop]}"
        + (", a new connection per call" if args.close else "")
    )
    if backend == "postgres":
        state = "as set up (empty tables: --cold)" if args.cold else "VACUUM ANALYZE in the warm-up"
        print(f"statistics: {state}")
    print(f"judgments/s: {judgments / seconds:.1f}  ({judgments} judgments in the window)")
    print(f"{'call':<12}{'n':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    calls = {"next": "next", "submit": "submit"}
    if args.loop == "together":
        calls["submit"] = "submit+next"
    for kind, label in calls.items():
        values = [v for r in results for v in r[kind]]
        cells = [_pct(values, q) for q in (0.5, 0.95, 0.99)] + [max(values, default=0) * 1000]
        print(f"{label:<12}{len(values):>8}" + "".join(f"{c:>9.1f}" for c in cells))
    errors = [e for r in results for e in r["errors"]]
    print(f"errors: {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    if judgments:
        per = [1000 * c / judgments for c in (server_cpu, db_cpu, gen_cpu)]
        print(
            "CPU per judgment (ms, the number contention does not change much): "
            f"gunicorn {per[0]:.1f} (of which in the kernel {1000 * server_kernel / judgments:.1f}), "
            f"database server {per[1]:.1f}, load generator {per[2]:.1f}"
        )
    others = busy - server_cpu - db_cpu - gen_cpu
    print(
        f"CPU, cores busy on average ({cores} cores): gunicorn {server_cpu / seconds:.2f}, "
        f"database server {db_cpu / seconds:.2f}, load generator {gen_cpu / seconds:.2f} "
        f"({gen_cpu / max(busy, 1e-9):.0%} of all CPU used), everything else on the machine "
        f"{others / seconds:.2f}"
    )
    print("checks: " + ", ".join(f"{k} {v}" for k, v in checks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", choices=["sqlite", "postgres", "both"], default="both", help="Backends to test."
    )
    parser.add_argument("--raters", type=int, default=32, help="Concurrent simulated raters.")
    parser.add_argument("--seconds", type=float, default=20, help="Measured window.")
    parser.add_argument("--warmup", type=float, default=4, help="Unmeasured start.")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="PostgreSQL: no VACUUM ANALYZE in the warm-up, so the window runs on the plans "
        "made for empty tables, as in a new campaign's first minute.",
    )
    parser.add_argument("--items", type=int, default=8000, help="Items in the project.")
    parser.add_argument("--overlap", type=int, default=3, help="Raters wanted per item.")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn workers (default: rankroom serve's)."
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="Threads per worker, >1 for gthread with keep-alive (default: rankroom serve's).",
    )
    parser.add_argument(
        "--loop",
        choices=sorted(LOOPS),
        default="separate",
        help="separate: next, then submit (two calls per item); together: each submission "
        "takes the next item in the same call, as the rating screen does.",
    )
    parser.add_argument(
        "--close",
        action="store_true",
        help="Ask for a new connection on every call (Connection: close), as a proxy without "
        "upstream keep-alive does, or a browser whose connection idled out between judgments.",
    )
    parser.add_argument("--procs", type=int, default=2, help="Load generator processes.")
    parser.add_argument("--port", type=int, default=18431, help="Port for gunicorn.")
    parser.add_argument("--pg-port", type=int, default=55499, help="Port for PostgreSQL.")
    parser.add_argument("--profile", action="store_true", help="Sample workers with py-spy.")
    parser.add_argument(
        "--floor",
        type=float,
        default=0,
        metavar="SECONDS",
        help="After the loop, measure for this long each what calls cost with no rating work "
        "(an anonymous health check; a signed-in call that reads one row): the fixed cost "
        "each of the loop's calls pays.",
    )
    args = parser.parse_args()
    from service.config import SETTINGS

    # What `rankroom serve` would start with, so the report can say it.
    for name in ("workers", "threads"):
        if getattr(args, name) is None:
            key = name.upper()
            setattr(args, name, int(os.environ.get(f"RANKROOM_{key}", SETTINGS[key][0])))
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    ok = [run(b, args) for b in backends]
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
