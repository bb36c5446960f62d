"""The perio exam on the wire: one Observation per recorded value, grouped by a panel.

``reference/fhir-dental.md`` §4 recommends one Observation per measurement (it syncs and
validates cleanly, and a partner can read a single probing depth without our model), with a
panel Observation whose ``hasMember`` lists them when one handle per exam is wanted. So a
:class:`PerioExam` becomes:

* a **panel** (:class:`PerioPanel`): code ``chart`` in our perio code system; patient, date,
  provider, note; the exam's default mobility and furcation scales as components; ``hasMember``
  → every finding;
* one **finding** (:class:`PerioFinding`) per recorded value: PD, GM and MGJ in mm
  (``valueQuantity``, UCUM ``mm``); bleeding, suppuration, plaque and calculus as
  ``valueBoolean`` (only when present); mobility and furcation class as ``valueInteger`` with
  the scale as ``method``; a missing tooth or implant as ``valueCodeableConcept``.
  ``code`` is our perio code, preceded by the LOINC PhenX code where one exists (PD 64042-5,
  GM 64043-3, bleeding 64044-1). Sign of GM: **+ is recession** (margin apical to the CEJ), as
  the domain stores it. CAL is derived (PD + GM) and never sent.

Where: the tooth as ``bodySite``; the site (DB = D + B …) or furcation entrance as surfaces of a
contained BodyStructure and as the Apex tooth-surface extensions, beside the tooth-number one.

Values of a tooth marked missing are kept by the domain (un-marking restores them) but are not
sent: another system would show probing depths on a tooth that is not there. So
``perio_from_observations(perio_to_observations(exam))`` equals the exam as it is shown.

The single-Observation units are registered as mappers (``to_fhir(finding)``), so the API and
cache can read any one perio Observation; whole exams go through :func:`perio_to_observations`
and :func:`perio_from_observations`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from odonto_desk.domain.classification import PerioDiagnosis
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import DomainModel, new_id
from odonto_desk.domain.perio import (
    DEFAULT_FURCATION_SCALE,
    DEFAULT_MOBILITY_SCALE,
    PERIO_TEETH,
    SITES,
    Entrance,
    Flag,
    Measure,
    PerioExam,
    Site,
    ToothState,
    furcation_entrances,
)
from odonto_desk.domain.surfaces import Surface, normalize_surface
from odonto_desk.domain.teeth import PERMANENT_TEETH, Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import Mapper, Resource, register
from odonto_desk.fhir.resources._common import clean, code_in, construct, enum_of, ref, ref_id
from odonto_desk.fhir.teeth import apex_tooth_block, read_tooth_and_surfaces, tooth_codeable

# URIs this module adds (see fhir/codes.py for the rest).
CS_PERIO_SCALE = codes.ODONTO_BASE + "CodeSystem/perio-scale"
CS_TOOTH_STATE = codes.ODONTO_BASE + "CodeSystem/tooth-state"

PANEL_CODE = "chart"
DIAGNOSIS_CODE = "classification"
_EXAM = {"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}
_ID_RE = re.compile(r"^[A-Za-z0-9\-.]+$")


# The perio code system names the tooth-state finding "tooth-state"; every other code is the measure's value.
_WIRE = {Measure.TEETH: "tooth-state"}
_FROM_WIRE = {code: m for m, code in _WIRE.items()}


def measure_code(m: Measure) -> str:
    return _WIRE.get(m, m.value)


_LOINC: dict[Measure, tuple[str, str]] = {
    Measure.PD: ("64042-5", "Distance from the free gingival margin, FGM, to the sulcus base, SB Tooth [PhenX]"),
    Measure.GM: ("64043-3", "Distance from the FGM to the cemento-enamel junction, CEJ Tooth [PhenX]"),
    Measure.BLEEDING: ("64044-1", "Clinical observation of the presence of blood, bleeding on probing [PhenX]"),
}
_BY_LOINC = {code: m for m, (code, _) in _LOINC.items()}
_TEXT: dict[Measure, str] = {
    Measure.PD: "Periodontal probing depth", Measure.GM: "Gingival margin (+ recession)",
    Measure.MGJ: "Width to the mucogingival junction", Measure.BLEEDING: "Bleeding on probing",
    Measure.SUPPURATION: "Suppuration", Measure.PLAQUE: "Plaque", Measure.CALCULUS: "Calculus",
    Measure.MOBILITY: "Tooth mobility", Measure.FURCATION: "Furcation involvement",
    Measure.TEETH: "Tooth state in the perio chart",
}


# --- the single-Observation units -----------------------------------------------------------------


class PerioFinding(DomainModel):
    """One value of a perio exam, as one Observation carries it.

    Exactly one of ``value`` (mm or grade), ``flag`` or ``state`` is set, as ``measure`` calls
    for. The range and placement rules are the exam's own (:func:`_apply` to an empty exam), so
    a finding that the exam would refuse cannot be built either.
    """

    id: str = Field(default_factory=new_id)
    patient: str | None = None
    effective: dt.datetime | dt.date | None = None
    provider: str | None = None  # Practitioner id
    note: str = ""
    measure: Measure
    tooth: Tooth
    site: Site | None = None
    entrance: Entrance | None = None
    value: int | None = None
    flag: bool | None = None
    state: ToothState | None = None
    scale: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> PerioFinding:
        m = self.measure
        if m.per_site and self.site is None:
            raise DomainError(f"{m.value} is recorded at a site (DB, B, MB, DL, L, ML)", field="site")
        if not m.per_site and self.site is not None:
            raise DomainError(f"{m.value} is recorded per tooth, not at a site", field="site")
        if (m is Measure.FURCATION) != (self.entrance is not None):
            raise DomainError("a furcation value names its entrance, and only a furcation value does",
                              field="entrance")
        wanted = "flag" if m.is_flag else "state" if m is Measure.TEETH else "value"
        for name in ("value", "flag", "state"):
            if (getattr(self, name) is None) == (name == wanted):
                raise DomainError(f"a {m.value} finding carries a {wanted}", field=wanted)
        if self.scale is not None and m not in (Measure.MOBILITY, Measure.FURCATION):
            raise DomainError(f"{m.value} has no scale", field="scale")
        _apply(PerioExam(), self)
        return self

    @property
    def date(self) -> dt.date | None:
        e = self.effective
        return e.date() if isinstance(e, dt.datetime) else e


def _apply(exam: PerioExam, f: PerioFinding) -> None:
    """Record ``f`` in ``exam`` through the exam's own setters (and so its own rules)."""
    m = f.measure
    if m.is_mm:
        exam.set_value(m, f.tooth, f.site, f.value)  # type: ignore[arg-type]
    elif m.is_flag:
        exam.set_flag(f.tooth, f.site, Flag(m.value), bool(f.flag))  # type: ignore[arg-type]
    elif m is Measure.MOBILITY:
        exam.set_mobility(f.tooth, f.value, f.scale)
    elif m is Measure.FURCATION:
        exam.set_furcation(f.tooth, f.entrance, f.value, f.scale)  # type: ignore[arg-type]
    else:
        exam.set_tooth_state(f.tooth, f.state)  # type: ignore[arg-type]


