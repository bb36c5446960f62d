"""Large deterministic data sets for benchmarks: a practice of thousands of realistic patients.

Every choice about patient ``n`` is drawn from a generator seeded with ``(seed, n)``, so a patient
is the same whatever else is generated, and the same seed gives the same bytes. Dates are counted
back from :data:`AS_OF`, not from today. One patient (:func:`plan_patient`) is:

* **Age** on AS_OF: 2–5 years (6 %), 6–12 (14 %), 13–17 (8 %), 18–39 (30 %), 40–64 (28 %),
  65–92 (14 %). A child's dentition is the domain's default for the age
  (:func:`~odonto_desk.domain.dentition.default_mode`: primary under 6, mixed 6–12), and each of
  a child's marks sits on a tooth that dentition shows both on the mark's date and on AS_OF
  (:meth:`Dentition.shown`): primary teeth A–T, and in a mixed dentition the permanent incisors
  and first molars. Teenagers and adults have only permanent teeth; third molars are missing,
  impacted or extracted for most adults.
* **Visits** (Encounters): a first exam 1–7 years back (children: at most 5, never before age 1),
  2–5 hygiene recalls spread up to AS_OF, 0–3 treatment visits (children 0–1).
* **Chart** (Conditions, Procedures, ServiceRequests): at most one story per tooth, more and
  heavier with age — an old filling (done elsewhere, or here on a visit day), decay found at a
  recall with its planned filling, a crown with or without a root canal and post, a worn filling
  planned for a crown, a planned root canal and crown, a missing, extracted or implant tooth, a
  retained root or fracture planned for extraction, a watch, a sealant, a veneer, and for some
  older patients a three-unit bridge. Children: decay and fillings on primary molars, sealants on
  the first permanent molars, the odd primary extraction; never a crown, root canal or implant
  on a primary tooth. Dated work is dated on a visit, conditions on an exam or recall.
* **Treatment plan** (CarePlan whose lines reference the planned ServiceRequests): for 3 in 4
  patients with planned work; phase 1 disease control, 2 definitive restorations, 3 prevention;
  a planned posterior crown has a ceramic onlay as its alternative half the time. Active plans
  carry an Apex CP- id, the rest are drafts.
* **Perio exams** (a panel Observation plus one Observation per value, through the perio mapper)
  for adults only, on recall days at least 18 months apart ("every other year"): none, one, two
  or three by age (mostly one or two). Probing depths at six sites of every tooth present, the
  gingival margin only where there is recession, bleeding and suppuration where found, mobility
  and furcation on periodontitis molars; missing, extracted, impacted and bridged-over teeth are
  missing in the exam and implants are implants, as the chart says on the exam's date.

The mix per patient (seed 7, the first 2,000 patients; ``python -m odonto_desk.sandbox.bulk 2000``
prints it): on average 1 Patient, 5.6 Encounters, 13.2 chart marks (5.0 Conditions, 5.8
Procedures, 2.4 ServiceRequests), 0.66 CarePlans and 0.83 perio exams of ~216 Observations each
(180 Observations): 200.5 resources. By group: children under 13 (18 %) ~13 resources with 6.4
marks, teenagers (8 %) ~14, adults without an exam (10 %) ~21, with one exam (48 %) ~238, two
(15 %) ~463, three (1.5 %) ~708. So the set has its bulk, as a practice's data does, in perio
findings, and a chart GET reads the ~13 marks of a real chart. Shared by all: the practice
(Organization) and five Practitioners.

Speed: every resource is built through the domain and the FHIR mapping, but only once per
*shape* — a mark kind on a tooth, a perio value at a site — as JSON text cut at placeholders for
the ids, patient, date and provider (:class:`Template`), then filled in for each clone; Patients,
Encounters, plans and perio panels (a few per patient) are mapped one by one. Rows go to the
store with :meth:`FhirStore.load` (no parsing or copying), together with the chart's derived
marks (:func:`~odonto_desk.sandbox.chart_api.record_marks`), so a bulk load needs no warming.
2,000 patients (401k resources, a 3.8 GB file) take ~34 s on the shared 2-core machine, 12k
resources/s (the first generator, marks only, wrote 3k/s): a third planning and rendering, the
rest SQLite. :func:`reference_resources` builds the same resources the slow way (every object
mapped), which the tests compare byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from odonto_desk.domain.age import age_on
from odonto_desk.domain.cdt import demo_catalog, suggest_code
from odonto_desk.domain.chart import FAMILY_BY_MATERIAL, ChartMark, MarkKind, Material
from odonto_desk.domain.dentition import Dentition, DentitionMode, default_mode
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
from odonto_desk.domain.perio import (
    SITES,
    Entrance,
    Measure,
    PerioExam,
    Site,
    ToothState,
    furcation_entrances,
    states_from_chart,
)
from odonto_desk.domain.plan import Phase, PlanItem, PlanStatus, Priority, TreatmentPlan
from odonto_desk.domain.surfaces import parse_surfaces
from odonto_desk.domain.teeth import PERMANENT_TEETH, Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.fhir.resources.perio import (
    PerioFinding,
    PerioPanel,
    build_finding,
    build_panel,
    perio_to_observations,
)
from odonto_desk.sandbox.chart_api import derive_mark, record_marks
from odonto_desk.sandbox.fhirstore import FhirStore, NewResource

Resource = dict[str, Any]

AS_OF = dt.date(2025, 11, 28)
PRACTICE_ID = "bulk-practice"
DENTISTS = ("bulk-dds-1", "bulk-dds-2", "bulk-dds-3")
HYGIENISTS = ("bulk-rdh-1", "bulk-rdh-2")
PATIENT_PREFIX = "bulk-p"
_ZONE = dt.timezone(dt.timedelta(hours=-5))

_GIVEN_F = ["Ana", "Chloe", "Elif", "Farah", "Hana", "Jo", "Lena", "Nia", "Pia", "Sara", "Uma", "Wen", "Yara",
            "Ines", "Maya", "Rosa", "Tara", "Zoe"]
_GIVEN_M = ["Ben", "Dev", "Gus", "Ivan", "Kemal", "Mo", "Omar", "Quinn", "Ravi", "Tom", "Vic", "Zed", "Luis",
            "Noah", "Sami", "Theo"]
_FAMILY = ["Abbott", "Baker", "Cruz", "Dahl", "Ek", "Fox", "Gray", "Hale", "Ito", "Jung", "Khan", "Lund", "Moss",
           "Nagy", "Ortiz", "Park", "Quist", "Roy", "Shah", "Tan", "Ueda", "Vance", "Ward", "Xu", "Young",
           "Adeyemi", "Bauer", "Costa", "Diaz", "Eriksen", "Fischer", "Garcia", "Haddad", "Iyer", "Jensen"]
# GPID letters: no 0/1/I/O, so a generated GPID never equals a demo one (those have 0 or 1).
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

# (first age, last age, weight): the age pyramid of a family practice.
_AGE_BANDS = ((2, 5, 6), (6, 12, 14), (13, 17, 8), (18, 39, 30), (40, 64, 28), (65, 92, 14))

# The mark kinds of the first generator, on a molar (tooth 30 or any other; bench_client charts
# them on eight molars). Each is valid on every permanent first or second molar.
MARK_SPECS: tuple[dict[str, Any], ...] = (
    dict(kind="caries", status="cn", surfaces="MO"),
    dict(kind="filling", status="tp", surfaces="MO", material="composite", code="D2392"),
    dict(kind="filling", status="eo", surfaces="MOD", material="amalgam", code="D2160"),
    dict(kind="crown", status="ec", material="porcelain", code="D2740"),
    dict(kind="root canal", status="c", code="D3330"),
    dict(kind="extraction", status="tp", code="D7140"),
    dict(kind="sealant", status="c", surfaces="O", material="resin", code="D1351"),
    dict(kind="watch", status="cn", surfaces="O"),
)


def _dump(resource: Resource) -> str:
    """The JSON text the store keeps (before it adds ``meta``)."""
    return json.dumps(resource, separators=(",", ":"), ensure_ascii=False)


def _age_on(born: dt.date, day: dt.date) -> int:
    return age_on(born, day) or 0  # a birth date is always known here


def gpid_of(n: int, seed: int = 7) -> str:
    """Patient ``n``'s GPID: a bijection of ``n`` onto 40 bits, so no two patients share one."""
    x = (n * 0x9E3779B97 + seed * 0x5851F42D4C) % (1 << 40)  # odd multiplier: one GPID per n
    return "APX-" + "".join(_ALNUM[(x >> (5 * i)) & 31] for i in range(8))


