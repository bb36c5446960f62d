"""The perio screen's service: read a patient's exams, keep the one being entered safe, save it.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/perio.py``.

Saving has two speeds, so that no keystroke is lost and the outbox is not flooded:

* :meth:`PerioService.save_draft` runs after every keystroke: the whole exam as JSON in the
  cache's state table (one small SQLite write; local only). After a crash the draft comes back
  when the patient is opened again.
* :meth:`PerioService.save` sends the exam with ``PUT /odonto/v1/chart/{gpid}`` through the outbox
  (one ``chart/perio`` op, perio section only: the marks are not resent), and writes the
  Observations the server will hold (a panel and one Observation per value, fhir-dental §4) into
  the cache at once, so the screen works offline: created, changed, or for a cleared value marked
  entered-in-error, never deleted (:func:`~odonto_desk.fhir.resources.perio.plan_exam_write`, the
  same matching the server does, so both name new values alike and a pull brings no duplicates).
  The Observations, the outbox row and an audit row per Observation are one SQLite transaction.
  The window calls it a moment after typing stops, when the patient or tab changes, and on close.

Concurrency: the op records the digest of the exam as the server held it when the edit began
(``base``); repeated saves not yet sent are squashed to the latest one, keeping that base. The sync
engine PUTs only while the server's copy of this exam still matches it (other changes to the
chart, such as a mark edit, are fine); an exam saved meanwhile by someone else becomes a conflict
on its panel, the local exam kept (and shown as the draft) until it is resolved.
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
    RETIRED,
    build_diagnosis,
    exam_fingerprint,
    member_id,
    plan_exam_write,
    read_exams,
    visible_exam,
)
from odonto_desk.services.chart import ChartService
from odonto_desk.services.patients import PatientRow, patient_row
from odonto_desk.services.session import Session
from odonto_desk.store.cache import StoreError
from odonto_desk.store.db import transaction
from odonto_desk.store.sync import CHART_PERIO_OP

Json = dict[str, Any]


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
        exams, diagnoses, bad = read_exams(observations)
        draft = self._draft(patient_id, exams) or self._held(exams)
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

    def _held(self, exams: list[PerioExam]) -> PerioExam | None:
        """An exam whose save is held by a conflict: the local copy, shown as the draft until resolved."""
        outbox = self.session.cache().outbox
        for exam in reversed(exams):
            ops = [e for e in outbox.open_entries("Observation", exam.id)
                   if e.operation == "op" and e.state == "conflict" and e.payload]
            if ops:
                with contextlib.suppress(ValueError, DomainError, KeyError, IndexError, TypeError):
                    held = PerioExam.from_dict(ops[-1].payload["body"]["perio_exams"][0])  # type: ignore[index]
                    return None if held == exam else held
        return None

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
        """Queue the exam for the server (one chart PUT) and keep what it will hold: only what changed,
        cleared values retired, every Observation audited; nothing queued when nothing changed.

        Findings are matched to the stored ones by what they measure (measure, tooth, site or
        entrance), not by id: an exam synced from elsewhere has ids of its own.
        """
        if exam.patient is None or exam.date is None:
            raise DomainError("the exam needs a patient and a date", field="exam")
        cache = self.session.cache()
        user = self.session.user
        gpid = self.charts.gpid(exam.patient)
        if not gpid:
            raise DomainError("this patient has no GPID yet: sync, then save the exam again", field="patient")
        panel_id = self._stored_id(exam.id)
        shown = visible_exam(exam)
        if panel_id != exam.id:
            shown = PerioExam.from_dict({**shown.to_dict(), "id": panel_id})
        panel = cache.get("Observation", panel_id)
        members = [m for m in (cache.get("Observation", str(ref.get("reference", "")).split("/", 1)[-1])
                               for ref in (panel or {}).get("hasMember") or []) if m is not None]
        try:
            writes = plan_exam_write(shown, panel, members, lambda rid: cache.get("Observation", rid))
        except FhirMappingError as exc:
            raise DomainError(exc.message, field="exam") from None
        counts = {"create": 0, "update": 0, "retire": 0}
        with transaction(cache.db):
            if writes:
                base = self._base(panel_id, panel, members)
                try:
                    cache.put_local_copies([w.resource for w in writes])
                except StoreError as exc:
                    raise DomainError(str(exc), field="exam") from None
                for w in writes:
                    counts[w.action] += 1
                    action = "created" if w.action == "create" else "changed"
                    what = {"create": "recorded", "update": "changed", "retire": "cleared (entered-in-error)"}
                    version = ((w.previous or {}).get("meta") or {}).get("versionId")
                    cache.audit.record(user.name, user.role.value, action, "Observation", w.resource["id"], version,
                                       f"perio value {what[w.action]}" if w.resource["id"] != panel_id
                                       else "perio exam saved")
                cache.queue_op(CHART_PERIO_OP, {"perio_exams": [shown.to_dict()]}, user.name, user.role.value,
                               gpid=gpid, target=("Observation", panel_id), extra={"base": base})
            cache.set_state(_draft_key(exam.patient), "")
        report = SaveReport(counts["create"], counts["update"], counts["retire"])
        if report.changed:
            with contextlib.suppress(Exception):  # no server configured: the outbox waits
                self.session.sync().wake()
        return report

    def _base(self, panel_id: str, panel: Json | None, members: list[Json]) -> str | None:
        """The server's copy of the exam this edit builds on, as a digest (None: the server has none).

        With a save of it still queued, the cache holds what that save will make: a save never sent
        is replaced by this one and hands on its base; one already sent (or held by a conflict)
        is what the server holds next (or what its conflict settles on).
        """
        ops = [e for e in self.session.cache().outbox.open_entries("Observation", panel_id)
               if e.operation == "op" and e.payload]
        if ops:
            last = ops[-1]
            payload = last.payload or {}
            if last.state == "sending":
                return exam_fingerprint(payload["body"]["perio_exams"][0])
            return payload.get("base")
        if panel is None:
            return None
        exams, _, _ = read_exams([panel, *members])
        return exam_fingerprint(exams[0]) if exams else None

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
