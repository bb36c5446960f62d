"""Chart marks on the wire.

A :class:`ChartMark` travels as the resource its status calls for:

* condition (``cn``) → ``Condition`` (caries also carries SNOMED 80967001);
* completed / existing (``c``, ``ec``, ``eo``) → ``Procedure`` with status ``completed``; ``ec``
  and ``eo`` are told apart by our ``chart-status`` extension (absent means ``c``);
* treatment planned (``tp``) → ``ServiceRequest`` intent ``plan``; referred (``r``) →
  ``ServiceRequest`` intent ``order`` with the SNOMED referral category.

Each carries the tooth three ways (contained BodyStructure, ``bodySite`` codings, the two Apex
extensions), the CDT code when there is one, our ``chart-mark-kind`` coding beside it, and the
material (``Procedure.usedCode`` / ``ServiceRequest.orderDetail``). A resource from another
system with only a CDT code is read by what the code charts as (D2392 → composite filling).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odonto_desk.domain.cdt import default_category
from odonto_desk.domain.chart import ChartMark, MarkKind, MarkStatus, Material, kind_for_code
from odonto_desk.domain.errors import DomainError, from_validation_error
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import ref, ref_id
from odonto_desk.fhir.resources.alerts import is_medical_alert
from odonto_desk.fhir.teeth import apex_tooth_block, read_tooth_and_surfaces, tooth_codeable

_DENTAL = {"coding": [{"system": codes.DENTAL_CATEGORY, "code": "dental", "display": "Dental"}]}


def _code_codeable(mark: ChartMark) -> dict[str, Any]:
    coding: list[dict[str, Any]] = []
    if mark.code:
        coding.append({"system": codes.CDT, "code": mark.code})
    if mark.kind is MarkKind.CARIES:
        coding.append({"system": codes.SNOMED, "code": codes.SNOMED_CARIES, "display": "Dental caries"})
    coding.append({"system": codes.CS_MARK_KIND, "code": mark.kind.name.lower(), "display": mark.kind.value})
    return {"coding": coding, "text": _text(mark)}


def _text(mark: ChartMark) -> str:
    words = [mark.material.value if mark.material else "", mark.kind.value]
    head = " ".join(w for w in words if w)
    where = f"tooth {mark.tooth.universal}" + (f" {mark.surface_string}" if mark.surfaces else "")
    return f"{head[0].upper()}{head[1:]}, {where}"


def _material_codeable(material: Material) -> dict[str, Any]:
    return {"coding": [{"system": codes.CS_MATERIAL, "code": material.name.lower(), "display": material.value}]}


def _common(mark: ChartMark, rtype: str) -> dict[str, Any]:
    patient_ref = f"Patient/{mark.patient}" if mark.patient else None
    contained, ext = apex_tooth_block(mark.tooth, mark.surfaces, patient_ref, bs_id=f"bs-{mark.tooth.universal}")
    r: dict[str, Any] = {"resourceType": rtype, "id": mark.id}
    if contained:
        r["contained"] = contained
    if ext:
        r["extension"] = ext
    return r


def build_mark(mark: ChartMark) -> Resource:
    if mark.status is MarkStatus.CONDITION:
        return _build_condition(mark)
    if mark.status in (MarkStatus.TREATMENT_PLANNED, MarkStatus.REFERRED):
        return _build_service_request(mark)
    return _build_procedure(mark)


def _build_condition(mark: ChartMark) -> Resource:
    r = _common(mark, "Condition")
    r["clinicalStatus"] = {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]}
    r["verificationStatus"] = {"coding": [{"system": codes.CONDITION_VER_STATUS, "code": "confirmed"}]}
    r["category"] = [_DENTAL]
    r["code"] = _code_codeable(mark)
    r["bodySite"] = [tooth_codeable(mark.tooth)]
    if mark.patient:
        r["subject"] = ref("Patient", mark.patient)
    if mark.date:
        r["onsetDateTime"] = mark.date.isoformat()
    if mark.provider:
        r["recorder"] = ref("Practitioner", mark.provider)
    if mark.note:
        r["note"] = [{"text": mark.note}]
    return r


def _build_procedure(mark: ChartMark) -> Resource:
    r = _common(mark, "Procedure")
    if mark.status is not MarkStatus.COMPLETED:
        r.setdefault("extension", []).append({"url": codes.EXT_MARK_STATUS, "valueCode": mark.status.value})
    r["status"] = "completed"
    r["category"] = _DENTAL
    r["code"] = _code_codeable(mark)
    if mark.patient:
        r["subject"] = ref("Patient", mark.patient)
    if mark.date:
        r["performedDateTime"] = mark.date.isoformat()
    if mark.provider:
        r["performer"] = [{"actor": ref("Practitioner", mark.provider)}]
    r["bodySite"] = [tooth_codeable(mark.tooth)]
    if mark.note:
        r["note"] = [{"text": mark.note}]
    if mark.material:
        r["usedCode"] = [_material_codeable(mark.material)]
    return r


def _build_service_request(mark: ChartMark) -> Resource:
    r = _common(mark, "ServiceRequest")
    r["status"] = "active"
    referred = mark.status is MarkStatus.REFERRED
    r["intent"] = "order" if referred else "plan"
    category = [_DENTAL]
    if mark.code:
        cat = default_category(mark.code)
        category.append({"coding": [{"system": codes.CS_SERVICE_CATEGORY, "code": cat.value}]})
    if referred:
        category.append({"coding": [{"system": codes.SNOMED, "code": codes.SNOMED_REFERRAL,
                                     "display": "Patient referral"}]})
    r["category"] = category
    r["code"] = _code_codeable(mark)
    if mark.material:
        r["orderDetail"] = [_material_codeable(mark.material)]
    if mark.patient:
        r["subject"] = ref("Patient", mark.patient)
    if mark.date:
        r["occurrenceDateTime"] = mark.date.isoformat()
    if mark.provider:
        r["requester"] = ref("Practitioner", mark.provider)
    r["bodySite"] = [tooth_codeable(mark.tooth)]
    if mark.note:
        r["note"] = [{"text": mark.note}]
    return r


# --- reading ---------------------------------------------------------------------------------


def _kind_code_material(r: Resource, rtype: str) -> tuple[MarkKind, str | None, Material | None]:
    coding = (r.get("code") or {}).get("coding") or []
    kind: MarkKind | None = None
    cdt: str | None = None
    for i, c in enumerate(coding):
        system = c.get("system")
        if system == codes.CS_MARK_KIND:
            try:
                kind = MarkKind[str(c.get("code", "")).upper()]
            except KeyError:
                raise FhirMappingError(f"{c.get('code')!r} is not a chart-mark kind",
                                       path=f"{rtype}.code.coding[{i}].code") from None
        elif system in codes.CDT_ALIASES:
            cdt = c.get("code")
        elif system == codes.SNOMED and c.get("code") == codes.SNOMED_CARIES and kind is None:
            kind = MarkKind.CARIES
    material: Material | None = None
    mat_key = "usedCode" if rtype == "Procedure" else "orderDetail"
    for i, cc in enumerate(r.get(mat_key) or []):
        for c in cc.get("coding") or []:
            if c.get("system") == codes.CS_MATERIAL:
                try:
                    material = Material[str(c.get("code", "")).upper()]
                except KeyError:
                    raise FhirMappingError(f"{c.get('code')!r} is not a material",
                                           path=f"{rtype}.{mat_key}[{i}]") from None
    if kind is None and cdt:
        try:
            guess = kind_for_code(cdt)
        except DomainError as exc:
            raise FhirMappingError(exc.message, path=f"{rtype}.code") from None
        if guess:
            kind = guess[0]
            if material is None:
                material = guess[1]
    if kind is None:
        raise FhirMappingError("cannot tell which chart mark this is: no chart-mark kind, caries or "
                               "charting CDT code", path=f"{rtype}.code")
    return kind, cdt, material


def _date(value: Any, path: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise FhirMappingError(f"{value!r} is not a date", path=path) from None


def read_mark(r: Resource) -> ChartMark:
    rtype = r.get("resourceType")
    if rtype not in ("Condition", "Procedure", "ServiceRequest"):
        raise FhirMappingError(f"a chart mark is a Condition, Procedure or ServiceRequest, not {rtype}",
                               path="resourceType")
    tooth, surfaces = read_tooth_and_surfaces(r, rtype)
    if tooth is None:
        raise FhirMappingError("a chart mark needs a tooth (tooth-number extension or bodySite)",
                               path=f"{rtype}.bodySite")
    kind, cdt, material = _kind_code_material(r, rtype)
    patient = ref_id(r.get("subject"), "Patient", "subject", strict=False)
    notes = [n.get("text", "") for n in r.get("note") or []]
    note = "\n".join(notes)
    if rtype == "Condition":
        status = MarkStatus.CONDITION
        date = _date(r.get("onsetDateTime"), "Condition.onsetDateTime")
        provider = ref_id(r.get("recorder"), "Practitioner", "recorder", strict=False)
    elif rtype == "Procedure":
        if r.get("status") not in ("completed", "in-progress"):
            raise FhirMappingError(f"a procedure with status {r.get('status')!r} is not on the chart",
                                   path="Procedure.status")
        status = MarkStatus.COMPLETED
        for i, ext in enumerate(r.get("extension") or []):
            if ext.get("url") == codes.EXT_MARK_STATUS:
                try:
                    status = MarkStatus(ext.get("valueCode"))
                except ValueError:
                    raise FhirMappingError(f"{ext.get('valueCode')!r} is not a chart status",
                                           path=f"Procedure.extension[{i}]") from None
        date = _date(r.get("performedDateTime"), "Procedure.performedDateTime")
        performers = r.get("performer") or [{}]
        provider = ref_id(performers[0].get("actor"), "Practitioner", "performer[0].actor", strict=False)
    else:
        status = MarkStatus.REFERRED if r.get("intent") == "order" else MarkStatus.TREATMENT_PLANNED
        date = _date(r.get("occurrenceDateTime"), "ServiceRequest.occurrenceDateTime")
        provider = ref_id(r.get("requester"), "Practitioner", "requester", strict=False)
    try:
        return ChartMark(id=r.get("id") or ChartMark.model_fields["id"].default_factory(),  # type: ignore[misc]
                         patient=patient, tooth=tooth, kind=kind, status=status, surfaces=surfaces,
                         material=material, code=cdt, date=date, provider=provider, note=note)
    except Exception as exc:  # pydantic ValidationError carrying our DomainError
        err = from_validation_error(exc)
        field = {"surfaces": "extension", "code": "code", "tooth": "bodySite"}.get(err.field or "", err.field)
        raise FhirMappingError(err.message, path=f"{rtype}.{field}" if field else rtype) from None


# --- life cycle: what is on the chart, and how a mark leaves it without being deleted -------------

_LIVE_CONDITION = ("active", "recurrence", "relapse")


def _has_tooth(r: Resource) -> bool:
    return bool(r.get("bodySite")) or any(e.get("url") == codes.EXT_TOOTH_NUMBER for e in r.get("extension") or [])


def on_chart(r: Resource) -> bool:
    """True when the resource is a chart mark in effect (not retired, not a lab order, not done plan).

    Work on no tooth (a prophylaxis, an exam posted to the ledger) and conditions on no tooth (medical
    alerts, other problem-list items) are not drawn on the odontogram.
    """
    rtype = r.get("resourceType")
    if rtype in ("Condition", "Procedure", "ServiceRequest") and not _has_tooth(r):
        return False  # a medical alert (latex allergy) is a Condition on no tooth: not on the chart
    if rtype == "Condition":
        verification = _code_of(r.get("verificationStatus"))
        clinical = _code_of(r.get("clinicalStatus"))
        return verification not in ("entered-in-error", "refuted") and (clinical is None
                                                                          or clinical in _LIVE_CONDITION)
    if rtype == "Procedure":
        return r.get("status") in ("completed", "in-progress")
    if rtype == "ServiceRequest":
        return r.get("status") in ("active", "draft", "on-hold") and _not_lab(r)
    return False


def retired(r: Resource) -> Resource:
    """The same resource marked entered-in-error: how a mark charted by mistake leaves the chart.

    Nothing is deleted: the version history keeps what was charted, by whom and when.
    """
    out = dict(r)
    if r.get("resourceType") == "Condition":
        out.pop("clinicalStatus", None)  # con-5: no clinical status on an entered-in-error condition
        out["verificationStatus"] = {"coding": [{"system": codes.CONDITION_VER_STATUS, "code": "entered-in-error"}]}
    else:
        out["status"] = "entered-in-error"
    return out


def plan_done(r: Resource) -> Resource:
    """A planned ServiceRequest closed because the work was done (the Procedure records the work)."""
    if r.get("resourceType") != "ServiceRequest":
        raise FhirMappingError("only a planned item (ServiceRequest) can be closed as done", path="resourceType")
    return {**r, "status": "completed"}


def _code_of(cc: Any) -> str | None:
    for c in (cc or {}).get("coding") or []:
        if c.get("code"):
            return str(c["code"])
    return None


def _not_lab(r: Resource) -> bool:
    if r.get("resourceType") != "ServiceRequest":
        return True
    for cc in r.get("category") or []:
        for c in cc.get("coding") or []:
            if c.get("system") == codes.CS_SERVICE_CATEGORY and c.get("code") == "lab_appliance":
                return False
    return True


def _chart_mark(r: Resource) -> bool:
    """Not a lab order and not a medical alert: those have mappers of their own."""
    return _not_lab(r) and not is_medical_alert(r)


register(Mapper(
    resource_types=("Condition", "Procedure", "ServiceRequest"),
    domain_type=ChartMark,
    build=build_mark,
    read=read_mark,
    owned=("contained", "extension", "clinicalStatus", "verificationStatus", "category", "code", "bodySite",
           "subject", "onsetDateTime", "recorder", "note", "status", "performedDateTime", "performer",
           "usedCode", "intent", "orderDetail", "occurrenceDateTime", "requester"),
    accepts=_chart_mark,
))
