"""Demo charts: a few deterministic patients with existing work, conditions and plans.

Pure domain data (no FHIR, no storage). The reference server seeds from this, and the app shows
it before any server is configured. Names and numbers are invented.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from odonto_desk.domain.alerts import AlertKind, MedicalAlert
from odonto_desk.domain.billing import (
    ChargeItem,
    Claim,
    ClaimItem,
    ClaimResponse,
    Coverage,
    ItemAdjudication,
    Outcome,
    Payment,
)
from odonto_desk.domain.chart import ChartMark, Material
from odonto_desk.domain.imaging import (
    BinaryBlob,
    ImageDocument,
    ImagingStudyMeta,
    Instance,
    Modality,
    Projection,
    Series,
)
from odonto_desk.domain.lab import LabKind, LabOrder, LabStatus, LabTask
from odonto_desk.domain.people import (
    Encounter,
    EncounterStatus,
    Gender,
    HumanName,
    Organization,
    OrgKind,
    Patient,
    Practitioner,
    ProviderRole,
    VisitKind,
)
from odonto_desk.domain.perio import PERIO_TEETH, SITES, PerioExam, furcation_entrances
from odonto_desk.domain.plan import Phase, PlanItem, PlanStatus, TreatmentPlan
from odonto_desk.domain.plan import Priority as PlanPriority
from odonto_desk.domain.teeth import Tooth


@dataclass(frozen=True)
class DemoPatient:
    id: str
    gpid: str
    given: str
    family: str
    birth_date: dt.date
    alerts: tuple[MedicalAlert, ...] = ()
    marks: tuple[ChartMark, ...] = field(default_factory=tuple)

    @property
    def display_name(self) -> str:
        return f"{self.family}, {self.given}"

    def age_on(self, day: dt.date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


def _m(patient: str, n: int, tooth: str, kind: str, status: str, surfaces: str = "", material: str | None = None,
       code: str | None = None, date: str | None = None, note: str = "") -> ChartMark:
    return ChartMark(id=f"{patient}-m{n:03d}", patient=patient, tooth=tooth, kind=kind, status=status,
                     surfaces=surfaces, material=material, code=code,
                     date=dt.date.fromisoformat(date) if date else None, provider="dr-okafor", note=note)


def _alert(patient: str, n: int, kind: AlertKind, text: str, recorded: str) -> MedicalAlert:
    return MedicalAlert(id=f"{patient}-alert-{n}", patient=patient, text=text, kind=kind,
                        recorded=dt.date.fromisoformat(recorded))


def demo_patients() -> list[DemoPatient]:
    p1, p2, p3 = "demo-rivera", "demo-chen", "demo-haddad"
    rivera = [
        _m(p1, 1, "1", "missing", "cn"),
        _m(p1, 2, "16", "missing", "cn"),
        _m(p1, 3, "3", "filling", "eo", "MOD", "amalgam", "D2160", "2011-06-02", "old amalgam, margins intact"),
        _m(p1, 4, "14", "crown", "ec", "", "porcelain", "D2740", "2019-09-12"),
        _m(p1, 5, "14", "root canal", "ec", "", None, "D3330", "2019-08-20"),
        _m(p1, 6, "30", "caries", "cn", "MO", date="2025-03-03"),
        _m(p1, 7, "30", "filling", "tp", "MO", "composite", "D2392"),
        _m(p1, 8, "19", "crown", "tp", "", "zirconia", "D2740"),
        _m(p1, 9, "8", "filling", "c", "MIF", "composite", "D2332", "2024-11-05"),
        _m(p1, 10, "32", "impacted", "cn"),
        _m(p1, 11, "20", "watch", "cn", "O", note="stained fissure, recheck 6 months"),
    ]
    chen = [
        _m(p2, 1, "A", "sealant", "c", "O", "resin", None, "2024-02-10"),
        _m(p2, 2, "J", "caries", "cn", "DO"),
        _m(p2, 3, "J", "filling", "tp", "DO", "composite", "D2392"),
        _m(p2, 4, "K", "crown", "tp", "", "stainless steel", "D2930"),
        _m(p2, 5, "3", "sealant", "tp", "O", "resin", "D1351"),
        _m(p2, 6, "14", "sealant", "tp", "O", "resin", "D1351"),
    ]
    haddad = [
        _m(p3, 1, "2", "extraction", "c", date="2018-04-01"),
        _m(p3, 2, "3", "bridge abutment", "ec", "", "porcelain fused to metal", "D6750", "2018-07-15"),
        _m(p3, 3, "4", "bridge pontic", "ec", "", "porcelain fused to metal", "D6240", "2018-07-15"),
        _m(p3, 4, "5", "bridge abutment", "ec", "", "porcelain fused to metal", "D6750", "2018-07-15"),
        _m(p3, 5, "19", "implant", "c", "", "titanium", "D6010", "2023-01-20"),
        _m(p3, 6, "9", "fracture", "cn", "MI"),
        _m(p3, 7, "9", "veneer", "tp", "", "porcelain", "D2962"),
        _m(p3, 8, "31", "retained root", "cn"),
        _m(p3, 9, "31", "extraction", "tp", "", None, "D7210"),
        _m(p3, 10, "28", "filling", "tp", "BV", "composite", "D2392"),
    ]
    return [
        DemoPatient(p1, "APX-1A2B3C4D", "Jordan", "Rivera", dt.date(1987, 4, 12),
                    (_alert(p1, 1, AlertKind.ALLERGY, "latex allergy", "2011-06-02"),),
                    tuple(rivera)),
        DemoPatient(p2, "APX-7KQ2M9PZ", "Mia", "Chen", dt.date(2017, 9, 3), (), tuple(chen)),
        DemoPatient(p3, "APX-H4DD0D51", "Samir", "Haddad", dt.date(1961, 1, 28),
                    (_alert(p3, 1, AlertKind.MEDICATION, "anticoagulant (warfarin)", "2018-04-01"),
                     _alert(p3, 2, AlertKind.PREMEDICATION, "premedicate: joint replacement", "2023-01-20")),
                    tuple(haddad)),
    ]


# --- perio exams over the years ----------------------------------------------------------------

# (patient, exam dates, baseline severity 0–3, teeth missing in the perio chart, implants)
_PERIO_PLANS: dict[str, tuple[tuple[str, ...], int, tuple[str, ...], tuple[str, ...]]] = {
    "demo-rivera": (("2021-03-15", "2023-04-02", "2025-03-03"), 1, ("1", "16", "32"), ()),
    "demo-haddad": (("2019-10-08", "2022-01-19", "2024-11-26"), 2, ("1", "2", "4", "16", "17", "32"), ("19",)),
}


def demo_perio_exams(patient_id: str) -> list[PerioExam]:
    """Deterministic full-mouth exams, oldest first: a mild case that holds (Rivera) and a
    moderate one that worsens at the molars before treatment (Haddad). Children get none."""
    plan = _PERIO_PLANS.get(patient_id)
    if plan is None:
        return []
    dates, severity, missing, implants = plan
    rng = random.Random(f"perio:{patient_id}")
    exams: list[PerioExam] = []
    for n, day in enumerate(dates):
        exam = PerioExam(id=f"{patient_id}-perio-{n + 1}", patient=patient_id, date=dt.date.fromisoformat(day),
                         provider="rdh-nakamura")
        for t in missing:
            exam.mark_missing(t)
        for t in implants:
            exam.mark_implant(t)
        for tooth in sorted(PERIO_TEETH):  # a set: iterate in tooth order, so the values never depend on hashing
            if exam.is_missing(tooth):
                continue
            molar = tooth.is_molar
            for site in SITES:
                deep = severity + (1 if molar and site.is_interdental else 0) + (n if severity > 1 and molar else 0)
                pd = max(1, min(9, 2 + rng.choice((0, 0, 1)) + (deep if rng.random() < 0.35 else deep // 2)))
                gm = rng.choice((0, 0, 0, 1)) + (1 if severity > 1 and site.is_facial and n > 0 else 0)
                exam.set_pd(tooth, site, pd)
                exam.set_gm(tooth, site, gm)
                if pd >= 4 or rng.random() < 0.08:
                    exam.set_flag(tooth, site, "bleeding")
                if rng.random() < 0.12:
                    exam.set_flag(tooth, site, "plaque")
            if molar and severity > 1 and not exam.is_implant(tooth):
                exam.set_mobility(tooth, min(2, n))
                entrance = furcation_entrances(tooth)[0]
                exam.set_furcation(tooth, entrance, min(2, 1 + n // 2))
        exams.append(exam)
    return exams


# --- the practice around the charts: people, visits, coverage and a claim ------------------------

PRACTICE_ID = "odonto-practice-1"
PAYER_ID = "odonto-payer-1"
LAB_ID = "odonto-lab-1"
DENTIST_ID = "dr-okafor"
HYGIENIST_ID = "rdh-nakamura"
_VISIT_ZONE = dt.timezone(dt.timedelta(hours=-5))


@dataclass(frozen=True)
class DemoPractice:
    """Everything the demo needs besides the charts, as domain objects in write order."""

    organizations: tuple[Organization, ...]
    practitioners: tuple[Practitioner, ...]
    patients: tuple[Patient, ...]
    encounters: tuple[Encounter, ...]
    coverages: tuple[Coverage, ...]
    charges: tuple[ChargeItem, ...]
    claims: tuple[Claim, ...]
    claim_responses: tuple[ClaimResponse, ...]


def _visit(patient: str, n: int, day: dt.date, kind: VisitKind, provider: str) -> Encounter:
    start = dt.datetime.combine(day, dt.time(9 + n % 7, 0), _VISIT_ZONE)
    return Encounter(id=f"{patient}-visit-{n:02d}", patient=patient, provider=provider, start=start,
                     end=start + dt.timedelta(minutes=50), status=EncounterStatus.FINISHED, kind=kind,
                     practice=PRACTICE_ID)


def demo_practice() -> DemoPractice:
    orgs = (
        Organization(id=PRACTICE_ID, name="Lakeside Family Dentistry", kind=OrgKind.PRACTICE, npi="1245678903"),
        Organization(id=PAYER_ID, name="Prairie Dental Mutual", kind=OrgKind.PAYER),
        Organization(id=LAB_ID, name="Northside Dental Lab", kind=OrgKind.LAB),
    )
    people = (
        Practitioner(id=DENTIST_ID, name=HumanName(family="Okafor", given=("Adaeze",), suffix=("DDS",)),
                     npi="1987654328", role=ProviderRole.DENTIST),
        Practitioner(id=HYGIENIST_ID, name=HumanName(family="Nakamura", given=("Ken",), suffix=("RDH",)),
                     role=ProviderRole.HYGIENIST),
    )
    patients = tuple(
        Patient(id=p.id, gpid=p.gpid, name=HumanName(family=p.family, given=(p.given,)), birth_date=p.birth_date,
                gender=g, practice=PRACTICE_ID)
        for p, g in zip(demo_patients(), (Gender.FEMALE, Gender.FEMALE, Gender.MALE), strict=True))
    visits: list[Encounter] = []
    for p in demo_patients():
        perio_days = {e.date for e in demo_perio_exams(p.id) if e.date}
        days = sorted({m.date for m in p.marks if m.date} | perio_days)
        for n, day in enumerate(days, start=1):
            hygiene = day in perio_days
            visits.append(_visit(p.id, n, day, VisitKind.HYGIENE if hygiene else VisitKind.TREATMENT,
                                 HYGIENIST_ID if hygiene else DENTIST_ID))
    rivera = "demo-rivera"
    coverage = Coverage(id=f"{rivera}-coverage", patient=rivera, payer=PAYER_ID, subscriber_id="PDM-00451-01",
                        group="LAKESIDE-EMP", plan="Dental PPO", start=dt.date(2024, 1, 1))
    filling = next(m for m in demo_patients()[0].marks if m.code == "D2332")
    charge = ChargeItem(id=f"{rivera}-charge-1", patient=rivera, code="D2332", tooth=filling.tooth,
                        surfaces=filling.surfaces, fee=Decimal("215.00"), date=filling.date, procedure=filling.id,
                        provider=DENTIST_ID)
    claim = Claim(id=f"{rivera}-claim-1", patient=rivera, coverage=coverage.id, billing_org=PRACTICE_ID,
                  provider=DENTIST_ID, insurer=PAYER_ID,
                  created=dt.datetime(2024, 11, 6, 10, 0, tzinfo=_VISIT_ZONE),
                  items=(ClaimItem(sequence=1, code="D2332", tooth=filling.tooth, surfaces=filling.surfaces,
                                   fee=Decimal("215.00"), date=filling.date, procedure=filling.id),))
    response = ClaimResponse(id=f"{rivera}-claimresponse-1", claim=claim.id, patient=rivera, insurer=PAYER_ID,
                             created=dt.datetime(2024, 11, 20, 8, 0, tzinfo=_VISIT_ZONE), outcome=Outcome.COMPLETE,
                             items=(ItemAdjudication(item_sequence=1, submitted=Decimal("215.00"),
                                                     eligible=Decimal("180.00"), benefit=Decimal("144.00"),
                                                     copay=Decimal("36.00")),),
                             payment=Payment(amount=Decimal("144.00"), date=dt.date(2024, 11, 22)),
                             disposition="Paid at 80% of the allowed fee")
    return DemoPractice(orgs, people, patients, tuple(visits), (coverage,), (charge,), (claim,), (response,))


# --- plans, lab cases and images ------------------------------------------------------------------


def demo_clinical_extras(patient_id: str) -> tuple[object, ...]:
    """The treatment plan, lab case and radiographs of a demo patient, in write order."""
    if patient_id == "demo-rivera":
        marks = {m.id: m for m in demo_patients()[0].marks}
        filling, crown = marks["demo-rivera-m007"], marks["demo-rivera-m008"]
        plan = TreatmentPlan(
            id="demo-rivera-plan-1", patient=patient_id, care_plan_id="CP-001", title="Restore 30 and 19",
            status=PlanStatus.ACTIVE, created=dt.datetime(2025, 3, 3, 10, 0, tzinfo=_VISIT_ZONE), author=DENTIST_ID,
            phases=(
                Phase(number=1, title="Disease control", items=(
                    PlanItem(id="item-1", code="D2392", tooth=filling.tooth, surfaces=filling.surfaces,
                             fee=Decimal("185.00"), priority=PlanPriority.URGENT, service_request=filling.id),)),
                Phase(number=2, title="Definitive restoration", items=(
                    PlanItem(id="item-2", code="D2740", tooth=crown.tooth, fee=Decimal("1150.00"),
                             service_request=crown.id, alternate_group="tooth-19", accepted=True),
                    PlanItem(id="item-3", code="D2644", tooth=crown.tooth, surfaces="MODB", fee=Decimal("980.00"),
                             alternate_group="tooth-19"))),
            ))
        pixels = bytes((x * 7 + y * 3) % 256 for y in range(32) for x in range(32))  # a tiny stand-in image
        blob = BinaryBlob(id="demo-rivera-bw-1-bytes", content_type="image/png", data=pixels, patient=patient_id)
        study = ImagingStudyMeta(
            id="demo-rivera-bw-1", patient=patient_id, study_uid="1.2.826.0.1.3680043.8.498.20250303",
            modality=Modality.IO, started=dt.datetime(2025, 3, 3, 9, 20, tzinfo=_VISIT_ZONE),
            description="Bitewings, right", code="D0272", projection=Projection.BITEWING, referrer=DENTIST_ID,
            series=(Series(uid="1.2.826.0.1.3680043.8.498.20250303.1", number=1, description="Right bitewing",
                           teeth=tuple(Tooth.parse(t) for t in ("2", "3", "30", "31")),
                           instances=(Instance(uid="1.2.826.0.1.3680043.8.498.20250303.1.1",
                                               sop_class="1.2.840.10008.5.1.4.1.1.1.3", number=1),)),))
        doc = ImageDocument.for_blob(blob, patient=patient_id, id="demo-rivera-bw-1-doc", title="Right bitewing",
                                     study=study.id, teeth=study.series[0].teeth,
                                     created=dt.datetime(2025, 3, 3, 9, 20, tzinfo=_VISIT_ZONE))
        return (plan, blob, study, doc)
    if patient_id == "demo-haddad":
        order = LabOrder(id="demo-haddad-lab-1", patient=patient_id, lab=LAB_ID, kind=LabKind.VENEER,
                         teeth=(Tooth.parse("9"),), shade="A2", material=Material.PORCELAIN,
                         due=dt.date(2025, 12, 12), instructions="Match 8; slight incisal translucency",
                         provider=DENTIST_ID, status=LabStatus.SENT)
        task = LabTask(id="demo-haddad-lab-1-task", order=order.id, patient=patient_id, lab=LAB_ID,
                       status=LabStatus.SENT, updated=dt.datetime(2025, 11, 20, 15, 0, tzinfo=_VISIT_ZONE))
        return (order, task)
    return ()
