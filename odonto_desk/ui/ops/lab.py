"""Lab ops: each returns an unstarted op around one LabService call."""

from __future__ import annotations

from PySide6.QtCore import QObject

from odonto_desk.domain.lab import LabAttachment, LabStatus
from odonto_desk.services.lab import CaseForm, LabCase, LabService, LabView
from odonto_desk.ui.tasks import MutationOp, QueryOp


def open_cases(*, parent: QObject | None, service: LabService, patient_id: str) -> QueryOp[LabView]:
    return QueryOp(lambda: service.open(patient_id), parent=parent)


def check_file(*, parent: QObject | None, service: LabService, path: str) -> QueryOp[LabAttachment]:
    """Read a file the user picked, so a file too big or unreadable is refused when it is attached."""
    return QueryOp(lambda: service.read_attachment(path), parent=parent)


def send_case(*, parent: QObject | None, service: LabService, patient_id: str, form: CaseForm) -> MutationOp[LabCase]:
    return MutationOp(lambda: service.new_case(patient_id, form), parent=parent)


def move_case(*, parent: QObject | None, service: LabService, patient_id: str, order_id: str,
              status: LabStatus) -> MutationOp[LabCase]:
    return MutationOp(lambda: service.move(patient_id, order_id, status), parent=parent)