class PerioPanel(DomainModel):
    """The exam's header Observation: who, when, the default scales, and its member findings."""

    id: str = Field(default_factory=new_id)
    patient: str | None = None
    date: dt.date | None = None
    provider: str | None = None
    note: str = ""
    mobility_scale: str = DEFAULT_MOBILITY_SCALE
    furcation_scale: str = DEFAULT_FURCATION_SCALE
    members: tuple[str, ...] = ()  # Observation ids

    @model_validator(mode="after")
    def _scales(self) -> PerioPanel:
        PerioExam(mobility_scale=self.mobility_scale, furcation_scale=self.furcation_scale)
        return self


# --- writing ---------------------------------------------------------------------------------------


def _code(measure: Measure) -> dict[str, Any]:
    coding = []
    if measure in _LOINC:
        code, display = _LOINC[measure]
        coding.append({"system": codes.LOINC, "code": code, "display": display})
    coding.append({"system": codes.CS_PERIO, "code": measure_code(measure)})
    return {"coding": coding, "text": _TEXT[measure]}


def _surfaces(f: PerioFinding) -> tuple[Surface, ...]:
    if f.site is not None:
        return f.site.surfaces(f.tooth)
    if f.entrance is not None:
        return (normalize_surface(f.entrance.value, f.tooth),)
    return ()


