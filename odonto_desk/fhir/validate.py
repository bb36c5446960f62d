"""Validation at the boundary: R4 structure with ``fhir.resources.R4B``, plus the code rules the
models do not check (required bindings, teeth, surfaces, CDT, claim type).

Server JSON is parsed defensively (:func:`parse_json`) and kept raw; validation never rewrites
a resource, it only says what is wrong and where (a FHIRPath-like ``path``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import Surface, normalize_surface
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirValidationError

# The 16 resource types of the Required Odonto set (reference/fhir-dental.md §8).
ODONTO_TYPES: tuple[str, ...] = (
    "Patient", "Practitioner", "Organization", "Encounter", "Condition", "Observation", "Procedure",
    "CarePlan", "ServiceRequest", "ImagingStudy", "DocumentReference", "Binary", "Coverage", "Claim",
    "ClaimResponse", "ChargeItem",
)
# Also accepted in bundles and transactions (workflow and containers).
EXTRA_TYPES: tuple[str, ...] = ("Task", "Bundle", "BodyStructure", "OperationOutcome")

_FM_STATUS = ("active", "cancelled", "draft", "entered-in-error")
_REQUEST_STATUS = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
# Required bindings of the elements we use: (resource type, element) → allowed codes.
REQUIRED_CODES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Patient", "gender"): ("male", "female", "other", "unknown"),
    ("Practitioner", "gender"): ("male", "female", "other", "unknown"),
    ("Encounter", "status"): ("planned", "arrived", "triaged", "in-progress", "onleave", "finished",
                              "cancelled", "entered-in-error", "unknown"),
    ("Procedure", "status"): ("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed",
                              "entered-in-error", "unknown"),
    ("Observation", "status"): ("registered", "preliminary", "final", "amended", "corrected", "cancelled",
                                "entered-in-error", "unknown"),
    ("CarePlan", "status"): _REQUEST_STATUS,
    ("CarePlan", "intent"): ("proposal", "plan", "order", "option"),
    ("ServiceRequest", "status"): _REQUEST_STATUS,
    ("ServiceRequest", "intent"): ("proposal", "plan", "directive", "order", "original-order", "reflex-order",
                                   "filler-order", "instance-order", "option"),
    ("ServiceRequest", "priority"): ("routine", "urgent", "asap", "stat"),
    ("ImagingStudy", "status"): ("registered", "available", "cancelled", "entered-in-error", "unknown"),
    ("DocumentReference", "status"): ("current", "superseded", "entered-in-error"),
    ("Coverage", "status"): _FM_STATUS,
    ("Claim", "status"): _FM_STATUS,
    ("Claim", "use"): ("claim", "preauthorization", "predetermination"),
    ("ClaimResponse", "status"): _FM_STATUS,
    ("ClaimResponse", "use"): ("claim", "preauthorization", "predetermination"),
    ("ClaimResponse", "outcome"): ("queued", "complete", "error", "partial"),
    ("ChargeItem", "status"): ("planned", "billable", "not-billable", "aborted", "billed", "entered-in-error",
                               "unknown"),
    ("Task", "status"): ("draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
                         "in-progress", "on-hold", "failed", "completed", "entered-in-error"),
    ("Task", "intent"): ("unknown", "proposal", "plan", "order", "original-order", "reflex-order",
                         "filler-order", "instance-order", "option"),
}
_CLINICAL_STATUS = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
_ADA_SURFACES = frozenset("MOIDBFL")
# Extension value types that exist in R4B but not in R4: never accepted for an R4 server.
_R4B_ONLY_VALUES = ("valueCodeableReference", "valueRatioRange")
MAX_RESOURCE_BYTES = 5 * 1024 * 1024


def parse_json(raw: bytes | str, *, max_bytes: int = MAX_RESOURCE_BYTES) -> dict[str, Any]:
    """Bytes from the wire → a JSON object, or :class:`FhirValidationError` saying why not."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise FhirValidationError(f"body is {size} bytes; the limit is {max_bytes}", path="")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FhirValidationError(f"body is not valid JSON ({exc})", path="") from None
    if not isinstance(data, dict):
        raise FhirValidationError("a FHIR resource is a JSON object", path="")
    return data


