"""Finding and opening patients in the cache. Plain blocking Python, no Qt."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from odonto_desk.domain.age import age_on
from odonto_desk.domain.alerts import MedicalAlert, header_order
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import Patient
from odonto_desk.fhir.codes import CS_ALERT_KIND, GPID_SYSTEM
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.alerts import PROBLEM_LIST_ITEM, is_medical_alert, read_alert
from odonto_desk.fhir.resources.people import read_patient
from odonto_desk.services.rows import PatientRow  # re-exported: the screens import it from here
from odonto_desk.services.session import Session


def patient_row(p: Patient, today: dt.date, alerts: Iterable[MedicalAlert] = ()) -> PatientRow:
    listed = ", ".join(x for x in (p.name.family, " ".join(p.name.given)) if x)
    return PatientRow(p.id, p.name.display, listed, p.gpid, p.birth_date.isoformat() if p.birth_date else "",
                      age_on(p.birth_date, today), p.gender.value, tuple(a.label for a in header_order(alerts)))


def readable_alerts(resources: Iterable[dict[str, Any]]) -> tuple[list[MedicalAlert], list[str]]:
    """Every medical alert among ``resources`` (active or not), and those that could not be read."""
    alerts, bad = [], []
    for r in resources:
        if not is_medical_alert(r):
            continue
        try:
            alerts.append(read_alert(r))
        except (FhirMappingError, DomainError) as exc:
            bad.append(f"{r.get('resourceType')}/{r.get('id')}: {exc}")
    return alerts, bad


def read_alerts(resources: Iterable[dict[str, Any]]) -> tuple[list[MedicalAlert], list[str]]:
    """The active medical alerts among ``resources``, allergies first, and those that could not be read."""
    alerts, bad = readable_alerts(resources)
    return header_order(alerts), bad


class PatientService:
    def __init__(self, session: Session, *, today: dt.date | None = None) -> None:
        self.session = session
        self._today = today

    @property
    def today(self) -> dt.date:
        return self._today or self.session.today()

    def find(self, text: str = "", *, limit: int = 200) -> list[PatientRow]:
        """Patients whose name, GPID or date of birth contain every word of ``text``, by family name."""
        words = text.lower().split()
        rows = [r for r in self._all() if r.matches(words)]
        rows.sort(key=lambda r: (r.listed.lower(), r.id))
        return rows[:limit]

    def get(self, patient_id: str) -> Patient:
        resource = self.session.cache().get("Patient", patient_id)
        if resource is None:
            raise KeyError(f"Patient/{patient_id} is not in the cache")
        return read_patient(resource)

    def alerts(self, patient_id: str) -> list[MedicalAlert]:
        """The patient's active medical alerts as cached (allergies first); unreadable ones are left out."""
        return read_alerts(self.session.cache().patient_resources(patient_id, ("Condition",)))[0]

    def gpid(self, patient_id: str) -> str | None:
        """The patient's GPID as cached (the header every write about them carries), or None."""
        resource = self.session.cache().get("Patient", patient_id) or {}
        return next((str(i["value"]) for i in resource.get("identifier") or []
                     if i.get("system") == GPID_SYSTEM and i.get("value")), None)

    def _all(self) -> list[PatientRow]:
        cache = self.session.cache()
        # An alert is a problem-list Condition or carries our alert kind (what is_medical_alert accepts):
        # filtered in SQLite, not by parsing each chart mark.
        alerts: dict[str, list[MedicalAlert]] = {}
        for a in read_alerts(cache.of_type_containing("Condition", PROBLEM_LIST_ITEM, CS_ALERT_KIND))[0]:
            alerts.setdefault(a.patient, []).append(a)
        out = []
        for resource in cache.of_type("Patient"):
            try:
                patient = read_patient(resource)
                out.append(patient_row(patient, self.today, alerts.get(patient.id, ())))
            except (DomainError, FhirMappingError):
                continue  # a patient the server sent malformed is not listed (sync reported it)
        return out

