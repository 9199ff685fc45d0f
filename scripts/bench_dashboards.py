"""Time every stats endpoint, cold and cached, on a big synthetic campaign.

Bulk-inserts (SQLAlchemy Core) 100,000 pairwise judgments over 20,000 items by 200 raters,
with a two-dimension likert rubric, spread over 30 days; then asks each
/api/v1/projects/<slug>/stats/<name> through the Flask test client with an admin token,
once cold (cache emptied) and once cached. Run from the repository root:
``python scripts/bench_dashboards.py`` (``--help`` for options; ``--database-url`` for
PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import create_app, db  # noqa: E402
from service.accounts import users  # noqa: E402
from service.dashboards.cache import cache_in  # noqa: E402
from service.models import Assignment, Item, Judgment, Project, Response, User  # noqa: E402
from service.rating.shown import shown_sha256  # noqa: E402

RUBRIC = [
    {
        "name": "correctness",
        "label": "Correctness",
        "scope": "response",
        "kind": "likert",
        "points": 5,
    },
    {"name": "clarity", "label": "Clarity", "scope": "response", "kind": "likert", "points": 5},
]
REPORTS = ("progress", "agreement", "kappa", "raters", "items", "cost", "leaderboard")


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(table), rows[start : start + 5000])


def seed(engine: sa.Engine, items: int, raters: int, per_item: int, models: int, seed: int) -> str:
    """Bulk-insert the campaign; return its slug."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    strength = rng.normal(0, 0.7, size=models)
    skill = rng.uniform(0.3, 1.5, size=raters)
    left_bias = rng.normal(0, 0.2, size=raters)
    speed = rng.lognormal(4, 0.5, size=raters)  # seconds per item
    with engine.begin() as conn:
        project_id = conn.execute(
            sa.insert(Project.__table__).returning(Project.__table__.c.id),
            [
                dict(
                    slug="bench",
                    name="Benchmark",
                    mode="pairwise",
                    scale="ternary",
                    rubric=RUBRIC,
                    overlap=per_item,
                    created_at=now,
                    updated_at=now,
                    **_project_defaults(),
                )
            ],
        ).scalar_one()
        user_rows = [
            dict(
                username=f"bench-rater-{r}",
                display_name=f"Rater {r}",
                role="rater",
                expertise=[["medicine", "law", "coding"][r % 3]],
                active=True,
                session_epoch=0,
                hourly_rate=float(60 + r % 5 * 20) if r % 4 else None,
                created_at=now,
            )
            for r in range(raters)
        ]
        _insert(conn, User.__table__, user_rows)
        user_ids = np.array(
            conn.execute(
                sa.select(User.id).where(User.username.like("bench-rater-%")).order_by(User.id)
            )
            .scalars()
            .all()
        )
        item_rows = [
            dict(
                project_id=project_id,
                external_id=f"i{k}",
                prompt=f"Question {k}?",
                tags=[["a", "b"][k % 2]],
                expertise=[],
                meta={},
                priority=0,
                is_gold=False,
                content_hash=f"{k:064d}",
                flagged=False,
                created_at=now,
                updated_at=now,
                gold=None,
            )
            for k in range(items)
        ]
        _insert(conn, Item.__table__, item_rows)
        item_ids = np.array(
            conn.execute(sa.select(Item.id).where(Item.project_id == project_id).order_by(Item.id))
            .scalars()
            .all()
        )
        pairs = np.array([rng.choice(models, size=2, replace=False) for _ in range(items)])
        response_rows = [
            dict(
                item_id=int(item_ids[k]),
                external_id=rid,
                position=p,
                model=f"model-{pairs[k, p]}",
                content=f"Answer {rid} to {k}.",
                meta={},
            )
            for k in range(items)
            for p, rid in enumerate(("a", "b"))
        ]
        _insert(conn, Response.__table__, response_rows)
        who = np.array([rng.choice(raters, size=per_item, replace=False) for _ in range(items)])
        flip = rng.random(who.shape) < 0.5  # which response is shown on the left
        gap = (strength[pairs[:, 0]] - strength[pairs[:, 1]])[:, None]
        gap_shown = np.where(flip, -gap, gap)
        p_left = 1 / (1 + np.exp(-(skill[who] * gap_shown + left_bias[who])))
        tie = rng.random(who.shape) < 0.15
        left_wins = rng.random(who.shape) < p_left
        when = now - timedelta(days=30) + timedelta(days=30) * rng.random(who.shape)
        seconds = speed[who] * rng.lognormal(0, 0.4, size=who.shape)
        lease_rows, judgment_rows = [], []
        for k in range(items):
            for s in range(per_item):
                shown = ["b", "a"] if flip[k, s] else ["a", "b"]
                preferred = None if tie[k, s] else shown[0] if left_wins[k, s] else shown[1]
                score = {"a": 3 + int(np.sign(gap[k, 0])), "b": 3 - int(np.sign(gap[k, 0]))}
                noise = rng.integers(-1, 2, size=2)
                rubric = {
                    "response": {
                        rid: {
                            "correctness": int(np.clip(score[rid] + noise[i], 1, 5)),
                            "clarity": int(np.clip(score[rid] - noise[i], 1, 5)),
                        }
                        for i, rid in enumerate(("a", "b"))
                    },
                    "item": {},
                }
                rater = int(user_ids[who[k, s]])
                created = when[k, s]
                lease_rows.append(
                    dict(
                        project_id=project_id,
                        item_id=int(item_ids[k]),
                        rater_id=rater,
                        status="submitted",
                        is_gold=False,
                        shown_order=shown,
                        created_at=created - timedelta(seconds=float(seconds[k, s])),
                        expires_at=created + timedelta(minutes=30),
                        finished_at=created,
                    )
                )
                judgment_rows.append(
                    dict(
                        client_id=f"b{k}-{s}",
                        project_id=project_id,
                        item_id=int(item_ids[k]),
                        rater_id=rater,
                        version=1,
                        mode="pairwise",
                        is_gold=False,
                        shown_order=shown,
                        verdict={"preferred": preferred, "strength": None, "scale_value": None},
                        rubric=rubric,
                        both_bad=False,
                        flags=[],
                        rationale="",
                        confidence=None,
                        active_ms=int(seconds[k, s] * 1000),
                        guideline_version=1,
                        shown_sha256=shown_sha256(
                            prompt=f"Question {k}?",
                            messages=None,
                            responses=[f"Answer {rid} to {k}." for rid in shown],
                            guideline_version=1,
                        ),
                        created_at=created,
                    )
                )
        _insert(conn, Assignment.__table__, lease_rows)
        _insert(conn, Judgment.__table__, judgment_rows)
    return "bench"


