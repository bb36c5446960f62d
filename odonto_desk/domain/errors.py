"""Errors raised by the domain layer.

Every validation error names the field it is about, so the UI can put the message next to the
control the user typed into and the API can report it as an OperationOutcome expression.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class DomainError(ValueError):
    """A value the clinical rules refuse. ``field`` names the offending input."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidTooth(DomainError):
    """A tooth designation that does not exist in the chosen numbering system."""


class InvalidSurface(DomainError):
    """A surface that is unknown, or not valid on the tooth it was given for."""


class InvalidCode(DomainError):
    """A CDT code that is malformed, unknown, or whose rules the chart mark breaks."""


class InvalidMeasurement(DomainError):
    """A perio value outside its valid range, or on a site or tooth that cannot take it."""


def field_path(parts: Iterable[Any]) -> str:
    """``("sites", 3, "pd")`` → ``"sites[3].pd"``: the path the UI and the API name a field by."""
    out = ""
    for p in parts:
        if p == "[key]":
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def from_validation_error(exc: Exception, *, kind: type[DomainError] | None = None,
                          append_field: bool = True) -> DomainError:
    """Turn a pydantic ``ValidationError`` into a :class:`DomainError` whose field is the full path.

    Our own validators raise DomainError subclasses inside pydantic, which keeps them in the
    error's context; they come back with their class and message, their field appended to the
    location (a model validator on ``items[0]`` naming ``surfaces`` gives ``items[0].surfaces``).
    Other errors become ``kind`` (DomainError by default) at their location. ``append_field=False``
    is for models whose value validators name a generic field (``tooth`` for any tooth key): there
    the location alone is the path (``rbl_percent.52``).
    """
    errors = getattr(exc, "errors", None)
    first = errors()[0] if callable(errors) and errors() else None
    if first is None:
        return (kind or DomainError)(str(exc))
    parts = [p for p in first.get("loc", ()) if p != "[key]"]
    original = (first.get("ctx") or {}).get("error")
    if isinstance(original, DomainError):
        if append_field and original.field and (not parts or parts[-1] != original.field):
            parts.append(original.field)
        return type(original)(original.message, field=field_path(parts) or original.field)
    message = str(first.get("msg", exc)).removeprefix("Value error, ")
    return (kind or DomainError)(message, field=field_path(parts) or None)
