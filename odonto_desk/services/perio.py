"""The perio screen's service: read a patient's exams, keep the one being entered safe, save it.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/perio.py``.

Saving has two speeds, so that no keystroke is lost and the outbox is not flooded:

* :meth:`PerioService.save_draft` runs after every keystroke: the whole exam as JSON in the
  cache's state table (one small SQLite write; local only). After a crash the draft comes back
  when the patient is opened again.
* :meth:`PerioService.save` writes the exam as FHIR Observations (a panel and one Observation per
  value, fhir-dental §4) through the cache: each changed Observation is a create or an edit with
  its outbox entry and audit row, in one transaction. A value that was cleared has its
  Observation marked entered-in-error, never deleted. The window calls it a moment after typing
  stops, when the patient or tab changes, and on close.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from odonto_desk.domain.classification import (
    Classification,
    GradeName,
    PerioDiagnosis,
    StageName,
    case_from_exam,
    classify,
    confirm,
    highest_stage,
)
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.perio import ALL_MEASURES, Measure, PerioExam, states_from_chart
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.perio import (
    PerioFinding,
    PerioPanel,
    build_diagnosis,
    build_finding,
    build_panel,
    exam_findings,
    is_perio_diagnosis,
    is_perio_panel,
    member_id,
    perio_from_observations,
    read_diagnosis,
    read_finding,
)
from odonto_desk.services.chart import ChartService
from odonto_desk.services.patients import PatientRow, patient_row
from odonto_desk.services.session import Session
from odonto_desk.store.db import transaction

Json = dict[str, Any]
RETIRED = "entered-in-error"


@dataclass(frozen=True)
class PerioChart:
    """A patient's perio history as the screen shows it."""

    patient: PatientRow
    exams: tuple[PerioExam, ...]  # saved exams, oldest first
    diagnoses: tuple[PerioDiagnosis, ...]  # confirmed classifications, oldest first
    draft: PerioExam | None = None  # an exam typed but not yet saved (e.g. before a crash)
    unreadable: tuple[str, ...] = ()

    @property
    def highest_stage(self) -> StageName | None:
        return highest_stage(self.diagnoses)

    def diagnosis_for(self, exam_id: str) -> PerioDiagnosis | None:
        found = [d for d in self.diagnoses if d.exam_id == exam_id]
        return found[-1] if found else None


@dataclass(frozen=True)
class SaveReport:
    created: int = 0
    updated: int = 0
    retired: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.retired


def _draft_key(patient_id: str) -> str:
    return f"perio-draft:{patient_id}"


