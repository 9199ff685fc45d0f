"""Refuse deeply nested JSON before parsing it.

Python's json parser recurses once per level: a hostile document raises RecursionError,
and on CPython 3.11 a RecursionError can leave the interpreter's AST recursion counter
off, breaking later, unrelated compiles. Counting the depth first avoids both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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


def json_problem(doc: Any, max_depth: int) -> JsonProblem | None:
    """Say what is wrong with a parsed JSON document (too deep, a NUL character), or None.

    NUL cannot be stored in PostgreSQL text, and SQLite would keep what PostgreSQL
    refuses: it is refused at every door (API bodies, imports from the CLI and pulls).
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
    return None
