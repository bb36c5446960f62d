"""Coverage, ledger charges, dental claims and adjudications on the wire.

* :class:`Coverage` → ``Coverage`` (type ``v3-ActCode#DENTAL``); group and plan as ``class``.
* :class:`ChargeItem` → ``ChargeItem``; the tooth as ``bodysite`` plus the same contained
  BodyStructure and Apex extensions a Procedure carries; the fee as ``priceOverride``.
* :class:`Claim` → ``Claim`` type ``oral`` (``reference/fhir-dental.md`` §2): each line has the CDT
  code in ``productOrService``, the tooth in ``bodySite`` (Universal only), one ``subSite`` per
  surface, the two Apex extensions, ``unitPrice`` and ``net``; the treating dentist is care-team
  member 1; the Procedure a line bills is linked through ``Claim.procedure`` + ``procedureSequence``.
* :class:`ClaimResponse` → ``ClaimResponse`` type ``oral``; per line the adjudication amounts
  (HL7 ``adjudication`` codes submitted / eligible / benefit / copay), their totals, the payment.

Money is written as a JSON number with its currency; a resource whose amounts mix currencies,
or whose total is not the sum of its lines, is refused with the path at fault.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from odonto_desk.domain.billing import (
    ChargeItem,
    ChargeStatus,
    Claim,
    ClaimItem,
    ClaimResponse,
    ClaimUse,
    Coverage,
    FinancialStatus,
    ItemAdjudication,
    Outcome,
    Payee,
    Payment,
    Priority,
    Relationship,
    to_amount,
)
from odonto_desk.domain.chart import ChartMark, MarkStatus, kind_for_code
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import sort_surfaces
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
from odonto_desk.fhir.resources.chart import build_mark
from odonto_desk.fhir.teeth import (
    apex_tooth_block,
    claim_tooth_codeable,
    read_sub_sites,
    read_surfaces,
    read_tooth_and_surfaces,
    read_tooth_extensions,
    surface_codeable,
    tooth_codeable,
    tooth_extensions,
    tooth_from_codeable,
)

# URIs this module adds (see fhir/codes.py for the rest).
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"

_ORAL = {"coding": [{"system": codes.CLAIM_TYPE, "code": "oral", "display": "Oral"}]}
_DENTAL_POLICY = {"coding": [{"system": codes.V3_ACT_CODE, "code": "DENTAL", "display": "dental care policy"}]}


# --- money ----------------------------------------------------------------------------------------


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    """FHIR Money. A JSON number: cents survive, since domain amounts have at most two places."""
    return {"value": float(amount), "currency": currency}


class _Currencies:
    """Collects the currency of every Money read, so a mix is refused where it first appears."""

    def __init__(self) -> None:
        self.currency: str | None = None

    def amount(self, m: Any, path: str) -> Decimal | None:
        if m is None:
            return None
        if not isinstance(m, dict) or "value" not in m:
            raise FhirMappingError("an amount needs a value", path=path)
        cur = m.get("currency")
        if cur is not None:
            if self.currency is not None and cur != self.currency:
                raise FhirMappingError(f"{cur} amount in a {self.currency} resource: one currency only",
                                       path=f"{path}.currency")
            self.currency = cur
        try:
            return to_amount(m["value"])
        except DomainError as exc:
            raise FhirMappingError(exc.message, path=f"{path}.value") from None


def _oral(r: Resource, rtype: str) -> None:
    types = [c.get("code") for c in (r.get("type") or {}).get("coding") or [] if c.get("system") == codes.CLAIM_TYPE]
    if types != ["oral"]:
        raise FhirMappingError("only dental (type oral) claims are read", path=f"{rtype}.type")


# --- Coverage -------------------------------------------------------------------------------------


def build_coverage(c: Coverage) -> Resource:
    classes = [{"type": {"coding": [{"system": codes.COVERAGE_CLASS, "code": kind}]}, "value": value}
               for kind, value in (("group", c.group), ("plan", c.plan)) if value]
    period = clean({"start": c.start.isoformat() if c.start else None,
                    "end": c.end.isoformat() if c.end else None})
    return clean({
        "resourceType": "Coverage", "id": c.id, "status": c.status.value, "type": _DENTAL_POLICY,
        "subscriberId": c.subscriber_id, "beneficiary": ref("Patient", c.patient),
        "relationship": {"coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": c.relationship.value}]},
        "period": period, "payor": [ref("Organization", c.payer)], "class": classes,
    })


def read_coverage(r: Resource) -> Coverage:
    payors = r.get("payor") or []
    if not payors:
        raise FhirMappingError("a coverage needs its payer", path="Coverage.payor")
    rel = code_in(r.get("relationship"), SUBSCRIBER_RELATIONSHIP)
    classes: dict[str, str] = {}
    for cl in r.get("class") or []:
        kind = code_in(cl.get("type"), codes.COVERAGE_CLASS)
        if kind in ("group", "plan") and kind not in classes:
            classes[kind] = cl.get("value")
    period = r.get("period") or {}
    return construct(
        Coverage, "Coverage", {"subscriber_id": "subscriberId", "start": "period.start", "end": "period.end"},
        id=r.get("id"), patient=ref_id(r.get("beneficiary"), "Patient", "Coverage.beneficiary", required=True),
        payer=ref_id(payors[0], "Organization", "Coverage.payor[0]", required=True),
        subscriber_id=r.get("subscriberId") or "",
        relationship=enum_of(Relationship, rel, "Coverage.relationship") if rel else None,
        group=classes.get("group"), plan=classes.get("plan"),
        start=parse_date(period.get("start"), "Coverage.period.start"),
        end=parse_date(period.get("end"), "Coverage.period.end"),
        status=enum_of(FinancialStatus, r.get("status"), "Coverage.status"),
    )


# --- ChargeItem -----------------------------------------------------------------------------------


def build_charge(c: ChargeItem) -> Resource:
    contained, ext = apex_tooth_block(c.tooth, c.surfaces, f"Patient/{c.patient}",
                                      bs_id=f"bs-{c.tooth.universal}" if c.tooth else "tooth")
    return clean({
        "resourceType": "ChargeItem", "id": c.id, "contained": contained, "extension": ext,
        "status": c.status.value, "code": {"coding": [{"system": codes.CDT, "code": c.code}]},
        "subject": ref("Patient", c.patient), "context": ref("Encounter", c.encounter),
        "occurrenceDateTime": c.date.isoformat(),
        "performer": [{"actor": ref("Practitioner", c.provider)}] if c.provider else None,
        "bodysite": [tooth_codeable(c.tooth)] if c.tooth else None,
        "priceOverride": money(c.fee, c.currency),
        "service": [ref("Procedure", c.procedure)] if c.procedure else None,
    })


def _cdt(cc: Any, path: str) -> str:
    for c in (cc or {}).get("coding") or []:
        if c.get("system") in codes.CDT_ALIASES and c.get("code"):
            return str(c["code"])
    raise FhirMappingError("a CDT code (system http://www.ada.org/cdt) is required", path=path)


def read_charge(r: Resource) -> ChargeItem:
    tooth, surfaces = read_tooth_and_surfaces(r, "ChargeItem", body_site_key="bodysite")
    money_ = _Currencies()
    fee = money_.amount(r.get("priceOverride"), "ChargeItem.priceOverride")
    if fee is None:
        raise FhirMappingError("a posted charge needs its fee", path="ChargeItem.priceOverride")
    performers = r.get("performer") or [{}]
    services = r.get("service") or [None]
    date = parse_date(r.get("occurrenceDateTime"), "ChargeItem.occurrenceDateTime")
    return construct(
        ChargeItem, "ChargeItem",
        {"tooth": "bodysite", "surfaces": "extension", "fee": "priceOverride", "currency": "priceOverride.currency",
         "date": "occurrenceDateTime", "procedure": "service"},
        id=r.get("id"), patient=ref_id(r.get("subject"), "Patient", "ChargeItem.subject", required=True),
        code=_cdt(r.get("code"), "ChargeItem.code"), tooth=tooth, surfaces=surfaces, fee=fee,
        currency=money_.currency, date=date,
        procedure=ref_id(services[0], "Procedure", "ChargeItem.service[0]"),
        provider=ref_id(performers[0].get("actor"), "Practitioner", "ChargeItem.performer[0].actor"),
        encounter=ref_id(r.get("context"), "Encounter", "ChargeItem.context"),
        status=enum_of(ChargeStatus, r.get("status"), "ChargeItem.status"),
    )


def charge_billed(r: Resource) -> Resource:
    """The same ledger line, now on a claim: a second claim for it is caught by the scrubber."""
    if r.get("resourceType") != "ChargeItem":
        raise FhirMappingError("only a ChargeItem is billed", path="resourceType")
    return {**r, "status": ChargeStatus.BILLED.value}


# --- the Procedure a posted charge bills ----------------------------------------------------------


def _completed_mark(c: ChargeItem, planned: ChartMark | None) -> ChartMark | None:
    """The chart's completed mark for this work, or None when the code draws nothing on a tooth."""
    if c.tooth is None or c.procedure is None:
        return None
    guess = (planned.kind, planned.material) if planned is not None else kind_for_code(c.code)
    if guess is None:
        return None
    try:
        return ChartMark(id=c.procedure, patient=c.patient, tooth=c.tooth, kind=guess[0], status=MarkStatus.COMPLETED,
                         surfaces=c.surfaces, material=guess[1], code=c.code, date=c.date, provider=c.provider,
                         note=planned.note if planned is not None else "")
    except ValueError:  # the code's usual kind does not fit this tooth (a DomainError inside pydantic's)
        return None


