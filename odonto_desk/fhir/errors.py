"""Errors of the FHIR boundary. Each names the FHIRPath-like location of the problem, which the
API reports as ``OperationOutcome.issue.expression`` and the UI shows beside the field."""

from __future__ import annotations


class FhirMappingError(ValueError):
    """A resource that cannot be read as (or written from) our domain, with the path at fault."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FhirValidationError(FhirMappingError):
    """A resource that breaks the R4 structure or one of the code rules we check ourselves."""