def _value(f: PerioFinding) -> dict[str, Any]:
    m = f.measure
    if m.is_mm:
        return {"valueQuantity": {"value": f.value, "unit": "mm", "system": codes.UCUM, "code": "mm"}}
    if m.is_flag:
        return {"valueBoolean": f.flag}
    if m is Measure.TEETH:
        assert f.state is not None
        return {"valueCodeableConcept": {"coding": [{"system": CS_TOOTH_STATE, "code": f.state.value}],
                                         "text": f.state.value}}
    return {"valueInteger": f.value}


def _effective(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_finding(f: PerioFinding) -> Resource:
    patient_ref = f"Patient/{f.patient}" if f.patient else None
    surfaces = _surfaces(f)
    label = f.site.value.lower() if f.site else (f.entrance.value.lower() if f.entrance else "tooth")
    contained, ext = apex_tooth_block(f.tooth, surfaces, patient_ref, bs_id=f"bs-{f.tooth.universal}-{label}")
    scale = f.scale if f.measure in (Measure.MOBILITY, Measure.FURCATION) else None
    return clean({
        "resourceType": "Observation",
        "id": f.id,
        "contained": contained,
        "extension": ext,
        "status": "final",
        "category": [_EXAM],
        "code": _code(f.measure),
        "subject": ref("Patient", f.patient),
        "effectiveDateTime": _effective(f.effective),
        "performer": [ref("Practitioner", f.provider)] if f.provider else [],
        **_value(f),
        "method": {"coding": [{"system": CS_PERIO_SCALE, "code": scale}]} if scale else None,
        "bodySite": tooth_codeable(f.tooth),
        "note": [{"text": f.note}] if f.note else [],
    })


def _scale_component(kind: str, scale: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": codes.CS_PERIO, "code": f"{kind}-scale"}]},
            "valueCodeableConcept": {"coding": [{"system": CS_PERIO_SCALE, "code": scale}]}}


def build_panel(p: PerioPanel) -> Resource:
    return clean({
        "resourceType": "Observation",
        "id": p.id,
        "status": "final",
        "category": [_EXAM],
        "code": {"coding": [{"system": codes.CS_PERIO, "code": PANEL_CODE}], "text": "Periodontal chart"},
        "subject": ref("Patient", p.patient),
        "effectiveDateTime": _effective(p.date),
        "performer": [ref("Practitioner", p.provider)] if p.provider else [],
        "note": [{"text": p.note}] if p.note else [],
        "hasMember": [ref("Observation", m) for m in p.members],
        "component": [_scale_component("mobility", p.mobility_scale),
                      _scale_component("furcation", p.furcation_scale)],
    })


# --- reading ---------------------------------------------------------------------------------------


def _perio_code(r: Resource) -> str | None:
    code = code_in(r.get("code"), codes.CS_PERIO)
    if code is not None:
        return code
    loinc = code_in(r.get("code"), codes.LOINC)
    return measure_code(_BY_LOINC[loinc]) if loinc in _BY_LOINC else None


def is_perio_panel(r: Resource) -> bool:
    return r.get("resourceType") == "Observation" and _perio_code(r) == PANEL_CODE


def is_perio_finding(r: Resource) -> bool:
    code = _perio_code(r) if r.get("resourceType") == "Observation" else None
    return code is not None and code not in (PANEL_CODE, DIAGNOSIS_CODE)


def is_perio_diagnosis(r: Resource) -> bool:
    return r.get("resourceType") == "Observation" and code_in(r.get("code"), codes.CS_PERIO) == DIAGNOSIS_CODE


def _read_effective(value: Any) -> dt.datetime | dt.date | None:
    if value in (None, ""):
        return None
    text = str(value)
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        raise FhirMappingError(f"{value!r} is not a date and time", path="Observation.effectiveDateTime") from None


def _read_value(r: Resource, m: Measure) -> dict[str, Any]:
    if m.is_mm:
        q = r.get("valueQuantity")
        if not isinstance(q, dict) or "value" not in q:
            raise FhirMappingError(f"{m.value} is a length in mm (valueQuantity)", path="Observation.value[x]")
        if (q.get("code") or q.get("unit")) != "mm":
            raise FhirMappingError(f"{m.value} is recorded in mm, not {q.get('code') or q.get('unit')!r}",
                                   path="Observation.valueQuantity.code")
        return {"value": q["value"]}
    if m.is_flag:
        if not isinstance(r.get("valueBoolean"), bool):
            raise FhirMappingError(f"{m.value} is yes or no (valueBoolean)", path="Observation.value[x]")
        return {"flag": r["valueBoolean"]}
    if m is Measure.TEETH:
        state = code_in(r.get("valueCodeableConcept"), CS_TOOTH_STATE)
        return {"state": enum_of(ToothState, state, "Observation.valueCodeableConcept")}
    scale = code_in(r.get("method"), CS_PERIO_SCALE)
    return {"value": r.get("valueInteger"), "scale": scale}


def _site_or_entrance(m: Measure, tooth: Tooth, surfaces: frozenset[Surface]) -> dict[str, Any]:
    if m.per_site:
        by_surfaces = {frozenset(s.surfaces(tooth)): s for s in SITES}
        site = by_surfaces.get(surfaces)
        if site is None:
            raise FhirMappingError(f"surfaces {''.join(sorted(s.value for s in surfaces)) or '(none)'} are not a "
                                   "probing site (DB, B, MB, DL, L, ML)", path="Observation.extension")
        return {"site": site}
    if m is Measure.FURCATION:
        entrances = [e for e in Entrance if normalize_surface(e.value, tooth) in surfaces] if len(surfaces) == 1 else []
        if not entrances:
            raise FhirMappingError("a furcation value names one entrance (M, D, B or L) as its surface",
                                   path="Observation.extension")
        return {"entrance": entrances[0]}
    return {}


_PATHS = {"pd": "valueQuantity", "gm": "valueQuantity", "mgj": "valueQuantity", "value": "value[x]",
          "flag": "valueBoolean", "state": "valueCodeableConcept", "mobility": "valueInteger",
          "furcation": "valueInteger", "scale": "method", "tooth": "bodySite", "site": "extension",
          "entrance": "extension", "patient": "subject", "provider": "performer"}


def read_finding(r: Resource) -> PerioFinding:
    if r.get("resourceType") != "Observation":
        raise FhirMappingError(f"a perio finding is an Observation, not {r.get('resourceType')}", path="resourceType")
    code = _perio_code(r)
    if code is None or code == PANEL_CODE:
        raise FhirMappingError("not a perio measurement (no perio or PhenX code)", path="Observation.code")
    measure = _FROM_WIRE.get(code) or enum_of(Measure, code, "Observation.code")
    if measure is Measure.TEETH and code != measure_code(Measure.TEETH):
        raise FhirMappingError(f"{code!r} is not a perio measurement code", path="Observation.code")
    tooth, surfaces = read_tooth_and_surfaces(r, "Observation")
    if tooth is None:
        raise FhirMappingError("a perio finding needs a tooth", path="Observation.bodySite")
    performers = r.get("performer") or [None]
    notes = [n.get("text", "") for n in r.get("note") or []]
    return construct(
        PerioFinding, "Observation", _PATHS,
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "Observation.subject"),
        effective=_read_effective(r.get("effectiveDateTime")),
        provider=ref_id(performers[0], "Practitioner", "Observation.performer[0]"),
        note="\n".join(notes),
        measure=measure,
        tooth=tooth,
        **_site_or_entrance(measure, tooth, surfaces),
        **_read_value(r, measure),
    )