def build_posted_procedure(c: ChargeItem, *, planned: ChartMark | None = None,
                           based_on: str | None = None) -> Resource:
    """The completed Procedure that ``c`` bills (id ``c.procedure``), for ``/odonto/v1/procedures/post``.

    Work that charts on a tooth (a filling, a crown) is the chart's completed mark, so the
    odontogram draws it as done (a planned item keeps its kind and material); other work (an exam,
    a cleaning) is a plain completed dental Procedure. ``based_on`` is the planned ServiceRequest.
    """
    if c.procedure is None:
        raise FhirMappingError("a posted charge names its procedure", path="ChargeItem.service")
    mark = _completed_mark(c, planned)
    if mark is not None:
        r = build_mark(mark)
    else:
        contained, ext = apex_tooth_block(c.tooth, c.surfaces, f"Patient/{c.patient}",
                                          bs_id=f"bs-{c.tooth.universal}" if c.tooth else "tooth")
        r = clean({
            "resourceType": "Procedure", "id": c.procedure, "contained": contained, "extension": ext,
            "status": "completed",
            "category": {"coding": [{"system": codes.DENTAL_CATEGORY, "code": "dental", "display": "Dental"}]},
            "code": {"coding": [{"system": codes.CDT, "code": c.code}]}, "subject": ref("Patient", c.patient),
            "performedDateTime": c.date.isoformat(),
            "performer": [{"actor": ref("Practitioner", c.provider)}] if c.provider else None,
            "bodySite": [tooth_codeable(c.tooth)] if c.tooth else None,
        })
    if based_on:
        r["basedOn"] = [ref("ServiceRequest", based_on)]
    return r


