"""Patients, practitioners, organizations and visits on the wire.

* :class:`Patient` → ``Patient``; the GPID is the identifier in :data:`codes.GPID_SYSTEM` (use
  ``usual``); other identifiers (a chart number) travel as system + value.
* :class:`Practitioner` → ``Practitioner``; NPI as identifier, the role as a qualification coded
  in our provider-role system (R4 Practitioner has no role element of its own).
* :class:`Organization` → ``Organization``; the kind both as HL7 organization-type (``prov`` /
  ``ins`` / ``other``) and as our organization-kind code, which alone tells a lab from "other".
* :class:`Encounter` → ``Encounter``, class ``AMB``; the visit kind in our visit-kind system.

The small readers here (references, dates, domain construction) are shared with the billing
module.
"""

from __future__ import annotations

from typing import Any

from odonto_desk.domain.people import (
    Address,
    Encounter,
    EncounterStatus,
    Gender,
    HumanName,
    Identifier,
    Organization,
    OrgKind,
    Patient,
    Practitioner,
    ProviderRole,
    VisitKind,
)
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

# URIs this module adds to the project's own (see fhir/codes.py for the rest).
CS_PROVIDER_ROLE = codes.ODONTO_BASE + "CodeSystem/provider-role"
CS_ORG_KIND = codes.ODONTO_BASE + "CodeSystem/organization-kind"
CS_VISIT_KIND = codes.ODONTO_BASE + "CodeSystem/visit-kind"
TAX_ID_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"  # US IRS employer identification number

_ORG_TYPE = {OrgKind.PRACTICE: ("prov", "Healthcare Provider"), OrgKind.PAYER: ("ins", "Insurance Company"),
             OrgKind.LAB: ("other", "Other")}
_ORG_KIND_BY_HL7 = {"prov": OrgKind.PRACTICE, "ins": OrgKind.PAYER, "pay": OrgKind.PAYER}

def _human_name(name: HumanName) -> dict[str, Any]:
    return clean({"family": name.family, "given": list(name.given), "prefix": list(name.prefix),
                  "suffix": list(name.suffix)})


def _read_name(names: Any, path: str) -> HumanName:
    """The official name, else the first; a missing family name is reported at ``path``."""
    if not isinstance(names, list) or not names:
        raise FhirMappingError("a name is required", path=path)
    official = [i for i, n in enumerate(names) if n.get("use") == "official"]
    i = official[0] if official else 0
    n = names[i]
    return construct(HumanName, path, {"family": f"[{i}].family"}, family=n.get("family") or "",
                     given=tuple(n.get("given") or ()), prefix=tuple(n.get("prefix") or ()),
                     suffix=tuple(n.get("suffix") or ()))


# --- Patient --------------------------------------------------------------------------------------


def build_patient(p: Patient) -> Resource:
    identifiers = [{"use": "usual", "system": codes.GPID_SYSTEM, "value": p.gpid}]
    identifiers += [{"system": i.system, "value": i.value} for i in p.identifiers]
    telecom = []
    if p.phone:
        telecom.append({"system": "phone", "value": p.phone})
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    address = None
    if p.address is not None:
        a = p.address
        address = [clean({"line": list(a.lines), "city": a.city, "state": a.state, "postalCode": a.postal_code,
                          "country": a.country})]
    return clean({
        "resourceType": "Patient", "id": p.id, "identifier": identifiers, "name": [_human_name(p.name)],
        "telecom": telecom, "gender": p.gender.value, "birthDate": p.birth_date.isoformat() if p.birth_date else None,
        "address": address, "managingOrganization": ref("Organization", p.practice),
    })


def read_patient(r: Resource) -> Patient:
    gpid: str | None = None
    others: list[Identifier] = []
    for i, ident in enumerate(r.get("identifier") or []):
        system, value = ident.get("system"), ident.get("value")
        if system == codes.GPID_SYSTEM and gpid is None:
            gpid = value
        elif system and value:
            others.append(construct(Identifier, f"Patient.identifier[{i}]", {}, system=system, value=value))
    if gpid is None:
        raise FhirMappingError("a patient needs a GPID identifier", path="Patient.identifier")
    name = _read_name(r.get("name"), "Patient.name")
    telecom = r.get("telecom") or []
    phone = next((t.get("value") for t in telecom if t.get("system") == "phone"), None)
    email = next((t.get("value") for t in telecom if t.get("system") == "email"), None)
    address = None
    if r.get("address"):
        a = r["address"][0]
        address = construct(Address, "Patient.address[0]", {"lines": "line", "postal_code": "postalCode"},
                            lines=tuple(a.get("line") or ()), city=a.get("city"), state=a.get("state"),
                            postal_code=a.get("postalCode"), country=a.get("country"))
    return construct(
        Patient, "Patient",
        {"gpid": "identifier", "birth_date": "birthDate", "phone": "telecom", "email": "telecom",
         "practice": "managingOrganization"},
        id=r.get("id"), gpid=gpid, name=name, birth_date=parse_date(r.get("birthDate"), "Patient.birthDate"),
        gender=enum_of(Gender, r.get("gender", "unknown"), "Patient.gender"), phone=phone, email=email,
        address=address, identifiers=tuple(others),
        practice=ref_id(r.get("managingOrganization"), "Organization", "Patient.managingOrganization"),
    )


# --- Practitioner ---------------------------------------------------------------------------------


