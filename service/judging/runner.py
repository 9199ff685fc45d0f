"""Run a judge over its project: ask about every item in both orders, keep every attempt.

For each item (each pair unit of a pairwise item) the judge is asked twice: in the
order shown and reversed, so a verdict that flips with the order shows (consistency.py).
A request whose hash already has a verdict is not sent: a re-run costs nothing. Calls
go out with bounded concurrency; each is a ``JudgeAttempt`` (ok, or why not: not JSON,
a schema mismatch naming the field, a refusal, a timeout, an HTTP status), retried with
backoff up to the judge's ``max_attempts``. Only a checked answer becomes a
``JudgeVerdict``. Once the project's token budget is spent (the ``total_tokens`` the
endpoint reported, summed over every attempt of every judge) no call is sent.

The HTTP call itself is given by the caller (``Caller``: pull/judge_runs.py wraps
pull/chat_completions.py), so this package sits below the pull worker that runs it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import db
from service.judging import lease, prompts
from service.judging.answers import Answer, Unusable, read_answer
from service.models import Item, Judge, JudgeAttempt, JudgeVerdict, Mode, Project, Response, utcnow
from service.rating import judged, pairs, shown, slots, tool_view

# Items read (and their requests built) at a time: memory stays flat on a big project.
ITEM_CHUNK = 200
# Finished requests written per transaction.
STORE_EVERY = 50
# How often a run asks whether it still holds its project's lease (Budget).
LEASE_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Reply:
    """What the endpoint answered: the reply's text (or its refusal), tokens, model."""

    content: str | None
    usage: dict[str, int]
    served_model: str = ""
    refusal: str | None = None


