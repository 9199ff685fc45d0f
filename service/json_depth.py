"""Refuse deeply nested JSON before parsing it.

Python's json parser recurses once per level: a hostile document raises RecursionError,
and on CPython 3.11 a RecursionError can leave the interpreter's AST recursion counter
off, breaking later, unrelated compiles. Counting the depth first avoids both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# Python converts at most 4300 digits to an int (CVE-2020-10735) and raises a bare
# ValueError past that; ``loads`` keeps such a number as a marker json_problem names.
_MAX_INT_DIGITS = 4300
# The whole numbers JSON readers beyond Python (JavaScript, orjson) keep exactly.
_INT64 = (-(2**63), 2**63 - 1)


class HugeInteger:
    """An integer literal too long to convert (over 4300 digits), kept for its message."""

    __slots__ = ("digits",)

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))


def _int(text: str) -> int | HugeInteger:
    return int(text) if len(text) <= _MAX_INT_DIGITS else HugeInteger(text)


def loads(text: str | bytes) -> Any:
    """Parse JSON like ``json.loads``, but keep a too-long integer as a ``HugeInteger``.

    Check the result with ``json_problem``, which names where such a number sits.
    """
    return json.loads(text, parse_int=_int)


def too_deep(text: str | bytes, limit: int) -> bool:
    """Tell whether JSON ``text`` nests arrays and objects deeper than ``limit``."""
    if isinstance(text, bytes):
        if text.count(b"[") + text.count(b"{") <= limit:
            return False
        text = text.decode("utf-8", errors="replace")
    elif text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


@dataclass(frozen=True)
class JsonProblem:
    """What is wrong with a parsed document, and where (a dotted path; "" is the top)."""

    field: str
    message: str

    def sentence(self) -> str:
        """Say it in one sentence, as an API error does."""
        if self.message.startswith("JSON nested"):
            return f"{self.message} (at {self.field or 'the top'})."
        return f"{self.field or 'body'}: {self.message}"


def json_problem(doc: Any, max_depth: int, *, numbers: bool = False) -> JsonProblem | None:
    """Say what is wrong with a parsed JSON document (too deep, a NUL character), or None.

    NUL cannot be stored in PostgreSQL text, and SQLite would keep what PostgreSQL
    refuses: it is refused at every door (API bodies, imports from the CLI and pulls).
    So is an integer too long to read (``loads``). With ``numbers`` (imports), so are
    NaN and ±Infinity, which PostgreSQL's json columns refuse and no standard JSON reader
    reads back, and whole numbers past 64 bits, which JSON readers (JavaScript, orjson)
    cannot keep exactly. In API bodies each field's schema decides.
    """
    stack: list[tuple[Any, int, str]] = [(doc, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return JsonProblem(path, f"JSON nested deeper than {max_depth} levels")
            pairs = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in pairs:
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    return JsonProblem(where, "field names must not contain NUL characters.")
                stack.append((value, depth + 1, where))
        elif isinstance(node, str) and "\x00" in node:
            message = "contains a NUL character (\\u0000), which cannot be stored."
            return JsonProblem(path, message)
        elif isinstance(node, HugeInteger):
            return JsonProblem(path, f"a whole number of {node.digits} digits is too large.")
        elif numbers and (problem := _number_problem(node)):
            return JsonProblem(path, problem)
    return None


def _number_problem(node: Any) -> str | None:
    if isinstance(node, float) and not math.isfinite(node):
        return "must be a finite number (not NaN or Infinity, which JSON does not allow)."
    if isinstance(node, int) and not isinstance(node, bool) and not _INT64[0] <= node <= _INT64[1]:
        return "a whole number past 64 bits is too large to keep exactly."
    return None
