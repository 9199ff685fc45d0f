"""Settings: defaults here, then RANKROOM_* environment variables, then test overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Every setting, its default and what it does. The README's configuration table is
# generated from this dict and a test keeps the two in step.
SETTINGS: dict[str, tuple[Any, str]] = {
    "DATABASE_URL": (
        None,
        "SQLAlchemy URL. Default: SQLite file `rankroom.db` in the instance folder. "
        "PostgreSQL: `postgresql+psycopg://user:pass@host/db`.",
    ),
    "SECRET_KEY": (
        None,
        "Signs session cookies and keys rater pseudonyms. Default: a random key kept in "
        "`instance/secret_key` (created on first start).",
    ),
    "PROMPTS_DIR": (
        str(Path(__file__).resolve().parent.parent / "prompts"),
        "Folder of shipped prompt sets and project templates. Default: `prompts/` of the source tree.",
    ),
    "CHECK_SCHEMA": (
        True,
        "Refuse to start when the database schema is behind the code's migrations.",
    ),
    "MAX_CONTENT_LENGTH": (
        64 * 1024 * 1024,
        "Largest request body in bytes (imports included); larger bodies get 413.",
    ),
    "MAX_RESPONSE_CHARS": (
        200_000,
        "Longest prompt or response content accepted on import, in characters.",
    ),
    "IMAGES_DIR": (
        None,
        "Folder of imported images, one file per image named by its sha256, a folder per "
        "project. Default: `images/` in the instance folder.",
    ),
    "IMAGE_MAX_BYTES": (
        10 * 2**20,
        "Largest image accepted on import, in bytes (after decoding a data URI).",
    ),
    "IMPORT_MAX_LINE_BYTES": (
        16 * 2**20,
        "Longest line of a JSON Lines import or prompt set, in bytes (after gunzipping); "
        "a longer line refuses the batch at once, naming the line.",
    ),
    "IMPORT_MAX_BYTES": (
        4 * 2**30,
        "Most bytes one import or prompt set may hold after gunzipping (a gzip bomb stops "
        "here, naming the line reached).",
    ),
    "SESSION_IDLE_MINUTES": (
        120,
        "Browser sessions end after this many idle minutes.",
    ),
    "SECURE_COOKIES": (
        False,
        "Mark session cookies Secure (set true behind HTTPS).",
    ),
    "WORKERS": (
        0,
        "gunicorn worker processes started by `rankroom serve`; 0 picks one per core, "
        "which keeps latency tails short (see the assignment benchmark).",
    ),
    "THREADS": (
        1,
        "Threads per gunicorn worker; above 1, `rankroom serve` uses gthread workers with "
        "keep-alive connections (sync workers close each connection after one request).",
    ),
    "MAX_BODY_BYTES": (
        2 * 1024 * 1024,
        "Largest request body in bytes for everything but imports (those get "
        "MAX_CONTENT_LENGTH); larger bodies get 413.",
    ),
    "MAX_JSON_DEPTH": (32, "Deepest nesting of arrays and objects accepted in a JSON body."),
    "LOGIN_WINDOW_MINUTES": (15, "Window over which failed sign-ins are counted."),
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": (
        5,
        "Failed sign-ins to one account within the window before each further attempt "
        "waits (429), the wait doubling from LOGIN_FIRST_DELAY_SECONDS up to the window.",
    ),
    "LOGIN_FIRST_DELAY_SECONDS": (
        30,
        "The first wait once an account's free failures are used up.",
    ),
    "LOGIN_TRUSTED_DAYS": (
        30,
        "An address that signed in to an account within this many days counts only its own "
        "failures there: guesses from elsewhere never keep the account's owner out.",
    ),
    "LOGIN_MAX_FAILURES_PER_ADDRESS": (
        20,
        "Failed sign-ins from one address within the window before it is throttled (429).",
    ),
    "INVITE_DAYS": (7, "Days an invite link stays valid."),
    "PUBLIC_URL": (
        None,
        "Base URL people reach the service at, used in invite links "
        "(default: the URL of the request, or http://127.0.0.1:8000 from the CLI).",
    ),
    "PROXY_HOPS": (
        0,
        "Reverse proxies in front of the service; when set, the client address (used by "
        "sign-in throttling and the audit log) is read from X-Forwarded-For.",
    ),
    "PULL_MAX_BYTES": (
        2 * 1024**3,
        "Largest remote file or prompt set a pull downloads, in bytes.",
    ),
    "DATABASE_LOCK_SECONDS": (
        15,
        "How long a SQLite write waits for a lock held outside Rankroom's own writer queue "
        "(a backup, a nested write) before the request answers 503 with Retry-After; "
        "below gunicorn's 30 s worker timeout, so the rater gets an answer, not a killed worker.",
    ),
    "RETRY_AFTER_SECONDS": (
        5,
        "Retry-After sent with a 503 while the database is unreachable, locked or out of disk.",
    ),
    "READY_MIN_FREE_MB": (
        256,
        "`/readyz` fails when the disk holding the SQLite database (or the instance folder, "
        "on PostgreSQL) has less free space than this, in MiB.",
    ),
    "WORKER_POLL_SECONDS": (
        5.0,
        "How often an idle `rankroom worker` looks for due pulls.",
    ),
    "WORKER_STALE_SECONDS": (
        300.0,
        "A running pull whose worker has not reported for this long is handed to another worker.",
    ),
}


def defaults() -> dict[str, Any]:
    """Return the default value of every setting."""
    return {name: value for name, (value, _) in SETTINGS.items()}
