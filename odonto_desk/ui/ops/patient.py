"""Patient ops: finding patients in the cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from odonto_desk.ui.tasks import QueryOp

if TYPE_CHECKING:  # types only: ops are built for the first frame, before the models load
    from odonto_desk.services.patients import PatientRow, PatientService



def find(*, parent: QObject | None, service: PatientService, text: str) -> QueryOp[list[PatientRow]]:
    return QueryOp(lambda: service.find(text), parent=parent)
