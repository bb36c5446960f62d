"""Recording a patient's medical alerts: add one, resolve it, bring it back, or mark it a mistake.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/alerts.py``. Like a chart
mark, an alert is written through the cache (resource, outbox and audit in one transaction) so it
is safe offline, and nothing is deleted: a resolved alert stays on the list, and one recorded by
mistake stays in the record as entered-in-error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

from odonto_desk.domain.alerts import (
    AlertKind,
    MedicalAlert,
    check_new_alert,
    editor_order,
    in_error,
    reactivated,
    resolved,
)
from odonto_desk.domain.errors import DomainError
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.fhir.resources.alerts import is_medical_alert, read_alert, with_status
from odonto_desk.services.patients import PatientService, readable_alerts
from odonto_desk.services.session import Session


class AlertService:
    def __init__(self, session: Session, *, today: dt.date | None = None) -> None:
        self.session = session
        self.patients = PatientService(session, today=today)

    @property
    def editable(self) -> bool:
        """Whether this user's role may change alerts (Conditions) on the server."""
        return self.session.may_write("Condition")

    def listed(self, patient_id: str) -> list[MedicalAlert]:
        """The patient's alerts as the editor lists them: active ones first, then resolved ones."""
        return editor_order(self._all(patient_id))

    def add(self, patient_id: str, text: str, kind: AlertKind | str) -> MedicalAlert:
        """Record a new alert, dated today; a duplicate or a bad text raises and writes nothing."""
        self._check_role()
        self.patients.get(patient_id)  # KeyError for a patient not in the cache
        alert = MedicalAlert(patient=patient_id, text=text, kind=kind, recorded=self.patients.today)
        check_new_alert(alert, self._all(patient_id))
        cache = self.session.cache()
        user = self.session.user
        cache.create(to_fhir(alert), user.name, user.role.value, gpid=self.patients.gpid(patient_id))
        self._wake()
        return alert

    def resolve(self, patient_id: str, alert_id: str) -> MedicalAlert:
        """The alert no longer applies: it leaves the header and stays on the list as resolved."""
        return self._change(patient_id, alert_id, resolved)

    def reactivate(self, patient_id: str, alert_id: str) -> MedicalAlert:
        return self._change(patient_id, alert_id, reactivated)

    def entered_in_error(self, patient_id: str, alert_id: str) -> MedicalAlert:
        """The alert was recorded by mistake: kept in the record, listed nowhere."""
        return self._change(patient_id, alert_id, in_error)

    # --- internals ---------------------------------------------------------------------------------

    def _all(self, patient_id: str) -> list[MedicalAlert]:
        # Unreadable ones are left out here: the chart's header counts them.
        return readable_alerts(self.session.cache().patient_resources(patient_id, ("Condition",)))[0]

    def _change(self, patient_id: str, alert_id: str,
                change: Callable[[MedicalAlert], MedicalAlert]) -> MedicalAlert:
        self._check_role()
        cache = self.session.cache()
        resource = cache.get("Condition", alert_id)
        if resource is None or not is_medical_alert(resource):
            raise KeyError(f"alert {alert_id} is not in the cache")
        current = read_alert(resource)
        if current.patient != patient_id:
            raise KeyError(f"alert {alert_id} belongs to another patient")
        if current.entered_in_error and change is not in_error:
            # A stale editor elsewhere must not bring a wrong-patient alert back by resolving it.
            raise DomainError(f"{current.detail} was entered in error; record it again if it applies",
                              field="status")
        after = change(current)
        if after == current:
            return current  # nothing to write (e.g. resolving a resolved alert twice)
        user = self.session.user
        # Only the status changes: what another system recorded in the Condition (codes, notes) stays.
        cache.edit(with_status(resource, after), user.name, user.role.value, gpid=self.patients.gpid(patient_id))
        self._wake()
        return after

    def _check_role(self) -> None:
        # Refused here rather than queued: the server would refuse the push, and the edit would wait
        # in the outbox for a write that can never be made.
        if not self.editable:
            raise PermissionError(f"{self.session.user.role.label} cannot change medical alerts (the server "
                                  "gives that role no write access to Conditions); ask a dentist")

    def _wake(self) -> None:
        with contextlib.suppress(Exception):  # no server configured: the outbox waits
            self.session.sync().wake()
