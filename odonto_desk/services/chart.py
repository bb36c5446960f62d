"""The chart screen's service: open a patient's chart, chart marks, take them back, replay history.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/chart.py``. Every write goes
through the cache (resource + outbox + audit in one transaction), so it is safe offline and syncs
later. Nothing is deleted: a mark charted by mistake is marked entered-in-error, and undo and redo
write the previous content back as a new version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from odonto_desk.domain.alerts import MedicalAlert
from odonto_desk.domain.chart import ChartMark, MarkStatus
from odonto_desk.domain.chart_command import DentitionCommand, MarkCommand, parse_command
from odonto_desk.domain.dentition import Dentition, default_mode
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.chart import build_mark, on_chart, plan_done, read_mark, retired
from odonto_desk.services import first_frame
from odonto_desk.services.patients import PatientRow, PatientService, patient_row, read_alerts
from odonto_desk.services.session import Session
from odonto_desk.store.db import transaction

Json = dict[str, Any]
CHART_TYPES = ("Condition", "Procedure", "ServiceRequest")


@dataclass(frozen=True)
class ChartView:
    """One patient's chart as the odontogram draws it."""

    patient: PatientRow
    marks: tuple[ChartMark, ...]
    dentition: Dentition
    teeth: tuple[Tooth, ...]  # the teeth drawn, in chart order
    unreadable: tuple[str, ...] = ()  # resources that could not be read as marks or alerts, with the reason
    alerts: tuple[MedicalAlert, ...] = ()  # active medical alerts, allergies first: the header shows them

    def marks_on(self, tooth: Tooth) -> list[ChartMark]:
        return [m for m in self.marks if m.tooth == tooth]


@dataclass(frozen=True)
class ChartEdit:
    """One undoable change to a chart: each resource before (None: it did not exist) and after."""

    patient_id: str
    label: str
    before: tuple[Json | None, ...] = ()
    after: tuple[Json, ...] = ()
    dentition_before: Dentition | None = None
    dentition_after: Dentition | None = None

    def inverse(self) -> ChartEdit:
        # A mark that did not exist before comes back as retired (entered-in-error), never deleted.
        back = tuple(b if b is not None else retired(a) for b, a in zip(self.before, self.after, strict=True))
        return ChartEdit(self.patient_id, self.label, tuple(self.after), back,
                         self.dentition_after, self.dentition_before)


@dataclass(frozen=True)
class HistoryFrame:
    at: str  # ISO instant
    marks: tuple[ChartMark, ...] = field(default_factory=tuple)


