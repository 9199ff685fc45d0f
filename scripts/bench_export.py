"""Benchmark the preference export: N judgments as dpo and raw, from SQLite and PostgreSQL.

    python scripts/bench_export.py --judgments 1000000 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:55432/postgres

A format written ``folder:dpo`` is the Hub-ready Parquet folder of that one format
(``rankroom export --to-folder``), timed from the same database beside JSON Lines.
``--repeat N`` runs the formats N times in turn (JSON Lines and the folder alternate, so
a change in the machine's load hits both); ``--sqlite PATH`` keeps the SQLite database
(made once, reused while its judgment count matches); ``--code DIR`` times another
checkout's exporter (e.g. main, for before and after) on the same database.

Builds a pairwise likert7 project (3 judgments per item, 2 responses each, about 8%
ties and 4% both-bad) with Core bulk inserts, then runs each export in a fresh
subprocess writing to /dev/null and prints rows/s and that process's peak RSS.
Numbers depend on the machine and its load: rerun before comparing.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

# The checkout whose code is timed (``--code``): the run-export subprocess gets it here.
ROOT = Path(os.environ.get("RANKROOM_BENCH_CODE") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(ROOT))

from service import db  # noqa: E402
from service.models import Item, Judgment, Project, Response, User  # noqa: E402
from service.rating.shown import shown_sha256  # noqa: E402

RATERS = 300
CHUNK = 20_000
WORDS = ["the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was", "on"]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def populate(url: str, judgments: int, seed: int = 1) -> None:
    """Create the schema and bulk-insert ``judgments`` judgments (3 per item)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    items = judgments // 3
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Project),
            [
                {
                    "slug": "bench",
                    "name": "Benchmark",
                    "description": "",
                    "mode": "pairwise",
                    "scale": "likert7",
                    "rubric": [],
                    "guidelines": "",
                    "guideline_version": 1,
                    "overlap": 3,
                    "status": "active",
                    "lease_minutes": 30,
                    "order_strategy": "complete-first",
                    "gold_rate": 0.0,
                    "qualification_items": 0,
                    "qualification_threshold": 0.8,
                    "skip_flag_threshold": 3,
                    "created_at": t0,
                    "updated_at": t0,
                }
            ],
        )
        conn.execute(
            sa.insert(User),
            [
                {
                    "username": f"rater{i}",
                    "display_name": f"Rater {i}",
                    "role": "rater",
                    "expertise": [rng.choice(["medicine", "law", "code"])],
                    "active": True,
                    "session_epoch": 0,
                    "created_at": t0,
                }
                for i in range(RATERS)
            ],
        )
    pid = 1
    prompts = [_text(rng, 40) for _ in range(500)]
    answers = [_text(rng, 90) for _ in range(1000)]
    jid = 0
    for start in range(0, items, CHUNK // 3):
        stop = min(items, start + CHUNK // 3)
        ids = range(start + 1, stop + 1)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(Item),
                [
                    {
                        "id": i,
                        "project_id": pid,
                        "external_id": f"item-{i}",
                        "prompt": f"{i}: {prompts[i % 500]}",
                        "messages": None,
                        "tags": [],
                        "expertise": [],
                        "meta": {},
                        "priority": 0,
                        "gold": None,
                        "is_gold": False,
                        "content_hash": f"{i:064d}",
                        "flagged": False,
                        "created_at": t0,
                        "updated_at": t0,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                sa.insert(Response),
                [
                    {
                        "item_id": i,
                        "external_id": r,
                        "position": k,
                        "model": f"model-{k}",
                        "content": answers[(i * 2 + k) % 1000],
                        "meta": {},
                    }
                    for i in ids
                    for k, r in enumerate("ab")
                ],
            )
            rows = []
            for i in ids:
                for rater in rng.sample(range(1, RATERS + 1), 3):
                    jid += 1
                    shown = ["a", "b"] if rng.random() < 0.5 else ["b", "a"]
                    value = rng.choices(range(1, 8), weights=[3, 5, 6, 2, 6, 5, 3])[0]
                    preferred = None if value == 4 else (shown[0] if value < 4 else shown[1])
                    rows.append(
                        {
                            "id": jid,
                            "client_id": uuid.UUID(int=jid).hex,
                            "project_id": pid,
                            "item_id": i,
                            "rater_id": rater,
                            "version": 1,
                            "mode": "pairwise",
                            "is_gold": False,
                            "shown_order": shown,
                            "verdict": {
                                "preferred": preferred,
                                "strength": abs(value - 4),
                                "scale_value": value,
                            },
                            "rubric": {"response": {}, "item": {}},
                            "both_bad": rng.random() < 0.04,
                            "flags": [],
                            "rationale": "",
                            "confidence": rng.randint(1, 5),
                            "active_ms": rng.randint(5_000, 90_000),
                            "guideline_version": 1,
                            "shown_sha256": shown_sha256(
                                prompt=f"{i}: {prompts[i % 500]}",
                                messages=None,
                                responses=[answers[(i * 2 + "ab".index(r)) % 1000] for r in shown],
                                guideline_version=1,
                            ),
                            "started_at": t0 + timedelta(seconds=jid),
                            "created_at": t0 + timedelta(seconds=jid + 30),
                        }
                    )
            conn.execute(sa.insert(Judgment), rows)
        print(f"  inserted {jid} judgments", end="\r", file=sys.stderr)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for table in ("item", "response", "judgment", '"user"', "project"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(file=sys.stderr)


def run_export(url: str, fmt: str) -> None:
    """Export once to /dev/null (or a folder); print rows, seconds and peak RSS (MB) as JSON."""
    from sqlmodel import Session

    try:
        from service.export.exporter import export_preferences
        from service.export.options import parse_options
    except ImportError:  # --code: a checkout from before export/exporter.py
        from service.export import export_preferences, parse_options

    engine = db.make_engine(url)
    started, cpu = time.perf_counter(), time.process_time()
    if fmt.startswith("folder:"):
        rows, judgments, size = _folder(engine, fmt.removeprefix("folder:"))
    else:
        options = parse_options({"format": fmt, "project": ["bench"]})
        with open(os.devnull, "wb") as sink, Session(engine) as session:
            summary = export_preferences(session=session, options=options, out=sink, secret_key="k")
        rows, judgments, size = summary.total_rows, summary.judgments_read, 0
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": rows,
                "judgments": judgments,
                "file_mb": round(size / 2**20, 1),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(cpu, 2),
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )


def _folder(engine: sa.Engine, fmt: str) -> tuple[int, int, int]:
    """Write the Parquet folder of one format into a scratch folder; return rows, judgments, bytes."""
    import shutil

    from sqlmodel import Session

    from service.export.folder import write_folder
    from service.export.folder_options import parse_folder_options

    options = parse_folder_options({"format": [fmt], "project": ["bench"]})
    scratch = Path(tempfile.mkdtemp(prefix="rr-bench-folder-"))
    try:
        with Session(engine) as session:
            result = write_folder(
                session=session, options=options, dest=scratch / "ds", secret_key="k"
            )
        size = sum(p.stat().st_size for p in (scratch / "ds").rglob("*.parquet"))
    finally:
        shutil.rmtree(scratch)
    rows = sum(f.rows for c in result.configs for f in c.files)
    return rows, sum(s.judgments_read for s in result.summaries), size


def _measure(url: str, fmt: str, code: Path = ROOT) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--run-export", fmt, "--url", url],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(code), "RANKROOM_BENCH_CODE": str(code)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _judgments_in(url: str) -> int:
    """Count the judgments of a kept SQLite database (0 if it has none yet)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM judgment").scalar_one()
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a fresh database is made)")
    parser.add_argument("--formats", default="dpo,folder:dpo,raw,folder:raw")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--sqlite", type=Path, help="keep the SQLite database here, reuse it")
    parser.add_argument("--repeat", type=int, default=1, help="run the formats N times in turn")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose exporter is timed")
    parser.add_argument("--run-export", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_export:
        run_export(args.url, args.run_export)
        return
    targets: list[tuple[str, str]] = []
    tmp = tempfile.mkdtemp(prefix="rr-bench-")
    admin = None
    name = f"rr_bench_{uuid.uuid4().hex[:8]}"
    if not args.skip_sqlite:
        path = args.sqlite.resolve() if args.sqlite else Path(tmp) / "bench.db"
        targets.append(("sqlite", f"sqlite:///{path}"))
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(args.postgres).set(database=name)
        targets.append(("postgresql", url.render_as_string(hide_password=False)))
    try:
        for label, url in targets:
            started = time.perf_counter()
            made = args.judgments // 3 * 3  # populate makes 3 per item
            if label == "sqlite" and args.sqlite and _judgments_in(url) == made:
                print(f"{label}: reusing {args.judgments} judgments in {args.sqlite}")
            else:
                if label == "sqlite" and args.sqlite:
                    args.sqlite.unlink(missing_ok=True)
                populate(url, args.judgments)
                print(
                    f"{label}: loaded {args.judgments} judgments "
                    f"in {time.perf_counter() - started:.0f}s"
                )
            print(f"load average {os.getloadavg()[0]:.2f} (1 min); code {args.code}")
            for _ in range(args.repeat):
                for fmt in args.formats.split(","):
                    r = _measure(url, fmt, args.code.resolve())
                    size = f"; {r['file_mb']:.0f} MB of Parquet" if r["file_mb"] else ""
                    print(
                        f"{label:10} {fmt:11} {r['rows']:>9} rows from {r['judgments']} "
                        f"judgments in {r['seconds']:6.2f}s = {r['rows'] / r['seconds']:>7,.0f} "
                        f"rows/s ({r['judgments'] / r['seconds']:,.0f} judgments/s); "
                        f"exporter CPU {r['cpu_seconds']:.2f}s = "
                        f"{r['rows'] / r['cpu_seconds']:,.0f} rows/CPU-s; "
                        f"peak RSS {r['peak_rss_mb']:.0f} MB{size}",
                        flush=True,
                    )
            print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        for f in Path(tmp).glob("*"):
            f.unlink()
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