def patient_id(n: int) -> str:
    return f"{PATIENT_PREFIX}{n:06d}"


# --- one patient, as domain objects ---------------------------------------------------------------


class MarkPlan(NamedTuple):
    """A chart mark before it is a :class:`ChartMark` (the fast path never builds one per mark)."""

    id: str
    tooth: str
    kind: str
    status: str
    surfaces: str = ""
    material: str | None = None
    code: str | None = None
    day: dt.date | None = None
    provider: str | None = None
    note: str = ""

    def mark(self, patient: str) -> ChartMark:
        return ChartMark(id=self.id, patient=patient, tooth=self.tooth, kind=self.kind, status=self.status,
                         surfaces=self.surfaces, material=self.material, code=self.code, date=self.day,
                         provider=self.provider, note=self.note)


@dataclass
class PatientPlan:
    """Everything generated for one patient, in write order."""

    n: int
    patient: Patient
    age: int  # on AS_OF
    visits: list[Encounter]
    marks: list[MarkPlan]
    plan: TreatmentPlan | None
    exams: list[PerioExam]

    @property
    def id(self) -> str:
        return self.patient.id

    @property
    def mode(self) -> DentitionMode:
        return default_mode(self.age)

    def age_on(self, day: dt.date) -> int:
        assert self.patient.birth_date is not None
        return _age_on(self.patient.birth_date, day)


@cache
def _shown(mode: DentitionMode) -> frozenset[str]:
    """The teeth a dentition shows when nothing is marked (Universal designations)."""
    return frozenset(t.universal for t in Dentition(mode).shown())


@cache
def _fees() -> dict[str, Decimal | None]:
    return {e.code: e.fee for e in demo_catalog()}


_POSTERIOR_SURFACES = ("O", "O", "MO", "DO", "MOD", "B", "OL", "MODB")
_ANTERIOR_SURFACES = ("M", "D", "F", "MF", "DL", "MIF")
_CROWNS = (("porcelain", "D2740"), ("porcelain fused to metal", "D2750"), ("gold", "D2790"),
           ("zirconia", "D2740"))
_NOTES = ("", "", "", "", "recheck at recall", "patient informed")

# Per-tooth story weights of permanent, non-third-molar teeth, and the share of teeth with a story.
_STORIES = ("filling", "decay", "crown", "crown_tp", "rct_tp", "missing", "extracted", "implant",
            "extraction_tp", "watch", "sealant", "veneer", "fracture")