def read_panel(r: Resource) -> PerioPanel:
    if not is_perio_panel(r):
        raise FhirMappingError("not a perio chart panel", path="Observation.code" if r.get("resourceType") ==
                               "Observation" else "resourceType")
    scales = {}
    for i, comp in enumerate(r.get("component") or []):
        kind = code_in(comp.get("code"), codes.CS_PERIO)
        if kind in ("mobility-scale", "furcation-scale"):
            scale = code_in(comp.get("valueCodeableConcept"), CS_PERIO_SCALE)
            if scale is None:
                raise FhirMappingError("a scale component needs a scale", path=f"Observation.component[{i}]")
            scales[kind.replace("-", "_")] = scale
    performers = r.get("performer") or [None]
    effective = _read_effective(r.get("effectiveDateTime"))
    return construct(
        PerioPanel, "Observation", {**_PATHS, "mobility_scale": "component", "furcation_scale": "component"},
        id=r.get("id"),
        patient=ref_id(r.get("subject"), "Patient", "Observation.subject"),
        date=effective.date() if isinstance(effective, dt.datetime) else effective,
        provider=ref_id(performers[0], "Practitioner", "Observation.performer[0]"),
        note="\n".join(n.get("text", "") for n in r.get("note") or []),
        members=tuple(ref_id(m, "Observation", f"Observation.hasMember[{i}]", required=True)
                      for i, m in enumerate(r.get("hasMember") or [])),
        **scales,
    )