def build_practitioner(p: Practitioner) -> Resource:
    return clean({
        "resourceType": "Practitioner", "id": p.id,
        "identifier": [{"system": codes.NPI_SYSTEM, "value": p.npi}] if p.npi else None,
        "name": [_human_name(p.name)],
        "qualification": [{"code": {"coding": [{"system": CS_PROVIDER_ROLE, "code": p.role.value,
                                                "display": p.role.value.capitalize()}]}}],
    })


def read_practitioner(r: Resource) -> Practitioner:
    npi = next((i.get("value") for i in r.get("identifier") or [] if i.get("system") == codes.NPI_SYSTEM), None)
    role = ProviderRole.DENTIST
    for i, q in enumerate(r.get("qualification") or []):
        code = code_in(q.get("code"), CS_PROVIDER_ROLE)
        if code is not None:
            role = enum_of(ProviderRole, code, f"Practitioner.qualification[{i}].code")
            break
    name = _read_name(r.get("name"), "Practitioner.name")
    return construct(Practitioner, "Practitioner", {"npi": "identifier"}, id=r.get("id"), name=name, npi=npi,
                     role=role)


# --- Organization ---------------------------------------------------------------------------------


def build_organization(o: Organization) -> Resource:
    hl7_code, hl7_display = _ORG_TYPE[o.kind]
    identifiers = []
    if o.npi:
        identifiers.append({"system": codes.NPI_SYSTEM, "value": o.npi})
    if o.tax_id:
        identifiers.append({"system": TAX_ID_SYSTEM, "value": o.tax_id})
    return clean({
        "resourceType": "Organization", "id": o.id, "identifier": identifiers,
        "type": [{"coding": [{"system": codes.ORGANIZATION_TYPE, "code": hl7_code, "display": hl7_display},
                             {"system": CS_ORG_KIND, "code": o.kind.value}]}],
        "name": o.name,
    })


def _org_kind(types: list[dict[str, Any]]) -> OrgKind:
    for i, cc in enumerate(types):
        code = code_in(cc, CS_ORG_KIND)
        if code is not None:
            return enum_of(OrgKind, code, f"Organization.type[{i}]")
    for cc in types:
        kind = _ORG_KIND_BY_HL7.get(code_in(cc, codes.ORGANIZATION_TYPE) or "")
        if kind is not None:
            return kind
    raise FhirMappingError("cannot tell whether this is a practice, a payer or a lab", path="Organization.type")


def read_organization(r: Resource) -> Organization:
    idents = r.get("identifier") or []
    npi = next((i.get("value") for i in idents if i.get("system") == codes.NPI_SYSTEM), None)
    tax_id = next((i.get("value") for i in idents if i.get("system") == TAX_ID_SYSTEM), None)
    return construct(Organization, "Organization", {"npi": "identifier", "tax_id": "identifier"},
                     id=r.get("id"), name=r.get("name") or "", kind=_org_kind(r.get("type") or []), npi=npi,
                     tax_id=tax_id)


# --- Encounter ------------------------------------------------------------------------------------


def build_encounter(e: Encounter) -> Resource:
    return clean({
        "resourceType": "Encounter", "id": e.id, "status": e.status.value,
        "class": {"system": codes.V3_ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"coding": [{"system": CS_VISIT_KIND, "code": e.kind.value, "display": e.kind.value.capitalize()}]}],
        "subject": ref("Patient", e.patient),
        "participant": [{"individual": ref("Practitioner", e.provider)}] if e.provider else None,
        "period": clean({"start": e.start.isoformat(), "end": e.end.isoformat() if e.end else None}),
        "serviceProvider": ref("Organization", e.practice),
    })


def read_encounter(r: Resource) -> Encounter:
    kind = VisitKind.EXAM
    for i, cc in enumerate(r.get("type") or []):
        code = code_in(cc, CS_VISIT_KIND)
        if code is not None:
            kind = enum_of(VisitKind, code, f"Encounter.type[{i}]")
            break
    provider = None
    for i, p in enumerate(r.get("participant") or []):
        provider = ref_id(p.get("individual"), "Practitioner", f"Encounter.participant[{i}].individual")
        if provider:
            break
    period = r.get("period") or {}
    start = parse_datetime(period.get("start"), "Encounter.period.start")
    if start is None:
        raise FhirMappingError("a visit needs a start time", path="Encounter.period.start")
    return construct(
        Encounter, "Encounter", {"start": "period.start", "end": "period.end", "practice": "serviceProvider",
                                 "provider": "participant"},
        id=r.get("id"), patient=ref_id(r.get("subject"), "Patient", "Encounter.subject", required=True),
        provider=provider, start=start, end=parse_datetime(period.get("end"), "Encounter.period.end"),
        status=enum_of(EncounterStatus, r.get("status"), "Encounter.status"), kind=kind,
        practice=ref_id(r.get("serviceProvider"), "Organization", "Encounter.serviceProvider"),
    )


register(Mapper(resource_types=("Patient",), domain_type=Patient, build=build_patient, read=read_patient,
                owned=("identifier", "name", "telecom", "gender", "birthDate", "address", "managingOrganization")))
register(Mapper(resource_types=("Practitioner",), domain_type=Practitioner, build=build_practitioner,
                read=read_practitioner, owned=("identifier", "name", "qualification")))
register(Mapper(resource_types=("Organization",), domain_type=Organization, build=build_organization,
                read=read_organization, owned=("identifier", "type", "name")))
register(Mapper(resource_types=("Encounter",), domain_type=Encounter, build=build_encounter, read=read_encounter,
                owned=("status", "class", "type", "subject", "participant", "period", "serviceProvider")))
