"""Errors raised by the domain layer.

Every validation error names the field it is about, so the UI can put the message next to the
control the user typed into and the API can report it as an OperationOutcome expression.
"""

from __future__ import annotations


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


def from_validation_error(exc: Exception) -> DomainError:
    """Turn a pydantic ``ValidationError`` into a :class:`DomainError` naming the field.

    Our own validators raise DomainError subclasses inside pydantic, which keeps them in the
    error's context; those come back as they were. Other errors name the field by its location.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return DomainError(str(exc))
    first = errors()[0] if errors() else None
    if first is None:
        return DomainError(str(exc))
    original = (first.get("ctx") or {}).get("error")
    if isinstance(original, DomainError):
        return original
    loc = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", exc)).removeprefix("Value error, ")
    return DomainError(msg, field=loc or None)