_OWNED = ("contained", "extension", "status", "category", "code", "subject", "effectiveDateTime", "performer",
          "valueQuantity", "valueBoolean", "valueInteger", "valueCodeableConcept", "method", "bodySite", "note",
          "hasMember", "component")

# --- the confirmed classification -----------------------------------------------------------------

_DIAGNOSIS_PARTS = ("diagnosis", "stage", "grade", "extent", "proposed_stage", "proposed_grade")


def build_diagnosis(d: PerioDiagnosis) -> Resource:
    """One Observation per confirmed classification, derived from the exam's panel; the reason for
    an override is its note, the clinician its performer (by name: a user, not a Practitioner)."""
    parts = [{"code": {"coding": [{"system": codes.CS_PERIO, "code": name.replace("_", "-")}]}, "valueString": v}
             for name in _DIAGNOSIS_PARTS if (v := getattr(d, name)) is not None]
    summary = d.diagnosis if d.stage is None else f"periodontitis Stage {d.stage} Grade {d.grade}" + (
        f", {d.extent}" if d.extent else "")
    return clean({
        "resourceType": "Observation",
        "status": "final",
        "category": [_EXAM],
        "code": {"coding": [{"system": codes.CS_PERIO, "code": DIAGNOSIS_CODE}],
                 "text": "Periodontal classification (2017 AAP/EFP)"},
        "subject": ref("Patient", d.patient),
        "effectiveDateTime": d.date.isoformat(),
        "performer": [{"display": d.clinician}],
        "valueString": summary,
        "derivedFrom": [ref("Observation", d.exam_id)],
        "note": [{"text": d.reason}] if d.reason else [],
        "component": parts,
    })


def read_diagnosis(r: Resource) -> PerioDiagnosis:
    if not is_perio_diagnosis(r):
        raise FhirMappingError("not a perio classification", path="Observation.code")
    values: dict[str, Any] = {}
    for i, c in enumerate(r.get("component") or []):
        name = (code_in(c.get("code"), codes.CS_PERIO) or "").replace("-", "_")
        if name not in _DIAGNOSIS_PARTS:
            raise FhirMappingError(f"unknown classification part {name!r}", path=f"Observation.component[{i}].code")
        values[name] = c.get("valueString")
    derived = r.get("derivedFrom") or [None]
    performers = r.get("performer") or [{}]
    return construct(
        PerioDiagnosis, "Observation", {"exam_id": "derivedFrom", "reason": "note", "clinician": "performer"},
        exam_id=ref_id(derived[0], "Observation", "Observation.derivedFrom[0]", required=True),
        patient=ref_id(r.get("subject"), "Patient", "Observation.subject", required=True),
        date=_read_effective(r.get("effectiveDateTime")),
        clinician=(performers[0] or {}).get("display") or "",
        reason="\n".join(n.get("text", "") for n in r.get("note") or []),
        **values,
    )


