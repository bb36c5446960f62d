"""Typed errors of the Apex client, mapped from HTTP once (:func:`error_for`).

Every error carries the server's OperationOutcome (when there was one) so a screen can show the
diagnostics beside the field named by ``expression``.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Base of every client error."""

    def __init__(self, message: str, *, status: int | None = None, outcome: dict[str, Any] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.outcome = outcome
        self.retry_after = retry_after

    @property
    def expression(self) -> str | None:
        for issue in (self.outcome or {}).get("issue") or []:
            for e in issue.get("expression") or []:
                return str(e)
        return None

    def __str__(self) -> str:
        where = f" ({self.expression})" if self.expression else ""
        return f"{self.message}{where}"


class NetworkError(ApiError):
    """The server could not be reached or the connection broke; nothing is known to have happened."""


class AuthError(ApiError):
    """401: no, wrong, expired or revoked credentials."""


class ScopeError(ApiError):
    """403: authenticated, but this role or token may not do this (or the GPID boundary refused it)."""


class NotFound(ApiError):
    """404."""


class Gone(ApiError):
    """410: the resource was deleted (its history is kept)."""


class VersionConflict(ApiError):
    """409 or 412: someone else changed it first (HAPI answers 409, the spec 412)."""


class RateLimited(ApiError):
    """429 after the retries allowed."""


class ServerRejected(ApiError):
    """400 or 422: the server refused the content; ``outcome`` says why and where."""


class ServerError(ApiError):
    """5xx after the retries allowed."""


def _diagnostics(outcome: dict[str, Any] | None) -> str | None:
    for issue in (outcome or {}).get("issue") or []:
        if issue.get("diagnostics"):
            return str(issue["diagnostics"])
    return None


def error_for(status: int, body: Any, *, retry_after: float | None = None) -> ApiError:
    """The typed error for an HTTP status and its (parsed JSON) body."""
    outcome = body if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome" else None
    text = _diagnostics(outcome)
    if text is None and isinstance(body, dict):
        text = body.get("error_description") or body.get("error")
    message = str(text or f"HTTP {status}")
    cls: type[ApiError]
    if status == 401:
        cls = AuthError
    elif status == 403:
        cls = ScopeError
    elif status == 404:
        cls = NotFound
    elif status == 410:
        cls = Gone
    elif status in (409, 412):
        cls = VersionConflict
    elif status == 429:
        cls = RateLimited
    elif status >= 500:
        cls = ServerError
    else:
        cls = ServerRejected
    return cls(message, status=status, outcome=outcome, retry_after=retry_after)