# --- Claim ----------------------------------------------------------------------------------------


def _procedure_sequences(claim: Claim) -> dict[str, int]:
    """Procedure id → its sequence in ``Claim.procedure`` (first use order, no repeats)."""
    out: dict[str, int] = {}
    for item in claim.items:
        if item.procedure and item.procedure not in out:
            out[item.procedure] = len(out) + 1
    return out


def _build_item(item: ClaimItem, claim: Claim, proc_seq: dict[str, int]) -> dict[str, Any]:
    return clean({
        "extension": tooth_extensions(item.tooth, item.surfaces),
        "sequence": item.sequence,
        "careTeamSequence": [1] if claim.provider else None,
        "procedureSequence": [proc_seq[item.procedure]] if item.procedure else None,
        "productOrService": {"coding": [{"system": codes.CDT, "code": item.code}]},
        "servicedDate": item.date.isoformat() if item.date else None,
        "quantity": {"value": item.quantity} if item.quantity != 1 else None,
        "unitPrice": money(item.fee, claim.currency),
        "net": money(item.net, claim.currency),
        "bodySite": claim_tooth_codeable(item.tooth) if item.tooth else None,
        "subSite": [surface_codeable(s, item.tooth) for s in sort_surfaces(item.surfaces)] if item.tooth else None,
    })


