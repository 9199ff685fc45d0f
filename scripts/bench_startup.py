"""Time Rankroom's start-up and measure its idle memory.

- Light commands (``rankroom --help``, ``rankroom export --help``, ``rankroom db current``):
  wall time of each, median and worst of --runs.
- Warm start: ``rankroom serve`` on a migrated SQLite file, from launch to the first
  200 from ``/healthz``, with the files already in the page cache (one unmeasured
  start first). Median and worst of --runs.
- Idle memory: once serving, RSS and PSS (each page shared by n processes counts 1/n)
  of the master and of each worker, after one request per worker.

Run from the repository root: ``python scripts/bench_startup.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIGHT = [["--help"], ["export", "--help"], ["audit", "export"]]


def env_for(tmp: Path) -> dict[str, str]:
    return dict(
        os.environ,
        RANKROOM_DATABASE_URL=f"sqlite:///{tmp / 'rankroom.db'}",
        RANKROOM_SECRET_KEY="bench",
        RANKROOM_INSTANCE_PATH=str(tmp),
        PYTHONPATH=str(ROOT),
    )


def rankroom(args: list[str], env: dict[str, str]) -> float:
    """Run ``rankroom ARGS``; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start ``rankroom serve``; return it, its port and the seconds to the first 200."""
    port = free_port()
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if r.status == 200:
                    return server, port, time.perf_counter() - start
        except OSError:
            if server.poll() is not None:
                raise SystemExit("rankroom serve exited before answering") from None
            time.sleep(0.005)


def stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def memory_kib(pid: int) -> tuple[int, int]:
    """Return (RSS, PSS) of ``pid`` in KiB from /proc/PID/smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return fields["Rss"], fields["Pss"]


def gunicorn_master(server: subprocess.Popen[bytes]) -> int:
    """``rankroom serve`` runs gunicorn in its own process: it is the master."""
    return server.pid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measurement")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        env = env_for(tmp)
        subprocess.run([sys.executable, "-m", "service", "db", "upgrade"], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for command in LIGHT:
            rankroom(command, env)  # page cache
            times = [rankroom(command, env) for _ in range(args.runs)]
            print(f"rankroom {' '.join(command):<16} median {statistics.median(times):.3f} s,"
                  f" worst {max(times):.3f} s")  # fmt: skip
        stop(serve(env, args.workers)[0])  # page cache
        starts = []
        for _ in range(args.runs):
            server, port, seconds = serve(env, args.workers)
            starts.append(seconds)
            stop(server)
        print(f"warm start to first 200: median {statistics.median(starts):.3f} s,"
              f" worst {max(starts):.3f} s ({args.workers} workers)")  # fmt: skip
        server, port, _ = serve(env, args.workers)
        try:
            for _ in range(4 * args.workers):  # reach every worker
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
            time.sleep(1)
            master = gunicorn_master(server)
            for role, pid in [("master", master)] + [("worker", p) for p in children(master)]:
                rss, pss = memory_kib(pid)
                print(
                    f"idle {role:<6} pid {pid}: RSS {rss / 1024:6.1f} MiB, PSS {pss / 1024:6.1f} MiB"
                )
        finally:
            stop(server)
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
