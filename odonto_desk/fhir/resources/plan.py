"""Treatment plans on the wire: one ``CarePlan`` (intent ``plan``) per :class:`TreatmentPlan`.

``reference/fhir-dental.md`` §3: R4 has no phase, priority, fee or alternative on a CarePlan, so:

* each plan line is one ``CarePlan.activity``. A line that stands for a planned chart mark is
  ``activity.reference`` → ``ServiceRequest/<id>`` (the mark is versioned on its own); any other
  line is written inline as ``activity.detail`` (CDT ``code``, ``status``, the Apex tooth-number
  and tooth-surface extensions on the detail). R4 forbids both on one activity (cpl-3), so a
  referenced line carries its code, status and tooth on the activity itself, in extensions;
* our ``plan-item`` extension on each activity holds what R4 lacks: phase number, priority,
  fee (``valueMoney``), alternate group and whether the option was accepted;
* our ``plan-phase`` extensions on the CarePlan list the phases (number, title), so an empty or
  titled phase survives; ``detail.description`` also says "Phase 1 (priority: urgent)" for
  people, and is how phase and priority are read from a plan without our extensions
  (``careplan-treatment-plan.json``);
* the Apex plan id (CP-001) is an ``identifier`` in the care-plan-id system;
* the patient's signature under the presented plan is our ``plan-signature`` extension on the
  CarePlan (signer, time, the PNG as an ``Attachment``): it attests to this version of the plan,
  so it travels and is versioned with it, and needs no write scope beyond the plan's own.

A line with no ``id`` on its activity is named ``item-<n>`` by position, so reading the same
resource twice gives the same plan.
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal
from typing import Any

from odonto_desk.domain.billing import to_amount
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.plan import (
    ItemStatus,
    Phase,
    PlanItem,
    PlanSignature,
    PlanStatus,
    Priority,
    TreatmentPlan,
)
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import clean, code_in, construct, enum_of, parse_datetime, ref, ref_id
from odonto_desk.fhir.teeth import read_surfaces, read_tooth_extensions, tooth_extensions

# URIs this module adds (see fhir/codes.py for the rest).
EXT_PLAN_ITEM = codes.ODONTO_BASE + "StructureDefinition/plan-item"
EXT_PLAN_PHASE = codes.ODONTO_BASE + "StructureDefinition/plan-phase"
EXT_PLAN_SIGNATURE = codes.ODONTO_BASE + "StructureDefinition/plan-signature"

_DENTAL = {"coding": [{"system": codes.DENTAL_CATEGORY, "code": "dental", "display": "Dental"}]}
_PHASE_RE = re.compile(r"\bPhase (\d+)\b")
_PRIORITY_RE = re.compile(r"\bpriority: ([a-z]+)\b")
_CURRENCY = "USD"


# --- writing ----------------------------------------------------------------------------------


def _sub(url: str, key: str, value: Any) -> dict[str, Any]:
    return {"url": url, key: value}


def _item_extension(item: PlanItem, phase: int, referenced: bool) -> dict[str, Any]:
    subs = [_sub("phase", "valuePositiveInt", phase), _sub("priority", "valueCode", item.priority.value)]
    if item.fee is not None:
        subs.append(_sub("fee", "valueMoney", {"value": float(item.fee), "currency": _CURRENCY}))
    if item.alternate_group is not None:
        subs.append(_sub("alternateGroup", "valueString", item.alternate_group))
    if item.accepted:
        subs.append(_sub("accepted", "valueBoolean", True))
    if referenced:  # no detail to carry them
        subs.append(_sub("code", "valueCoding", {"system": codes.CDT, "code": item.code}))
        subs.append(_sub("status", "valueCode", item.status.value))
    return {"url": EXT_PLAN_ITEM, "extension": subs}


def _phase_extension(phase: Phase) -> dict[str, Any]:
    subs = [_sub("number", "valuePositiveInt", phase.number)]
    if phase.title:
        subs.append(_sub("title", "valueString", phase.title))
    return {"url": EXT_PLAN_PHASE, "extension": subs}


def _signature_extension(sig: PlanSignature) -> dict[str, Any]:
    return {"url": EXT_PLAN_SIGNATURE, "extension": [
        _sub("signer", "valueString", sig.signer),
        _sub("signed", "valueDateTime", sig.signed.isoformat()),
        _sub("image", "valueAttachment", {"contentType": "image/png", "data": sig.base64}),
    ]}


def _activity(item: PlanItem, phase: Phase) -> dict[str, Any]:
    referenced = item.service_request is not None
    ext = [_item_extension(item, phase.number, referenced)]
    tooth_ext = tooth_extensions(item.tooth, item.surfaces)
    if referenced:
        return {"id": item.id, "extension": ext + tooth_ext, "reference": ref("ServiceRequest", item.service_request)}
    heading = f"Phase {phase.number}" + (f": {phase.title}" if phase.title else "")
    detail = clean({
        "extension": tooth_ext,
        "kind": "ServiceRequest",
        "code": {"coding": [{"system": codes.CDT, "code": item.code}], "text": item.describe()},
        "status": item.status.value,
        "description": f"{heading} (priority: {item.priority.value})",
    })
    return {"id": item.id, "extension": ext, "detail": detail}


def build_plan(plan: TreatmentPlan) -> Resource:
    return clean({
        "resourceType": "CarePlan",
        "id": plan.id,
        "extension": [_phase_extension(p) for p in plan.phases]
        + ([_signature_extension(plan.signature)] if plan.signature else []),
        "identifier": [{"system": codes.CARE_PLAN_ID_SYSTEM, "value": plan.care_plan_id}] if plan.care_plan_id else [],
        "status": plan.status.value,
        "intent": "plan",
        "category": [_DENTAL],
        "title": plan.title,
        "description": plan.description,
        "subject": ref("Patient", plan.patient),
        "created": plan.created.isoformat() if plan.created else None,
        "author": ref("Practitioner", plan.author),
        "activity": [_activity(i, p) for p in plan.phases for i in p.items],
    })


# --- reading ----------------------------------------------------------------------------------


def _subs(ext: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s.get("url"): s for s in ext.get("extension") or [] if isinstance(s, dict)}


def _money(m: Any, path: str) -> Decimal:
    if not isinstance(m, dict) or "value" not in m:
        raise FhirMappingError("a fee needs a value", path=path)
    if m.get("currency", _CURRENCY) != _CURRENCY:
        raise FhirMappingError(f"plan fees are in {_CURRENCY}, not {m.get('currency')}", path=f"{path}.currency")
    try:
        return to_amount(m["value"])
    except DomainError as exc:
        raise FhirMappingError(exc.message, path=f"{path}.value") from None


class _Line:
    """One activity read: the line's fields and the phase it belongs to."""

    def __init__(self, phase: int, fields: dict[str, Any]) -> None:
        self.phase = phase
        self.fields = fields