def build_claim(c: Claim) -> Resource:
    proc_seq = _procedure_sequences(c)
    care_team = None
    if c.provider:
        care_team = [{"sequence": 1, "provider": ref("Practitioner", c.provider),
                      "role": {"coding": [{"system": codes.CLAIM_CARE_TEAM_ROLE, "code": "primary"}]}}]
    return clean({
        "resourceType": "Claim", "id": c.id, "status": c.status.value, "type": _ORAL, "use": c.use.value,
        "patient": ref("Patient", c.patient), "created": c.created.isoformat(),
        "insurer": ref("Organization", c.insurer), "provider": ref("Organization", c.billing_org),
        "priority": {"coding": [{"system": codes.PROCESS_PRIORITY, "code": c.priority.value}]},
        "payee": {"type": {"coding": [{"system": codes.PAYEE_TYPE, "code": c.payee.value}]}},
        "careTeam": care_team,
        "diagnosis": [{"sequence": i, "diagnosisCodeableConcept": {"coding": [{"system": ICD10_CM, "code": d}]}}
                      for i, d in enumerate(c.diagnoses, start=1)],
        "procedure": [{"sequence": n, "procedureReference": ref("Procedure", pid)} for pid, n in proc_seq.items()],
        "insurance": [{"sequence": 1, "focal": True, "coverage": ref("Coverage", c.coverage)}],
        "item": [_build_item(i, c, proc_seq) for i in c.items],
        "total": money(c.total, c.currency),
    })


def _read_item(item: dict[str, Any], path: str, money_: _Currencies, procedures: dict[int, str]) -> ClaimItem:
    tooth, _ = read_tooth_extensions(item, path)
    if tooth is None:
        tooth = tooth_from_codeable(item.get("bodySite"), f"{path}.bodySite")
    surfaces = read_surfaces(item, tooth, path) or read_sub_sites(item.get("subSite"), tooth, f"{path}.subSite")
    quantity = (item.get("quantity") or {}).get("value", 1)
    if not isinstance(quantity, int | float) or quantity != int(quantity):
        raise FhirMappingError(f"{quantity!r} is not a whole number of units", path=f"{path}.quantity")
    fee = money_.amount(item.get("unitPrice"), f"{path}.unitPrice")
    net = money_.amount(item.get("net"), f"{path}.net")
    if fee is None and quantity == 1:
        fee = net  # a one-unit line may give only its net
    if fee is None:
        raise FhirMappingError("a claim line needs its unit price", path=f"{path}.unitPrice")
    seqs = item.get("procedureSequence") or []
    procedure = procedures.get(seqs[0]) if seqs else None
    if seqs and procedure is None:
        raise FhirMappingError(f"no Claim.procedure with sequence {seqs[0]}", path=f"{path}.procedureSequence")
    line = construct(
        ClaimItem, path,
        {"code": "productOrService", "tooth": "bodySite", "surfaces": "subSite", "fee": "unitPrice",
         "date": "servicedDate"},
        sequence=item.get("sequence"), code=_cdt(item.get("productOrService"), f"{path}.productOrService"),
        tooth=tooth, surfaces=surfaces, fee=fee, quantity=int(quantity),
        date=parse_date(item.get("servicedDate"), f"{path}.servicedDate"), procedure=procedure,
    )
    if net is not None and net != line.net:
        raise FhirMappingError(f"net {net} is not unit price × quantity ({line.net})", path=f"{path}.net")
    return line


