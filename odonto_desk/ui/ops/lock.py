"""Lock ops: the workstation lock's audit rows, written off the UI thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from odonto_desk.ui.tasks import MutationOp

if TYPE_CHECKING:
    from odonto_desk.services.pins import LockAction
    from odonto_desk.services.session import Session


def record(*, parent: QObject | None, session: Session, action: LockAction, summary: str) -> MutationOp[None]:
    from odonto_desk.services.pins import record_lock

    return MutationOp(lambda: record_lock(session, action, summary), parent=parent)