def _read_activity(act: dict[str, Any], n: int, path: str) -> _Line:
    detail = act.get("detail")
    referenced = detail is None
    if referenced and not act.get("reference"):
        raise FhirMappingError("a plan line needs a detail or a reference", path=path)
    item_ext, ei = next(((e, i) for i, e in enumerate(act.get("extension") or []) if e.get("url") == EXT_PLAN_ITEM),
                        ({}, -1))
    subs = _subs(item_ext)
    at = {s.get("url"): j for j, s in enumerate(item_ext.get("extension") or [])}
    ep = f"{path}.extension[{ei}].extension"
    description = (detail or {}).get("description") or ""
    phase_sub = subs.get("phase", {}).get("valuePositiveInt")
    match = _PHASE_RE.search(description)
    phase = phase_sub if isinstance(phase_sub, int) else int(match.group(1)) if match else 1
    prio_text = subs.get("priority", {}).get("valueCode")
    if prio_text is None:
        pm = _PRIORITY_RE.search(description)
        prio_text = pm.group(1) if pm else Priority.ROUTINE.value
    priority = enum_of(Priority, prio_text, f"{ep}[{at['priority']}]" if "priority" in subs else f"{path}.detail.description")
    holder, hp = (act, path) if referenced else (detail, f"{path}.detail")
    tooth, _ = read_tooth_extensions(holder, hp)
    surfaces = read_surfaces(holder, tooth, hp)
    if referenced:
        code_c = subs.get("code", {}).get("valueCoding") or {}
        code = code_c.get("code") if code_c.get("system") in codes.CDT_ALIASES else None
        status_text = subs.get("status", {}).get("valueCode") or ItemStatus.NOT_STARTED.value
        status_path = f"{ep}[{at.get('status', 0)}]"
    else:
        code = code_in(detail.get("code"), codes.CDT) or next(
            (c.get("code") for c in (detail.get("code") or {}).get("coding") or [] if c.get("system") in codes.CDT_ALIASES),
            None)
        status_text = detail.get("status") or ItemStatus.NOT_STARTED.value
        status_path = f"{path}.detail.status"
    if not code:
        raise FhirMappingError("a plan line needs a CDT code", path=f"{hp}.code" if not referenced else ep)
    fee = _money(subs["fee"].get("valueMoney"), f"{ep}[{at['fee']}].valueMoney") if "fee" in subs else None
    fields = {
        "id": act.get("id") or f"item-{n}",
        "code": code,
        "tooth": tooth,
        "surfaces": surfaces,
        "fee": fee,
        "priority": priority,
        "status": enum_of(ItemStatus, status_text, status_path),
        "service_request": ref_id(act.get("reference"), "ServiceRequest", f"{path}.reference"),
        "alternate_group": subs.get("alternateGroup", {}).get("valueString"),
        "accepted": subs.get("accepted", {}).get("valueBoolean") is True,
    }
    return _Line(phase, fields)