register(Mapper(resource_types=("Observation",), domain_type=PerioDiagnosis, build=build_diagnosis,
                read=read_diagnosis, owned=(*_OWNED, "valueString", "derivedFrom"), accepts=is_perio_diagnosis))
register(Mapper(resource_types=("Observation",), domain_type=PerioFinding, build=build_finding, read=read_finding,
                owned=_OWNED, accepts=is_perio_finding))
register(Mapper(resource_types=("Observation",), domain_type=PerioPanel, build=build_panel, read=read_panel,
                owned=_OWNED, accepts=is_perio_panel))


# --- whole exams -----------------------------------------------------------------------------------


def member_id(exam_id: str, suffix: str) -> str:
    """``<exam id>-<suffix>``; a hash of the exam id stands in when that is not a valid FHIR id."""
    head = exam_id
    if not _ID_RE.match(exam_id) or len(exam_id) + 1 + len(suffix) > 64:
        head = hashlib.sha256(exam_id.encode()).hexdigest()[:24]
    return f"{head}-{suffix}"


def exam_findings(exam: PerioExam) -> list[PerioFinding]:
    """Every value the exam shows, as findings, tooth by tooth (site values, then tooth values)."""
    common = {"patient": exam.patient, "effective": exam.date, "provider": exam.provider}
    out: list[PerioFinding] = []

    def add(suffix: str, **fields: Any) -> None:
        out.append(PerioFinding(id=member_id(exam.id, suffix), **common, **fields))

    for tooth in PERMANENT_TEETH:
        t = tooth.universal
        state = exam.tooth_state(tooth)
        if state is not ToothState.PRESENT:
            add(f"state-{t}", measure=Measure.TEETH, tooth=tooth, state=state)
        for site in SITES:
            r = exam.reading(tooth, site)
            for m in (Measure.PD, Measure.GM, Measure.MGJ):
                v = getattr(r, m.value)
                if v is not None:
                    add(f"{m.value}-{t}-{site.value.lower()}", measure=m, tooth=tooth, site=site, value=v)
            for m in (Measure.BLEEDING, Measure.SUPPURATION, Measure.PLAQUE, Measure.CALCULUS):
                if getattr(r, m.value):
                    add(f"{m.value}-{t}-{site.value.lower()}", measure=m, tooth=tooth, site=site, flag=True)
        grade = exam.mobility(tooth)
        if grade is not None:
            add(f"mobility-{t}", measure=Measure.MOBILITY, tooth=tooth, value=grade.value, scale=grade.scale)
        for e in furcation_entrances(tooth):
            fg = exam.furcation(tooth, e)
            if fg is not None:
                add(f"furcation-{t}-{e.value.lower()}", measure=Measure.FURCATION, tooth=tooth, entrance=e,
                    value=fg.value, scale=fg.scale)
    return out


def perio_to_observations(exam: PerioExam) -> list[Resource]:
    """The panel first, then one Observation per value shown: ready for one transaction Bundle."""
    findings = exam_findings(exam)
    panel = PerioPanel(id=exam.id, patient=exam.patient, date=exam.date, provider=exam.provider, note=exam.note,
                       mobility_scale=exam.mobility_scale, furcation_scale=exam.furcation_scale,
                       members=tuple(f.id for f in findings))
    return [build_panel(panel)] + [build_finding(f) for f in findings]


def _at(i: int, exc: FhirMappingError) -> FhirMappingError:
    return FhirMappingError(exc.message, path=f"[{i}].{exc.path}" if exc.path else f"[{i}]")


