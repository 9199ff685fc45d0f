"""A longer schemathesis run over the whole OpenAPI document than the suite's bounded one.

Runs tests/test_api_fuzz.py (every operation, valid and invalid requests, then call
sequences over the links schemathesis infers) on SQLite, or on PostgreSQL when
RANKROOM_TEST_POSTGRES_URL is set, with more examples, and prints the operations
tried, the examples asked for each and the failures.

Run from the repository root: ``python scripts/fuzz_api.py [--examples N] [--sequences N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200, help="Examples per operation.")
    parser.add_argument("--sequences", type=int, default=15, help="Call sequences tried.")
    args = parser.parse_args()
    backend = "postgres" if os.environ.get("RANKROOM_TEST_POSTGRES_URL") else "sqlite"
    env = dict(
        os.environ,
        RANKROOM_FUZZ_EXAMPLES=str(args.examples),
        RANKROOM_FUZZ_SEQUENCES=str(args.sequences),
    )
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_api_fuzz.py",
            "-q",
            "-k",
            backend,
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    subtests = re.search(r"(\d+) subtests passed", tail)
    failed = re.search(r"(\d+) (?:subtests )?failed", tail)
    print(f"backend: {backend}")
    print(f"operations: {subtests.group(1) if subtests else '?'} passed one-call fuzzing")
    print(f"examples per operation: up to {args.examples}; call sequences: {args.sequences}")
    print(f"failures: {failed.group(1) if failed else 0}")
    print(f"time: {seconds:.0f} s; pytest: {tail}")
    if done.returncode:
        print(done.stdout[-4000:])
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
