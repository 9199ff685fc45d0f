"""A gzip bomb through the CLI import and a folder pull: time to refusal and peak memory.

Builds a gzip file holding one valid line and then a single line of ``--line-gib`` GiB
(about 2 MiB compressed for 2 GiB), then runs, each in its own process as users do:
``rankroom import FILE`` and ``rankroom pull`` of a folder source holding the file.
Prints each one's exit code, wall time, peak RSS and message, and the pull run's
stored status (it must end "failed", never stay "running").

Run from the repository root: ``python scripts/bench_bomb.py`` (``--help``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(path: Path, gib: float) -> None:
    """Write the bomb: a good line, then ``gib`` GiB of one unterminated line."""
    chunk = b"a" * 2**24
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b'{"id": "ok", "prompt": "p", "responses": ["a", "b"]}\n')
        fh.write(b'{"id": "bomb", "prompt": "')
        for _ in range(int(gib * 2**30) // len(chunk)):
            fh.write(chunk)


def rankroom(env: dict[str, str], *args: str) -> tuple[int, float, float, str]:
    """Run one CLI command in its own process; return exit code, seconds, peak MiB, output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    # ru_maxrss of children is the largest child so far (KiB on Linux): each command
    # here runs after a smaller one, so a rise is this command's peak.
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return done.returncode, seconds, peak, (done.stdout + done.stderr).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--line-gib", type=float, default=2.0, help="Size of the one long line.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rankroom-bomb-") as name:
        tmp = Path(name)
        bomb = tmp / "bomb.jsonl.gz"
        start = time.perf_counter()
        build(bomb, args.line_gib)
        print(
            f"bomb: {args.line_gib} GiB line, {bomb.stat().st_size / 2**20:.1f} MiB gzip, "
            f"built in {time.perf_counter() - start:.1f} s"
        )
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            RANKROOM_DATABASE_URL=f"sqlite:///{tmp / 'bomb.db'}",
            RANKROOM_SECRET_KEY="bomb",
            RANKROOM_INSTANCE_PATH=str(tmp / "instance"),
        )
        drop = tmp / "drop"
        drop.mkdir()
        for setup in (
            ("db", "upgrade"),
            ("projects", "create", "bomb", "--from", "pairwise"),
            (
                "sources",
                "add",
                "drop",
                "--project",
                "bomb",
                "--kind",
                "folder",
                "--path",
                str(drop),
            ),
        ):
            code, _, _, out = rankroom(env, *setup)
            if code:
                raise SystemExit(f"set-up {' '.join(setup)} failed: {out}")
        code, seconds, peak, out = rankroom(env, "import", str(bomb), "--project", "bomb")
        print(f"import: exit {code} in {seconds:.2f} s, peak RSS {peak:.0f} MiB: {out[-200:]}")
        (drop / bomb.name).write_bytes(bomb.read_bytes())
        os.utime(drop / bomb.name, (0, 0))  # old enough to be picked up at once
        code, seconds, peak, out = rankroom(env, "pull", "drop")
        print(f"pull: exit {code} in {seconds:.2f} s, peak RSS {peak:.0f} MiB: {out[-200:]}")
        from sqlmodel import select

        from service import create_app, db
        from service.models import PullRun

        app = create_app({"DATABASE_URL": env["RANKROOM_DATABASE_URL"], "SECRET_KEY": "bomb"})
        with app.app_context(), db.write_session() as s:
            for run in s.exec(select(PullRun)).all():
                print(f"pull run {run.id}: {run.status}: {run.error}")
        db.engine_of(app).dispose()


if __name__ == "__main__":
    main()
