"""Ledger ops: each returns an unstarted op around one LedgerService call."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject

from odonto_desk.domain.billing import Claim, PostingInput
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.ledger import ClaimDraft, LedgerService, LedgerView, Posted
from odonto_desk.ui.tasks import MutationOp, QueryOp


def open_ledger(*, parent: QObject | None, service: LedgerService, patient_id: str) -> QueryOp[LedgerView]:
    return QueryOp(lambda: service.open(patient_id), parent=parent)


def post(*, parent: QObject | None, service: LedgerService, patient_id: str, entry: PostingInput, key: str,
         completes: str | None, numbering: NumberingSystem) -> MutationOp[Posted]:
    return MutationOp(lambda: service.post(patient_id, entry, key=key, completes=completes, numbering=numbering),
                      parent=parent)


def draft_claim(*, parent: QObject | None, service: LedgerService, patient_id: str, charge_ids: Sequence[str],
                coverage_id: str | None) -> QueryOp[ClaimDraft]:
    return QueryOp(lambda: service.draft_claim(patient_id, charge_ids, coverage_id), parent=parent)


def send_claim(*, parent: QObject | None, service: LedgerService, patient_id: str, charge_ids: Sequence[str],
               coverage_id: str | None) -> MutationOp[Claim]:
    return MutationOp(lambda: service.send_claim(patient_id, charge_ids, coverage_id), parent=parent)
