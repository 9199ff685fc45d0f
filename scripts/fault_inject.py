"""Inject faults under load and count what raters were told: 0 answers of 500, 0 lost.

Two scenarios, each against ``rankroom serve`` (gunicorn) over real HTTP:

- ``pg-outage``: PostgreSQL (scripts/pg-tmp) is stopped for ``--outage`` seconds while
  raters loop next -> submit, then started again.
- ``sqlite-disk-full``: the SQLite file lives on a small tmpfs (needs root) that is
  filled for ``--outage`` seconds, then emptied.

Raters behave as the rating screen does: a 503 is retried with the same request (the
same ``client_id``) after its Retry-After (capped at 1 s here, to keep runs short).
Afterwards every acknowledged submission (201/200) is looked up by its client id, and
the database is checked as the assignment benchmark checks it (overlap exact, counters
equal to a recount).

Run from the repository root: ``python scripts/fault_inject.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_assignment as bench  # noqa: E402  (the scripts folder is not a package)

HOST = bench.HOST


class Rater(threading.Thread):
    """Loop next -> submit until told to stop, retrying a refused request as-is."""

    def __init__(self, port: int, username: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.cookie, self.csrf = bench.sign_in(port, username)
        self.codes: Counter[int] = Counter()
        self.acknowledged: list[str] = []

    def request(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """POST until the answer is not a 503 (or the run ends); return status and body."""
        while True:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            headers = {
                "Cookie": self.cookie,
                "X-CSRF-Token": self.csrf,
                "Content-Type": "application/json",
            }
            try:
                conn.request("POST", path, body=json.dumps(body or {}), headers=headers)
                response = conn.getresponse()
                status, raw = response.status, response.read()
                retry_after = response.getheader("Retry-After")
            except OSError:
                status, raw, retry_after = 0, b"", "1"  # no answer at all: counted as 0
            finally:
                conn.close()
            self.codes[status] += 1
            if status not in (0, 503) or self.stop.is_set():
                return status, json.loads(raw) if raw else None
            time.sleep(min(float(retry_after or 1), 1.0))

    def run(self) -> None:
        while not self.stop.is_set():
            status, body = self.request("/api/v1/projects/bench/next")
            lease = (body or {}).get("assignment") if status == 200 else None
            if lease is None:
                return  # out of work, or the run ended
            client_id = str(uuid.uuid4())
            payload = {"client_id": client_id, "verdict": {"choice": "A"}, "active_ms": 1000}
            status, _ = self.request(f"/api/v1/assignments/{lease['id']}/judgment", payload)
            if status in (200, 201):
                self.acknowledged.append(client_id)


def lost(url: str, acknowledged: list[str]) -> int:
    """Return how many acknowledged client ids have no stored judgment."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT client_id FROM judgment")).scalars())
    engine.dispose()
    return len(set(acknowledged) - stored)


def pg_fault(tmp: Path, pg_port: int) -> tuple[str, Any, Any]:
    url, stop_db = bench.start_database("postgres", tmp, pg_port)
    pgdir = tmp / "pg"

    def inject() -> None:
        subprocess.run([str(bench.ROOT / "scripts/pg-tmp"), "stop", str(pgdir)], check=True)

    def heal() -> None:
        subprocess.run(
            [str(bench.ROOT / "scripts/pg-tmp"), "start", str(pgdir), str(pg_port)],
            check=True,
            capture_output=True,
        )

    return url, (inject, heal), stop_db


def disk_fault(tmp: Path, size_mb: int) -> tuple[str, Any, Any]:
    if os.geteuid() != 0:
        raise SystemExit("sqlite-disk-full mounts a tmpfs: run as root")
    disk = tmp / "disk"
    disk.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(disk)], check=True
    )
    filler = disk / "filler"

    def inject() -> None:
        with filler.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    def heal() -> None:
        filler.unlink()

    def unmount() -> None:
        subprocess.run(["umount", "-l", str(disk)], check=False)

    return f"sqlite:///{disk / 'bench.db'}", (inject, heal), unmount


def run(scenario: str, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="rankroom-fault-") as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)  # PostgreSQL runs as its own user
        if scenario == "pg-outage":
            url, (inject, heal), cleanup = pg_fault(tmp, args.pg_port)
        else:
            url, (inject, heal), cleanup = disk_fault(tmp, args.disk_mb)
        server = None
        try:
            bench.set_up(url, args.raters, args.items, overlap=3)
            server = bench.start_server(url, tmp, args.port, None, None)
            stop = threading.Event()
            raters = [Rater(args.port, f"r{k}", stop) for k in range(args.raters)]
            for rater in raters:
                rater.start()
            time.sleep(args.before)
            inject()
            print(f"{scenario}: fault injected for {args.outage:.0f} s")
            time.sleep(args.outage)
            heal()
            print(f"{scenario}: fault healed")
            time.sleep(args.after)
            stop.set()
            for rater in raters:
                rater.join(timeout=120)
            codes = sum((r.codes for r in raters), Counter())
            acknowledged = [c for r in raters for c in r.acknowledged]
            missing = lost(url, acknowledged)
            checks = bench.check(url, len(acknowledged))
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            cleanup()
    shown = ", ".join(f"{code or 'no answer'}: {n}" for code, n in sorted(codes.items()))
    print(f"{scenario}: answers {shown}")
    print(f"{scenario}: acknowledged {len(acknowledged)}, lost {missing}")
    print(f"{scenario}: checks {checks}")
    bad = (
        codes[500]
        + missing
        + checks["items over overlap"]
        + checks["rater twice on an item"]
        + checks["counters off"]
    )
    print(f"{scenario}: {'OK' if not bad else 'FAILED'} (500s: {codes[500]}, lost: {missing})")
    return not bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "scenarios",
        nargs="*",
        default=["pg-outage", "sqlite-disk-full"],
        choices=["pg-outage", "sqlite-disk-full"],
        help="Which faults to inject (default: both).",
    )
    parser.add_argument("--raters", type=int, default=8, help="Raters looping at once.")
    parser.add_argument("--items", type=int, default=2000, help="Items in the project.")
    parser.add_argument("--before", type=float, default=5, help="Seconds of load before the fault.")
    parser.add_argument("--outage", type=float, default=10, help="Seconds the fault lasts.")
    parser.add_argument("--after", type=float, default=5, help="Seconds of load after healing.")
    parser.add_argument("--port", type=int, default=8765, help="Port of the service.")
    parser.add_argument("--pg-port", type=int, default=55499, help="Port of the PostgreSQL.")
    parser.add_argument("--disk-mb", type=int, default=48, help="Size of the SQLite tmpfs.")
    args = parser.parse_args()
    results = [run(s, args) for s in args.scenarios]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
