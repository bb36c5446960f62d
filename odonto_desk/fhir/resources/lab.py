"""Lab and appliance orders on the wire (``reference/fhir-dental.md`` §5).

* :class:`LabOrder` → ``ServiceRequest`` intent ``order``, category ``lab_appliance`` in our
  service-category system (which is how this mapper claims it and the chart-mark mapper leaves it
  alone); the kind in our ``lab-kind`` code system as ``code``; the lab as ``performer``; the due
  date as ``occurrenceDateTime``; material and shade as ``orderDetail`` (our material and VITA
  shade codings, with text); the instructions as ``note``. Each tooth is one ``bodySite``
  CodeableConcept carrying the Apex tooth-number extension, since one order may name several.
  ServiceRequest.status cannot tell sent from in-lab from returned, so our ``lab-status``
  extension carries the exact status beside it. The seat appointment's date rides in our
  ``lab-seat-date`` extension (valueDate) until Apex serves Appointment resources.
* :class:`LabTask` → ``Task`` (intent ``order``, ``focus`` the ServiceRequest, ``owner`` the lab):
  FHIR task status for any workflow engine, our lab status as ``businessStatus``. Files sent with
  the case are ``Task.input`` attachments (inline base64 data, content type, size, SHA-1): the lab
  reads its inputs where it reads its work, and they travel in the same ``/odonto/v1/lab/orders``
  post as the order, under one idempotency key, so a case never reaches the lab without its files.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from odonto_desk.domain.chart import Material
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import TASK_STATUS, LabAttachment, LabKind, LabOrder, LabStatus, LabTask
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import (
    clean,
    code_in,
    construct,
    enum_of,
    parse_date,
    parse_datetime,
    ref,
    ref_id,
)
from odonto_desk.fhir.teeth import (
    read_tooth_extensions,
    tooth_codeable,
    tooth_extensions,
    tooth_from_codeable,
)

# URIs this module adds (see fhir/codes.py for the rest).
CS_LAB_KIND = codes.ODONTO_BASE + "CodeSystem/lab-kind"
CS_LAB_STATUS = codes.ODONTO_BASE + "CodeSystem/lab-status"
CS_SHADE = codes.ODONTO_BASE + "CodeSystem/vita-shade"
EXT_LAB_STATUS = codes.ODONTO_BASE + "StructureDefinition/lab-status"
EXT_SEAT_DATE = codes.ODONTO_BASE + "StructureDefinition/lab-seat-date"
CS_LAB_INPUT = codes.ODONTO_BASE + "CodeSystem/lab-input"
_ATTACHMENT_INPUT = {"coding": [{"system": CS_LAB_INPUT, "code": "attachment", "display": "File sent with the case"}]}

LAB_CATEGORY = "lab_appliance"
_DENTAL = {"coding": [{"system": codes.DENTAL_CATEGORY, "code": "dental", "display": "Dental"}]}
_LAB = {"coding": [{"system": codes.CS_SERVICE_CATEGORY, "code": LAB_CATEGORY, "display": "Lab / appliance"}]}
# ServiceRequest.status for each lab status.
_REQUEST_STATUS: dict[LabStatus, str] = {
    LabStatus.DRAFT: "draft", LabStatus.SENT: "active", LabStatus.IN_LAB: "active",
    LabStatus.RETURNED: "active", LabStatus.CHECKED: "active", LabStatus.SEATED: "completed",
    LabStatus.CANCELLED: "revoked",
}
# A Task without our businessStatus: the lab status its FHIR status implies.
_FROM_TASK_STATUS: dict[str, LabStatus] = {
    "draft": LabStatus.DRAFT, "requested": LabStatus.SENT, "received": LabStatus.SENT,
    "accepted": LabStatus.IN_LAB, "ready": LabStatus.IN_LAB, "in-progress": LabStatus.IN_LAB,
    "on-hold": LabStatus.IN_LAB, "completed": LabStatus.RETURNED, "cancelled": LabStatus.CANCELLED,
    "rejected": LabStatus.CANCELLED, "failed": LabStatus.CANCELLED,
}


def is_lab_request(r: Resource) -> bool:
    """A ServiceRequest in the lab_appliance category: a lab order, not a planned chart mark."""
    if r.get("resourceType") != "ServiceRequest":
        return False
    return any(c.get("system") == codes.CS_SERVICE_CATEGORY and c.get("code") == LAB_CATEGORY
               for cc in r.get("category") or [] for c in cc.get("coding") or [])


# --- ServiceRequest ---------------------------------------------------------------------------


def _tooth_site(tooth: Tooth) -> dict[str, Any]:
    return {"extension": tooth_extensions(tooth), **tooth_codeable(tooth)}


def _order_detail(order: LabOrder) -> list[dict[str, Any]]:
    out = []
    if order.material:
        m = order.material
        out.append({"coding": [{"system": codes.CS_MATERIAL, "code": m.name.lower(), "display": m.value}],
                    "text": f"Material: {m.value}"})
    if order.shade:
        out.append({"coding": [{"system": CS_SHADE, "code": order.shade}], "text": f"Shade {order.shade}"})
    return out


def build_lab_order(order: LabOrder) -> Resource:
    return clean({
        "resourceType": "ServiceRequest",
        "id": order.id,
        "extension": [{"url": EXT_LAB_STATUS, "valueCode": order.status.value}]
        + ([{"url": EXT_SEAT_DATE, "valueDate": order.seat.isoformat()}] if order.seat else []),
        "status": _REQUEST_STATUS[order.status],
        "intent": "order",
        "category": [_DENTAL, _LAB],
        "code": {"coding": [{"system": CS_LAB_KIND, "code": order.kind.code, "display": order.kind.value}],
                 "text": order.kind.value.capitalize()},
        "orderDetail": _order_detail(order),
        "subject": ref("Patient", order.patient),
        "occurrenceDateTime": order.due.isoformat() if order.due else None,
        "requester": ref("Practitioner", order.provider),
        "performer": [ref("Organization", order.lab)],
        "bodySite": [_tooth_site(t) for t in order.teeth],
        "note": [{"text": order.instructions}] if order.instructions else [],
    })


def _read_teeth(r: Resource) -> list[Tooth]:
    teeth: list[Tooth] = []
    for i, cc in enumerate(r.get("bodySite") or []):
        path = f"ServiceRequest.bodySite[{i}]"
        first, _ = read_tooth_extensions(cc, path)
        tooth = first or tooth_from_codeable(cc, path)
        if tooth is None:
            raise FhirMappingError("a lab order's body site is a tooth", path=path)
        teeth.append(tooth)
    return teeth


def _read_details(r: Resource) -> tuple[Material | None, str | None]:
    material: Material | None = None
    shade: str | None = None
    for i, cc in enumerate(r.get("orderDetail") or []):
        m = code_in(cc, codes.CS_MATERIAL)
        if m is not None:
            try:
                material = Material[m.upper()]
            except KeyError:
                raise FhirMappingError(f"{m!r} is not a material", path=f"ServiceRequest.orderDetail[{i}]") from None
        shade = code_in(cc, CS_SHADE) or shade
    return material, shade


def _lookup(table: dict[str, LabStatus], value: Any, path: str) -> LabStatus:
    if value not in table:
        raise FhirMappingError(f"{value!r} does not say where a lab case stands", path=path)
    return table[value]


def _lab_status(r: Resource) -> LabStatus:
    for i, ext in enumerate(r.get("extension") or []):
        if ext.get("url") == EXT_LAB_STATUS:
            return enum_of(LabStatus, ext.get("valueCode"), f"ServiceRequest.extension[{i}]")
    by_request = {"draft": LabStatus.DRAFT, "active": LabStatus.SENT, "completed": LabStatus.SEATED,
                  "revoked": LabStatus.CANCELLED}
    return _lookup(by_request, r.get("status"), "ServiceRequest.status")


def _seat(r: Resource) -> dt.date | None:
    for i, ext in enumerate(r.get("extension") or []):
        if ext.get("url") == EXT_SEAT_DATE:
            return parse_date(ext.get("valueDate"), f"ServiceRequest.extension[{i}]")
    return None


def read_lab_order(r: Resource) -> LabOrder:
    if not is_lab_request(r):
        raise FhirMappingError("a lab order is a ServiceRequest in the lab_appliance category",
                               path="ServiceRequest.category" if r.get("resourceType") == "ServiceRequest"
                               else "resourceType")
    kind_code = code_in(r.get("code"), CS_LAB_KIND)
    performers = r.get("performer") or [None]
    material, shade = _read_details(r)
    notes = [n.get("text", "") for n in r.get("note") or []]
    return construct(
        LabOrder, "ServiceRequest",
        {"patient": "subject", "lab": "performer", "kind": "code", "teeth": "bodySite", "shade": "orderDetail",
         "material": "orderDetail", "due": "occurrenceDateTime", "status": "extension", "instructions": "note",
         "seat": "extension"},
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "ServiceRequest.subject", required=True),
        lab=ref_id(performers[0], "Organization", "ServiceRequest.performer[0]", required=True),
        kind=enum_of(LabKind.from_code, kind_code, "ServiceRequest.code") if kind_code else LabKind.OTHER,
        teeth=tuple(_read_teeth(r)),
        shade=shade,
        material=material,
        due=parse_date(r.get("occurrenceDateTime"), "ServiceRequest.occurrenceDateTime"),
        instructions="\n".join(notes),
        provider=ref_id(r.get("requester"), "Practitioner", "ServiceRequest.requester"),
        status=_lab_status(r),
        seat=_seat(r),
    )


register(Mapper(
    resource_types=("ServiceRequest",),
    domain_type=LabOrder,
    build=build_lab_order,
    read=read_lab_order,
    owned=("extension", "status", "intent", "category", "code", "orderDetail", "subject", "occurrenceDateTime",
           "requester", "performer", "bodySite", "note"),
    accepts=is_lab_request,
))


# --- Task -------------------------------------------------------------------------------------


def build_lab_task(task: LabTask) -> Resource:
    return clean({
        "resourceType": "Task",
        "id": task.id,
        "status": TASK_STATUS[task.status],
        "businessStatus": {"coding": [{"system": CS_LAB_STATUS, "code": task.status.value}],
                           "text": task.status.value.replace("-", " ")},
        "intent": "order",
        "focus": ref("ServiceRequest", task.order),
        "for": ref("Patient", task.patient),
        "lastModified": task.updated.isoformat() if task.updated else None,
        "owner": ref("Organization", task.lab),
        "input": [_attachment_input(a) for a in task.attachments],
    })


def _attachment_input(a: LabAttachment) -> dict[str, Any]:
    return {"type": _ATTACHMENT_INPUT, "valueAttachment": {
        "contentType": a.content_type, "title": a.title, "size": len(a.data),
        "data": base64.b64encode(a.data).decode("ascii"),
        "hash": base64.b64encode(hashlib.sha1(a.data).digest()).decode("ascii")}}  # FHIR Attachment.hash is SHA-1


def _read_attachments(r: Resource) -> tuple[LabAttachment, ...]:
    out = []
    for i, item in enumerate(r.get("input") or []):
        if code_in(item.get("type"), CS_LAB_INPUT) != "attachment":
            continue
        path = f"Task.input[{i}].valueAttachment"
        att = item.get("valueAttachment") or {}
        try:
            data = base64.b64decode(att.get("data") or "", validate=True)
            out.append(LabAttachment(title=att.get("title") or "attachment",
                                     content_type=att.get("contentType") or "application/octet-stream", data=data))
        except (ValueError, DomainError) as exc:
            raise FhirMappingError(f"an attached file cannot be read: {exc}", path=path) from None
    return tuple(out)


def read_lab_task(r: Resource) -> LabTask:
    if r.get("resourceType") != "Task":
        raise FhirMappingError(f"a lab task is a Task, not {r.get('resourceType')}", path="resourceType")
    business = code_in(r.get("businessStatus"), CS_LAB_STATUS)
    if business is not None:
        status = enum_of(LabStatus, business, "Task.businessStatus")
    else:
        status = _lookup(_FROM_TASK_STATUS, r.get("status"), "Task.status")
    return construct(
        LabTask, "Task", {"order": "focus", "patient": "for", "lab": "owner", "updated": "lastModified"},
        id=r.get("id"),
        order=ref_id(r.get("focus"), "ServiceRequest", "Task.focus", required=True),
        patient=ref_id(r.get("for"), "Patient", "Task.for"),
        lab=ref_id(r.get("owner"), "Organization", "Task.owner"),
        status=status,
        updated=parse_datetime(r.get("lastModified"), "Task.lastModified"),
        attachments=_read_attachments(r),
    )


register(Mapper(
    resource_types=("Task",),
    domain_type=LabTask,
    build=build_lab_task,
    read=read_lab_task,
    owned=("status", "businessStatus", "intent", "focus", "for", "lastModified", "owner", "input"),
))
