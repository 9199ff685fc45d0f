"""Measure pulls end to end against loopback servers, and print the numbers.

    python scripts/bench_pull.py [--rows 20000] [--prompts 300] [--latency 0.02]
        [--database-url postgresql+psycopg://...]

Remote: a gzip JSON Lines file of --rows items, pulled and imported, then pulled
again (a 304). Generation: --prompts prompts x 3 generators against a chat server
answering after --latency seconds, at concurrency 1 and 8. Timings on a shared
machine are noisy; run it a few times.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import create_app, db  # noqa: E402
from tests.factories import item_row  # noqa: E402
from tests.pullkit import ChatServer, FileServer, add_source, jsonl, pull_now  # noqa: E402


def _timed(label: str, fn: object, unit: str, count: int) -> object:
    start = time.perf_counter()
    result = fn()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    rate = f"{count / seconds:,.0f} {unit}/s" if count else ""
    print(f"{label:<44} {seconds:8.2f} s  {rate}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rr-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CHECK_SCHEMA": False})
    with app.app_context():
        db.upgrade(db.engine())
        from service.projects import projects

        with db.write_session() as s:
            for slug in ("bench-remote", "bench-gen1", "bench-gen8"):
                projects.create_project(session=s, data={"slug": slug, "name": slug})
    print(f"database: {url.split('@')[-1]}")

    with FileServer() as files:
        files.files["/items.jsonl.gz"] = gzip.compress(
            jsonl([item_row(f"r{i}") for i in range(args.rows)])
        )
        add_source(app, name="bench-remote", project="bench-remote", kind="remote",
                   config={"url": files.url + "/items.jsonl.gz"})  # fmt: skip
        run = _timed(f"remote: download + import {args.rows:,} rows", lambda: pull_now(app, "bench-remote"), "rows", args.rows)  # fmt: skip
        assert run.status == "succeeded", run.error
        run = _timed("remote: second pull (304, not re-read)", lambda: pull_now(app, "bench-remote"), "", 0)  # fmt: skip
        assert run.status == "unchanged"

    prompts = tmp / "prompts.jsonl"
    prompts.write_bytes(jsonl([{"id": f"q{i}", "prompt": f"Q{i}?"} for i in range(args.prompts)]))
    with ChatServer() as chat:
        for model in ("m-a", "m-b", "m-c"):
            chat.then(model, *[("delay", args.latency)] * (2 * args.prompts))
        gens = [{"name": n, "url": chat.v1, "model": f"m-{n}"} for n in ("a", "b", "c")]
        calls = 3 * args.prompts
        for concurrency in (1, 8):
            name = f"bench-gen{concurrency}"
            add_source(app, name=name, project=name, kind="generation",
                       config={"prompts": str(prompts), "generators": gens, "concurrency": concurrency})  # fmt: skip
            label = f"generation: {calls} calls at {args.latency * 1000:.0f} ms, concurrency {concurrency}"
            run = _timed(label, lambda name=name: pull_now(app, name), "calls", calls)
            assert run.status == "succeeded", run.error
        print(f"{'ideal at concurrency 8 (latency only)':<44} {calls * args.latency / 8:8.2f} s")


if __name__ == "__main__":
    main()