def _focal_coverage(r: Resource) -> str | None:
    insurance = r.get("insurance") or []
    if not insurance:
        raise FhirMappingError("a claim needs its coverage", path="Claim.insurance")
    i = next((n for n, ins in enumerate(insurance) if ins.get("focal")), 0)
    return ref_id(insurance[i].get("coverage"), "Coverage", f"Claim.insurance[{i}].coverage", required=True)


def _care_team_provider(r: Resource) -> str | None:
    """The treating dentist: the care-team member in the role ``primary``, else the first one."""
    team = r.get("careTeam") or []
    if not team:
        return None
    primary = [n for n, m in enumerate(team) if code_in(m.get("role"), codes.CLAIM_CARE_TEAM_ROLE) == "primary"]
    i = primary[0] if primary else 0
    return ref_id(team[i].get("provider"), "Practitioner", f"Claim.careTeam[{i}].provider")


def read_claim(r: Resource) -> Claim:
    _oral(r, "Claim")
    procedures: dict[int, str] = {}
    for i, p in enumerate(r.get("procedure") or []):
        pid = ref_id(p.get("procedureReference"), "Procedure", f"Claim.procedure[{i}].procedureReference")
        if pid:
            procedures[p.get("sequence")] = pid
    money_ = _Currencies()
    items = tuple(_read_item(item, f"Claim.item[{i}]", money_, procedures) for i, item in enumerate(r.get("item") or []))
    total = money_.amount(r.get("total"), "Claim.total")
    diagnoses = tuple(code for d in r.get("diagnosis") or []
                      if (code := code_in(d.get("diagnosisCodeableConcept"), ICD10_CM)))
    claim = construct(
        Claim, "Claim", {"items": "item", "billing_org": "provider", "coverage": "insurance", "provider": "careTeam",
                         "diagnoses": "diagnosis", "currency": "total.currency"},
        id=r.get("id"), patient=ref_id(r.get("patient"), "Patient", "Claim.patient", required=True),
        coverage=_focal_coverage(r),
        billing_org=ref_id(r.get("provider"), "Organization", "Claim.provider", required=True),
        provider=_care_team_provider(r), insurer=ref_id(r.get("insurer"), "Organization", "Claim.insurer"),
        created=parse_datetime(r.get("created"), "Claim.created"), items=items, currency=money_.currency,
        use=enum_of(ClaimUse, r.get("use"), "Claim.use"),
        priority=enum_of(Priority, code_in(r.get("priority"), codes.PROCESS_PRIORITY) or "normal", "Claim.priority"),
        payee=enum_of(Payee, code_in((r.get("payee") or {}).get("type"), codes.PAYEE_TYPE) or "provider",
                      "Claim.payee.type"),
        diagnoses=diagnoses, status=enum_of(FinancialStatus, r.get("status"), "Claim.status"),
    )
    if total is not None and total != claim.total:
        raise FhirMappingError(f"total {total} is not the sum of the lines ({claim.total})", path="Claim.total")
    return claim


# --- ClaimResponse --------------------------------------------------------------------------------


def _adjudication(code: str, amount: Decimal, currency: str) -> dict[str, Any]:
    return {"category": {"coding": [{"system": codes.ADJUDICATION, "code": code}]},
            "amount": money(amount, currency)}


