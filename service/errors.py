"""Domain exceptions: what the domain refuses, with a message, a status and details.

They become HTTP responses in one place, ``service.http.errors``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; carries a message, an HTTP status and details."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, errors: list[dict[str, Any]] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        if status is not None:
            self.status = status


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class TooManyRequests(DomainError):
    """Refused for now; ``retry_after`` seconds from now it may succeed."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
