"""Refuse deeply nested JSON before parsing it.

Python's json parser recurses once per level: a hostile document raises RecursionError,
and on CPython 3.11 a RecursionError can leave the interpreter's AST recursion counter
off, breaking later, unrelated compiles. Counting the depth first avoids both.
"""

from __future__ import annotations


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