class PerioService:
    def __init__(self, session: Session, *, today: dt.date | None = None) -> None:
        self.session = session
        self.charts = ChartService(session, today=today)

    @property
    def today(self) -> dt.date:
        return self.charts.patients.today

    # --- reading ---------------------------------------------------------------------------------

    def open(self, patient_id: str, *, audit: bool = True) -> PerioChart:
        """Every saved exam and classification of the patient, and an unsaved draft if there is one."""
        cache = self.session.cache()
        patient = self.charts.patients.get(patient_id)
        row = patient_row(patient, self.today)
        observations = [r for r in cache.patient_resources(patient_id, ("Observation",))
                        if r.get("status") != RETIRED]
        exams, diagnoses, bad = _read_exams(observations)
        draft = self._draft(patient_id, exams)
        if audit:
            user = self.session.user
            cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient_id, None, "perio chart opened")
        return PerioChart(row, tuple(exams), tuple(diagnoses), draft, tuple(bad))

    def _draft(self, patient_id: str, exams: list[PerioExam]) -> PerioExam | None:
        stored = self.session.cache().get_state(_draft_key(patient_id))
        if not stored:
            return None
        try:
            draft = PerioExam.from_draft(json.loads(stored))
        except (ValueError, DomainError):
            return None  # unreadable scratch: the saved exams stand
        saved = next((e for e in exams if e.id == draft.id), None)
        return None if saved == draft else draft

    # --- new exams -------------------------------------------------------------------------------

    def new_exam(self, patient_id: str, *, previous: PerioExam | None = None,
                 measures: Iterable[Measure | str] = ALL_MEASURES) -> PerioExam:
        """Today's exam; with ``previous``, its ``measures`` copied ("copy previous exam").

        Without a previous exam the missing teeth and implants come from the restorative chart.
        """
        exam = PerioExam(patient=patient_id, date=self.today, provider=None)
        if previous is not None:
            exam.copy_from(previous, measures)
            return exam
        view = self.charts.open(patient_id, audit=False)
        for tooth, state in states_from_chart(view.marks).items():
            exam.set_tooth_state(tooth, state)
        return exam

    # --- writing ---------------------------------------------------------------------------------

    def save_draft(self, exam: PerioExam) -> None:
        """The exam as typed so far, kept locally until :meth:`save` (crash safety, per keystroke)."""
        if exam.patient is None:
            raise DomainError("the exam has no patient", field="patient")
        cache, user = self.session.cache(), self.session.user
        key = _draft_key(exam.patient)
        with transaction(cache.db):
            if not cache.get_state(key):  # audited when a draft begins, not at every keystroke
                cache.audit.record(user.name, user.role.value, "changed", "Patient", exam.patient, None,
                                   f"perio exam of {exam.date} being entered (local draft)")
            cache.set_state(key, json.dumps(exam.to_draft()))

    def discard_draft(self, patient_id: str) -> None:
        cache, user = self.session.cache(), self.session.user
        key = _draft_key(patient_id)
        with transaction(cache.db):
            if cache.get_state(key):
                cache.audit.record(user.name, user.role.value, "deleted", "Patient", patient_id, None,
                                   "perio draft discarded unsaved")
            cache.set_state(key, "")

    def save(self, exam: PerioExam) -> SaveReport:
        """Write the exam as Observations: only what changed, cleared values retired, all audited.

        Findings are matched to the stored ones by what they measure (measure, tooth, site or
        entrance), not by id: once synced, the server has given them ids of its own.
        """
        if exam.patient is None or exam.date is None:
            raise DomainError("the exam needs a patient and a date", field="exam")
        cache = self.session.cache()
        user = self.session.user
        gpid = self.charts.gpid(exam.patient)
        panel_id = self._stored_id(exam.id)
        panel = cache.get("Observation", panel_id)
        stored: dict[tuple[Any, ...], Json] = {}
        for ref in (panel or {}).get("hasMember") or []:
            member = cache.get("Observation", str(ref.get("reference", "")).split("/", 1)[-1])
            if member is not None and member.get("status") != RETIRED:
                with contextlib.suppress(FhirMappingError, DomainError):
                    stored[_finding_key(read_finding(member))] = member
        created = updated = retired = 0
        members: list[str] = []
        with transaction(cache.db):
            for finding in exam_findings(exam):
                key = _finding_key(finding)
                current = stored.pop(key, None)
                if current is None:
                    resource = build_finding(finding)
                    cache.create(resource, user.name, user.role.value, gpid=gpid)
                    created += 1
                else:
                    resource = build_finding(finding.model_copy(update={"id": current["id"]}))
                    if _content(current) != _content(resource):
                        cache.edit({**resource, "meta": current.get("meta", {})}, user.name, user.role.value,
                                   gpid=gpid)
                        updated += 1
                members.append(resource["id"])
            for current in stored.values():  # values cleared since the last save
                cache.edit({**current, "status": RETIRED}, user.name, user.role.value, gpid=gpid)
                retired += 1
            head = build_panel(PerioPanel(id=panel_id, patient=exam.patient, date=exam.date, provider=exam.provider,
                                          note=exam.note, mobility_scale=exam.mobility_scale,
                                          furcation_scale=exam.furcation_scale, members=tuple(members)))
            if panel is None:
                cache.create(head, user.name, user.role.value, gpid=gpid)
                created += 1
            elif _content(panel) != _content(head):
                cache.edit({**head, "meta": panel.get("meta", {})}, user.name, user.role.value, gpid=gpid)
                updated += 1
            cache.set_state(_draft_key(exam.patient), "")
        report = SaveReport(created, updated, retired)
        if report.changed:
            with contextlib.suppress(Exception):  # no server configured: the outbox waits
                self.session.sync().wake()
        return report

    def _stored_id(self, local_id: str) -> str:
        """The id a resource has in the cache now: the server's, once a sync has adopted it."""
        cache = self.session.cache()
        if cache.get("Observation", local_id) is not None:
            return local_id
        return cache.server_id_for("Observation", local_id) or local_id

    def record_printed(self, patient_id: str) -> None:
        user = self.session.user
        self.session.cache().audit.record(user.name, user.role.value, "printed", "Patient", patient_id, None,
                                          "perio exam printed to PDF")

    # --- classification --------------------------------------------------------------------------

    def classify(self, chart: PerioChart, exam: PerioExam, **clinical: Any) -> Classification:
        """The 2017 classification proposed for ``exam``; the patient's highest stage is its floor."""
        case = case_from_exam(exam, age=chart.patient.age, previous_stage=chart.highest_stage, **clinical)
        return classify(case)

    def confirm(self, chart: PerioChart, exam: PerioExam, proposed: Classification, *,
                stage: StageName | None = None, grade: GradeName | None = None, reason: str = "") -> PerioDiagnosis:
        """Record the classification (or the clinician's override, with its reason) as an Observation."""
        earlier = [d for d in chart.diagnoses if d.exam_id != exam.id]
        diagnosis = confirm(proposed, exam=exam, clinician=self.session.user.name, history=earlier,
                            stage=stage, grade=grade, reason=reason)
        diagnosis = diagnosis.model_copy(update={"exam_id": self._stored_id(exam.id)})
        cache = self.session.cache()
        user = self.session.user
        resource = {**build_diagnosis(diagnosis), "id": self._stored_id(member_id(exam.id, "dx"))}  # one per exam
        existing = cache.get("Observation", resource["id"])
        gpid = self.charts.gpid(exam.patient or "")
        if existing is None:
            cache.create(resource, user.name, user.role.value, gpid=gpid)
        else:
            cache.edit({**resource, "meta": existing.get("meta", {})}, user.name, user.role.value, gpid=gpid)
        with contextlib.suppress(Exception):
            self.session.sync().wake()
        return diagnosis


