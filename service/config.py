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
    "SESSION_IDLE_MINUTES": (
        120,
        "Browser sessions end after this many idle minutes.",
    ),
    "SECURE_COOKIES": (
        False,
        "Mark session cookies Secure (set true behind HTTPS).",
    ),
    "WORKERS": (2, "gunicorn worker processes started by `rankroom serve`."),
}


def defaults() -> dict[str, Any]:
    """Return the default value of every setting."""
    return {name: value for name, (value, _) in SETTINGS.items()}