def _header(panel: PerioPanel | None, findings: list[tuple[int, PerioFinding]]) -> PerioPanel:
    """The panel, or one made up from the findings when a system sent values without a panel."""
    if panel is not None:
        return panel
    patients = {f.patient for _, f in findings}
    if len(patients) > 1:
        raise FhirMappingError("perio findings of several patients", path=f"[{findings[-1][0]}].subject")
    first = findings[0][1] if findings else None
    patient = first.patient if first else None
    date = first.date if first else None
    return PerioPanel(id=f"perio-{patient or 'unknown'}-{date or 'undated'}", patient=patient, date=date,
                      provider=first.provider if first else None)


def perio_from_observations(resources: Sequence[Resource]) -> PerioExam:
    """One exam from its panel and findings (any order). Paths in errors start with the list index."""
    panel: tuple[int, PerioPanel] | None = None
    findings: list[tuple[int, PerioFinding]] = []
    for i, r in enumerate(resources):
        try:
            if is_perio_panel(r):
                if panel is not None:
                    raise FhirMappingError("a second perio panel: one exam at a time", path="Observation.code")
                panel = (i, read_panel(r))
            else:
                findings.append((i, read_finding(r)))
        except FhirMappingError as exc:
            raise _at(i, exc) from None
    head = _header(panel[1] if panel else None, findings)
    if panel is not None:
        listed = set(head.members)
        for i, f in findings:
            if f.id not in listed:
                raise FhirMappingError(f"Observation/{f.id} is not a member of the panel", path=f"[{i}].id")
        missing = listed - {f.id for _, f in findings}
        if missing:
            raise FhirMappingError(f"member Observation/{sorted(missing)[0]} is not in the list",
                                   path=f"[{panel[0]}].hasMember")
    try:
        exam = PerioExam(id=head.id, patient=head.patient, date=head.date, provider=head.provider, note=head.note,
                         mobility_scale=head.mobility_scale, furcation_scale=head.furcation_scale)
    except DomainError as exc:
        raise FhirMappingError(exc.message, path=f"[{panel[0] if panel else 0}].component") from None
    # Tooth states last: an implant refuses furcation values set after it, and values of a tooth
    # marked missing are refused, so the order matters as it does in PerioExam.from_record.
    for i, f in sorted(findings, key=lambda x: x[1].measure is Measure.TEETH):
        if f.tooth not in PERIO_TEETH:
            raise FhirMappingError(f"tooth {f.tooth.universal} is not charted in a perio exam", path=f"[{i}].bodySite")
        try:
            _apply(exam, f)
        except DomainError as exc:
            raise FhirMappingError(exc.message, path=f"[{i}].Observation.{_PATHS.get(exc.field or '', 'value[x]')}") \
                from None
    return exam


# --- saving an exam over what is stored (shared by the server's chart PUT and the client's cache) ---

RETIRED = "entered-in-error"


def finding_key(f: PerioFinding) -> tuple[Any, ...]:
    """What a finding measures: two findings with the same key are the same value, whatever their ids."""
    return (f.measure, f.tooth, f.site, f.entrance)


def _owned_content(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if k not in ("meta", "text")}


@dataclass(frozen=True)
class ObservationWrite:
    """One Observation to store for an exam save: ``create``, ``update`` or ``retire`` (marked
    entered-in-error, never deleted). ``resource`` has no ``meta``; ``previous`` is what was stored."""

    action: Literal["create", "update", "retire"]
    resource: Resource
    previous: Resource | None = None


