"""Readers and writers every resource module shares: references, dates, codes, and turning a
domain error into a mapping error at the FHIR path. No mapper lives here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from odonto_desk.domain.errors import DomainError
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Resource

M = TypeVar("M")


def ref(kind: str, ident: str | None) -> dict[str, str] | None:
    return {"reference": f"{kind}/{ident}"} if ident else None


def ref_id(reference: Any, kind: str, path: str, *, required: bool = False, strict: bool = True) -> str | None:
    """The id in ``{"reference": "Kind/id"}`` (relative, absolute or versioned).

    A reference to another kind of resource is an error, not a silent None: a claim whose
    provider is a Practitioner where we expect the billing Organization is a different claim.
    ``strict=False`` reads it as absent instead, where another kind is legitimate but not ours
    (a chart mark performed by a PractitionerRole still charts).
    """
    value = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(value, str) or not value:
        if required:
            raise FhirMappingError(f"a reference to a {kind} is required", path=path)
        return None
    head, sep, tail = value.split("/_history/")[0].rpartition(f"{kind}/")
    if not sep or not tail or "/" in tail or (head and not head.endswith("/")):
        if not strict:
            return None
        raise FhirMappingError(f"{value!r} is not a reference to a {kind}", path=path)
    return tail


def parse_date(value: Any, path: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise FhirMappingError(f"{value!r} is not a date", path=path) from None


def parse_datetime(value: Any, path: str) -> dt.datetime | None:
    """A FHIR dateTime. A bare date (which FHIR allows) is read as midnight UTC of that day."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise FhirMappingError(f"{value!r} is not a date and time", path=path) from None


def code_in(cc: Any, system: str) -> str | None:
    """The first code of ``system`` in a CodeableConcept (or None)."""
    codings = cc.get("coding") if isinstance(cc, dict) else None
    for c in codings or []:
        if c.get("system") == system and c.get("code"):
            return str(c["code"])
    return None


def enum_of(cls: Callable[[str], M], value: Any, path: str) -> M:
    try:
        return cls(value)
    except ValueError:
        raise FhirMappingError(f"{value!r} is not a supported code here", path=path) from None


def construct(cls: Callable[..., M], rtype: str, paths: Mapping[str, str], **fields: Any) -> M:
    """Build the domain object; a :class:`DomainError` becomes a mapping error at the FHIR path.

    ``paths`` translates a domain field (the first segment of the error's field) to the element
    it came from, so the message points at ``Patient.identifier``, not at ``gpid``. Fields given
    as None are left out, so the model's defaults (a fresh id, gender unknown) apply.
    """
    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except DomainError as exc:
        head = (exc.field or "").split(".")[0].split("[")[0]
        element = paths.get(head, head)
        if not element:
            raise FhirMappingError(exc.message, path=rtype) from None
        raise FhirMappingError(exc.message, path=rtype + ("" if element.startswith("[") else ".") + element) from None


def clean(resource: dict[str, Any]) -> Resource:
    """Drop empty elements: FHIR forbids empty strings, arrays and objects."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}