_ADULT_MIX: dict[str, tuple[float, tuple[int, ...]]] = {
    "young": (0.22, (35, 20, 5, 3, 2, 2, 2, 1, 2, 12, 12, 2, 2)),
    "middle": (0.38, (35, 12, 14, 6, 3, 6, 3, 4, 3, 8, 0, 2, 2)),
    "senior": (0.50, (28, 10, 16, 6, 2, 18, 4, 5, 4, 5, 0, 1, 1)),
}
# Perio: exams by group (0, 1, 2, 3 exams) and the baseline severity (0 healthy … 3 severe).
_EXAMS = {"young": (20, 62, 16, 2), "middle": (8, 55, 31, 6), "senior": (10, 50, 32, 8)}
_SEVERITY = {"young": (55, 40, 5, 0), "middle": (30, 40, 25, 5), "senior": (15, 40, 35, 10)}
_RECESSION = {"young": 0.03, "middle": 0.12, "senior": 0.25}
_THIRD_MOLARS = ("1", "16", "17", "32")


def _group(age: int) -> str:
    return "young" if age < 40 else "middle" if age < 65 else "senior"


class _Chart:
    """One patient's marks, one story per tooth."""

    def __init__(self, plan_id: str, rng: random.Random, born: dt.date, dentist: str,
                 visit_days: list[dt.date], exam_days: list[dt.date], work_days: list[dt.date]) -> None:
        self.pid, self.rng, self.born, self.dentist = plan_id, rng, born, dentist
        self.visit_days, self.exam_days, self.work_days = visit_days, exam_days, work_days
        self.marks: list[MarkPlan] = []
        self.used: set[str] = set()
        self.now_shown = _shown(default_mode(_age_on(born, AS_OF)))

    # --- what a tooth may carry on a day ---------------------------------------------------------

    def fits(self, tooth: str, day: dt.date | None) -> bool:
        """The tooth is in the dentition now and, for a dated mark, on that day too."""
        if tooth not in self.now_shown:
            return False
        return day is None or tooth in _shown(default_mode(_age_on(self.born, day)))

    def day(self, tooth: str, days: list[dt.date]) -> dt.date | None:
        fitting = [d for d in days if self.fits(tooth, d)]
        return self.rng.choice(fitting) if fitting else None

    def add(self, tooth: str, kind: str, status: str, surfaces: str = "", material: str | None = None,
            code: str | None = None, day: dt.date | None = None, provider: str | None = None,
            note: str = "") -> None:
        self.used.add(tooth)
        self.marks.append(MarkPlan(f"{self.pid}-m{len(self.marks) + 1:03d}", tooth, kind, status, surfaces,
                                   material, code, day, provider, note))

    # --- building blocks ---------------------------------------------------------------------------

    def _filling(self, t: Tooth, material: str | None = None, surfaces: str | None = None) -> tuple[str, str, str]:
        rng = self.rng
        surfaces = surfaces or rng.choice(_POSTERIOR_SURFACES if t.is_posterior else _ANTERIOR_SURFACES)
        if material is None:
            material = rng.choice(("amalgam", "composite", "composite")) if t.is_posterior and t.is_permanent \
                else "composite"
        family = FAMILY_BY_MATERIAL[(MarkKind.FILLING, Material(material))]
        code = suggest_code(family, t, parse_surfaces(surfaces, t))
        assert code is not None
        return surfaces, material, code

    def _existing(self, tooth: str) -> tuple[str, dt.date | None, str | None]:
        """(status, day, provider) of work already there: done here on a visit, or elsewhere."""
        day = self.day(tooth, self.work_days)
        if day is not None and self.rng.random() < 0.55:
            return self.rng.choice(("c", "ec")), day, self.dentist
        return "eo", None, None

    @staticmethod
    def _rct_code(t: Tooth) -> str:
        return "D3310" if t.is_anterior else "D3330" if t.is_molar else "D3320"

    # --- stories -------------------------------------------------------------------------------------

    def story(self, name: str, tooth: str) -> None:
        t, rng = Tooth(tooth), self.rng
        if name == "filling":
            status, day, prov = self._existing(tooth)
            self.add(tooth, "filling", status, *self._filling(t), day, prov)
        elif name == "decay":
            found = self.day(tooth, self.exam_days[-2:])
            if found is None:
                return
            surfaces, material, code = self._filling(t, "composite")
            self.add(tooth, "caries", "cn", surfaces, day=found, provider=self.dentist)
            self.add(tooth, "filling", "tp", surfaces, material, code)
        elif name == "crown":
            status, day, prov = self._existing(tooth)
            if rng.random() < 0.4:
                self.add(tooth, "root canal", status, code=self._rct_code(t), day=day, provider=prov)
                if rng.random() < 0.4:
                    self.add(tooth, "post and core", status, code="D2954", day=day, provider=prov)
            material, code = rng.choice(_CROWNS)
            self.add(tooth, "crown", status, material=material, code=code, day=day, provider=prov,
                     note=rng.choice(_NOTES))
        elif name == "crown_tp":
            self.add(tooth, "filling", "eo", *self._filling(t, "amalgam", "MOD"))
            self.add(tooth, "crown", "tp", material="zirconia", code="D2740", note="large old filling, cracked")
        elif name == "rct_tp":
            found = self.day(tooth, self.exam_days[-1:])
            self.add(tooth, "caries", "cn", "DO" if t.is_posterior else "DF", day=found, provider=self.dentist)
            self.add(tooth, "root canal", "tp", code=self._rct_code(t))
            self.add(tooth, "crown", "tp", material="porcelain", code="D2740")
        elif name == "missing":
            self.add(tooth, "missing", "cn")
        elif name == "extracted":
            status, day, prov = self._existing(tooth)
            self.add(tooth, "extraction", status, code=rng.choice(("D7140", "D7210")), day=day, provider=prov)
        elif name == "implant":
            day = self.day(tooth, self.work_days)
            self.add(tooth, "implant", "c" if day else "eo", material="titanium", code="D6010", day=day,
                     provider=self.dentist if day else None)
        elif name == "extraction_tp":
            found = self.day(tooth, self.exam_days[-1:])
            if rng.random() < 0.5:
                self.add(tooth, "retained root", "cn", day=found, provider=self.dentist)
            else:
                self.add(tooth, "fracture", "cn", day=found, provider=self.dentist)
            self.add(tooth, "extraction", "tp", code="D7210" if t.is_molar else "D7140")
        elif name == "watch":
            found = self.day(tooth, self.exam_days)
            self.add(tooth, "watch", "cn", "O" if t.is_posterior else "F", day=found, provider=self.dentist,
                     note=rng.choice(("stained fissure, recheck 6 months", "", "early lesion")))
        elif name == "sealant":
            day = self.day(tooth, self.work_days)
            self.add(tooth, "sealant", "c" if day else "tp", "O", "resin", "D1351", day,
                     self.dentist if day else None)
        elif name == "veneer":
            status, day, prov = self._existing(tooth)
            if rng.random() < 0.4:
                status, day, prov = "tp", None, None
            self.add(tooth, "veneer", status, material="porcelain", code="D2962", day=day, provider=prov)
        elif name == "fracture":
            found = self.day(tooth, self.exam_days[-1:])
            self.add(tooth, "fracture", "cn", "MI" if t.is_anterior else "MO", day=found, provider=self.dentist)
            surfaces, material, code = self._filling(t, "composite", "MIF" if t.is_anterior else "MOD")
            self.add(tooth, "filling", "tp", surfaces, material, code)
        else:  # pragma: no cover - a typo in the tables
            raise ValueError(name)

    def bridge(self, middle: int) -> None:
        status, day, prov = self._existing(str(middle))
        for tooth, kind, code in ((middle - 1, "bridge abutment", "D6750"), (middle, "bridge pontic", "D6240"),
                                  (middle + 1, "bridge abutment", "D6750")):
            self.add(str(tooth), kind, status, material="porcelain fused to metal", code=code, day=day,
                     provider=prov)


