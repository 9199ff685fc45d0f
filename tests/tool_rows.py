"""Import rows of a tool-using conversation, shared by the tool-call tests."""

from __future__ import annotations

import copy
from typing import Any

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
# Imported call ids can name a model or a run: a rater must never see them.
P_ID, R_ID = "call_secret-model_p1", "call_secret-model_r1"
# The result a tool returned; hostile on purpose: it must render as text, never run.
RESULT = '{"temp_c": 14, "note": "<script>window.pwned = 1</script>"}'


def call(call_id: str, city: str = "Paris", name: str = "get_weather") -> dict[str, Any]:
    """Return one OpenAI tool call."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": f'{{"city": "{city}"}}'},
    }


def tool_row(ext: str = "w1") -> dict[str, Any]:
    """A native row: a prompt that already used a tool, and two tool-using answers."""
    return copy.deepcopy(
        {
            "id": ext,
            "tools": [WEATHER],
            "messages": [
                {"role": "system", "content": "You can look up the weather."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [call(P_ID)]},
                {"role": "tool", "tool_call_id": P_ID, "content": RESULT},
                {"role": "user", "content": "And in Oslo?"},
            ],
            "responses": [
                {
                    "id": "a",
                    "model": "m-tools",
                    "messages": [
                        {"role": "assistant", "content": None, "tool_calls": [call(R_ID, "Oslo")]},
                        {"role": "tool", "tool_call_id": R_ID, "content": '{"temp_c": 3}'},
                        {"role": "assistant", "content": "It is 3 °C in Oslo."},
                    ],
                },
                {"id": "b", "model": "m-guess", "content": "Probably cold."},
            ],
        }
    )
