"""Plan ops: each returns an unstarted op around one PlanService call."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject

from odonto_desk.domain.plan import LineStatus, Priority, TreatmentPlan
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.plans import PlanService, PlanView
from odonto_desk.ui.tasks import MutationOp, QueryOp


def open_plans(*, parent: QObject | None, service: PlanService, patient_id: str) -> QueryOp[PlanView]:
    return QueryOp(lambda: service.open(patient_id), parent=parent)


def new_plan(*, parent: QObject | None, service: PlanService, patient_id: str,
             title: str) -> MutationOp[TreatmentPlan]:
    return MutationOp(lambda: service.new_plan(patient_id, title), parent=parent)


def add_line(*, parent: QObject | None, service: PlanService, plan_id: str, code: str, tooth: str, surfaces: str,
             phase: int, fee: str, priority: Priority, alternative_of: str | None,
             numbering: NumberingSystem) -> MutationOp[TreatmentPlan]:
    return MutationOp(lambda: service.add_line(plan_id, code=code, tooth=tooth, surfaces=surfaces, phase=phase,
                                               fee=fee, priority=priority, alternative_of=alternative_of,
                                               numbering=numbering), parent=parent)


def add_from_chart(*, parent: QObject | None, service: PlanService, plan_id: str, mark_ids: Sequence[str],
                   phase: int) -> MutationOp[TreatmentPlan]:
    return MutationOp(lambda: service.add_from_chart(plan_id, mark_ids, phase=phase), parent=parent)


def set_status(*, parent: QObject | None, service: PlanService, plan_id: str, item_id: str,
               status: LineStatus) -> MutationOp[TreatmentPlan]:
    return MutationOp(lambda: service.set_status(plan_id, item_id, status), parent=parent)


def sign(*, parent: QObject | None, service: PlanService, plan_id: str, png: bytes,
         signer: str) -> MutationOp[TreatmentPlan]:
    return MutationOp(lambda: service.sign(plan_id, png, signer), parent=parent)


def record_export(*, parent: QObject | None, service: PlanService, plan_id: str, what: str) -> MutationOp[None]:
    return MutationOp(lambda: service.record_export(plan_id, what), parent=parent)