class ChartService:
    def __init__(self, session: Session, *, today: dt.date | None = None) -> None:
        self.session = session
        self.patients = PatientService(session, today=today)

    # --- reading -----------------------------------------------------------------------------------

    def open(self, patient_id: str, *, audit: bool = True) -> ChartView:
        """The chart as the cache holds it now (local edits included); audited as viewed."""
        cache = self.session.cache()
        patient = self.patients.get(patient_id)
        row = patient_row(patient, self.patients.today)
        resources = cache.patient_resources(patient_id, CHART_TYPES)
        marks, unreadable = _read_marks(resources)
        alerts, bad_alerts = read_alerts(resources)
        dentition = self.dentition(patient_id, age=row.age)
        view = ChartView(row, tuple(marks), dentition, tuple(dentition.shown(marks)),
                         tuple(unreadable + bad_alerts), tuple(alerts))
        if audit:
            user = self.session.user
            cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient.id, None, "chart opened")
            first_frame.keep(cache, view)  # what the next start draws first
        return view

    def dentition(self, patient_id: str, *, age: int | None = None) -> Dentition:
        stored = self.session.cache().get_state(_dentition_key(patient_id))
        if stored:
            return Dentition.from_json(json.loads(stored))
        if age is None:
            age = patient_row(self.patients.get(patient_id), self.patients.today).age
        return Dentition(default_mode(age if age is not None else 30))

    # --- writing -----------------------------------------------------------------------------------

    def run_command(self, patient_id: str, text: str, *,
                    numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> ChartEdit:
        """Parse and apply one typed command (``14 MOD comp tp``); a bad command raises and writes nothing."""
        command = parse_command(text, numbering=numbering, patient=patient_id, today=self.patients.today)
        if isinstance(command, MarkCommand):
            return self.add_marks(patient_id, command.marks, label=text.strip())
        assert isinstance(command, DentitionCommand)
        current = self.dentition(patient_id)
        return self.set_dentition(patient_id, command.apply(current), label=text.strip())

    def add_marks(self, patient_id: str, marks: Sequence[ChartMark], *, label: str = "") -> ChartEdit:
        # The patient is not part of any rule, so re-targeting a valid mark keeps it valid.
        fresh = [m if m.patient == patient_id else m.model_copy(update={"patient": patient_id}) for m in marks]
        after = tuple(build_mark(m) for m in fresh)
        edit = ChartEdit(patient_id, label or _label(fresh), (None,) * len(after), after)
        return self._write(edit)

    def retire_marks(self, patient_id: str, mark_ids: Iterable[str], *, label: str = "") -> ChartEdit:
        """Take marks off the chart (entered-in-error): the wrong tooth, the wrong surface."""
        befores = self._current(mark_ids)
        edit = ChartEdit(patient_id, label or "remove " + ", ".join(_describe(b) for b in befores),
                         tuple(befores), tuple(retired(b) for b in befores))
        return self._write(edit)

    def complete_marks(self, patient_id: str, mark_ids: Iterable[str], *, on: dt.date | None = None) -> ChartEdit:
        """Planned work done: the plan item is closed and a completed procedure charted."""
        befores = self._current(mark_ids)
        before: list[Json | None] = []
        after: list[Json] = []
        for resource in befores:
            mark = read_mark(resource)
            if mark.status is not MarkStatus.TREATMENT_PLANNED:
                raise DomainError(f"{mark.describe()} is not planned work", field="status")
            done = mark.model_copy(update={"id": ChartMark.model_fields["id"].default_factory(),  # type: ignore[misc]
                                           "status": MarkStatus.COMPLETED, "date": on or self.patients.today})
            ChartMark.model_validate(done.model_dump())
            before += [resource, None]
            after += [plan_done(resource), build_mark(done)]
        return self._write(ChartEdit(patient_id, "complete " + ", ".join(_describe(b) for b in befores),
                                     tuple(before), tuple(after)))

    def set_dentition(self, patient_id: str, dentition: Dentition, *, label: str = "dentition") -> ChartEdit:
        previous = self.dentition(patient_id)
        return self._write(ChartEdit(patient_id, label, dentition_before=previous, dentition_after=dentition))

    def undo(self, edit: ChartEdit) -> ChartEdit:
        return self._write(edit.inverse())

    def redo(self, edit: ChartEdit) -> ChartEdit:
        return self._write(edit)

    # --- history -----------------------------------------------------------------------------------

    def tooth_history(self, view: ChartView, tooth: Tooth) -> list[str]:
        """One line per mark on the tooth, oldest first: what the hover tip lists."""
        marks = sorted(view.marks_on(tooth), key=lambda m: (m.date or dt.date.min, m.kind.value))
        return [f"{m.date.isoformat() if m.date else '—'}  {m.describe()}" for m in marks]

    def timeline(self, patient_id: str) -> list[HistoryFrame]:
        """The chart after each change, oldest first, rebuilt from the server's FHIR versions.

        Offline, only the cached (latest) versions are known, so the timeline has fewer frames.
        """
        cache = self.session.cache()
        resources = cache.patient_resources(patient_id, CHART_TYPES)
        versions: list[Json] = []
        client = None
        try:
            client = self.session.client()
        except Exception:  # no credentials: local versions only
            client = None
        for r in resources:
            got: list[Json] = []
            if client is not None and (r.get("meta") or {}).get("versionId"):
                try:
                    got = [e["resource"] for e in client.history(r["resourceType"], r["id"]).get("entry", [])
                           if isinstance(e.get("resource"), dict)]
                except Exception:
                    got = []
            versions += got or [r]
        return _frames(versions)

    # --- internals ---------------------------------------------------------------------------------

    def _current(self, mark_ids: Iterable[str]) -> list[Json]:
        cache = self.session.cache()
        found = []
        for mid in mark_ids:
            for rtype in CHART_TYPES:
                r = cache.get(rtype, mid)
                if r is not None and on_chart(r):
                    found.append(r)
                    break
            else:
                raise KeyError(f"mark {mid} is not on the chart")
        return found

    def _write(self, edit: ChartEdit) -> ChartEdit:
        cache = self.session.cache()
        user = self.session.user
        gpid = self.gpid(edit.patient_id) if edit.after else None
        with transaction(cache.db):
            for resource in edit.after:
                row = cache.row(resource["resourceType"], resource["id"])
                if row is None:
                    cache.create(resource, user.name, user.role.value, gpid=gpid)
                else:
                    cache.edit(resource, user.name, user.role.value, gpid=gpid)
            if edit.dentition_after is not None:
                cache.set_state(_dentition_key(edit.patient_id), json.dumps(edit.dentition_after.to_json()))
                cache.audit.record(user.name, user.role.value, "changed", "Patient", edit.patient_id, None,
                                   f"dentition shown: {edit.label}"[:120])
        if edit.after:
            with contextlib.suppress(Exception):  # no server configured: the outbox waits
                self.session.sync().wake()
        return edit

    def gpid(self, patient_id: str) -> str | None:
        return self.patients.gpid(patient_id)


def _dentition_key(patient_id: str) -> str:
    return f"dentition:{patient_id}"


def _read_marks(resources: Iterable[Json]) -> tuple[list[ChartMark], list[str]]:
    marks, bad = [], []
    for r in resources:
        if not on_chart(r):
            continue
        try:
            marks.append(read_mark(r))
        except (FhirMappingError, DomainError) as exc:
            bad.append(f"{r.get('resourceType')}/{r.get('id')}: {exc}")
    marks.sort(key=lambda m: (m.tooth, m.date or dt.date.min, m.kind.value))
    return marks, bad


def _describe(resource: Json) -> str:
    try:
        return read_mark(resource).describe()
    except (FhirMappingError, DomainError):
        return f"{resource.get('resourceType')}/{resource.get('id')}"


def _label(marks: Sequence[ChartMark]) -> str:
    return ", ".join(m.describe() for m in marks[:3]) + (" …" if len(marks) > 3 else "")


def _frames(versions: list[Json]) -> list[HistoryFrame]:
    by_time = sorted(versions, key=lambda r: ((r.get("meta") or {}).get("lastUpdated") or ""))
    current: dict[str, Json] = {}
    frames: list[HistoryFrame] = []
    for r in by_time:
        current[f"{r['resourceType']}/{r['id']}"] = r
        at = (r.get("meta") or {}).get("lastUpdated") or ""
        marks, _ = _read_marks(current.values())
        if frames and frames[-1].at == at:
            frames[-1] = HistoryFrame(at, tuple(marks))
        else:
            frames.append(HistoryFrame(at, tuple(marks)))
    return frames
