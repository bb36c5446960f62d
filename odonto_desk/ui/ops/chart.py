"""Chart ops: each returns an unstarted op around one ChartService call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.ui.tasks import MutationOp, QueryOp

if TYPE_CHECKING:  # types only: ops are built for the first frame, before the models load
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.domain.dentition import Dentition
    from odonto_desk.services.chart import ChartEdit, ChartService, ChartView, HistoryFrame



def open_chart(*, parent: QObject | None, service: ChartService, patient_id: str) -> QueryOp[ChartView]:
    return QueryOp(lambda: service.open(patient_id), parent=parent)


def run_command(*, parent: QObject | None, service: ChartService, patient_id: str, text: str,
                numbering: NumberingSystem) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.run_command(patient_id, text, numbering=numbering), parent=parent)


def add_marks(*, parent: QObject | None, service: ChartService, patient_id: str,
              marks: Sequence[ChartMark]) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.add_marks(patient_id, marks), parent=parent)


def retire_marks(*, parent: QObject | None, service: ChartService, patient_id: str,
                 mark_ids: Sequence[str]) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.retire_marks(patient_id, mark_ids), parent=parent)


def complete_marks(*, parent: QObject | None, service: ChartService, patient_id: str,
                   mark_ids: Sequence[str]) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.complete_marks(patient_id, mark_ids), parent=parent)


def set_dentition(*, parent: QObject | None, service: ChartService, patient_id: str,
                  dentition: Dentition) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.set_dentition(patient_id, dentition), parent=parent)


def undo(*, parent: QObject | None, service: ChartService, edit: ChartEdit) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.undo(edit), parent=parent)


def redo(*, parent: QObject | None, service: ChartService, edit: ChartEdit) -> MutationOp[ChartEdit]:
    return MutationOp(lambda: service.redo(edit), parent=parent)


def timeline(*, parent: QObject | None, service: ChartService, patient_id: str) -> QueryOp[list[HistoryFrame]]:
    return QueryOp(lambda: service.timeline(patient_id), parent=parent)
