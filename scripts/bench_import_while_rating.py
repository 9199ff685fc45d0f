"""Rater latency while `rankroom import` runs: do raters wait for a big import?

Serves a fresh SQLite database with `rankroom serve` (gunicorn), signs --raters raters
in through the login form, and has each loop next -> submit over the JSON API in its
own thread. After --baseline seconds of rating alone, `rankroom import` loads --items
new items into the same project in a child process while the raters go on. Prints
rater p50/p95/p99 per phase, errors, and the import's duration; then `rankroom doctor`
when this version has it.

Run from the repository root: ``python scripts/bench_import_while_rating.py``
(``--help`` for options). Only the CLI and HTTP are used, so the script also measures
an older checkout: copy it there and run it from that root.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rater import PASSWORD, Rater, free_port, judgment, percentile  # noqa: E402

WORDS = ["the", "model", "answer", "dose", "risk", "contract", "clause", "function", "value"]


def write_items(path: Path, n: int, prefix: str) -> None:
    """Write ``n`` pairwise items; texts come from a small pool, so writing is quick."""
    rng = random.Random(7)
    pool = [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(200)]
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row = {
                "id": f"{prefix}-{i:07d}",
                "prompt": f"{pool[i % 200]} ({i})",
                "responses": [
                    {"id": "a", "model": "m1", "content": f"{pool[(i * 7) % 200]} [{i}a]"},
                    {"id": "b", "model": "m2", "content": f"{pool[(i * 13) % 200]} [{i}b]"},
                ],
            }
            fh.write(json.dumps(row) + "\n")


class Timed(Rater):
    """A rater whose requests are timed and whose HTTP errors are counted, not fatal."""

    def call(self, path: str, body: dict[str, Any] | None = None) -> tuple[float, Any]:
        start = time.perf_counter()
        try:
            return super().post(path, body)
        except SystemExit as exc:  # bench_rater's post exits on an HTTP error
            return (time.perf_counter() - start) * 1000, exc
        except (OSError, urllib.error.URLError) as exc:  # refused, reset, timed out
            return (time.perf_counter() - start) * 1000, exc


class Samples:
    """Latencies (ms) and errors, per phase; appended to by many threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "baseline"
        self.ms: dict[str, list[float]] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, ms: float, error: Any = None) -> None:
        with self.lock:
            self.ms.setdefault(self.phase, []).append(ms)
            if error is not None:
                self.errors.setdefault(self.phase, []).append(str(error)[:200])


def rate(rater: Timed, slug: str, samples: Samples, stop: threading.Event, think: float) -> None:
    """Loop next -> submit until ``stop``; pause ``think`` seconds between items."""
    while not stop.is_set():
        ms, body = rater.call(f"/api/v1/projects/{slug}/next")
        samples.add(ms, body if isinstance(body, BaseException) else None)
        if isinstance(body, BaseException) or body["assignment"] is None:
            stop.wait(0.2)
            continue
        path = f"/api/v1/assignments/{body['assignment']['id']}/judgment"
        ms, answer = rater.call(path, judgment())
        samples.add(ms, answer if isinstance(answer, BaseException) else None)
        stop.wait(think)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"rankroom {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def serve(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,  # the access log
    )


def wait_up(base: str) -> None:
    import urllib.request

    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/healthz").read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def report(samples: Samples, import_seconds: float, import_output: str) -> None:
    print(f"\n  {'phase':<16}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'> 1 s':>7}{'errors':>8}")  # fmt: skip
    for phase, values in samples.ms.items():
        errors = samples.errors.get(phase, [])
        print(
            f"  {phase:<16}{len(values):>9}{percentile(values, 0.5):>9.1f}"
            f"{percentile(values, 0.95):>9.1f}{percentile(values, 0.99):>9.1f}"
            f"{max(values):>9.1f}{sum(v > 1000 for v in values):>7}{len(errors):>8}"
        )
        for error in sorted(set(errors))[:3]:
            print(f"      e.g. {error}")
    print(f"\n  import: {import_seconds:.1f} s; {import_output.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items the import adds")
    parser.add_argument("--seed-items", type=int, default=3000, help="items to rate at start")
    parser.add_argument("--raters", type=int, default=8, help="rater threads, one account each")
    parser.add_argument("--think", type=float, default=0.05, help="seconds between a rater's items")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds rated before import")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rankroom-bench-"))
    env = dict(
        os.environ,
        RANKROOM_DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}",
        RANKROOM_SECRET_KEY="bench",
        RANKROOM_INSTANCE_PATH=str(tmp),
        PYTHONPATH=str(ROOT),
    )
    server: subprocess.Popen | None = None
    try:
        t0 = time.perf_counter()
        cli(env, "db", "upgrade")
        cli(env, "projects", "create", "bench", "--from", "pairwise", "--overlap", "3")
        write_items(tmp / "seed.jsonl", args.seed_items, "seed")
        cli(env, "import", str(tmp / "seed.jsonl"), "--project", "bench")
        for r in range(args.raters):
            cli(env, "users", "add", f"bench{r}", "--password", PASSWORD)
        write_items(tmp / "big.jsonl", args.items, "big")
        size = (tmp / "big.jsonl").stat().st_size / 1e6
        print(
            f"Seeded {args.seed_items} items, {args.raters} raters; wrote {args.items} items "
            f"({size:.0f} MB) in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPU(s)"
        )
        port = free_port()
        server = serve(env, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        wait_up(base)
        raters = [Timed(base, f"bench{r}") for r in range(args.raters)]
        samples, stop = Samples(), threading.Event()
        threads = [
            threading.Thread(target=rate, args=(r, "bench", samples, stop, args.think))
            for r in raters
        ]
        for t in threads:
            t.start()
        time.sleep(args.baseline)
        samples.phase = "during import"
        start = time.perf_counter()
        output = cli(env, "import", str(tmp / "big.jsonl"), "--project", "bench")
        seconds = time.perf_counter() - start
        samples.phase = "after import"
        time.sleep(min(args.baseline, 5.0))
        stop.set()
        for t in threads:
            t.join()
        print(
            f"gunicorn ({args.workers} workers, `rankroom serve`) on SQLite; {args.raters} raters "
            f"looping next -> submit over HTTP, {args.think * 1000:.0f} ms between items"
        )
        report(samples, seconds, output)
        doctor = subprocess.run(
            [sys.executable, "-m", "service", "doctor"], env=env, capture_output=True, text=True
        )
        if "No such command" not in doctor.stderr:
            print(
                f"\n  rankroom doctor (exit {doctor.returncode}):\n{doctor.stdout}{doctor.stderr}"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