class CallFailed(Exception):
    """A call that got no reply: timeout, HTTP status, connection; the reason is kept."""

    def __init__(self, reason: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


@dataclass(frozen=True)
class Caller:
    """How to reach the judge's endpoint: one call, and the wait before a retry."""

    call: Callable[[dict[str, Any]], Reply]
    delay: Callable[[int, float | None], float]
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Request:
    """One question to a judge: an item's responses in one order, and its cache key."""

    item_id: int
    shown_order: tuple[str, ...]
    body: dict[str, Any]
    sha256: str
    shown_sha256: str
    guideline_version: int
    # The item's content as it was read: a verdict is stored only if it still is.
    content_hash: str


@dataclass
class Tried:
    """Every attempt at one request, and the answer if one was usable."""

    request: Request
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (reason or "", tokens)
    answer: Answer | None = None
    reply: Reply | None = None
    skipped: bool = False  # not sent: the token budget was spent, or the lease lost
    lease_lost: bool = False


@dataclass
class Result:
    """What a run did: requests planned, cached, judged, failed, left for lack of budget."""

    requests: int = 0
    cached: int = 0
    judged: int = 0
    failed: int = 0
    over_budget: int = 0
    lease_lost: int = 0  # requests not sent: the run lost its project's lease
    calls: int = 0
    tokens: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


class Budget:
    """The project's token budget, shared by this run's threads.

    It is this run's only while the run holds the project's lease (lease.py): a worker
    that stopped beating has its run handed on, and a second run then spends the same
    budget. So ``still_held`` is asked again at most every LEASE_CHECK_SECONDS, and
    once the lease is lost (or cannot be read) no further call goes out.
    """

    def __init__(self, limit: int | None, spent: int, still_held: Callable[[], bool]) -> None:
        self.limit, self.spent, self.lock = limit, spent, threading.Lock()
        self.still_held = still_held
        self.checked = time.monotonic()
        self.lost = False

    def open(self) -> bool:
        """Tell whether another call may go out (calls in flight may overshoot by their own)."""
        with self.lock:
            if not self.lost and time.monotonic() - self.checked >= LEASE_CHECK_SECONDS:
                self.checked = time.monotonic()
                try:
                    self.lost = not self.still_held()
                except sa.exc.SQLAlchemyError:
                    self.lost = True  # unknown: calls another run may be paying for stop
            return not self.lost and (self.limit is None or self.spent < self.limit)

    def charge(self, tokens: int) -> None:
        with self.lock:
            self.spent += tokens


def orders(mode: str, ids: Sequence[str], project: Project) -> list[tuple[str, ...]]:
    """Return the orders an item is shown to a judge in: each as shown, then reversed."""
    if mode == Mode.PAIRWISE:
        shown_first = pairs.units(list(ids), project.pairs, project.pair_reference)
    else:
        shown_first = [tuple(ids)]
    out: list[tuple[str, ...]] = []
    for order in shown_first:
        out.append(tuple(order))
        if tuple(reversed(order)) != tuple(order):
            out.append(tuple(reversed(order)))
    return out


def _orders_of(project: Project, ids: list[str]) -> list[tuple[str, ...]]:
    """Return an item's orders, none when it cannot be judged (too few responses, say)."""
    if len(ids) < (1 if project.mode == Mode.RATING else 2):
        return []
    try:
        return orders(project.mode, ids, project)
    except ValueError:  # a reference pair set whose reference this item lacks
        return []


_ITEMS = sa.select(Item.id, Item.prompt, Item.messages, Item.tools, Item.content_hash)
_RESPONSES = sa.select(
    Response.item_id, Response.external_id, Response.content, Response.tool_turns
).order_by(Response.item_id, Response.position, Response.id)


def _items(session: Session, project: Project) -> Iterator[list[tuple[int, str, shown.Content]]]:
    """Yield the project's items (id, content hash, stored content), a chunk at a time."""
    ids = session.exec(select(Item.id).where(Item.project_id == project.id).order_by(Item.id)).all()
    for start in range(0, len(ids), ITEM_CHUNK):
        chunk = ids[start : start + ITEM_CHUNK]
        items = session.execute(_ITEMS.where(Item.id.in_(chunk)).order_by(Item.id)).all()
        texts: dict[int, dict[str, str]] = {i: {} for i in chunk}
        turns: dict[int, dict[str, Any]] = {i: {} for i in chunk}
        for item_id, rid, content, tool_turns in session.execute(
            _RESPONSES.where(Response.item_id.in_(chunk))
        ):
            texts[item_id][rid], turns[item_id][rid] = content, tool_turns
        yield [
            (
                i.id,
                i.content_hash,
                shown.Content(i.prompt, i.messages, texts[i.id], i.tools, turns[i.id]),
            )
            for i in items
        ]


def plan(
    *, session: Session, judge: Judge, project: Project, template: str, known: set[str]
) -> Iterator[tuple[int, list[Request]]]:
    """Yield, a chunk of items at a time, how many requests it holds and those not in ``known``.

    ``known`` holds the request hashes that have a verdict (the cache); the new ones are
    added to it.
    """
    requests = prompts.Requests(judge.config, project=project, template=template)
    version = project.guideline_version
    for chunk in _items(session, project):
        planned, batch = 0, []
        for item_id, content_hash, content in chunk:
            for order in _orders_of(project, list(content.texts)):
                planned += 1
                # What the rater would see: the item's tool call ids blinded too.
                view: dict[str, Any] = {
                    "messages": content.messages,
                    "responses": [{} for _ in order],
                }
                tool_view.blind(view, content.tools, [content.tool_turns.get(r) for r in order])
                message = requests.render(
                    prompt=content.prompt,
                    messages=view["messages"],
                    texts=[content.texts[rid] for rid in order],
                    tools=content.tools,
                    tool_turns=[r["tool_turns"] for r in view["responses"]],
                )
                body = requests.body(message, len(order))
                sha = prompts.request_sha256(item_id, body)
                if sha in known:
                    continue
                known.add(sha)
                digest = shown.of_content(content, order, version)
                batch.append(Request(item_id, order, body, sha, digest, version, content_hash))
        yield planned, batch


def ask(
    request: Request, *, project: Project, judge: Judge, caller: Caller, budget: Budget
) -> Tried:
    """Ask one request until an answer is usable or the judge's attempts are spent."""
    tried = Tried(request)
    limit = judge.config["max_attempts"]
    while len(tried.attempts) < limit and not caller.stop.is_set():
        if not budget.open():
            tried.skipped = not tried.attempts
            tried.lease_lost = budget.lost
            break
        retry_after = None
        try:
            reply = caller.call(request.body)
        except CallFailed as exc:
            tried.attempts.append((exc.reason, 0))
            if not exc.retryable:
                break
            retry_after = exc.retry_after
        else:
            tokens = int(reply.usage.get("total_tokens", 0))
            budget.charge(tokens)
            try:
                if reply.refusal is not None or reply.content is None:
                    raise Unusable(f"refusal: {reply.refusal or 'no reply content'}")
                answer = read_answer(
                    reply.content, project=project, shown_order=list(request.shown_order)
                )
            except Unusable as exc:
                tried.attempts.append((exc.reason, tokens))
            else:
                tried.attempts.append(("", tokens))
                tried.answer, tried.reply = answer, reply
                return tried
        if len(tried.attempts) < limit and caller.stop.wait(
            caller.delay(len(tried.attempts), retry_after)
        ):
            break
    return tried


def _bounded(
    pool: ThreadPoolExecutor, fn: Callable[[Request], Tried], items: Iterator[Request], limit: int
) -> Iterator[Tried]:
    """Map ``fn`` over ``items`` with at most ``limit`` in flight; yield as they finish."""
    pending: set[Future[Tried]] = set()
    for item in items:
        pending.add(pool.submit(fn, item))
        if len(pending) >= limit:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)
    for future in pending:
        yield future.result()


