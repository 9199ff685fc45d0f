"""Time Rankroom's start-up and measure its idle memory.

- Light commands (``rankroom --help``, ``export --help``, ``audit export``, ``tokens list``,
  ``doctor`` on an empty database): wall and CPU time (user + system) of each, median and
  worst of --runs. CPU time is the steadier number on a shared machine. With ``--code DIR``
  (repeatable) each checkout's code is timed, runs alternating between them, so a before and
  an after share the same conditions.
- Warm start: ``rankroom serve`` on a migrated SQLite file, from launch to the first
  200 from ``/healthz``, with the files already in the page cache (one unmeasured
  start first). Median and worst of --runs.
- Idle memory: once serving, RSS and PSS (each page shared by n processes counts 1/n)
  of the master and of each worker, after one request per worker.

Run from the repository root: ``python scripts/bench_startup.py`` (``--help``);
``--light-only`` skips the server.
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
LIGHT = [["--help"], ["export", "--help"], ["audit", "export"], ["tokens", "list"], ["doctor"]]


def env_for(tmp: Path, code: Path = ROOT) -> dict[str, str]:
    return dict(
        os.environ,
        RANKROOM_DATABASE_URL=f"sqlite:///{tmp / 'rankroom.db'}",
        RANKROOM_SECRET_KEY="bench",
        RANKROOM_INSTANCE_PATH=str(tmp),
        PYTHONPATH=str(code),
    )


def rankroom(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``rankroom ARGS``; return its wall and CPU (user + system) time in seconds."""
    start = time.perf_counter()
    # From the instance folder: ``-m`` puts the working directory first on the path, and a
    # checkout there would shadow the one PYTHONPATH names.
    proc = subprocess.Popen([sys.executable, "-m", "service", *args], env=env,
                            cwd=env["RANKROOM_INSTANCE_PATH"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"rankroom {' '.join(args)} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def light(tmp: Path, codes: list[Path], runs: int) -> None:
    """Time each light command, alternating between the checkouts in ``codes``."""
    for command in LIGHT:
        times: dict[Path, list[tuple[float, float]]] = {code: [] for code in codes}
        for code in codes:
            rankroom(command, env_for(tmp, code))  # page cache
        for _ in range(runs):
            for code in codes:
                times[code].append(rankroom(command, env_for(tmp, code)))
        for code, pairs in times.items():
            wall, cpu = [p[0] for p in pairs], [p[1] for p in pairs]
            where = f"  [{code}]" if len(codes) > 1 else ""
            print(f"rankroom {' '.join(command):<14} wall median {statistics.median(wall):.3f} s,"
                  f" worst {max(wall):.3f} s; CPU median {statistics.median(cpu):.3f} s{where}")  # fmt: skip


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
        env=env, cwd=env["RANKROOM_INSTANCE_PATH"], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
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
    parser.add_argument("--code", type=Path, action="append", help="checkout whose code is "
                        "timed (repeatable: light commands alternate between them)")  # fmt: skip
    parser.add_argument("--light-only", action="store_true", help="time the light commands only")
    args = parser.parse_args()
    codes = [code.resolve() for code in args.code or [ROOT]]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as name:
        tmp = Path(name)
        env = env_for(tmp, codes[0])
        subprocess.run([sys.executable, "-m", "service", "db", "upgrade"], env=env, check=True,
                       cwd=tmp, stdout=subprocess.DEVNULL)  # fmt: skip
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        light(tmp, codes, args.runs)
        if args.light_only:
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            return
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
