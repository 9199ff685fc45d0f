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
    nulls = values.count(None)
    if nulls == len(values):
        import pyarrow as pa

        # A column null in every row of the batch (a raw export's rewrite, mostly).
        return pa.nulls(len(values), arrow_type)
    if isinstance(kind, list):
        return _list(kind[0], arrow_type, values, nulls)
    if isinstance(kind, dict):
        return _struct(kind, arrow_type, values, nulls)
    if kind == IMAGE:
        return _struct(IMAGE_STRUCT, arrow_type, values, nulls)
    if kind in (STRING, BINARY):
        return _text(arrow_type, values, nulls, binary=kind == BINARY)
    if kind == JSON:
        import pyarrow as pa

        return pa.ExtensionArray.from_storage(arrow_type, _text(pa.string(), values, nulls))
    if kind == INT:
        return _ints(arrow_type, values, nulls)
    if kind == FLOAT:
        return _floats(arrow_type, values, nulls)
    if kind == BOOL:
        return _bools(arrow_type, values, nulls)
    raise ValueError(f"no Arrow builder for {kind!r}")


def _validity(values: Sequence[Any], nulls: int) -> Any:
    """Return the validity bitmap of values with ``nulls`` nulls (None: no nulls)."""
    if not nulls:
        return None
    import numpy as np
    import pyarrow as pa

    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _offsets(lengths: Any, n: int, total: int) -> Any:
    """Return the offsets buffer of ``n`` values of these lengths, ``total`` in all."""
    import numpy as np
    import pyarrow as pa

    if total > MAX_OFFSET:
        raise Unfit("more than 2 GB in one column of one batch")
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    np.cumsum(np.fromiter(lengths, dtype=np.int32, count=n), out=offsets[1:])
    return pa.py_buffer(offsets)


def _text(arrow_type: Any, values: Sequence[Any], nulls: int, *, binary: bool = False) -> Any:
    import pyarrow as pa

    validity = _validity(values, nulls)
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
            if len(data) == len(joined):
                lengths = map(len, texts)
            else:
                lengths = map(len, map(str.encode, texts))
    except TypeError as exc:  # a value that is not a string
        kinds = sorted({type(v).__name__ for v in texts if not isinstance(v, type(empty))})
        raise Unfit(
            f"expected {'bytes' if binary else 'a string'}, got {', '.join(kinds)}"
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate is no UTF-8
        raise Unfit(f"a string that is not valid UTF-8: {exc}") from exc
    offsets = _offsets(lengths, len(texts), len(data))
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, offsets, pa.py_buffer(data)], null_count=nulls
    )


def _numbers(
    values: Sequence[Any], nulls: int, types: tuple[type, ...], dtype: Any, name: str
) -> Any:
    """Return the values as a numpy array (nulls as zero), refusing other types."""
    import numpy as np

    wrong = set(map(type, values)).difference(types, (type(None),))
    if wrong:
        raise Unfit(f"expected {name}, got {', '.join(sorted(t.__name__ for t in wrong))}")
    try:
        return np.array([0 if v is None else v for v in values] if nulls else values, dtype=dtype)
    except OverflowError as exc:
        raise Unfit(f"an integer beyond 64 bits: {exc}") from exc


def _ints(arrow_type: Any, values: Sequence[Any], nulls: int) -> Any:
    import numpy as np
    import pyarrow as pa

    validity = _validity(values, nulls)
    data = _numbers(values, nulls, (int,), np.int64, "an integer")
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, pa.py_buffer(data)], null_count=nulls
    )


def _floats(arrow_type: Any, values: Sequence[Any], nones: int) -> Any:
    import numpy as np
    import pyarrow as pa

    data = _numbers(values, nones, (float, int), np.float64, "a number")
    # NaN is null, as the JSON Lines export writes it (orjson); so is None.
    null = np.isnan(data)
    if nones:
        null |= np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    nulls = int(null.sum())
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, pa.py_buffer(data)], null_count=nulls
    )


def _bools(arrow_type: Any, values: Sequence[Any], nulls: int) -> Any:
    import numpy as np
    import pyarrow as pa

    validity = _validity(values, nulls)
    data = _numbers(values, nulls, (bool,), bool, "true or false")
    bits = pa.py_buffer(np.packbits(data, bitorder="little"))
    return pa.Array.from_buffers(arrow_type, len(values), [validity, bits], null_count=nulls)


def _list(item: Any, arrow_type: Any, values: Sequence[Any], nulls: int) -> Any:
    import pyarrow as pa

    validity = _validity(values, nulls)
    lists = [[] if v is None else v for v in values] if nulls else values
    wrong = set(map(type, lists)).difference((list,))
    if wrong:
        raise Unfit(f"expected a list, got {', '.join(sorted(t.__name__ for t in wrong))}")
    flat = list(chain.from_iterable(lists))
    offsets = _offsets(map(len, lists), len(lists), len(flat))
    child = build(item, arrow_type.value_type, flat)
    return pa.Array.from_buffers(
        arrow_type, len(values), [validity, offsets], null_count=nulls, children=[child]
    )


def _struct(kind: dict[str, Any], arrow_type: Any, values: Sequence[Any], nulls: int) -> Any:
    import pyarrow as pa

    validity = _validity(values, nulls)
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
