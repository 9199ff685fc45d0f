"""The worker: claims with a database lock, schedules, stale takeover, processes, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.models import ImportBatch, PullRun, Source, utcnow
from service.projects import sources
from service.pull import context, runs, worker
from tests.factories import item_row
from tests.pullkit import FAST, ChatServer, FileServer, add_source, jsonl

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def files():
    with FileServer() as server:
        yield server


@pytest.fixture
def remote(app, make, files):
    """A remote source whose file is there, with one pull queued."""
    make.project(slug="work-p")
    files.files["/items.jsonl"] = jsonl([item_row("w1"), item_row("w2")])
    add_source(
        app,
        name="feed",
        project="work-p",
        kind="remote",
        config={"url": files.url + "/items.jsonl", **FAST},
    )
    with db.write_session() as s:
        return sources.enqueue_run(session=s, source=sources.get_source(session=s, name="feed"))


def _run(app, run_id):
    with Session(db.engine_of(app)) as s:
        return s.get(PullRun, run_id)


def test_one_of_many_racing_claimers_gets_the_job(app, remote):
    engine = db.engine_of(app)
    barrier = threading.Barrier(6)
    won: list[PullRun | None] = []

    def claim(n: int) -> None:
        barrier.wait()
        with db.write_session(engine) as s:
            won.append(worker.claim_next(session=s, worker_id=f"w{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in won if r is not None]
    assert len(won) == 6 and len(winners) == 1
    stored = _run(app, remote.id)
    assert (stored.status, stored.claimed_by, stored.attempts) == (
        "running",
        winners[0].claimed_by,
        1,
    )


def _worker_process(app, tmp_path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RANKROOM_DATABASE_URL": app.config["DATABASE_URL"],
        "RANKROOM_SECRET_KEY": "test-secret",
        "RANKROOM_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from service.cli import main; main()", "worker", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_worker_processes_run_one_job_once(app, tmp_path, files, remote):
    # The file answers slowly, so the second worker looks while the first is busy.
    files.script["/items.jsonl"].append(("delay", 0.5))
    procs = [_worker_process(app, tmp_path, "--once", "--poll", "0.05") for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    claimed = [out for out, _ in outputs if f"run {remote.id}: claimed" in out]
    assert len(claimed) == 1, outputs
    assert f"run {remote.id}: succeeded" in claimed[0]
    assert len(files.requests) == 1
    stored = _run(app, remote.id)
    assert (stored.status, stored.attempts) == ("succeeded", 1)
    with Session(db.engine_of(app)) as s:
        assert len(s.exec(select(ImportBatch)).all()) == 1


def test_sigterm_stops_an_idle_worker(app, tmp_path):
    proc = _worker_process(app, tmp_path, "--poll", "0.05")
    assert proc.stdout.readline().startswith("Worker ")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after 0 pull(s)" in out
    assert "Finishing the current pull, then stopping" in err


def test_sigterm_lets_the_current_pull_finish(app, make, tmp_path):
    with ChatServer() as chat:
        prompts = tmp_path / "p.jsonl"
        prompts.write_bytes(jsonl([{"id": "q1", "prompt": "Hi"}]))
        chat.then("m-a", ("delay", 1.0))
        make.project(slug="sig-p")
        gens = [{"name": n, "url": chat.v1, "model": f"m-{n}"} for n in ("a", "b")]
        add_source(app, name="gen", project="sig-p", kind="generation",
                   config={"prompts": str(prompts), "generators": gens, **FAST})  # fmt: skip
        with db.write_session() as s:
            run = sources.enqueue_run(session=s, source=sources.get_source(session=s, name="gen"))
        proc = _worker_process(app, tmp_path, "--poll", "0.05")
        assert proc.stdout.readline().startswith("Worker ")
        assert proc.stdout.readline().startswith(f"run {run.id}: claimed")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"run {run.id}: succeeded" in out and "stopped after 1 pull(s)" in out
    assert _run(app, run.id).status == "succeeded"


def test_a_stopped_pull_goes_back_to_the_queue(app, remote):
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    with db.write_session() as s:
        worker.claim_next(session=s, worker_id=ctx.worker_id)
    ctx.stop.set()
    released = runs.execute(ctx, remote.id)
    assert (released.status, released.claimed_by) == ("queued", None)


def test_due_sources_are_queued_once_per_interval(app, make, files):
    make.project(slug="sched-p")
    files.files["/items.jsonl"] = jsonl([item_row("s1")])
    source = add_source(
        app,
        name="hourly",
        project="sched-p",
        kind="remote",
        interval_minutes=60,
        config={"url": files.url + "/items.jsonl", **FAST},
    )
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    ran = worker.run_worker(ctx, stopping=threading.Event(), once=True, echo=lambda _: None)
    assert ran == 1
    with db.write_session() as s:
        assert sources.schedule_due(session=s) == []
        stored = s.get(Source, source.id)
        assert stored.last_status == "succeeded"
        assert timedelta(minutes=59) < stored.next_run_at - utcnow() <= timedelta(minutes=60)
        [run] = s.exec(select(PullRun)).all()
        assert (run.trigger, run.status) == ("schedule", "succeeded")


def test_a_dead_workers_run_is_taken_over(app, remote):
    stale = utcnow() - timedelta(hours=1)
    with db.write_session() as s:
        worker.claim_next(session=s, worker_id="dead-host:1")
        s.execute(sa.update(PullRun).values(heartbeat_at=stale))
    with db.write_session() as s:
        [requeued] = worker.requeue_stale(session=s, stale_seconds=300)
    assert (requeued.status, requeued.claimed_by, requeued.attempts) == ("queued", None, 1)


def test_a_run_whose_worker_keeps_dying_fails(app, remote):
    with db.write_session() as s:
        worker.claim_next(session=s, worker_id="dead-host:1")
        s.execute(
            sa.update(PullRun).values(
                heartbeat_at=utcnow() - timedelta(hours=1), attempts=worker.MAX_ATTEMPTS
            )
        )
    with db.write_session() as s:
        [failed] = worker.requeue_stale(session=s, stale_seconds=300)
    assert failed.status == "failed"
    assert failed.error == "the worker running it stopped responding (3 attempts)"


def test_a_late_worker_cannot_overwrite_a_taken_over_run(app, remote):
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    with db.write_session() as s:
        worker.claim_next(session=s, worker_id=ctx.worker_id)
        # Meanwhile it was declared dead and another worker holds it.
        s.execute(sa.update(PullRun).values(claimed_by="other-host:2"))
    finished = runs.execute(ctx, remote.id)
    assert (finished.status, finished.claimed_by) == ("running", "other-host:2")


def test_the_heartbeat_records_progress(app, remote):
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    ctx.stale_seconds = 0.5  # beats every 0.2 s
    with db.write_session() as s:
        worker.claim_next(session=s, worker_id=ctx.worker_id)
    ctx.report("download", 10, 100)
    beat = runs.Heartbeat(ctx, remote.id)
    beat.start()
    try:
        for _ in range(100):
            if _run(app, remote.id).progress:
                break
            threading.Event().wait(0.05)
    finally:
        beat.stop()
    assert _run(app, remote.id).progress == {"phase": "download", "done": 10, "total": 100}


def test_pull_retry_takes_over_a_queued_pull_as_a_retry(app, remote):
    with db.write_session() as s:
        source = sources.get_source(session=s, name="feed")
        run = worker.claim_source(session=s, source=source, worker_id="cli:1", mode="retry")
    assert (run.id, run.status, run.mode, run.claimed_by) == (
        remote.id,
        "running",
        "retry",
        "cli:1",
    )


def test_a_run_whose_process_died_fails_when_the_next_worker_starts(app, remote):
    # A process on this host claims the run and dies mid-run (as an out-of-memory kill does).
    claim = (
        "import sys; from service import create_app, db\nfrom service.pull import context, worker\n"
        "app = create_app({'DATABASE_URL': sys.argv[1], 'SECRET_KEY': 'x'})\n"
        "with app.app_context(), db.write_session() as s:\n"
        "    run = worker.claim_next(session=s, worker_id=context.worker_name())\n"
        "print(run.claimed_by)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", claim, app.config["DATABASE_URL"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(out.stdout.strip().split(":")[1])
    assert _run(app, remote.id).status == "running"
    ctx = context.from_config(engine=db.engine_of(app), config=app.config)
    lines: list[str] = []
    worker.run_worker(ctx, stopping=threading.Event(), once=True, echo=lines.append)
    run = _run(app, remote.id)
    assert run.status == "failed" and f"({dead_pid} on " in run.error
    assert "died mid-run" in run.error and any("failed, its worker process" in x for x in lines)