def _pick(rng: random.Random, names: tuple[str, ...], weights: tuple[int, ...]) -> str:
    return rng.choices(names, weights)[0]


def _chart_adult(c: _Chart, age: int) -> None:
    rng = c.rng
    group = _group(age)
    teeth = [t for t in PERMANENT_TEETH if t.universal not in _THIRD_MOLARS]
    if group != "young" and rng.random() < (0.12 if group == "middle" else 0.2):
        c.bridge(rng.choice([n for n in (*range(4, 14), *range(20, 30))]))
    for tooth in _THIRD_MOLARS:
        x = rng.random()
        gone = 0.45 if group != "senior" else 0.7
        if x < gone:
            c.add(tooth, "missing", "cn")
        elif x < gone + (0.12 if age < 45 else 0.0):
            c.add(tooth, "impacted", "cn")
        elif x < gone + 0.2:
            c.add(tooth, "extraction", "eo", code="D7210")
    share, weights = _ADULT_MIX[group]
    order = list(teeth)
    rng.shuffle(order)
    for t in order:
        if t.universal in c.used or rng.random() >= share:
            continue
        name = _pick(rng, _STORIES, weights)
        if name in ("sealant", "crown_tp") and not t.is_posterior:
            name = "filling"
        if name in ("veneer", "fracture") and not t.is_anterior:
            name = "watch"
        if name == "sealant" and age >= 30:
            name = "watch"
        c.story(name, t.universal)


def _chart_child(c: _Chart, age: int) -> None:
    """Primary and mixed dentitions, and teenagers (permanent, no third molars yet)."""
    rng = c.rng
    mode = default_mode(age)
    for tooth in sorted(c.now_shown, key=lambda u: Tooth(u).chart_index):
        t = Tooth(tooth)
        x = rng.random()
        if t.is_primary:
            if t.is_molar:
                if x < 0.14:
                    c.story("decay", tooth)
                elif x < 0.24:
                    day = c.day(tooth, c.work_days)
                    if day is not None:
                        c.add(tooth, "filling", "c", *c._filling(t, "composite"), day, c.dentist)
                elif x < 0.27 and mode is DentitionMode.MIXED:
                    c.add(tooth, "extraction", "tp", code="D7140", note="over-retained")
                elif x < 0.31:
                    c.story("watch", tooth)
            elif x < 0.04:
                found = c.day(tooth, c.exam_days[-2:])
                if found is not None:
                    c.add(tooth, "caries", "cn", "F", day=found, provider=c.dentist)
                    c.add(tooth, "filling", "tp", *c._filling(t, "composite", "F"))
        elif tooth in _THIRD_MOLARS:
            if age >= 15 and x < 0.25:
                c.add(tooth, "impacted", "cn")
        elif t.is_molar:
            if x < (0.45 if mode is DentitionMode.MIXED else 0.35):
                c.story("sealant", tooth)
            elif x < 0.55:
                c.story("decay", tooth)
        elif x < 0.03:
            c.story("watch" if x < 0.02 or not t.is_anterior else "fracture", tooth)
        elif x < 0.05 and mode is DentitionMode.PERMANENT:
            c.story("filling", tooth)