def _item(line: _Line, path: str, referenced: bool) -> PlanItem:
    # A referenced line keeps code and tooth in extensions on the activity; an inline one on its detail.
    paths = {"code": "extension", "tooth": "extension", "surfaces": "extension"} if referenced else {
        "code": "detail.code", "tooth": "detail.extension", "surfaces": "detail.extension"}
    paths |= {"id": "id", "accepted": "extension", "fee": "extension", "alternate_group": "extension"}
    return construct(PlanItem, path, paths, **line.fields)


def _read_phases(r: Resource) -> dict[int, str]:
    titles: dict[int, str] = {}
    for i, ext in enumerate(r.get("extension") or []):
        if ext.get("url") != EXT_PLAN_PHASE:
            continue
        subs = _subs(ext)
        number = subs.get("number", {}).get("valuePositiveInt")
        if not isinstance(number, int):
            raise FhirMappingError("a phase needs a number", path=f"CarePlan.extension[{i}]")
        titles[number] = subs.get("title", {}).get("valueString") or ""
    return titles


def _read_signature(r: Resource) -> PlanSignature | None:
    at = next((i for i, e in enumerate(r.get("extension") or []) if e.get("url") == EXT_PLAN_SIGNATURE), None)
    if at is None:
        return None
    path = f"CarePlan.extension[{at}]"
    subs = _subs(r["extension"][at])
    image = subs.get("image", {}).get("valueAttachment") or {}
    if image.get("contentType") != "image/png":
        raise FhirMappingError("a plan signature is a PNG image", path=f"{path}.extension.valueAttachment")
    try:
        png = base64.b64decode(image.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise FhirMappingError("the signature image is not base64", path=f"{path}.extension.valueAttachment") from None
    return construct(PlanSignature, path, {"png": "extension", "signer": "extension", "signed": "extension"},
                     png=png, signer=subs.get("signer", {}).get("valueString") or "",
                     signed=parse_datetime(subs.get("signed", {}).get("valueDateTime"), f"{path}.extension"))


def read_plan(r: Resource) -> TreatmentPlan:
    if r.get("resourceType") != "CarePlan":
        raise FhirMappingError(f"a treatment plan is a CarePlan, not {r.get('resourceType')}", path="resourceType")
    titles = _read_phases(r)
    by_phase: dict[int, list[PlanItem]] = {}
    for n, act in enumerate(r.get("activity") or [], start=1):
        path = f"CarePlan.activity[{n - 1}]"
        line = _read_activity(act, n, path)
        by_phase.setdefault(line.phase, []).append(_item(line, path, act.get("detail") is None))
    numbers = sorted(set(titles) | set(by_phase))
    phases = [Phase(number=k, title=titles.get(k, ""), items=tuple(by_phase.get(k, ()))) for k in numbers]
    cp_id = next((i.get("value") for i in r.get("identifier") or [] if i.get("system") == codes.CARE_PLAN_ID_SYSTEM),
                 None)
    return construct(
        TreatmentPlan, "CarePlan",
        {"care_plan_id": "identifier", "patient": "subject", "author": "author", "title": "title",
         "created": "created", "status": "status", "phases": "activity"},
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "CarePlan.subject", required=True),
        care_plan_id=cp_id,
        title=r.get("title") or "",
        description=r.get("description"),
        status=enum_of(PlanStatus, r.get("status"), "CarePlan.status"),
        created=parse_datetime(r.get("created"), "CarePlan.created"),
        author=ref_id(r.get("author"), "Practitioner", "CarePlan.author"),
        phases=tuple(phases),
        signature=_read_signature(r),
    )


register(Mapper(
    resource_types=("CarePlan",),
    domain_type=TreatmentPlan,
    build=build_plan,
    read=read_plan,
    owned=("extension", "identifier", "status", "intent", "category", "title", "description", "subject",
           "created", "author", "activity"),
))
