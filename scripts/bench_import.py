"""Benchmark `rankroom import`: N items with 4 responses each, on SQLite and PostgreSQL.

Runs the real CLI in a child process and prints wall time, items/s and the child's
peak RSS. PostgreSQL is measured when --postgres URL (or RANKROOM_TEST_POSTGRES_URL)
is given; a scratch database is created and dropped there.

    python scripts/bench_import.py --items 100000 [--postgres postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
WORDS = [
    "the",
    "model",
    "answer",
    "dose",
    "risk",
    "contract",
    "clause",
    "function",
    "returns",
    "value",
    "patient",
    "court",
]


def make_file(path: Path, n: int) -> None:
    rng = random.Random(7)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    with path.open("w") as fh:
        for i in range(n):
            row = {
                "id": f"bench-{i:07d}",
                "prompt": text(40),
                "responses": [
                    {"id": r, "model": f"model-{j}", "content": text(120)}
                    for j, r in enumerate("abcd")
                ],
                "tags": ["bench"],
            }
            fh.write(json.dumps(row) + "\n")


def cli(env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def run(label: str, url: str, data: Path, n: int, workdir: Path) -> None:
    env = {
        **os.environ,
        "RANKROOM_DATABASE_URL": url,
        "RANKROOM_INSTANCE_PATH": str(workdir),
        "PYTHONPATH": str(ROOT),
    }
    cli(env, "db", "upgrade")
    template = workdir / "t.json"
    template.write_text(json.dumps({"name": "Bench", "mode": "pairwise"}))
    cli(env, "projects", "create", "bench", "--from", str(template))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = cli(env, "import", str(data), "--project", "bench")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    again = cli(env, "import", str(data), "--project", "bench")
    note = "" if peak_mb > before / 1024 else " (peak RSS not above an earlier child's)"
    print(
        f"{label:<10} import {n:>7} items: {seconds:6.1f} s  {n / seconds:8.0f} items/s  "
        f"peak RSS {peak_mb:5.0f} MB{note}; re-import (all unchanged) {again:5.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items to import")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("RANKROOM_TEST_POSTGRES_URL"),
        help="PostgreSQL server URL (a scratch database is created)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "bench.jsonl"
        make_file(data, args.items)
        print(f"file: {data.stat().st_size / 1e6:.0f} MB, {args.items} items x 4 responses")
        run("sqlite", f"sqlite:///{work / 'bench.db'}", data, args.items, work / "sqlite")
        if args.postgres:
            name = f"rr_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            try:
                url = (
                    sa.make_url(args.postgres)
                    .set(database=name)
                    .render_as_string(hide_password=False)
                )
                run("postgres", url, data, args.items, work / "pg")
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