def build_claim_response(cr: ClaimResponse) -> Resource:
    cur = cr.currency
    payment = None
    if cr.payment is not None:
        payment = clean({"type": {"coding": [{"system": PAYMENT_TYPE, "code": "complete"}]},
                         "date": cr.payment.date.isoformat() if cr.payment.date else None,
                         "amount": money(cr.payment.amount, cur)})
    return clean({
        "resourceType": "ClaimResponse", "id": cr.id, "status": cr.status.value, "type": _ORAL, "use": cr.use.value,
        "patient": ref("Patient", cr.patient), "created": cr.created.isoformat(),
        "insurer": ref("Organization", cr.insurer), "request": ref("Claim", cr.claim), "outcome": cr.outcome.value,
        "disposition": cr.disposition,
        "item": [{"itemSequence": i.item_sequence, "adjudication": [_adjudication(k, v, cur) for k, v in i.amounts()]}
                 for i in cr.items],
        "total": [_adjudication(k, v, cur) for k, v in cr.totals().items()],
        "payment": payment,
    })


def _read_adjudicated(item: dict[str, Any], path: str, money_: _Currencies) -> ItemAdjudication:
    amounts: dict[str, Decimal | None] = {}
    for j, adj in enumerate(item.get("adjudication") or []):
        code = code_in(adj.get("category"), codes.ADJUDICATION)
        if code in ("submitted", "eligible", "benefit", "copay") and code not in amounts:
            amounts[code] = money_.amount(adj.get("amount"), f"{path}.adjudication[{j}].amount")
    return construct(ItemAdjudication, path, {"item_sequence": "itemSequence", "submitted": "adjudication",
                                              "eligible": "adjudication", "benefit": "adjudication",
                                              "copay": "adjudication"},
                     item_sequence=item.get("itemSequence"), **amounts)


def read_claim_response(r: Resource) -> ClaimResponse:
    _oral(r, "ClaimResponse")
    money_ = _Currencies()
    items = tuple(_read_adjudicated(item, f"ClaimResponse.item[{i}]", money_)
                  for i, item in enumerate(r.get("item") or []))
    payment = None
    if r.get("payment"):
        p = r["payment"]
        amount = money_.amount(p.get("amount"), "ClaimResponse.payment.amount")
        payment = construct(Payment, "ClaimResponse.payment", {}, amount=amount,
                            date=parse_date(p.get("date"), "ClaimResponse.payment.date"))
    return construct(
        ClaimResponse, "ClaimResponse", {"claim": "request", "items": "item", "currency": "total"},
        id=r.get("id"), claim=ref_id(r.get("request"), "Claim", "ClaimResponse.request", required=True),
        patient=ref_id(r.get("patient"), "Patient", "ClaimResponse.patient", required=True),
        insurer=ref_id(r.get("insurer"), "Organization", "ClaimResponse.insurer", required=True),
        created=parse_datetime(r.get("created"), "ClaimResponse.created"),
        outcome=enum_of(Outcome, r.get("outcome"), "ClaimResponse.outcome"), items=items, payment=payment,
        disposition=r.get("disposition"), currency=money_.currency,
        use=enum_of(ClaimUse, r.get("use"), "ClaimResponse.use"),
        status=enum_of(FinancialStatus, r.get("status"), "ClaimResponse.status"),
    )


register(Mapper(resource_types=("Coverage",), domain_type=Coverage, build=build_coverage, read=read_coverage,
                owned=("status", "type", "subscriberId", "beneficiary", "relationship", "period", "payor", "class")))
register(Mapper(resource_types=("ChargeItem",), domain_type=ChargeItem, build=build_charge, read=read_charge,
                owned=("contained", "extension", "status", "code", "subject", "context", "occurrenceDateTime",
                       "performer", "bodysite", "priceOverride", "service")))
register(Mapper(resource_types=("Claim",), domain_type=Claim, build=build_claim, read=read_claim,
                owned=("status", "type", "use", "patient", "created", "insurer", "provider", "priority", "payee",
                       "careTeam", "diagnosis", "procedure", "insurance", "item", "total")))
register(Mapper(resource_types=("ClaimResponse",), domain_type=ClaimResponse, build=build_claim_response,
                read=read_claim_response,
                owned=("status", "type", "use", "patient", "created", "insurer", "request", "outcome", "disposition",
                       "item", "total", "payment")))
