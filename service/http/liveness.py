"""Tell gunicorn that a worker busy with one long request is alive.

A sync worker reports to gunicorn's arbiter only between requests, so the arbiter kills
one whose request runs past its timeout (30 s), even while it streams a body. Work that
makes progress inside a request (a folder export) calls ``beat``; ``rankroom serve``
registers the worker's own report as the notifier. Outside gunicorn it does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# At most one report a second: each one touches a file.
INTERVAL_SECONDS = 1.0

_notify: Callable[[], None] | None = None
_last = 0.0


def set_notifier(notify: Callable[[], None] | None) -> None:
    """Report liveness through ``notify`` (gunicorn's ``worker.notify``) from now on."""
    global _notify
    _notify = notify


def beat() -> None:
    """Report that this worker is alive and working, at most once a second."""
    global _last
    if _notify is None:
        return
    now = time.monotonic()
    if now - _last >= INTERVAL_SECONDS:
        _last = now
        _notify()
