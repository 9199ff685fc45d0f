"""Measure a model judge over many pairs against a loopback fake endpoint; print the numbers.

    python scripts/bench_judges.py [--pairs 10000] [--concurrency 8] [--latency 0]
        [--database-url postgresql+psycopg://...] [--profile]

Imports --pairs pairwise items (a likert rubric dimension per response), attaches a judge
whose endpoint is a threaded fake OpenAI-compatible server in this process, then runs
``rankroom judge`` in a child process (the worker): every pair in both orders, so 2 x
--pairs calls. Prints pairs/s, calls/s and the worker's peak RSS, then runs it again
(every request cached: no call). --profile runs the judge in this process under cProfile
instead and prints where the main thread's time goes (building requests, storing,
waiting on the pool's HTTP calls). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app, db  # noqa: E402
from service.items import importing  # noqa: E402
from service.projects import projects  # noqa: E402
from tests.factories import item_row  # noqa: E402
from tests.judgekit import HELPFULNESS, JudgeServer, add_judge, prefers, run_judge  # noqa: E402

RUBRIC = [HELPFULNESS]


def _setup(url: str, pairs: int) -> tuple[object, object]:
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CHECK_SCHEMA": False})
    with app.app_context():
        db.upgrade(db.engine())
        with db.write_session() as s:
            project = projects.create_project(
                session=s,
                data={
                    "slug": "bench-judges",
                    "name": "Bench",
                    "mode": "pairwise",
                    "rubric": RUBRIC,
                },
            )
        start = time.perf_counter()
        rows = [item_row(f"p{i}", prompt=f"Question {i}: " + "words " * 40) for i in range(pairs)]
        result = importing.import_items(
            engine=db.engine(), project=project, rows=list(enumerate(rows, 1)), source="bench"
        )
        assert result.error_count == 0
        print(
            f"{'import ' + format(pairs, ',') + ' pairs':<44} {time.perf_counter() - start:8.2f} s"
        )
    return app, project


# The worker reports its own peak: ru_maxrss of a child counts the parent's pages it was
# forked with (Linux keeps the high-water mark across exec); VmHWM is the new program's.
_WORKER = (
    "import atexit, sys\n"
    "def peak():\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "    print(f'VmHWM {hwm}', file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = ['rankroom', 'judge', '--project', 'bench-judges']\n"
    "from service.cli import main\n"
    "main()\n"
)


def _child(url: str, tmp: Path) -> tuple[float, int, str]:
    """Run ``rankroom judge`` in a child process; return seconds, its peak RSS (kB), output."""
    env = {**os.environ, "RANKROOM_DATABASE_URL": url, "RANKROOM_INSTANCE_PATH": str(tmp)}
    env["PYTHONPATH"] = str(ROOT)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _WORKER], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    peak = [line for line in done.stderr.splitlines() if line.startswith("VmHWM")]
    return seconds, int(peak[-1].split()[1]), done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds the endpoint waits.")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rr-bench-judges-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    print(f"database: {url.split('@')[-1]}")
    app, project = _setup(url, args.pairs)
    answer = prefers("Answer 0")
    if args.latency:
        plain = answer

        def answer(body: dict) -> str:  # type: ignore[no-redef]
            time.sleep(args.latency)
            return plain(body)

    calls = 2 * args.pairs
    with JudgeServer(answer) as server:
        judge = add_judge(
            app, project, "bench", url=server.v1, model="m", template="pairwise",
            concurrency=args.concurrency, backoff=0.01,
        )  # fmt: skip
        if args.profile:
            profile = cProfile.Profile()
            start = time.perf_counter()
            profile.enable()
            run = run_judge(app, judge)
            profile.disable()
            seconds = time.perf_counter() - start
            print(f"in process: {run.status} {run.summary} in {seconds:.2f} s")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
            return
        seconds, rss, out = _child(url, tmp)
        print(out)
        assert len(server.requests) == calls, len(server.requests)
        print(
            f"{'judge ' + format(args.pairs, ',') + ' pairs (' + format(calls, ',') + ' calls)':<44}"
            f" {seconds:8.2f} s  {args.pairs / seconds:,.0f} pairs/s  {calls / seconds:,.0f} calls/s"
        )
        print(f"{'worker peak RSS':<44} {rss / 1024:8.1f} MiB")
        seconds, rss, out = _child(url, tmp)
        assert len(server.requests) == calls, "a cached run made calls"
        print(
            f"{'again, all cached (no call)':<44} {seconds:8.2f} s  peak RSS {rss / 1024:.1f} MiB"
        )


if __name__ == "__main__":
    main()
