"""Medical alert ops: each returns an unstarted op around one AlertService call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from odonto_desk.ui.tasks import MutationOp, QueryOp

if TYPE_CHECKING:
    from odonto_desk.domain.alerts import AlertKind, MedicalAlert
    from odonto_desk.services.alerts import AlertService


def listed(*, parent: QObject | None, service: AlertService, patient_id: str) -> QueryOp[list[MedicalAlert]]:
    return QueryOp(lambda: service.listed(patient_id), parent=parent)


def add(*, parent: QObject | None, service: AlertService, patient_id: str, text: str,
        kind: AlertKind) -> MutationOp[MedicalAlert]:
    return MutationOp(lambda: service.add(patient_id, text, kind), parent=parent)


def resolve(*, parent: QObject | None, service: AlertService, patient_id: str,
            alert_id: str) -> MutationOp[MedicalAlert]:
    return MutationOp(lambda: service.resolve(patient_id, alert_id), parent=parent)


def reactivate(*, parent: QObject | None, service: AlertService, patient_id: str,
               alert_id: str) -> MutationOp[MedicalAlert]:
    return MutationOp(lambda: service.reactivate(patient_id, alert_id), parent=parent)


def entered_in_error(*, parent: QObject | None, service: AlertService, patient_id: str,
                     alert_id: str) -> MutationOp[MedicalAlert]:
    return MutationOp(lambda: service.entered_in_error(patient_id, alert_id), parent=parent)
