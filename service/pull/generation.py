"""Generate candidate responses for a prompt set, then publish the prompts that have enough.

Each (prompt, generator, sample) is one Generation row, written as answers come
in, so a stopped or crashed run never pays for the same reply twice. A prompt
becomes an item (through ``import_items``, all or nothing) once it has at least
two good replies; failed generations stay listed until a retry run re-asks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session

from service import db
from service.models import Generation, Project, PullRun, RunStatus, Source, utcnow
from service.pull import chat_completions, fetch
from service.pull.context import Outcome, PullContext, key_from_env
from service.pull.prompt_sets import Prompt, load_prompts
from service.pull.publishing import Known, Published, publish, slots_of

STORE_EVERY = 25


@dataclass(frozen=True)
class Slot:
    """One reply wanted: a prompt, a generator, and which of its n samples."""

    prompt: Prompt
    generator: dict[str, Any]
    sample: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.prompt.id, self.generator["name"], self.sample)


def pull(ctx: PullContext, run: PullRun, source: Source, project: Project) -> Outcome:
    """Generate what is missing (and, on retry, what failed), then publish ready prompts."""
    config = source.config
    keys = {
        g["name"]: key_from_env(g["api_key_env"]) if g.get("api_key_env") else None
        for g in config["generators"]
    }
    prompts = load_prompts(ctx, config)
    known = _known(ctx, source)
    slots = [Slot(p, g, k) for p in prompts for g, k in slots_of(config["generators"])]
    todo = [s for s in slots if _wanted(known.get(s.key), s, retry=run.mode == "retry")]
    failures = _generate(ctx, run, source, todo, keys, known)
    touched = {s.prompt.id for s in todo}
    published = publish(
        ctx, source=source, project=project, prompts=prompts, known=known, touched=touched
    )
    return _outcome(len(prompts), len(slots), len(todo), failures, published)


def _known(ctx: PullContext, source: Source) -> dict[tuple[str, str, int], Known]:
    with Session(ctx.engine) as s:
        rows = s.execute(
            sa.select(
                Generation.prompt_id,
                Generation.generator,
                Generation.sample,
                Generation.id,
                Generation.status,
                Generation.prompt_hash,
            ).where(Generation.source_id == source.id)
        )
        return {(p, g, k): Known(i, st, h) for p, g, k, i, st, h in rows}


def _wanted(known: Known | None, slot: Slot, *, retry: bool) -> bool:
    if known is None or known.prompt_hash != slot.prompt.hash:
        return True
    return retry and known.status == "failed"


def _generate(
    ctx: PullContext,
    run: PullRun,
    source: Source,
    todo: list[Slot],
    keys: dict[str, str | None],
    known: dict[tuple[str, str, int], Known],
) -> list[dict[str, Any]]:
    """Ask for every slot in ``todo`` with bounded concurrency; return the failures."""
    config = source.config
    policy = fetch.RetryPolicy.from_config(config, whole_call=True)
    failures: list[dict[str, Any]] = []
    results: list[tuple[Slot, chat_completions.Candidate | fetch.FetchError]] = []

    def call(client: httpx.Client, slot: Slot) -> chat_completions.Candidate | fetch.FetchError:
        ctx.check_stop()
        try:
            candidate = chat_completions.complete(
                client,
                slot.generator,
                slot.prompt.messages,
                policy=policy,
                api_key=keys[slot.generator["name"]],
                allow_truncated=config["allow_truncated"],
                stop=ctx.stop,
            )
        except fetch.FetchError as exc:
            return exc
        if len(candidate.content) > ctx.max_chars:
            return fetch.FetchError(
                f"the reply has {len(candidate.content)} characters, over the limit of "
                f"{ctx.max_chars} (MAX_RESPONSE_CHARS)"
            )
        return candidate

    ctx.report("generate", 0, len(todo))
    with fetch.make_client() as client, ThreadPoolExecutor(config["concurrency"]) as pool:
        try:
            for done, (slot, result) in enumerate(
                _bounded(pool, lambda s: call(client, s), todo, config["concurrency"]), 1
            ):
                results.append((slot, result))
                if isinstance(result, fetch.FetchError):
                    failures.append({**_where(slot), "message": result.message})
                if len(results) >= STORE_EVERY:
                    _store(ctx, run, source, results, known)
                ctx.report("generate", done, len(todo))
        except BaseException:
            # Stopping (or Ctrl-C): waiting replies should not start, retry sleeps end now.
            ctx.stop.set()
            raise
        finally:
            # Keep every reply already paid for, even when the run is stopping.
            _store(ctx, run, source, results, known)
    return failures


def _bounded(
    pool: ThreadPoolExecutor, fn: Any, items: list[Slot], limit: int
) -> Iterator[tuple[Slot, Any]]:
    """Map ``fn`` over ``items`` with at most ``limit`` calls queued; yield as they finish."""
    pending: dict[Future[Any], Slot] = {}
    rest = iter(items)
    while True:
        for item in rest:
            pending[pool.submit(fn, item)] = item
            if len(pending) >= limit:
                break
        if not pending:
            return
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield pending.pop(future), future.result()


def _store(
    ctx: PullContext,
    run: PullRun,
    source: Source,
    results: list[tuple[Slot, chat_completions.Candidate | fetch.FetchError]],
    known: dict[tuple[str, str, int], Known],
) -> None:
    """Write finished slots (then forget them from ``results``), inserting or updating."""
    if not results:
        return
    now = utcnow()
    with db.write_session(ctx.engine) as s:
        for slot, result in results:
            ok = isinstance(result, chat_completions.Candidate)
            values = {
                "run_id": run.id,
                "prompt_hash": slot.prompt.hash,
                "status": "ok" if ok else "failed",
                "content": result.content if ok else None,
                "meta": {**result.meta, "sample": slot.sample} if ok else {},
                "error": "" if ok else result.message,
                "updated_at": now,
            }
            tries = result.meta["attempts"] if ok else result.attempts
            seen = known.get(slot.key)
            if seen is None:
                record = Generation(
                    source_id=source.id,
                    prompt_id=slot.prompt.id,
                    generator=slot.generator["name"],
                    sample=slot.sample,
                    attempts=tries,
                    **values,
                )
                s.add(record)
                s.flush()
                known[slot.key] = Known(record.id, values["status"], slot.prompt.hash)
            else:
                s.execute(
                    sa.update(Generation)
                    .where(Generation.id == seen.id)
                    .values(attempts=Generation.attempts + tries, **values)
                )
                seen.status, seen.prompt_hash = values["status"], slot.prompt.hash
    results.clear()


def _where(slot: Slot) -> dict[str, Any]:
    return {
        "line": slot.prompt.line,
        "prompt_id": slot.prompt.id,
        "generator": slot.generator["name"],
        "sample": slot.sample,
    }


def _outcome(
    prompts: int, slots: int, attempted: int, failures: list[dict[str, Any]], published: Published
) -> Outcome:
    ok = attempted - len(failures)
    summary = {
        "prompts": prompts,
        "generations": slots,
        "attempted": attempted,
        "ok": ok,
        "failed": len(failures),
        **published.summary,
    }
    errors = failures + published.notes
    if failures and not ok:
        status = RunStatus.FAILED
    elif failures or published.notes:
        status = RunStatus.PARTIAL
    elif not attempted and not (published.created or published.updated):
        status = RunStatus.UNCHANGED
    else:
        status = RunStatus.SUCCEEDED
    parts = []
    if failures:
        first = failures[0]
        parts.append(
            f"{len(failures)} of {attempted} generation(s) failed (first: {first['generator']} "
            f"on {first['prompt_id']}: {first['message']})"
        )
    if published.summary["waiting"]:
        parts.append(
            f"{published.summary['waiting']} prompt(s) wait for a second good response; "
            "retry the failed generations to fill them in"
        )
    if published.notes:
        parts.append(f"{len(published.notes)} item(s) not updated (see errors)")
    return Outcome(
        status=status.value,
        batch_id=published.batch_id,
        summary=summary,
        error="; ".join(parts),
        errors=errors,
    )