def plan_exam_write(exam: PerioExam, panel: Resource | None, members: Sequence[Resource],
                    lookup: Callable[[str], Resource | None]) -> list[ObservationWrite]:
    """The writes that make the stored exam (``panel`` and its ``members``) show ``exam``.

    Findings are matched to the stored ones by what they measure (measure, tooth, site or entrance),
    not by id: an exam synced from elsewhere has ids of its own. A new value gets
    ``member_id(exam.id, …)``; when that id is taken by a retired value of this patient (a value
    cleared and typed again), that Observation is brought back as a new version. ``lookup(id)``
    gives any stored Observation by id (None when there is none). The panel id is ``panel['id']``
    when there is a stored panel, else ``exam.id``. Findings first, the panel last. Raises
    :class:`FhirMappingError` when an id is held by something that is not this exam's.
    """
    stored: dict[tuple[Any, ...], Resource] = {}
    for member in members:
        if member.get("status") != RETIRED:
            try:
                stored[finding_key(read_finding(member))] = member
            except (FhirMappingError, DomainError):
                continue  # unreadable: left as it is
    writes: list[ObservationWrite] = []
    ids: list[str] = []
    for finding in exam_findings(exam):
        current = stored.pop(finding_key(finding), None)
        if current is None:
            resource = build_finding(finding)
            prior = lookup(resource["id"])
            if prior is None:
                writes.append(ObservationWrite("create", resource))
            elif (prior.get("status") == RETIRED and is_perio_finding(prior)
                  and ref_id(prior.get("subject"), "Patient", "Observation.subject") == exam.patient):
                writes.append(ObservationWrite("update", resource, prior))
            else:
                raise FhirMappingError(f"Observation/{resource['id']} already exists and is not a value of this "
                                       "exam", path="id")
        else:
            resource = build_finding(finding.model_copy(update={"id": current["id"]}))
            if _owned_content(current) != _owned_content(resource):
                writes.append(ObservationWrite("update", resource, current))
        ids.append(resource["id"])
    for current in stored.values():  # values cleared since the last save
        writes.append(ObservationWrite("retire", {**_owned_content(current), "status": RETIRED}, current))
    head = build_panel(PerioPanel(id=panel["id"] if panel else exam.id, patient=exam.patient, date=exam.date,
                                  provider=exam.provider, note=exam.note, mobility_scale=exam.mobility_scale,
                                  furcation_scale=exam.furcation_scale, members=tuple(ids)))
    if panel is None:
        if lookup(head["id"]) is not None:
            raise FhirMappingError(f"Observation/{head['id']} already exists and is not a perio exam", path="id")
        writes.append(ObservationWrite("create", head))
    elif _owned_content(panel) != _owned_content(head):
        writes.append(ObservationWrite("update", head, panel))
    return writes


def read_exams(observations: Sequence[Resource]) -> tuple[list[PerioExam], list[PerioDiagnosis], list[str]]:
    """A patient's exams from their panels' members (retired ones left out), their classifications,
    and what could not be read (``Observation/<id>: reason``). Exams oldest first."""
    live = [r for r in observations if r.get("status") != RETIRED]
    by_id = {r.get("id"): r for r in live}
    exams: list[PerioExam] = []
    diagnoses: list[PerioDiagnosis] = []
    bad: list[str] = []
    for r in live:
        try:
            if is_perio_diagnosis(r):
                diagnoses.append(read_diagnosis(r))
            elif is_perio_panel(r):
                refs = [str(m.get("reference", "")).split("/", 1)[-1] for m in r.get("hasMember") or []]
                listed = [by_id[i] for i in refs if i in by_id]
                panel = {**r, "hasMember": [m for m, i in zip(r.get("hasMember") or [], refs, strict=True)
                                            if i in by_id]}
                exams.append(perio_from_observations([panel, *listed]))
        except (FhirMappingError, DomainError) as exc:
            bad.append(f"Observation/{r.get('id')}: {exc}")
    exams.sort(key=lambda e: (e.date or dt.date.min, e.id))
    diagnoses.sort(key=lambda d: d.date)
    return exams, diagnoses, bad


def visible_exam(exam: PerioExam) -> PerioExam:
    """The exam as its Observations carry it (values hidden on missing teeth left out): what a
    server holding this exam sends back."""
    return perio_from_observations(perio_to_observations(exam))


def exam_fingerprint(exam: PerioExam | Mapping[str, Any] | None) -> str | None:
    """A short digest of what an exam shows (None for no exam), to tell whether a copy changed."""
    if exam is None:
        return None
    data = exam.to_dict() if isinstance(exam, PerioExam) else PerioExam.from_dict(exam).to_dict()
    data.pop("patient", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]