def _visits(rng: random.Random, pid: str, born: dt.date, age: int, dentist: str,
            hygienist: str) -> list[Encounter]:
    years = rng.randint(1, min(5, age - 1)) if age < 18 else rng.randint(1, 7)
    first = AS_OF - dt.timedelta(days=365 * years + rng.randint(0, 120))
    first = max(first, born + dt.timedelta(days=366))
    span = (AS_OF - first).days
    recalls = rng.randint(2, 4) if age < 18 else rng.randint(2, 5)
    days: dict[dt.date, VisitKind] = {first: VisitKind.EXAM}
    for i in range(1, recalls + 1):
        days.setdefault(first + dt.timedelta(days=span * i // recalls - rng.randint(0, 30)), VisitKind.HYGIENE)
    for _ in range(rng.randint(0, 1) if age < 18 else rng.randint(0, 3)):
        days.setdefault(first + dt.timedelta(days=rng.randint(1, span)), VisitKind.TREATMENT)
    out = []
    for i, day in enumerate(sorted(days), start=1):
        kind = days[day]
        start = dt.datetime.combine(day, dt.time(8 + rng.randint(0, 8), rng.choice((0, 30))), _ZONE)
        out.append(Encounter(id=f"{pid}-v{i:02d}", patient=pid, start=start,
                             end=start + dt.timedelta(minutes=rng.choice((30, 50, 60))),
                             provider=hygienist if kind is VisitKind.HYGIENE else dentist,
                             status=EncounterStatus.FINISHED, kind=kind, practice=PRACTICE_ID))
    return out


def _treatment_plan(rng: random.Random, n: int, pid: str, marks: list[MarkPlan], dentist: str,
                    created: dt.date) -> TreatmentPlan | None:
    planned = [m for m in marks if m.status == "tp" and m.code]
    if not planned or rng.random() >= 0.75:
        return None
    fees = _fees()
    phases: dict[int, list[PlanItem]] = {1: [], 2: [], 3: []}
    for m in sorted(planned, key=lambda m: (Tooth(m.tooth).chart_index, m.id)):
        assert m.code is not None
        number = 3 if m.kind == "sealant" else 2 if m.kind in ("crown", "veneer", "implant") else 1
        urgent = m.kind in ("extraction", "root canal") or (m.kind == "filling" and rng.random() < 0.5)
        item = dict(code=m.code, tooth=m.tooth, surfaces=m.surfaces, fee=fees.get(m.code),
                    priority=Priority.URGENT if urgent else Priority.ROUTINE, service_request=m.id)
        if m.kind == "crown" and Tooth(m.tooth).is_posterior and rng.random() < 0.5:
            group = f"tooth-{m.tooth}"
            choice = rng.random()
            phases[number].append(PlanItem(id=f"item-{m.id}", alternate_group=group, accepted=choice < 0.35, **item))
            phases[number].append(PlanItem(id=f"item-{m.id}-onlay", code="D2643", tooth=m.tooth, surfaces="MOD",
                                           fee=fees.get("D2643"), alternate_group=group,
                                           accepted=0.35 <= choice < 0.5))
        else:
            phases[number].append(PlanItem(id=f"item-{m.id}", **item))
    titles = {1: "Disease control", 2: "Definitive restoration", 3: "Prevention"}
    active = rng.random() < 0.6
    return TreatmentPlan(
        id=f"{pid}-plan-1", patient=pid, care_plan_id=f"CP-{n + 1:06d}" if active else None,
        title=f"Treatment plan {created.year}", status=PlanStatus.ACTIVE if active else PlanStatus.DRAFT,
        created=dt.datetime.combine(created, dt.time(11, 30), _ZONE), author=dentist,
        phases=tuple(Phase(number=k, title=titles[k], items=tuple(v)) for k, v in phases.items() if v))


def _tooth_states(pid: str, marks: list[MarkPlan], day: dt.date) -> dict[str, ToothState]:
    """The teeth a perio exam on ``day`` charts as missing or implant.

    The domain's rule (:func:`states_from_chart`) over the marks in effect on that day, and three
    more that it leaves to the clinician: a pontic's tooth is gone, an impacted tooth has not
    erupted, and a tooth that has its implant only later was missing until then."""
    in_effect = [m.mark(pid) for m in marks if m.kind in ("missing", "extraction", "implant")
                 and (m.day is None or m.day <= day)]
    states = {t.universal: s for t, s in states_from_chart(in_effect).items()}
    for m in marks:
        if m.kind in ("bridge pontic", "impacted", "implant"):
            states.setdefault(m.tooth, ToothState.MISSING)
    return states


def _exams(rng: random.Random, pid: str, born: dt.date, age: int, hygienist: str, visits: list[Encounter],
           marks: list[MarkPlan]) -> list[PerioExam]:
    group = _group(age)
    recalls = [v.start.date() for v in visits if v.kind is VisitKind.HYGIENE and _age_on(born, v.start.date()) >= 18]
    wanted = rng.choices((0, 1, 2, 3), _EXAMS[group])[0]
    days: list[dt.date] = []
    for day in reversed(recalls):
        if len(days) < wanted and (not days or (days[-1] - day).days >= 540):
            days.append(day)
    days.reverse()
    if not days:
        return []
    severity = rng.choices((0, 1, 2, 3), _SEVERITY[group])[0]
    trend = rng.choice((-1, 0, 0, 1))  # older exams deeper (treated), the same, or shallower (worsening)
    base: dict[tuple[str, str], tuple[int, int]] = {}
    for tooth in PERMANENT_TEETH:
        for site in SITES:
            pd = 2 + (rng.random() < 0.3)
            if severity >= 1 and site.is_interdental:
                pd += rng.choice((0, 1))
            if severity >= 2 and tooth.is_molar:
                pd += rng.choice((1, 2))
            if severity >= 3:
                pd += rng.choice((0, 1, 2))
            rec = rng.choice((1, 1, 2, 3)) if site.is_facial and rng.random() < _RECESSION[group] else 0
            base[(tooth.universal, site.value)] = (pd, rec)
    out = []
    last = len(days) - 1
    for k, day in enumerate(days):
        exam = PerioExam(id=f"{pid}-perio-{k + 1}", patient=pid, date=day, provider=hygienist)
        states = _tooth_states(pid, marks, day)
        for tooth, state in sorted(states.items(), key=lambda kv: int(kv[0])):
            exam.set_tooth_state(tooth, state)
        for tooth in PERMANENT_TEETH:
            if states.get(tooth.universal) is ToothState.MISSING:
                continue
            deepest = 0
            for site in SITES:
                pd, rec = base[(tooth.universal, site.value)]
                pd = max(1, min(12, pd - trend * (last - k) + rng.choice((-1, 0, 0, 0, 1))))
                gm = max(0, rec - (last - k) * (rng.random() < 0.3))
                exam.set_pd(tooth, site, pd)
                if gm:
                    exam.set_gm(tooth, site, gm)
                if rng.random() < (0.6 if pd >= 4 else 0.06 + 0.04 * severity):
                    exam.set_flag(tooth, site, "bleeding")
                if pd >= 6 and rng.random() < 0.25:
                    exam.set_flag(tooth, site, "suppuration")
                deepest = max(deepest, pd)
            if severity >= 2 and deepest >= 5 and states.get(tooth.universal) is not ToothState.IMPLANT:
                if rng.random() < 0.4:
                    exam.set_mobility(tooth, 2 if deepest >= 7 else 1)
                entrances = furcation_entrances(tooth)
                if entrances and rng.random() < 0.5:
                    exam.set_furcation(tooth, entrances[0], 2 if deepest >= 6 else 1)
        out.append(exam)
    return out


def plan_patient(n: int, seed: int = 7) -> PatientPlan:
    """Patient ``n`` of the set made with ``seed``: the same every time, whatever else is made."""
    rng = random.Random(f"odonto-bulk:{seed}:{n}")
    pid = patient_id(n)
    lo, hi, _ = rng.choices(_AGE_BANDS, [w for _, _, w in _AGE_BANDS])[0]
    age = rng.randint(lo, hi)
    born = dt.date(AS_OF.year - age - 1, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
    age = _age_on(born, AS_OF)  # the drawn age or one more
    gender = rng.choices((Gender.FEMALE, Gender.MALE, Gender.OTHER, Gender.UNKNOWN), (50, 48, 1, 1))[0]
    given = rng.choice(_GIVEN_M if gender is Gender.MALE else _GIVEN_F if gender is Gender.FEMALE
                       else _GIVEN_F + _GIVEN_M)
    patient = Patient(id=pid, gpid=gpid_of(n, seed), name=HumanName(family=rng.choice(_FAMILY), given=(given,)),
                      birth_date=born, gender=gender, practice=PRACTICE_ID)
    dentist, hygienist = rng.choice(DENTISTS), rng.choice(HYGIENISTS)
    visits = _visits(rng, pid, born, age, dentist, hygienist)
    days = [v.start.date() for v in visits]
    exam_days = [v.start.date() for v in visits if v.kind is not VisitKind.TREATMENT]
    work_days = [v.start.date() for v in visits if v.kind is not VisitKind.HYGIENE]
    chart = _Chart(pid, rng, born, dentist, days, exam_days, work_days)
    if age >= 18:
        _chart_adult(chart, age)
    else:
        _chart_child(chart, age)
    plan = _treatment_plan(rng, n, pid, chart.marks, dentist, exam_days[-1])
    exams = _exams(rng, pid, born, age, hygienist, visits, chart.marks) if age >= 18 else []
    return PatientPlan(n, patient, age, visits, chart.marks, plan, exams)


def practice() -> list[Organization | Practitioner]:
    """The practice and its clinicians, which every patient's records refer to."""
    people = [("bulk-dds-1", "Moreau", "Claire", "DDS", ProviderRole.DENTIST),
              ("bulk-dds-2", "Osei", "Kwame", "DMD", ProviderRole.DENTIST),
              ("bulk-dds-3", "Lindqvist", "Astrid", "DDS", ProviderRole.DENTIST),
              ("bulk-rdh-1", "Petrov", "Mila", "RDH", ProviderRole.HYGIENIST),
              ("bulk-rdh-2", "Ahmed", "Yusuf", "RDH", ProviderRole.HYGIENIST)]
    out: list[Organization | Practitioner] = [
        Organization(id=PRACTICE_ID, name="Riverside Dental Group (synthetic)", kind=OrgKind.PRACTICE)]
    out += [Practitioner(id=i, name=HumanName(family=f, given=(g,), suffix=(s,)), role=r) for i, f, g, s, r in people]
    return out


def reference_resources(p: PatientPlan) -> list[Resource]:
    """The patient's resources built one by one through the mappers (what the fast path must equal)."""
    out = [to_fhir(p.patient)] + [to_fhir(v) for v in p.visits] + [to_fhir(m.mark(p.id)) for m in p.marks]
    if p.plan is not None:
        out.append(to_fhir(p.plan))
    for exam in p.exams:
        out += perio_to_observations(exam)
    return out


# --- the fast path: templates ------------------------------------------------------------------

# Placeholders the templates carry where clones differ: valid FHIR ids, and a date no record has.
_EXAM, _PID, _PROV, _RID = "zzexamzz", "zzpidzz", "zzprovzz", "zzridzz"
_DAY = dt.date(1901, 2, 3)
_HOLES = (_EXAM, _PID, _DAY.isoformat(), _PROV, _RID)
_HOLE_SPLIT = re.compile("(" + "|".join(map(re.escape, _HOLES)) + ")")


class Template(NamedTuple):
    """JSON text cut at its placeholders: ``fill(values)`` puts ``values[i]`` where ``_HOLES[i]`` was.
    (A join of the pieces is ~15 times faster than chained ``str.replace`` or ``str.format``.)"""

    pieces: tuple[str, ...]  # the text between placeholders (one more than holes)
    holes: tuple[int, ...]  # which value goes after pieces[i], as an index into _HOLES

    @classmethod
    def of(cls, text: str) -> Template:
        parts = _HOLE_SPLIT.split(text)
        return cls(tuple(parts[0::2]), tuple(_HOLES.index(h) for h in parts[1::2]))

    def fill(self, values: tuple[str, ...]) -> str:
        pieces = self.pieces
        out = [pieces[0]]
        for i, hole in enumerate(self.holes, start=1):
            out.append(values[hole])
            out.append(pieces[i])
        return "".join(out)


class Finding(NamedTuple):
    """One value an exam shows, as :func:`~odonto_desk.fhir.resources.perio.exam_findings` lists it."""

    suffix: str  # of the Observation id: pd-30-db, state-1, furcation-19-b …
    measure: Measure
    tooth: Tooth
    site: Site | None = None
    entrance: Entrance | None = None
    value: int | None = None
    flag: bool | None = None
    state: ToothState | None = None
    scale: str | None = None


_SITE_NAMES = tuple((s, s.value.lower()) for s in SITES)
_MM = ((Measure.PD, "pd"), (Measure.GM, "gm"), (Measure.MGJ, "mgj"))
_FLAGS = tuple((m, m.value) for m in (Measure.BLEEDING, Measure.SUPPURATION, Measure.PLAQUE, Measure.CALCULUS))


def finding_keys(exam: PerioExam) -> Iterator[Finding]:
    """Every value the exam shows, in the mapper's order (``exam_findings``), without building models."""
    for tooth in PERMANENT_TEETH:
        t = tooth.universal
        state = exam.tooth_state(tooth)
        if state is not ToothState.PRESENT:
            yield Finding(f"state-{t}", Measure.TEETH, tooth, state=state)
        for site, s in _SITE_NAMES:
            r = exam.reading(tooth, site)
            for m, name in _MM:
                v = getattr(r, name)
                if v is not None:
                    yield Finding(f"{name}-{t}-{s}", m, tooth, site, value=v)
            for m, name in _FLAGS:
                if getattr(r, name):
                    yield Finding(f"{name}-{t}-{s}", m, tooth, site, flag=True)
        grade = exam.mobility(tooth)
        if grade is not None:
            yield Finding(f"mobility-{t}", Measure.MOBILITY, tooth, value=grade.value, scale=grade.scale)
        for e in furcation_entrances(tooth):
            fg = exam.furcation(tooth, e)
            if fg is not None:
                yield Finding(f"furcation-{t}-{e.value.lower()}", Measure.FURCATION, tooth, entrance=e,
                              value=fg.value, scale=fg.scale)


class Renderer:
    """Turns :class:`PatientPlan` s into store rows, building each shape through the mappers once."""

    def __init__(self) -> None:
        self._marks: dict[tuple[Any, ...], tuple[str, Template, Template]] = {}
        self._findings: dict[tuple[Any, ...], Template] = {}

    def mark(self, pid: str, m: MarkPlan) -> tuple[str, str, str]:
        """(resource type, JSON text, derived chart-mark JSON) of one mark."""
        key = (m.tooth, m.kind, m.status, m.surfaces, m.material, m.code, m.note, m.day is None, m.provider is None)
        hit = self._marks.get(key)
        if hit is None:
            shape = m._replace(id=_RID, day=None if m.day is None else _DAY,
                               provider=None if m.provider is None else _PROV)
            resource = to_fhir(shape.mark(_PID))
            hit = self._marks[key] = (resource["resourceType"], Template.of(_dump(resource)),
                                      Template.of(derive_mark(resource)))
        rtype, text, derived = hit
        values = ("", pid, m.day.isoformat() if m.day else "", m.provider or "", m.id)
        return rtype, text.fill(values), derived.fill(values)

    def _finding(self, f: Finding, no_provider: bool) -> Template:
        key = (f.suffix, f.value, f.state, f.scale, no_provider)
        text = self._findings.get(key)
        if text is None:
            finding = PerioFinding(id=f"{_EXAM}-{f.suffix}", patient=_PID, effective=_DAY,
                                   provider=None if no_provider else _PROV, measure=f.measure, tooth=f.tooth,
                                   site=f.site, entrance=f.entrance, value=f.value, flag=f.flag, state=f.state,
                                   scale=f.scale)
            text = self._findings[key] = Template.of(_dump(build_finding(finding)))
        return text

    def exam(self, exam: PerioExam) -> list[NewResource]:
        """The panel and its findings, as :func:`perio_to_observations` gives them."""
        assert exam.patient is not None and exam.date is not None and not exam.note
        pid, prov, eid = exam.patient, exam.provider, exam.id
        values = (eid, pid, exam.date.isoformat(), prov or "", "")
        rows, members = [], []
        for f in finding_keys(exam):
            rid = f"{eid}-{f.suffix}"
            rows.append(NewResource("Observation", rid, pid, self._finding(f, prov is None).fill(values)))
            members.append(rid)
        panel = PerioPanel(id=eid, patient=pid, date=exam.date, provider=prov, mobility_scale=exam.mobility_scale,
                           furcation_scale=exam.furcation_scale, members=tuple(members))
        return [NewResource("Observation", eid, pid, _dump(build_panel(panel))), *rows]

    def patient(self, p: PatientPlan) -> tuple[list[NewResource], list[tuple[str, str, int, str]]]:
        """The patient's rows in write order, and the chart's derived marks (type, id, version, JSON)."""
        pid = p.id
        rows = [NewResource("Patient", pid, pid, _dump(to_fhir(p.patient)), ((codes.GPID_SYSTEM, p.patient.gpid),))]
        rows += [NewResource("Encounter", v.id, pid, _dump(to_fhir(v))) for v in p.visits]
        derived = []
        for m in p.marks:
            rtype, text, mark = self.mark(pid, m)
            rows.append(NewResource(rtype, m.id, pid, text))
            derived.append((rtype, m.id, 1, mark))
        if p.plan is not None:
            ident = ((codes.CARE_PLAN_ID_SYSTEM, p.plan.care_plan_id),) if p.plan.care_plan_id else ()
            rows.append(NewResource("CarePlan", p.plan.id, pid, _dump(to_fhir(p.plan)), ident))
        for exam in p.exams:
            rows += self.exam(exam)
        return rows, derived


def practice_rows() -> list[NewResource]:
    return [NewResource(r["resourceType"], r["id"], None, _dump(r)) for r in map(to_fhir, practice())]


def rows(patients: Iterable[int], seed: int = 7) -> Iterator[NewResource]:
    """The rows of these patients (not the practice), as :func:`generate` writes them."""
    render = Renderer()
    for n in patients:
        yield from render.patient(plan_patient(n, seed))[0]


# --- writing -----------------------------------------------------------------------------------


def existing_patients(store: FhirStore) -> int:
    """How many generated patients the store holds (they are numbered from 0)."""
    row = store.connection.execute("SELECT COUNT(*) FROM current WHERE type='Patient' AND id >= ? AND id < ?",
                                   (PATIENT_PREFIX, PATIENT_PREFIX[:-1] + chr(ord(PATIENT_PREFIX[-1]) + 1))).fetchone()
    return int(row[0])


def generate(store: FhirStore, *, patients: int, seed: int = 7, batch: int = 100) -> int:
    """Write the practice and generated patients 0 … ``patients`` − 1; returns how many resources.

    Patients already in the store (an earlier run on the same file, with the same seed: they are
    counted, not compared) are kept and the rest added, ``batch`` patients a transaction, each with
    its chart's derived marks."""
    written = 0
    if store.current_version("Organization", PRACTICE_ID) is None:
        written += store.load(practice_rows())
    render = Renderer()
    for start in range(existing_patients(store), patients, batch):
        with store.transaction():
            resources: list[NewResource] = []
            derived: list[tuple[str, str, int, str]] = []
            for n in range(start, min(patients, start + batch)):
                r, d = render.patient(plan_patient(n, seed))
                resources += r
                derived += d
            written += store.load(resources)
            record_marks(store, derived)
    return written


def gpids(store: FhirStore, limit: int | None = None) -> list[str]:
    """GPIDs of the generated patients, in patient order (for load generators)."""
    sql = "SELECT value FROM identifier WHERE type='Patient' AND system=? AND id LIKE ? ORDER BY id"
    rows_ = store.connection.execute(sql + (f" LIMIT {int(limit)}" if limit else ""),
                                     (codes.GPID_SYSTEM, PATIENT_PREFIX + "%")).fetchall()
    return [r[0] for r in rows_]


def mix(patients: int, seed: int = 7) -> dict[str, float]:
    """Resources per patient by type, on average over ``patients`` (for the docstring's figures)."""
    from collections import Counter

    counts: Counter[str] = Counter()
    exams = plans = 0
    for n in range(patients):
        p = plan_patient(n, seed)
        counts["Patient"] += 1
        counts["Encounter"] += len(p.visits)
        for m in p.marks:
            counts[{"cn": "Condition", "tp": "ServiceRequest", "r": "ServiceRequest"}.get(m.status, "Procedure")] += 1
        plans += p.plan is not None
        exams += len(p.exams)
        counts["Observation"] += sum(1 + sum(1 for _ in finding_keys(e)) for e in p.exams)
    counts["CarePlan"] = plans
    out = {k: round(v / patients, 2) for k, v in sorted(counts.items())}
    out["perio exams"] = round(exams / patients, 2)
    out["total"] = round(sum(counts.values()) / patients, 1)
    return out


if __name__ == "__main__":  # python -m odonto_desk.sandbox.bulk [PATIENTS]
    import sys

    print(json.dumps(mix(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=1))
