"""Patient ops: finding patients in the cache."""

from __future__ import annotations

from PySide6.QtCore import QObject

from odonto_desk.services.patients import PatientRow, PatientService
from odonto_desk.ui.tasks import QueryOp


def find(*, parent: QObject | None, service: PatientService, text: str) -> QueryOp[list[PatientRow]]:
    return QueryOp(lambda: service.find(text), parent=parent)
