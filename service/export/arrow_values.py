"""Arrow arrays of export rows' values, built from their bytes.

pyarrow's own converter (``pa.array``) costs about as much per row as writing the row
as JSON and parsing it back, and its first call imports pandas (0.2 s of CPU). The rows
hold few kinds of values (the kinds of ``columns.py``), so each array is built here from
buffers: a text column is its strings joined and encoded once, with offsets from their
lengths; numbers go through numpy. Types are as strict as the JSON reader was: a value
of another type, or a key a struct lacks, is refused (``Unfit``), never coerced or dropped.

pyarrow and numpy are imported only when an array is built: light commands never load them.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

from service.export.columns import BOOL, FLOAT, IMAGE, INT, JSON, STRING

BINARY = "binary"  # an image's bytes
IMAGE_STRUCT = {"bytes": BINARY, "path": STRING}
# Offsets are 32-bit (Arrow's string and list types).
MAX_OFFSET = 2**31 - 1


class Unfit(ValueError):
    """A value does not fit its column's type."""


def build(kind: Any, arrow_type: Any, values: Sequence[Any]) -> Any:
    """Return the Arrow array of ``arrow_type`` holding ``values`` (None is null).

    ``kind`` is the column's kind in ``columns.py``; a JSON column's values are its
    objects' compact JSON text (or None).
    """
    if values.count(None) == len(values):
        import pyarrow as pa

        # A column null in every row of the batch (a raw export's rewrite, mostly).
        return pa.nulls(len(values), arrow_type)
    if isinstance(kind, list):
        return _list(kind[0], arrow_type, values)
    if isinstance(kind, dict):
        return _struct(kind, arrow_type, values)
    if kind == IMAGE:
        return _struct(IMAGE_STRUCT, arrow_type, values)
    if kind in (STRING, BINARY):
        return _text(arrow_type, values, binary=kind == BINARY)
    if kind == JSON:
        import pyarrow as pa

        return pa.ExtensionArray.from_storage(arrow_type, _text(pa.string(), values))
    if kind == INT:
        return _ints(arrow_type, values)
    if kind == FLOAT:
        return _floats(arrow_type, values)
    if kind == BOOL:
        return _bools(arrow_type, values)
    raise ValueError(f"no Arrow builder for {kind!r}")


def _validity(values: Sequence[Any]) -> tuple[Any, int]:
    """Return the validity bitmap (None: no nulls) and the count of nulls."""
    nulls = values.count(None)
    if not nulls:
        return None, 0
    import numpy as np
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


def _offsets(lengths: Any, n: int) -> Any:
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=n), out=offsets[1:])
    if offsets[-1] > MAX_OFFSET:
        raise Unfit("more than 2 GB in one column of one batch")
    return pa.py_buffer(offsets.astype(np.int32))


def _text(arrow_type: Any, values: Sequence[Any], *, binary: bool = False) -> Any:
    import pyarrow as pa

    validity, nulls = _validity(values)
    empty = b"" if binary else ""
    texts = [empty if v is None else v for v in values] if nulls else values
    try:
        if binary:
            data = b"".join(texts)
            lengths: Any = map(len, texts)
        else:
            joined = "".join(texts)
            data = joined.encode("utf-8")
            # One byte per character means all ASCII: the lengths are the strings' own.
            ascii_only = len(data) == len(joined)
            lengths = map(len, texts) if ascii_only else (len(t.encode("utf-8")) for t in texts)
    except TypeError as exc:  # a value that is not a string
        kinds = sorted({type(v).__name__ for v in texts if not isinstance(v, type(empty))})
        raise Unfit(
            f"expected {'bytes' if binary else 'a string'}, got {', '.join(kinds)}"
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate is no UTF-8
        raise Unfit(f"a string that is not valid UTF-8: {exc}") from exc
    offsets = _offsets(lengths, len(texts))
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, offsets, pa.py_buffer(data)], null_count=nulls
    )


def _numbers(values: Sequence[Any], types: tuple[type, ...], dtype: Any, name: str) -> Any:
    """Return the values as a numpy array (nulls as zero), refusing other types."""
    import numpy as np

    wrong = set(map(type, values)).difference(types, (type(None),))
    if wrong:
        raise Unfit(f"expected {name}, got {', '.join(sorted(t.__name__ for t in wrong))}")
    try:
        return np.array([0 if v is None else v for v in values], dtype=dtype)
    except OverflowError as exc:
        raise Unfit(f"an integer beyond 64 bits: {exc}") from exc


def _ints(arrow_type: Any, values: Sequence[Any]) -> Any:
    import numpy as np
    import pyarrow as pa

    validity, nulls = _validity(values)
    data = _numbers(values, (int,), np.int64, "an integer")
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, pa.py_buffer(data)], null_count=nulls
    )


def _floats(arrow_type: Any, values: Sequence[Any]) -> Any:
    import numpy as np
    import pyarrow as pa

    data = _numbers(values, (float, int), np.float64, "a number")
    # NaN is null, as the JSON Lines export writes it (orjson); so is None.
    null = np.isnan(data)
    null[[i for i, v in enumerate(values) if v is None]] = True
    nulls = int(null.sum())
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, pa.py_buffer(data)], null_count=nulls
    )


def _bools(arrow_type: Any, values: Sequence[Any]) -> Any:
    import numpy as np
    import pyarrow as pa

    validity, nulls = _validity(values)
    data = _numbers(values, (bool,), bool, "true or false")
    bits = pa.py_buffer(np.packbits(data, bitorder="little"))
    return pa.Array.from_buffers(arrow_type, len(values), [validity, bits], null_count=nulls)


def _list(item: Any, arrow_type: Any, values: Sequence[Any]) -> Any:
    import pyarrow as pa

    validity, nulls = _validity(values)
    lists = [[] if v is None else v for v in values] if nulls else values
    wrong = set(map(type, lists)).difference((list,))
    if wrong:
        raise Unfit(f"expected a list, got {', '.join(sorted(t.__name__ for t in wrong))}")
    flat = list(chain.from_iterable(lists))
    offsets = _offsets(map(len, lists), len(lists))
    child = build(item, arrow_type.value_type, flat)
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, offsets], null_count=nulls, children=[child]
    )


def _struct(kind: dict[str, Any], arrow_type: Any, values: Sequence[Any]) -> Any:
    import pyarrow as pa

    validity, nulls = _validity(values)
    fields = fields_of(values, tuple(kind))
    children = [
        build(sub, arrow_type.field(i).type, field)
        for i, (sub, field) in enumerate(zip(kind.values(), fields, strict=True))
    ]
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity], null_count=nulls, children=children
    )


def fields_of(objects: Sequence[Any], keys: tuple[str, ...]) -> list[Sequence[Any]]:
    """Return each key's values across ``objects`` (None where one lacks it or is None).

    Refuses a key not in ``keys`` and a value that is not an object.
    """
    if set(map(type, objects)) == {dict} and set(map(len, objects)) == {len(keys)}:
        # Every object has as many keys as the schema, so if each has all of them it has
        # no other: take them all at once (rows are built so), in C.
        try:
            if len(keys) == 1:
                return [list(map(itemgetter(keys[0]), objects))]
            return list(zip(*map(itemgetter(*keys), objects), strict=True))
        except KeyError:
            pass
    names = frozenset(keys)
    for o in objects:
        if o is None:
            continue
        if type(o) is not dict:
            raise Unfit(f"expected an object, got {type(o).__name__}")
        if not names.issuperset(o):
            raise Unfit(f"a key the schema lacks: {', '.join(sorted(set(o) - names))}")
    return [[None if o is None else o.get(k) for o in objects] for k in keys]
