"""Perio ops: each returns an unstarted op around one PerioService call."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from odonto_desk.domain.classification import Classification, GradeName, PerioDiagnosis, StageName
from odonto_desk.domain.perio import PerioExam
from odonto_desk.services.perio import PerioChart, PerioService, SaveReport
from odonto_desk.ui.tasks import MutationOp, QueryOp


def open_chart(*, parent: QObject | None, service: PerioService, patient_id: str) -> QueryOp[PerioChart]:
    return QueryOp(lambda: service.open(patient_id), parent=parent)


def new_exam(*, parent: QObject | None, service: PerioService, patient_id: str,
             previous: PerioExam | None) -> QueryOp[PerioExam]:
    return QueryOp(lambda: service.new_exam(patient_id, previous=previous), parent=parent)


def save_draft(*, parent: QObject | None, service: PerioService, snapshot: PerioExam) -> MutationOp[None]:
    return MutationOp(lambda: service.save_draft(snapshot), parent=parent)


def save(*, parent: QObject | None, service: PerioService, snapshot: PerioExam) -> MutationOp[SaveReport]:
    return MutationOp(lambda: service.save(snapshot), parent=parent)


def classify(*, parent: QObject | None, service: PerioService, chart: PerioChart, snapshot: PerioExam,
             clinical: dict[str, Any]) -> QueryOp[Classification]:
    return QueryOp(lambda: service.classify(chart, snapshot, **clinical), parent=parent)


def confirm(*, parent: QObject | None, service: PerioService, chart: PerioChart, snapshot: PerioExam,
            proposed: Classification, stage: StageName | None, grade: GradeName | None,
            reason: str) -> MutationOp[PerioDiagnosis]:
    return MutationOp(lambda: service.confirm(chart, snapshot, proposed, stage=stage, grade=grade, reason=reason),
                      parent=parent)


def record_printed(*, parent: QObject | None, service: PerioService, patient_id: str) -> MutationOp[None]:
    return MutationOp(lambda: service.record_printed(patient_id), parent=parent)