def _finding_key(f: PerioFinding) -> tuple[Any, ...]:
    return (f.measure, f.tooth, f.site, f.entrance)


def _content(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k not in ("meta", "text")}


def _read_exams(observations: list[Json]) -> tuple[list[PerioExam], list[PerioDiagnosis], list[str]]:
    """Exams from their panels' members (retired members left out), and the classifications."""
    by_id = {r.get("id"): r for r in observations}
    exams: list[PerioExam] = []
    diagnoses: list[PerioDiagnosis] = []
    bad: list[str] = []
    for r in observations:
        try:
            if is_perio_diagnosis(r):
                diagnoses.append(read_diagnosis(r))
            elif is_perio_panel(r):
                members = [by_id[m["reference"].split("/", 1)[-1]] for m in r.get("hasMember") or []
                           if m.get("reference", "").split("/", 1)[-1] in by_id]
                listed = {m.get("id") for m in members}
                panel = {**r, "hasMember": [m for m in r.get("hasMember") or []
                                            if m.get("reference", "").split("/", 1)[-1] in listed]}
                exams.append(perio_from_observations([panel, *members]))
        except (FhirMappingError, DomainError) as exc:
            bad.append(f"Observation/{r.get('id')}: {exc}")
    exams.sort(key=lambda e: (e.date or dt.date.min, e.id))
    diagnoses.sort(key=lambda d: d.date)
    return exams, diagnoses, bad
