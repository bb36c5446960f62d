"""Images on the wire (``reference/fhir-dental.md`` §6).

* :class:`ImagingStudyMeta` → ``ImagingStudy``: the Study Instance UID as the official
  identifier (``urn:dicom:uid`` / ``urn:oid:<uid>``); modality in DICOM's DCM system; the CDT
  code and our projection coding in ``procedureCode``; per series the teeth it shows as Apex
  tooth-number extensions (one per tooth, as ``imagingstudy-bitewing.json`` does), plus
  ``series.bodySite`` when the series shows exactly one tooth (a Coding holds one); laterality in
  SNOMED; SOP classes as ``urn:oid:`` URIs. Counts are written, never read: they are derived.
* :class:`ImageDocument` → ``DocumentReference`` typed LOINC 52040-3 (dental images, not DICOM):
  the attachment points at ``Binary/<id>`` (or a URL), carries size, title, the SHA-1 that
  ``Attachment.hash`` is defined as, and our ``sha256`` extension (hex) used to dedupe uploads;
  the teeth are Apex extensions on the resource; the study is ``context.related``.
* :class:`BinaryBlob` → ``Binary`` with base64 ``data``; ``securityContext`` → the patient, so
  access to the bytes follows the patient's record.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.imaging import (
    BinaryBlob,
    ImageDocument,
    ImagingStudyMeta,
    Instance,
    Laterality,
    Modality,
    Projection,
    Series,
    StudyStatus,
    check_uid,
    projection_for_code,
)
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import clean, code_in, construct, enum_of, parse_datetime, ref, ref_id
from odonto_desk.fhir.teeth import (
    read_tooth_extensions,
    tooth_extensions,
    tooth_from_codeable,
    universal_coding,
)

# URIs this module adds (see fhir/codes.py for the rest).
CS_PROJECTION = codes.ODONTO_BASE + "CodeSystem/imaging-projection"
EXT_SHA256 = codes.ODONTO_BASE + "StructureDefinition/attachment-sha256"

LOINC_DENTAL_IMAGES = "52040-3"
_OID = "urn:oid:"
_LATERALITY: dict[Laterality, tuple[str, str]] = {
    Laterality.RIGHT: ("419465000", "Unilateral right"),
    Laterality.LEFT: ("419161000", "Unilateral left"),
    Laterality.BILATERAL: ("51440002", "Bilateral"),
}
_LATERALITY_BY_CODE = {code: lat for lat, (code, _) in _LATERALITY.items()}
# SOP classes a dental study holds (DICOM PS3.4 names), for the coding's display.
SOP_CLASS_NAMES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.1.3": "Digital Intra-Oral X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.3.1": "Digital Intra-Oral X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic Image Storage",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
}


def _modality_coding(m: Modality) -> dict[str, str]:
    return {"system": codes.DICOM_DCM, "code": m.value, "display": m.display}


def _oid(uid: str) -> str:
    return _OID + uid


def _uid_of(value: Any, path: str) -> str:
    """A UID from ``urn:oid:<uid>`` or a bare UID, checked here so the error names its element."""
    if not isinstance(value, str) or not value:
        raise FhirMappingError("a DICOM UID is required", path=path)
    try:
        return check_uid(value)
    except DomainError as exc:
        raise FhirMappingError(exc.message, path=path) from None


# --- ImagingStudy -----------------------------------------------------------------------------


def _build_instance(i: Instance) -> dict[str, Any]:
    sop = clean({"system": codes.URI_SYSTEM, "code": _oid(i.sop_class), "display": SOP_CLASS_NAMES.get(i.sop_class)})
    return clean({"uid": i.uid, "sopClass": sop, "number": i.number, "title": i.title})


def _build_series(s: Series, modality: Modality) -> dict[str, Any]:
    laterality = None
    if s.laterality:
        code, display = _LATERALITY[s.laterality]
        laterality = {"system": codes.SNOMED, "code": code, "display": display}
    return clean({
        "extension": [e for t in s.teeth for e in tooth_extensions(t)],
        "uid": s.uid,
        "number": s.number,
        "modality": _modality_coding(modality),
        "description": s.description,
        "numberOfInstances": len(s.instances),
        "bodySite": universal_coding(s.teeth[0]) if len(s.teeth) == 1 else None,
        "laterality": laterality,
        "instance": [_build_instance(i) for i in s.instances],
    })


def _procedure_code(study: ImagingStudyMeta) -> list[dict[str, Any]]:
    coding = []
    if study.code:
        coding.append({"system": codes.CDT, "code": study.code})
    if study.projection:
        coding.append({"system": CS_PROJECTION, "code": study.projection.value})
    if not coding:
        return []
    text = " ".join(x for x in (study.code, study.projection.value if study.projection else None) if x)
    return [{"coding": coding, "text": text}]


def build_study(study: ImagingStudyMeta) -> Resource:
    return clean({
        "resourceType": "ImagingStudy",
        "id": study.id,
        "identifier": [{"use": "official", "system": codes.DICOM_UID_SYSTEM, "value": _oid(study.study_uid)}],
        "status": study.status.value,
        "modality": [_modality_coding(study.modality)],
        "subject": ref("Patient", study.patient),
        "started": study.started.isoformat() if study.started else None,
        "referrer": ref("Practitioner", study.referrer),
        "numberOfSeries": len(study.series),
        "numberOfInstances": study.number_of_instances,
        "procedureCode": _procedure_code(study),
        "description": study.description,
        "series": [_build_series(s, study.modality) for s in study.series],
    })


def _series_teeth(s: dict[str, Any], path: str) -> tuple[Tooth, ...]:
    _, teeth = read_tooth_extensions(s, path)
    if not teeth and s.get("bodySite"):
        tooth = tooth_from_codeable(s["bodySite"], f"{path}.bodySite")
        teeth = [tooth] if tooth else []
    return tuple(dict.fromkeys(teeth))


def _read_series(s: dict[str, Any], path: str, modality: str | None) -> dict[str, Any]:
    series_modality = (s.get("modality") or {}).get("code")
    if modality is not None and series_modality is not None and series_modality != modality:
        raise FhirMappingError(f"series modality {series_modality} differs from the study's {modality}",
                               path=f"{path}.modality")
    lat_code = (s.get("laterality") or {}).get("code")
    laterality = None
    if lat_code is not None:
        if lat_code not in _LATERALITY_BY_CODE:
            raise FhirMappingError(f"{lat_code!r} is not a laterality (SNOMED right, left, bilateral)",
                                   path=f"{path}.laterality")
        laterality = _LATERALITY_BY_CODE[lat_code]
    instances = []
    for j, inst in enumerate(s.get("instance") or []):
        ip = f"{path}.instance[{j}]"
        instances.append({"uid": _uid_of(inst.get("uid"), f"{ip}.uid"),
                          "sop_class": _uid_of((inst.get("sopClass") or {}).get("code"), f"{ip}.sopClass"),
                          "number": inst.get("number"), "title": inst.get("title")})
    return {"uid": _uid_of(s.get("uid"), f"{path}.uid"), "number": s.get("number"),
            "description": s.get("description"), "laterality": laterality, "teeth": _series_teeth(s, path),
            "instances": tuple(instances)}


def _study_uid(r: Resource) -> str:
    for i, ident in enumerate(r.get("identifier") or []):
        if ident.get("system") == codes.DICOM_UID_SYSTEM:
            return _uid_of(ident.get("value"), f"ImagingStudy.identifier[{i}].value")
    raise FhirMappingError("an imaging study needs its Study Instance UID (urn:dicom:uid identifier)",
                           path="ImagingStudy.identifier")


def _projection(r: Resource, code: str | None) -> Projection | None:
    for cc in r.get("procedureCode") or []:
        p = code_in(cc, CS_PROJECTION)
        if p is not None:
            return enum_of(Projection, p, "ImagingStudy.procedureCode")
    return projection_for_code(code) if code else None


def read_study(r: Resource) -> ImagingStudyMeta:
    if r.get("resourceType") != "ImagingStudy":
        raise FhirMappingError(f"an imaging study is an ImagingStudy, not {r.get('resourceType')}",
                               path="resourceType")
    modalities = r.get("modality") or [(s.get("modality") or {}) for s in r.get("series") or []][:1]
    modality = modalities[0].get("code") if modalities else None
    if modality is None:
        raise FhirMappingError("an imaging study needs a modality", path="ImagingStudy.modality")
    code = next((code_in(cc, codes.CDT) for cc in r.get("procedureCode") or [] if code_in(cc, codes.CDT)), None)
    series = [_read_series(s, f"ImagingStudy.series[{i}]", modality) for i, s in enumerate(r.get("series") or [])]
    return construct(
        ImagingStudyMeta, "ImagingStudy",
        {"patient": "subject", "study_uid": "identifier", "modality": "modality", "started": "started",
         "code": "procedureCode", "projection": "procedureCode", "series": "series", "status": "status"},
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "ImagingStudy.subject", required=True),
        study_uid=_study_uid(r),
        modality=enum_of(Modality, modality, "ImagingStudy.modality[0].code"),
        started=parse_datetime(r.get("started"), "ImagingStudy.started"),
        description=r.get("description"),
        code=code,
        projection=_projection(r, code),
        referrer=ref_id(r.get("referrer"), "Practitioner", "ImagingStudy.referrer"),
        status=enum_of(StudyStatus, r.get("status"), "ImagingStudy.status"),
        series=tuple(series),
    )


register(Mapper(
    resource_types=("ImagingStudy",),
    domain_type=ImagingStudyMeta,
    build=build_study,
    read=read_study,
    owned=("identifier", "status", "modality", "subject", "started", "referrer", "numberOfSeries",
           "numberOfInstances", "procedureCode", "description", "series"),
))


# --- DocumentReference ------------------------------------------------------------------------


def build_document(doc: ImageDocument) -> Resource:
    attachment = clean({
        "extension": [{"url": EXT_SHA256, "valueString": doc.sha256}] if doc.sha256 else [],
        "contentType": doc.content_type,
        "url": f"Binary/{doc.binary}" if doc.binary else doc.url,
        "size": doc.size,
        "hash": doc.sha1,
        "title": doc.title,
    })
    return clean({
        "resourceType": "DocumentReference",
        "id": doc.id,
        "extension": [e for t in doc.teeth for e in tooth_extensions(t)],
        "status": "current",
        "type": {"coding": [{"system": codes.LOINC, "code": LOINC_DENTAL_IMAGES,
                             "display": "Dental X-rays and other images (not DICOM)"}]},
        "subject": ref("Patient", doc.patient),
        "date": doc.created.isoformat() if doc.created else None,
        "description": doc.title,
        "content": [{"attachment": attachment}],
        "context": {"related": [ref("ImagingStudy", doc.study)]} if doc.study else None,
    })


def _binary_or_url(url: Any) -> tuple[str | None, str | None]:
    if not isinstance(url, str) or not url:
        return None, None
    tail = url.split("/_history/")[0]
    if tail.startswith("Binary/") and "/" not in tail[len("Binary/"):]:
        return tail[len("Binary/"):], None
    return None, url


def read_document(r: Resource) -> ImageDocument:
    if r.get("resourceType") != "DocumentReference":
        raise FhirMappingError(f"an image document is a DocumentReference, not {r.get('resourceType')}",
                               path="resourceType")
    contents = r.get("content") or []
    if not contents or not isinstance(contents[0].get("attachment"), dict):
        raise FhirMappingError("a document needs content with an attachment", path="DocumentReference.content")
    att = contents[0]["attachment"]
    sha256 = next((e.get("valueString") for e in att.get("extension") or [] if e.get("url") == EXT_SHA256), None)
    binary, url = _binary_or_url(att.get("url"))
    related = ((r.get("context") or {}).get("related") or [])
    study = next((ref_id(x, "ImagingStudy", f"DocumentReference.context.related[{i}]")
                  for i, x in enumerate(related) if str(x.get("reference", "")).startswith("ImagingStudy/")), None)
    _, teeth = read_tooth_extensions(r, "DocumentReference")
    a = "content[0].attachment"
    return construct(
        ImageDocument, "DocumentReference",
        {"patient": "subject", "content_type": f"{a}.contentType", "size": f"{a}.size", "sha256": f"{a}.extension",
         "sha1": f"{a}.hash", "title": f"{a}.title", "url": f"{a}.url", "teeth": "extension", "created": "date"},
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "DocumentReference.subject", required=True),
        content_type=att.get("contentType") or "",
        size=att.get("size"),
        sha256=sha256,
        sha1=att.get("hash"),
        title=att.get("title"),
        binary=binary,
        url=url,
        study=study,
        teeth=tuple(dict.fromkeys(teeth)),
        created=parse_datetime(r.get("date"), "DocumentReference.date"),
    )


register(Mapper(
    resource_types=("DocumentReference",),
    domain_type=ImageDocument,
    build=build_document,
    read=read_document,
    owned=("extension", "status", "type", "subject", "date", "description", "content", "context"),
))


# --- Binary -----------------------------------------------------------------------------------


def build_binary(blob: BinaryBlob) -> Resource:
    return clean({
        "resourceType": "Binary",
        "id": blob.id,
        "contentType": blob.content_type,
        "securityContext": ref("Patient", blob.patient),
        "data": base64.b64encode(blob.data).decode("ascii"),
    })


def read_binary(r: Resource) -> BinaryBlob:
    if r.get("resourceType") != "Binary":
        raise FhirMappingError(f"bytes come in a Binary, not {r.get('resourceType')}", path="resourceType")
    raw = r.get("data") or ""
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise FhirMappingError("data is not base64", path="Binary.data") from None
    context = r.get("securityContext")
    patient = ref_id(context, "Patient", "Binary.securityContext") if str(
        (context or {}).get("reference", "")).startswith("Patient/") else None
    return construct(BinaryBlob, "Binary", {"content_type": "contentType"}, id=r.get("id"),
                     content_type=r.get("contentType") or "", data=data, patient=patient)


register(Mapper(
    resource_types=("Binary",),
    domain_type=BinaryBlob,
    build=build_binary,
    read=read_binary,
    owned=("contentType", "securityContext", "data"),
))
