"""Nesting depth is measured without parsing, ignoring brackets inside strings."""

import pytest

from service.json_depth import too_deep


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("[" * 33 + "]" * 33, 32, True),
        ("[" * 32 + "]" * 32, 32, False),
        ('{"a": "' + "[" * 100 + '"}', 4, False),
        ('{"a": "\\"' + "{" * 50 + '"}', 4, False),
        (b'[{"a": [{"b": [1]}]}]', 4, True),
        (b'[{"a": [{"b": 1}]}]', 4, False),
    ],
)
def test_too_deep(text, limit, expected):
    assert too_deep(text, limit) is expected