def _project_defaults() -> dict[str, Any]:
    return dict(
        description="",
        guidelines="",
        guideline_version=1,
        status="active",
        lease_minutes=30,
        order_strategy="complete-first",
        gold_rate=0.0,
        qualification_items=0,
        qualification_threshold=0.8,
        skip_flag_threshold=3,
    )


def _server_cpu(conn: sa.Connection) -> float:
    """Return the CPU seconds the database server spent on this database's connections.

    PostgreSQL only, and only when it runs on this machine: user + system time of the backend
    processes serving this database, read from /proc (0.0 elsewhere; SQLite runs in-process,
    so its time is already in this process's CPU time).
    """
    if conn.dialect.name != "postgresql":
        return 0.0
    pids = conn.exec_driver_sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    ).scalars()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        total += int(fields[11]) + int(fields[12])  # utime, stime (after pid, comm)
    return total / os.sysconf("SC_CLK_TCK")


def _timed(client: Any, url: str, headers: dict[str, str], engine: sa.Engine) -> tuple[float, ...]:
    """Return (wall, this process's CPU, database server CPU) seconds of one request."""
    with engine.connect() as probe:
        server = _server_cpu(probe)
        cpu, wall = time.process_time(), time.perf_counter()
        response = client.get(url, headers=headers)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server = _server_cpu(probe) - server
    assert response.status_code == 200, response.get_json()
    json.loads(response.data)  # valid JSON (no NaN)
    return wall, cpu, server, len(response.data)


def main() -> None:
    """Seed the campaign (unless reused), then time every report cold and cached."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="database to use (default: a temporary SQLite file)")
    parser.add_argument("--items", type=int, default=20_000, help="items (default 20000)")
    parser.add_argument("--raters", type=int, default=200, help="raters (default 200)")
    parser.add_argument("--per-item", type=int, default=5, help="raters per item (default 5)")
    parser.add_argument("--models", type=int, default=12, help="models compared (default 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the synthetic data")
    parser.add_argument(
        "--reuse", action="store_true", help="time the campaign already in the database, if any"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="cold runs per report; the fastest is shown"
    )
    parser.add_argument("--only", nargs="+", choices=REPORTS, help="time only these reports")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CHECK_SCHEMA": False})
    engine = db.engine_of(app)
    db.upgrade(engine)
    with engine.connect() as conn:
        seeded = conn.execute(sa.select(Project.id).where(Project.slug == "bench")).first()
    if seeded and not args.reuse:
        parser.error("the database already holds the benchmark: pass --reuse, or a fresh database")
    if not seeded:
        start = time.perf_counter()
        seed(engine, args.items, args.raters, args.per_item, args.models, args.seed)
        with engine.begin() as conn:
            # Fresh statistics after a bulk load, as PostgreSQL's autovacuum and SQLite's
            # "PRAGMA optimize" provide in service; without them SQLite walks the judgments
            # through an index in creation order instead of scanning the table.
            conn.exec_driver_sql("ANALYZE")
        n = args.items * args.per_item
        print(
            f"seeded {n} judgments, {args.items} items, {args.raters} raters on "
            f"{engine.dialect.name} in {time.perf_counter() - start:.1f} s\n"
        )
    with app.app_context(), db.write_session() as s:
        admin = users.create_user(
            session=s, username=f"bench-admin-{uuid.uuid4().hex[:8]}", role="admin"
        )
        _, secret = users.create_token(session=s, user=admin, scopes=["stats"])
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    # Wall time is what an admin waits. CPU time is what the machine spent, and stays
    # meaningful when other work shares the cores: this process's (Flask, NumPy and, on
    # SQLite, the database too) and, on a local PostgreSQL, the server's.
    print(
        f"{'endpoint':<12} {'cold wall':>10} {'cold cpu':>9} {'db cpu':>7}"
        f" {'cached wall':>12} {'cached cpu':>11} {'bytes':>9}"
    )
    for name in args.only or REPORTS:
        url = f"/api/v1/projects/bench/stats/{name}"
        cold = []
        for _ in range(max(args.repeat, 1)):
            cache_in(app.extensions).clear()
            cold.append(_timed(client, url, headers, engine))
        wall, cpu, server, size = min(cold)
        cached_wall, cached_cpu, _, _ = _timed(client, url, headers, engine)
        print(
            f"{name:<12} {wall:>10.3f} {cpu:>9.3f} {server:>7.3f}"
            f" {cached_wall:>12.3f} {cached_cpu:>11.3f} {size:>9}"
        )


if __name__ == "__main__":
    main()