def validate(resource: dict[str, Any], *, expected_type: str | None = None,
             allowed_types: tuple[str, ...] | None = None) -> None:
    """Raise :class:`FhirValidationError` (with the path) unless ``resource`` is valid R4 for us."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise FhirValidationError("resourceType is missing", path="resourceType")
    if expected_type is not None and rtype != expected_type:
        raise FhirValidationError(f"expected a {expected_type}, got a {rtype}", path="resourceType")
    allowed = allowed_types or (ODONTO_TYPES + EXTRA_TYPES)
    if rtype not in allowed:
        raise FhirValidationError(f"resource type {rtype} is not supported here", path="resourceType")
    _validate_structure(resource, rtype)
    _check_codes(resource, rtype)
    if rtype == "Bundle":
        for i, entry in enumerate(resource.get("entry") or []):
            inner = entry.get("resource")
            if inner is not None:
                try:
                    validate(inner, allowed_types=allowed)
                except FhirValidationError as exc:
                    raise FhirValidationError(exc.message, path=f"Bundle.entry[{i}].resource.{exc.path}") from None


def _validate_structure(resource: dict[str, Any], rtype: str) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        model = get_fhir_model_class(rtype)
    except (KeyError, ValueError):
        raise FhirValidationError(f"unknown resource type {rtype}", path="resourceType") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err.get("loc", ()))
        loc = loc.replace(".[", "[")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise FhirValidationError(msg, path=f"{rtype}.{loc}" if loc else rtype) from None


def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k == "contained" or (k == "resource" and path.endswith("]")):
                continue  # contained resources and bundle entries are checked on their own
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def _check_codes(resource: dict[str, Any], rtype: str) -> None:
    for (t, element), allowed in REQUIRED_CODES.items():
        if t == rtype and element in resource and resource[element] not in allowed:
            raise FhirValidationError(f"{resource[element]!r} is not one of {', '.join(allowed)}",
                                      path=f"{rtype}.{element}")
    if rtype == "Condition":
        for c in (resource.get("clinicalStatus") or {}).get("coding") or []:
            if c.get("system") == codes.CONDITION_CLINICAL and c.get("code") not in _CLINICAL_STATUS:
                raise FhirValidationError(f"{c.get('code')!r} is not a clinical status",
                                          path="Condition.clinicalStatus")
    if rtype in ("Claim", "ClaimResponse"):
        type_codes = [c.get("code") for c in (resource.get("type") or {}).get("coding") or []
                      if c.get("system") == codes.CLAIM_TYPE]
        if type_codes != ["oral"]:
            raise FhirValidationError("a dental claim has type 'oral' (claim-type system)", path=f"{rtype}.type")
    for path, node in _walk(resource, rtype):
        _check_node(node, path)
    for i, c in enumerate(resource.get("contained") or []):
        if isinstance(c, dict) and c.get("resourceType") == "BodyStructure":
            for path, node in _walk(c, f"{rtype}.contained[{i}]"):
                _check_node(node, path)


def _check_node(node: dict[str, Any], path: str) -> None:
    # Codings in the tooth, surface and CDT systems must be valid codes.
    system, code = node.get("system"), node.get("code")
    if isinstance(system, str) and "code" in node:
        if system == codes.ADA_UNIVERSAL:
            _tooth(code, NumberingSystem.UNIVERSAL, f"{path}.code")
        elif system == codes.FDI_TOOTH and code not in ("0", "1", "2", "3", "4", "5", "6", "7", "8"):
            _tooth(code, NumberingSystem.FDI, f"{path}.code")  # FDI quadrant codes 0–8 are areas
        elif system == codes.ADA_SURFACE and code not in _ADA_SURFACES:
            raise FhirValidationError(f"{code!r} is not an ADA surface (M, O, I, D, B, F, L)", path=f"{path}.code")
        elif system in codes.CDT_ALIASES and not (
            isinstance(code, str) and len(code) == 5 and code[0] == "D" and code[1:].isdigit()
        ):
            raise FhirValidationError(f"{code!r} is not a CDT code (D0000–D9999)", path=f"{path}.code")
    exts = node.get("extension")
    if not isinstance(exts, list):
        return
    tooth: Tooth | None = None
    surfaces: list[tuple[int, str]] = []
    for i, ext in enumerate(exts):
        if not isinstance(ext, dict):
            continue
        for bad in _R4B_ONLY_VALUES:
            if bad in ext:
                raise FhirValidationError(f"{bad} does not exist in R4", path=f"{path}.extension[{i}]")
        url = ext.get("url")
        value = ext.get("valueCoding") or {}
        raw = value.get("code") if isinstance(value, dict) else None
        raw = raw or ext.get("valueCode") or ext.get("valueString")
        if url == codes.EXT_TOOTH_NUMBER:
            if not raw:
                raise FhirValidationError("tooth-number has no value", path=f"{path}.extension[{i}]")
            sys_ = value.get("system") if isinstance(value, dict) else None
            t = _tooth(raw, NumberingSystem.FDI if sys_ == codes.FDI_TOOTH else NumberingSystem.UNIVERSAL,
                       f"{path}.extension[{i}]")
            tooth = tooth or t
        elif url == codes.EXT_TOOTH_SURFACE:
            if not raw:
                raise FhirValidationError("tooth-surface has no value", path=f"{path}.extension[{i}]")
            surfaces.append((i, raw))
    for i, raw in surfaces:
        if tooth is None:
            raise FhirValidationError("tooth-surface without a tooth-number on the same element",
                                      path=f"{path}.extension[{i}]")
        for letter in str(raw).upper():
            try:
                s = normalize_surface(letter, tooth)
            except DomainError as exc:
                raise FhirValidationError(exc.message, path=f"{path}.extension[{i}]") from None
            assert isinstance(s, Surface)


def _tooth(code: Any, system: NumberingSystem, path: str) -> Tooth:
    try:
        return Tooth.parse(str(code), system)
    except DomainError as exc:
        raise FhirValidationError(exc.message, path=path) from None
