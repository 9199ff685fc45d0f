"""Time the rater's hot paths over real HTTP: "load next item" and "submit".

Starts gunicorn (as `rankroom serve` does) on a fresh, migrated SQLite file seeded with
the demo's realistic prompts and responses (copied to --items items), signs raters in
through the login form, then for each round judges one item: as the rating screen does
(a submission answered with the next item's rendered fragment) or through the JSON API
(next, then submit). Prints p50/p95 per operation. Times are round trips on 127.0.0.1,
i.e. server time plus well under a millisecond of loopback.

Run from the repository root: ``python scripts/bench_rater.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app, db  # noqa: E402
from service.accounts import users  # noqa: E402
from service.items import importing  # noqa: E402
from service.projects import projects  # noqa: E402
from service.rating import doctor  # noqa: E402

PASSWORD = "bench-password-1"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def seed(url: str, items: int, raters: int) -> str:
    """Create a pairwise project with ``items`` demo-derived items and the raters."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CHECK_SCHEMA": False})
    with app.app_context():
        db.upgrade(db.engine())
        demo = ROOT / "prompts" / "demo"
        rows = [
            json.loads(line)
            for name in ("coding.jsonl", "medicine.jsonl", "law.jsonl")
            for line in (demo / name).read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        with db.write_session() as s:
            data = projects.load_template(app.config["PROMPTS_DIR"], "pairwise")
            data.update(slug="bench", name="Bench", overlap=3)
            project = projects.create_project(session=s, data=data)
        copies = [_copy(rows[i % len(rows)], i) for i in range(items)]
        result = importing.import_items(
            engine=db.engine(), project=project, rows=list(enumerate(copies, 1)), source="bench"
        )
        assert result.error_count == 0, result.errors[:3]
        with db.write_session() as s:
            for r in range(raters):
                # The demo's items ask for these expertise tags (see routing in the README).
                users.create_user(
                    session=s,
                    username=f"bench{r}",
                    password=PASSWORD,
                    expertise=["coding", "medicine", "law"],
                )
    db.engine_of(app).dispose()
    return "bench"


def _copy(row: dict[str, Any], n: int) -> dict[str, Any]:
    """A demo row under a new id, its texts made unique so no render cache flatters us."""
    responses = [dict(r, content=f"{r['content']}\n\n(Variant {n}.)") for r in row["responses"]]
    return dict(row, id=f"{row['id']}-{n}", gold=None, responses=responses)


class Rater:
    """One signed-in browser session: cookies and the CSRF token."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        login = self.get("/login")
        self.csrf = CSRF.search(login).group(1)
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrf_token": self.csrf}
        ).encode()
        self.opener.open(urllib.request.Request(base + "/login", data=form)).read()
        self.csrf = CSRF.search(self.get("/rate")).group(1)
        self.handed: int | None = None  # the item the last screen submission brought along

    def get(self, path: str) -> str:
        return self.opener.open(self.base + path).read().decode()

    def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[float, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body or {}).encode(),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-CSRF-Token": self.csrf,
            },
        )
        start = time.perf_counter()
        try:
            with self.opener.open(request) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{path}: {exc.code} {exc.read()[:300]!r}") from exc
        return (time.perf_counter() - start) * 1000, payload


def judgment() -> dict[str, Any]:
    scores = {"helpfulness": 4, "correctness": 3, "harmlessness": 5}
    return {
        "client_id": uuid.uuid4().hex,
        "verdict": {"choice": "A"},
        "rubric": {
            "response": {"A": scores, "B": scores},
            "item": {
                "flags": ["factual_error"],
                "rationale": "B misstates a fact.",
                "confidence": 2,
            },
        },
        "active_ms": 41_000,
        # Now: a start more than a day away from the lease is refused (clock skew allowed).
        "started_at": datetime.now(UTC).isoformat(),
    }


def round_trip(rater: Rater, slug: str, via_screen: bool) -> dict[str, float]:
    """Judge one item; return the time of each call in ms.

    The screen's way: its first item is a fragment from "next", and each submission's
    answer carries the next item's fragment. The API's way: "next", then "submit".
    """
    times = {}
    if via_screen:
        if rater.handed is None:
            times["next (screen fragment)"], body = rater.post(f"/rate/{slug}/next")
            rater.handed = body["assignment_id"]
        if rater.handed is None:
            raise SystemExit(f"no item: {body.get('message')}")
        path = f"/rate/assignments/{rater.handed}/judgment"
        times["submit + next fragment (screen)"], body = rater.post(path, judgment())
        rater.handed = body["next"]["assignment_id"]
        return times
    times["next (JSON API)"], body = rater.post(f"/api/v1/projects/{slug}/next")
    if body["assignment"] is None:
        raise SystemExit(f"no item: {body.get('message')}")
    path = f"/api/v1/assignments/{body['assignment']['id']}/judgment"
    times["submit (JSON API)"], _ = rater.post(path, judgment())
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(title: str, samples: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'operation':<34}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, values in samples.items():
        print(
            f"  {name:<34}{len(values):>6}{statistics.median(values):>10.1f}"
            f"{percentile(values, 0.95):>10.1f}{max(values):>10.1f}"
        )


def run(raters: list[Rater], slug: str, rounds: int, concurrency: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    # Half the raters work through the screen, half through the API: each keeps to one,
    # as a rater's lease handed along with a screen submission belongs to that screen.
    jobs = [(raters[i % len(raters)], i % len(raters) % 2 == 0) for i in range(rounds)]

    def one(job: tuple[Rater, bool]) -> dict[str, float]:
        return round_trip(job[0], slug, job[1])

    if concurrency == 1:
        results = [one(job) for job in jobs]
    else:
        # Each worker thread keeps to its own raters, so one session never races itself.
        lanes = [
            [j for j in jobs if raters.index(j[0]) % concurrency == k] for k in range(concurrency)
        ]
        with ThreadPoolExecutor(concurrency) as pool:
            results = [
                r for lane in pool.map(lambda lane: [one(j) for j in lane], lanes) for r in lane
            ]
    for result in results:
        for key, value in result.items():
            samples.setdefault(key, []).append(value)
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000, help="items in the project")
    parser.add_argument("--raters", type=int, default=24, help="rater accounts")
    parser.add_argument("--rounds", type=int, default=400, help="items judged per run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=4, help="clients in the concurrent run")
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database to use instead of a fresh SQLite file",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rankroom-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    slug = seed(url, args.items, args.raters)
    print(f"Seeded {args.items} items and {args.raters} raters in {time.perf_counter() - t0:.1f} s")
    server, base = start_gunicorn(url, tmp, args.workers)
    try:
        raters = [Rater(base, f"bench{r}") for r in range(args.raters)]
        run(raters[:2], slug, 10, 1)  # warm-up: imports, caches, SQLite pages
        backend = "SQLite (WAL)" if url.startswith("sqlite") else "PostgreSQL"
        print(f"gunicorn: {args.workers} sync workers on {backend}; {os.cpu_count()} CPU(s)")
        report(
            f"One client at a time ({args.rounds} items):",
            run(raters, slug, args.rounds, 1),
        )
        report(
            f"{args.concurrency} clients at once ({args.rounds} items):",
            run(raters, slug, args.rounds, args.concurrency),
        )
        print("\nThe machine may be shared: repeat the run and compare before trusting a digit.")
    finally:
        server.terminate()
        server.wait(timeout=10)
    try:
        print(checkup(url))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def start_gunicorn(url: str, tmp: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """Start gunicorn on ``url`` on a free port; return it and its base URL once it answers."""
    port = free_port()
    env = dict(
        os.environ,
        RANKROOM_DATABASE_URL=url,
        RANKROOM_SECRET_KEY="bench",
        RANKROOM_INSTANCE_PATH=str(tmp),
        PYTHONPATH=str(ROOT),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "service:create_app()"],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz").read()
            break
        except OSError:
            time.sleep(0.1)
    return server, base


def checkup(url: str) -> str:
    """Return ``rankroom doctor``'s line on the database the run left behind."""
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context(), db.write_session() as s:
        line = doctor.summary(doctor.check(session=s))
    db.engine_of(app).dispose()
    return line


if __name__ == "__main__":
    main()