def run_judge(
    engine: sa.Engine,
    judge_id: int,
    *,
    caller: Caller,
    prompts_dir: str,
    holder: lease.Holder,
    report: Callable[[str, int, int | None], None] = lambda *_: None,
) -> Result:
    """Ask the judge every request of its project that has no verdict yet; store the outcome.

    The run first takes its project's lease (``lease.held``; Conflict if another judge
    run of the project holds it): the spent tokens read below then stay true while it runs.
    """
    with Session(engine) as s:
        project_id = s.get(Judge, judge_id).project_id

    def still_held() -> bool:
        with Session(engine) as s:
            return lease.holds(session=s, project_id=project_id, holder=holder)

    with lease.held(engine, project_id=project_id, judge_id=judge_id, holder=holder):
        return _run(
            engine,
            judge_id,
            caller=caller,
            prompts_dir=prompts_dir,
            report=report,
            still_held=still_held,
        )


def _run(
    engine: sa.Engine,
    judge_id: int,
    *,
    caller: Caller,
    prompts_dir: str,
    report: Callable[[str, int, int | None], None],
    still_held: Callable[[], bool],
) -> Result:
    with Session(engine, expire_on_commit=False) as s:
        judge = s.get(Judge, judge_id)
        project = s.get(Project, judge.project_id)
        done = set(
            s.exec(select(JudgeVerdict.request_sha256).where(JudgeVerdict.judge_id == judge_id))
        )
        spent = s.exec(
            select(sa.func.coalesce(sa.func.sum(JudgeAttempt.tokens), 0)).where(
                JudgeAttempt.project_id == project.id
            )
        ).one()
        budget = Budget(project.judge_token_budget, int(spent), still_held)
        template = prompts.template_text(judge.config, prompts_dir)
        result = Result()

        def todo() -> Iterator[Request]:
            for planned, batch in plan(
                session=s, judge=judge, project=project, template=template, known=done
            ):
                if caller.stop.is_set():
                    return  # stopping: what is stored stays, the rest waits for the next run
                result.requests += planned
                result.cached += planned - len(batch)
                yield from batch

        ask_one = lambda r: ask(r, project=project, judge=judge, caller=caller, budget=budget)  # noqa: E731
        finished: list[Tried] = []
        concurrency = judge.config["concurrency"]
        with ThreadPoolExecutor(concurrency) as pool:
            try:
                for tried in _bounded(pool, ask_one, todo(), concurrency):
                    finished.append(tried)
                    _count(result, tried)
                    if len(finished) >= STORE_EVERY:
                        _store(engine, judge, finished, result)
                    left = result.over_budget + result.lease_lost
                    report("judge", result.judged + result.failed + left, None)
            except BaseException:
                caller.stop.set()  # stopping: waiting calls should not start, sleeps end now
                raise
            finally:
                _store(engine, judge, finished, result)  # every reply paid for is kept
    return result


def _count(result: Result, tried: Tried) -> None:
    result.calls += len(tried.attempts)
    result.tokens += sum(tokens for _, tokens in tried.attempts)
    if tried.answer is not None:
        result.judged += 1
    elif tried.skipped and tried.lease_lost:
        result.lease_lost += 1
    elif tried.skipped:
        result.over_budget += 1
    elif tried.attempts:  # none: the run was stopped before this request went out
        _count_failure(result, tried)


def _count_failure(result: Result, tried: Tried) -> None:
    result.failed += 1
    result.failures.append(
        {
            "item_id": tried.request.item_id,
            "shown_order": list(tried.request.shown_order),
            "message": tried.attempts[-1][0],
        }
    )


