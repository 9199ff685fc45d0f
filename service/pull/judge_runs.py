"""A model judge's run as a job of the pull worker: the judge's endpoint, called for judging/.

Each judge owns a source of kind ``judge`` (judging/config.py), so its runs are queued,
claimed, kept alive and taken over like any pull. This module gives the runner
(``judging.runner.run_judge``) its HTTP call: one chat-completions request per attempt,
through the same client, timeouts and reply parsing as generation (chat_completions.py),
with no retries of its own, because the runner records and retries every attempt itself.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlmodel import Session

from service.judging.lease import Holder
from service.judging.runner import Caller, CallFailed, Reply, Result, run_judge
from service.models import Judge, Project, PullRun, RunStatus, Source
from service.pull import chat_completions, fetch
from service.pull.context import Outcome, PullContext, key_from_env


def pull(ctx: PullContext, run: PullRun, source: Source, project: Project) -> Outcome:
    """Run the source's judge over every request of its project that has no verdict yet."""
    with Session(ctx.engine) as s:
        judge = s.get(Judge, source.config["judge_id"])
        config, active = dict(judge.config), judge.active
    if not active:
        return Outcome(RunStatus.UNCHANGED.value, error="the judge was removed; nothing asked")
    key = key_from_env(config["api_key_env"]) if config.get("api_key_env") else None
    policy = fetch.RetryPolicy(timeout=config["timeout"], retries=0, whole_call=True)
    backoff = fetch.RetryPolicy(backoff=config["backoff"], max_backoff=config["max_backoff"])
    with fetch.make_client() as client:
        caller = Caller(
            call=lambda body: _call(client, config["url"], body, policy, key),
            delay=lambda failures, after: fetch.backoff_delay(failures, backoff, after),
            stop=ctx.stop,
        )
        result = run_judge(
            ctx.engine,
            judge.id,
            caller=caller,
            prompts_dir=ctx.prompts_dir,
            holder=Holder(run.id, ctx.worker_id),
            report=ctx.report,
        )
    # Stopped now (a second signal to the worker): the run goes back to the queue; what
    # was answered is stored, so the next run asks only the rest.
    ctx.check_stop()
    return outcome(result)


def _call(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    policy: fetch.RetryPolicy,
    key: str | None,
) -> Reply:
    # The key goes in the header of this request only; it never reaches logs or records.
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        sent = fetch.send(
            client,
            "POST",
            chat_completions.endpoint_url(url),
            policy=policy,
            read=_read,
            headers=headers,
            json=body,
        )
    except fetch.FetchError as exc:
        # Retry what may pass next time: timeouts, 429, 5xx, a cut connection; not a 4xx.
        retryable = exc.retryable or exc.status is None
        raise CallFailed(exc.message, retryable=retryable, retry_after=exc.retry_after) from None
    return sent.value


def _read(response: httpx.Response, deadline: fetch.Deadline | None) -> Reply:
    raw = fetch.read_capped(response, chat_completions.MAX_BODY_BYTES, deadline)
    refusal = _refusal(raw)
    if refusal is not None:
        return Reply(content=None, usage=refusal[1], refusal=refusal[0])
    reply = chat_completions.parse_reply(raw)
    return Reply(content=reply.content, usage=reply.usage, served_model=reply.served_model or "")


def _refusal(raw: bytes) -> tuple[str, dict[str, int]] | None:
    """Return (the refusal, usage) when the model refused (structured outputs' ``refusal``)."""
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
        refusal = message.get("refusal")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None
    if not isinstance(refusal, str) or not refusal:
        return None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return refusal, {
        k: usage[k] for k in chat_completions.USAGE_KEYS if isinstance(usage.get(k), int)
    }


def outcome(result: Result) -> Outcome:
    """Describe a judge's run: how many requests were judged, cached, failed, over budget."""
    summary = {
        "requests": result.requests,
        "cached": result.cached,
        "judged": result.judged,
        "failed": result.failed,
        "over_budget": result.over_budget,
        "lease_lost": result.lease_lost,
        "calls": result.calls,
        "tokens": result.tokens,
    }
    parts = []
    if result.failed:
        first = result.failures[0]
        parts.append(
            f"{result.failed} request(s) failed after every attempt (first: item "
            f"{first['item_id']}: {first['message']})"
        )
    if result.over_budget:
        parts.append(
            f"the project's judge token budget is spent: {result.over_budget} request(s) "
            "not sent (raise judge_token_budget to judge them)"
        )
    if result.lease_lost:
        parts.append(
            "this run lost its project's judge lease (its run was handed on, or the lease "
            f"could not be read): {result.lease_lost} request(s) not sent; run it again"
        )
    asked = result.judged + result.failed
    if asked and not result.judged:
        status = RunStatus.FAILED
    elif parts:
        status = RunStatus.PARTIAL
    elif not asked:
        status = RunStatus.UNCHANGED
    else:
        status = RunStatus.SUCCEEDED
    return Outcome(
        status=status.value, summary=summary, error="; ".join(parts), errors=result.failures
    )
