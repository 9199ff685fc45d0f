"""Ratings as codes: (item, rater, label) triples indexed into sorted items, raters, labels.

The one coding every agreement and reliability statistic starts from.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

Triple = tuple[Hashable, Hashable, Any]  # (item, rater, label); a None/NaN label is skipped


class Codes(NamedTuple):
    """Judgment triples as integer codes into the (sorted) items, raters and labels."""

    items: list[Hashable]
    raters: list[Hashable]
    labels: list[Any]
    item: np.ndarray
    rater: np.ndarray
    label: np.ndarray


def code_triples(triples: Iterable[Triple]) -> Codes:
    """Index (item, rater, label) triples, keeping a rater's last label on an item."""
    latest: dict[tuple[Hashable, Hashable], Any] = {}
    for item, rater, label in triples:
        if not is_missing(label):
            latest[(item, rater)] = label
    items = _ordered(item for item, _ in latest)
    raters = _ordered(rater for _, rater in latest)
    labels = _ordered(latest.values())
    codes = [index_of(items), index_of(raters), index_of(labels)]
    rows = [(codes[0][i], codes[1][r], codes[2][v]) for (i, r), v in latest.items()]
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return Codes(items, raters, labels, arr[:, 0], arr[:, 1], arr[:, 2])


def code_arrays(items: npt.ArrayLike, raters: npt.ArrayLike, labels: npt.ArrayLike) -> Codes:
    """Index parallel (item, rater, label) arrays like code_triples, without a Python loop.

    Labels must be numbers; NaN labels are skipped and a rater's last label on an item is kept.
    Items and raters may be any sortable NumPy values (e.g. integer ids).
    """
    item, rater = np.asarray(items), np.asarray(raters)
    label = np.asarray(labels, dtype=float)
    if not item.shape == rater.shape == label.shape or item.ndim != 1:
        raise ValueError("items, raters and labels must be 1-D arrays of one length")
    keep = np.isfinite(label)
    item, rater, label = item[keep], rater[keep], label[keep]
    item_values, item_code = np.unique(item, return_inverse=True)
    rater_values, rater_code = np.unique(rater, return_inverse=True)
    # The last of each (item, rater) pair wins, as in code_triples.
    pair = item_code.astype(np.int64) * max(len(rater_values), 1) + rater_code
    _, last_from_end = np.unique(pair[::-1], return_index=True)
    last = np.sort(len(pair) - 1 - last_from_end)
    item_code, rater_code, label = item_code[last], rater_code[last], label[last]
    label_values, label_code = np.unique(label, return_inverse=True)
    return Codes(
        item_values.tolist(),
        rater_values.tolist(),
        label_values.tolist(),
        item_code.astype(np.int64),
        rater_code.astype(np.int64),
        label_code.astype(np.int64),
    )


def label_counts(codes: Codes) -> np.ndarray:
    """Return the items × labels matrix of how many raters gave each label to each item."""
    shape = (len(codes.items), len(codes.labels))
    flat = np.bincount(codes.item * shape[1] + codes.label, minlength=shape[0] * shape[1])
    return flat.reshape(shape)


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _ordered(values: Iterable[Any]) -> list[Any]:
    unique = list(dict.fromkeys(values))
    try:
        return sorted(unique)
    except TypeError:  # mixed types: keep first-seen order
        return unique


def index_of(values: list[Any]) -> dict[Any, int]:
    return {v: i for i, v in enumerate(values)}