def _store(engine: sa.Engine, judge: Judge, finished: list[Tried], result: Result) -> None:
    """Write the attempts and verdicts of finished requests (then forget them).

    One multi-row insert each: a verdict per row through the ORM cost more than the call
    that made it. Another worker may have stored one of these requests meanwhile (the
    cache key is unique per judge): those found are skipped; one stored in between makes
    the batch go again one verdict at a time.
    """
    if not finished:
        return
    now = utcnow()
    with db.write_session(engine) as s:
        for tried in _drop_stale(s, finished):
            result.judged -= 1
            _count_failure(result, tried)
        answered = [t for t in finished if t.answer is not None]
        hashes = [t.request.sha256 for t in answered]
        taken = set(
            s.exec(
                select(JudgeVerdict.request_sha256).where(
                    JudgeVerdict.judge_id == judge.id, JudgeVerdict.request_sha256.in_(hashes)
                )
            )
        )
        rows = [_verdict_row(judge, t, now) for t in answered if t.request.sha256 not in taken]
        try:
            with s.begin_nested():
                ids = _insert_verdicts(s, rows)
        except sa.exc.IntegrityError:
            ids = {}
            for row in rows:
                with contextlib.suppress(sa.exc.IntegrityError), s.begin_nested():
                    ids |= _insert_verdicts(s, [row])
        attempts = [a for t in finished for a in _attempt_rows(judge, t, ids, now)]
        if attempts:  # none when the budget kept every request from going out
            s.execute(sa.insert(JudgeAttempt.__table__), attempts)
        if ids:
            # Triage and budget mode act in this transaction, whatever the settings read
            # now: after_verdicts reads them under the item's slot lock, so a switch that
            # commits first is seen. Items in id order: two runs lock alike.
            project = s.get(Project, judge.project_id)
            stored = {r["item_id"] for r in rows if r["request_sha256"] in ids}
            for item_id in sorted(stored):
                judged.after_verdicts(session=s, project=project, item_id=item_id)
    finished.clear()


STALE = "the item's content changed while it was judged; the next run asks again"


def _drop_stale(s: Session, finished: list[Tried]) -> list[Tried]:
    """Keep no answer about content the item no longer has (an import updated it).

    The items' slot rows are locked first, in item order, as an import that updates an
    item locks them (``leases.end_item_leases``) before it looks for verdicts: so either
    that import committed and the content read next is its new one, or it waits for this
    transaction and then finds these verdicts and refuses. (``after_verdicts`` locks the
    same rows again later; taking them here first keeps the one lock order.)
    """
    ids = sorted({t.request.item_id for t in finished if t.answer is not None})
    if not ids:
        return []
    s.execute(
        sa.select(slots.SLOTS.c.item_id)
        .where(slots.SLOTS.c.item_id.in_(ids))
        .order_by(slots.SLOTS.c.item_id)
        .with_for_update()
    ).all()
    now = dict(s.execute(sa.select(Item.id, Item.content_hash).where(Item.id.in_(ids))).all())
    stale = [
        t
        for t in finished
        if t.answer is not None and now.get(t.request.item_id) != t.request.content_hash
    ]
    for t in stale:
        t.answer = None
        t.attempts[-1] = (STALE, t.attempts[-1][1])
    return stale


def _insert_verdicts(s: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    if not rows:
        return {}
    table = JudgeVerdict.__table__
    stored = s.execute(sa.insert(table).returning(table.c.id, table.c.request_sha256), rows)
    return {sha: vid for vid, sha in stored}


def _verdict_row(judge: Judge, tried: Tried, now: Any) -> dict[str, Any]:
    request, answer, reply = tried.request, tried.answer, tried.reply
    assert answer is not None and reply is not None
    return {
        "project_id": judge.project_id,
        "item_id": request.item_id,
        "judge_id": judge.id,
        "shown_order": list(request.shown_order),
        "verdict": answer.verdict,
        "rubric": answer.rubric,
        "rationale": answer.rationale,
        "guideline_version": request.guideline_version,
        "shown_sha256": request.shown_sha256,
        "request_sha256": request.sha256,
        "served_model": (reply.served_model or "")[:200],
        "usage": reply.usage,
        "created_at": now,
    }


def _attempt_rows(
    judge: Judge, tried: Tried, verdict_ids: dict[str, int], now: Any
) -> Iterator[dict[str, Any]]:
    request = tried.request
    for n, (reason, tokens) in enumerate(tried.attempts, 1):
        ok = reason == "" and n == len(tried.attempts) and tried.answer is not None
        yield {
            "project_id": judge.project_id,
            "judge_id": judge.id,
            "item_id": request.item_id,
            "shown_order": list(request.shown_order),
            "request_sha256": request.sha256,
            "ok": ok,
            "reason": reason,
            "tokens": tokens,
            "verdict_id": verdict_ids.get(request.sha256) if ok else None,
            "created_at": now,
        }
