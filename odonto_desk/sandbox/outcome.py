"""One error shape everywhere: a FHIR OperationOutcome with the HTTP status."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

FHIR_JSON = "application/fhir+json; charset=utf-8"


class ApiError(Exception):
    """Any refusal: HTTP status, OperationOutcome issue code, message, optional FHIRPath expression."""

    def __init__(self, status: int, code: str, message: str, *, expression: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.expression = expression
        self.headers = headers or {}


def outcome(code: str, message: str, *, severity: str = "error", expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content=content, status_code=status, headers=headers or {},
                    media_type=FHIR_JSON if body is not None else None)


def error_response(err: ApiError) -> Response:
    return fhir_response(outcome(err.code, err.message, expression=err.expression), err.status, err.headers)
