"""Outbound HTTP for pulls: one request with retries, backoff, a deadline and clear errors.

Everything a pull asks of the network goes through ``send``: 429 and 5xx answers,
refused connections, timeouts and connections cut mid-body are retried with
exponential backoff (honouring Retry-After); anything else fails at once with a
message that says what the server did.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")
USER_AGENT = "rankroom-pull/0.1"
_ERROR_SNIPPET = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try again."""

    timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    # True: ``timeout`` bounds the whole call (a model that trickles tokens forever
    # fails); False: it bounds connecting and each read (a big file may take long).
    whole_call: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, whole_call: bool = False) -> RetryPolicy:
        """Build the policy from a source config's timeout/retries/backoff/max_backoff."""
        return cls(
            timeout=float(config["timeout"]),
            retries=int(config["retries"]),
            backoff=float(config["backoff"]),
            max_backoff=float(config["max_backoff"]),
            whole_call=whole_call,
        )


@dataclass(frozen=True)
class Sent(Generic[T]):
    """What ``send`` got: the value read, how many tries it took, and the last try's seconds."""

    value: T
    attempts: int
    seconds: float


class FetchError(Exception):
    """A request that failed; ``retryable`` failures are worth trying again later."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.attempts = 1


@dataclass(frozen=True)
class Deadline:
    """When a whole call must be over (monotonic seconds), and the limit it came from."""

    at: float
    seconds: float

    def check(self) -> None:
        """Raise a retryable FetchError once the deadline has passed."""
        if time.monotonic() > self.at:
            raise FetchError(f"no complete answer within {self.seconds:g} s", retryable=True)


class Stopped(Exception):
    """The run was asked to stop (the worker is shutting down)."""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header (seconds, or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    failures: int,
    policy: RetryPolicy,
    retry_after: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Return the wait before the next try: exponential, half jittered, at least Retry-After."""
    ceiling = min(policy.max_backoff, policy.backoff * 2 ** (failures - 1))
    # "Equal jitter": half the delay is fixed, half random, so retrying clients spread out.
    delay = ceiling / 2 + jitter() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def make_client() -> httpx.Client:
    """Return an HTTP client for pulls (redirects followed, gzip accepted)."""
    return httpx.Client(follow_redirects=True, headers={"User-Agent": USER_AGENT})


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    read: Callable[[httpx.Response, Deadline | None], T],
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    stop: threading.Event | None = None,
) -> Sent[T]:
    """Send a request, retrying what is worth retrying; return what ``read`` made of it.

    ``read`` consumes a 2xx/3xx response as it streams, given the deadline of the
    whole call (None unless ``policy.whole_call``); it may raise FetchError itself.
    """
    failures = 0
    while True:
        started = time.monotonic()
        try:
            value = _once(client, method, url, policy, read, headers, json)
            return Sent(value, failures + 1, time.monotonic() - started)
        except FetchError as exc:
            failures += 1
            exc.attempts = failures
            if not exc.retryable or failures > policy.retries:
                if failures > 1:
                    exc.message = f"{exc.message} (gave up after {failures} attempts)"
                    exc.args = (exc.message,)
                raise
            if exc.retry_after is not None and exc.retry_after > policy.max_backoff:
                exc.message = (
                    f"{exc.message}; the server asked to wait {exc.retry_after:.0f} s, "
                    f"longer than max_backoff ({policy.max_backoff:g} s)"
                )
                exc.args = (exc.message,)
                raise
            delay = backoff_delay(failures, policy, exc.retry_after)
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise Stopped("stopped while waiting to retry") from exc


def _once(
    client: httpx.Client,
    method: str,
    url: str,
    policy: RetryPolicy,
    read: Callable[[httpx.Response, Deadline | None], T],
    headers: Mapping[str, str] | None,
    json: Any,
) -> T:
    deadline = (
        Deadline(time.monotonic() + policy.timeout, policy.timeout) if policy.whole_call else None
    )
    try:
        with client.stream(
            method, url, headers=headers, json=json, timeout=policy.timeout
        ) as response:
            status = response.status_code
            if status >= 400:
                raise _status_error(response, deadline)
            return read(response, deadline)
    except httpx.TimeoutException as exc:
        what = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "waiting")
        raise FetchError(
            f"timed out after {policy.timeout:g} s {what} ({_host(url)})", retryable=True
        ) from exc
    except httpx.ConnectError as exc:
        raise FetchError(f"could not connect to {_host(url)}: {exc}", retryable=True) from exc
    except httpx.RemoteProtocolError as exc:
        raise FetchError(
            f"{_host(url)} closed the connection before the full response arrived "
            f"(partial response: {exc})",
            retryable=True,
        ) from exc
    except httpx.DecodingError as exc:
        raise FetchError(f"could not decode the response body from {_host(url)}: {exc}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"network error talking to {_host(url)}: {exc}", retryable=True) from exc


def _status_error(response: httpx.Response, deadline: Deadline | None) -> FetchError:
    status = response.status_code
    try:
        snippet = read_capped(response, 4096, deadline)[:_ERROR_SNIPPET].decode("utf-8", "replace")
    except (FetchError, httpx.HTTPError):
        snippet = ""
    snippet = " ".join(snippet.split())
    retryable = status == 429 or status >= 500
    return FetchError(
        f"HTTP {status} {response.reason_phrase} from {_host(str(response.url))}"
        + (f": {snippet}" if snippet else ""),
        retryable=retryable,
        status=status,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")) if retryable else None,
    )


def read_capped(response: httpx.Response, limit: int, deadline: Deadline | None) -> bytes:
    """Read the whole (decoded) body, refusing one over ``limit`` bytes or past ``deadline``."""
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > limit:
            raise FetchError(f"response body larger than {limit} bytes")
        if deadline is not None:
            deadline.check()
    return bytes(buf)


def _host(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.host}{port}"
