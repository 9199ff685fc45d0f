"""What `/readyz` checks beyond a reachable database: that it can take writes now."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlalchemy as sa


def data_folder(engine: sa.Engine, instance_path: str) -> Path:
    """Return the folder whose disk holds the data: the SQLite file's, else the instance."""
    database = engine.url.database
    in_memory = not database or database == ":memory:" or database.startswith("file:")
    if engine.dialect.name == "sqlite" and not in_memory:
        return Path(database).resolve().parent
    return Path(instance_path)


def write_problems(engine: sa.Engine, *, instance_path: str, min_free_mb: float) -> list[str]:
    """Return why the database cannot take writes now (an empty list when it can).

    A judgment acknowledged by a replica that refuses writes, or by a disk about to
    fill, would be lost or refused: take the host out of rotation first.
    """
    problems = []
    folder = data_folder(engine, instance_path)
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < min_free_mb:
        problems.append(f"Free disk under {folder} is {free_mb:.0f} MiB (floor {min_free_mb} MiB).")
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        paths = [folder] + ([Path(database)] if Path(database).exists() else [])
        # access() answers EROFS for a read-only mount even to root.
        problems += [f"{p} is not writable." for p in paths if not os.access(p, os.W_OK)]
    else:
        with engine.connect() as conn:
            if conn.exec_driver_sql("SHOW transaction_read_only").scalar() != "off":
                problems.append("The database accepts no writes (read-only or a standby).")
    return problems
