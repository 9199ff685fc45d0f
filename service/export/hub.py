"""The Hugging Face Hub side of a folder: the card's YAML front matter, and the upload.

The front matter is the part of ``README.md`` the Hub and ``datasets.load_dataset``
read: one config per format with its split files, each config's features and split
sizes, the license, task categories and tags. The card's body (how the data was made)
is ``export.card.render_card``'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import DomainError
from service.export.card import FileInfo
from service.export.columns import card_feature

# What a model trained on each format's rows does, as a Hub task category.
TASKS = {
    "dpo": "reinforcement-learning",
    "kto": "reinforcement-learning",
    "openai": "reinforcement-learning",
    "hh": "reinforcement-learning",
    "reward": "text-classification",  # a reward model is a one-label sequence classifier
    "ranking": "text-classification",
    "ratings": "text-classification",
    "votes": "text-classification",
    "sft": "text-generation",  # a rater's rewrite as the reply to imitate
}
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_./*<>+-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


@dataclass(frozen=True)
class Config:
    """One config of a folder: a format, its columns, and its files (one per split)."""

    format: str
    columns: dict[str, Any]
    files: Sequence[FileInfo]
    num_bytes: dict[str, int]  # Arrow bytes of each split, by split name


def front_matter(configs: Sequence[Config], license_id: str) -> str:
    """Return the README's YAML header (between ``---`` lines) for these configs."""
    largest = max((sum(f.rows for f in c.files) for c in configs), default=0)
    header: dict[str, Any] = {
        "license": license_id,
        "task_categories": sorted({TASKS[c.format] for c in configs if c.format in TASKS}),
        "tags": ["rlhf", "preference", "human-feedback", "rankroom"],
        "size_categories": [size_category(largest)],
        "configs": [
            {
                "config_name": c.format,
                **({"default": True} if i == 0 else {}),
                "data_files": [{"split": f.part, "path": f.name} for f in c.files],
            }
            for i, c in enumerate(configs)
        ],
        "dataset_info": [
            {
                "config_name": c.format,
                "features": [card_feature(n, k) for n, k in c.columns.items()],
                "splits": [
                    {"name": f.part, "num_bytes": c.num_bytes[f.part], "num_examples": f.rows}
                    for f in c.files
                ],
            }
            for c in configs
        ],
    }
    return "\n".join(["---", *_yaml(header, 0), "---"]) + "\n"


def size_category(rows: int) -> str:
    """Return the Hub's size category for a number of rows (``1K<n<10K`` ...)."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((name for bound, name in bounds if rows < bound), "n>100M")


def _yaml(value: Any, indent: int) -> list[str]:
    """Write dicts and lists as block YAML; strings are quoted unless plainly safe."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines += [f"{pad}{key}:", *_yaml(v, indent + 2)]
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}")
        return lines
    for v in value:
        if isinstance(v, (dict, list)) and v:
            inner = _yaml(v, indent + 2)
            lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
        else:
            lines.append(f"{pad}- {_scalar(v)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar


def require_client() -> None:
    """Refuse early, before any export work, when the ``hub`` extra is not installed."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError as exc:
        raise DomainError(
            "--push-to-hub needs huggingface_hub: pip install 'rankroom[hub]'."
        ) from exc


def push_folder(folder: Path, repo: str, token: str, *, public: bool = False) -> str:
    """Upload exactly this folder to the dataset repo ``repo``; return the commit's URL.

    A repo this creates is private unless ``public`` (an export may hold rater pseudonyms
    and expert text a team has not cleared). The repo then holds this folder only: files
    an earlier push left that this folder lacks are deleted in the same commit, so an
    older export (say, one with real usernames) does not linger beside the new one.
    The token is passed to the client only: never stored, logged or put in a message.
    """
    require_client()
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo, repo_type="dataset", exist_ok=True, private=not public)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo,
            repo_type="dataset",
            commit_message="Rankroom export",
            delete_patterns="*",
        )
    except Exception as exc:  # any network or Hub refusal: say what, without the token
        message = str(exc).replace(token, "***") if token else str(exc)
        raise DomainError(f"Upload to {repo} failed: {message}") from None
    return str(getattr(commit, "commit_url", commit))
