"""Pure pieces of outbound HTTP and of reading chat-completions answers, on literals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.pull import chat_completions, fetch

POLICY = fetch.RetryPolicy(backoff=1.0, max_backoff=10.0)


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    assert fetch.retry_after_seconds("3") == 3.0
    assert fetch.retry_after_seconds("Sat, 28 Nov 2026 10:00:30 GMT", now) == 30.0
    assert fetch.retry_after_seconds("Sat, 28 Nov 2026 09:00:00 GMT", now) == 0.0
    assert fetch.retry_after_seconds("soon") is None
    assert fetch.retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("failures", "jitter", "retry_after", "expected"),
    [
        (1, 0.0, None, 0.5),
        (1, 1.0, None, 1.0),
        (3, 1.0, None, 4.0),
        (10, 1.0, None, 10.0),  # capped at max_backoff
        (1, 0.0, 7.0, 7.0),  # Retry-After wins when longer
        (3, 1.0, 0.1, 4.0),
    ],
)
def test_backoff_is_exponential_capped_and_honours_retry_after(
    failures, jitter, retry_after, expected
):
    assert fetch.backoff_delay(failures, POLICY, retry_after, jitter=lambda: jitter) == expected


def test_endpoint_url_accepts_base_or_full_url():
    assert chat_completions.endpoint_url("http://h:8000/v1") == "http://h:8000/v1/chat/completions"
    assert chat_completions.endpoint_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"
    full = "https://api.example/v1/chat/completions"
    assert chat_completions.endpoint_url(full) == full


def test_parse_reply_reads_content_usage_and_model():
    body = (
        b'{"model": "llama", "choices": [{"message": {"role": "assistant", "content": "Hi"},'
        b' "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1,'
        b' "total_tokens": 4, "cached": {"x": 1}}}'
    )
    assert chat_completions.parse_reply(body) == chat_completions.Reply(
        content="Hi",
        finish_reason="stop",
        usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        served_model="llama",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "malformed response: not JSON"),
        (b"[1, 2]", "malformed response: expected a JSON object, got list"),
        (b'{"object": "chat.completion"}', "malformed response: no choices"),
        (b'{"error": "overloaded"}', "the endpoint answered with an error: overloaded"),
        (b'{"choices": [{"message": {"content": null}, "finish_reason": "tool_calls"}]}',
         "malformed response: empty reply content (finish_reason=tool_calls)"),
        (b'{"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]}',
         "the reply was withheld by the endpoint's content filter"),
        (b'{"choices": [{"message": {"content": "x"}, "finish_reason": "length"}]}',
         "the reply was cut off at the token limit"),
    ],
)  # fmt: skip
def test_parse_reply_explains_what_is_wrong(body, message):
    with pytest.raises(fetch.FetchError) as caught:
        chat_completions.parse_reply(body)
    assert caught.value.message.startswith(message)
    assert caught.value.retryable is False
