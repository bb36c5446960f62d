"""Sync ops: the status probe, a sync run and conflict resolution, off the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.ui.tasks import MutationOp, QueryOp

if TYPE_CHECKING:  # types only: ops are built for the first frame, before the models load
    from odonto_desk.services.sync import ConflictRow, SyncBadge, SyncService



def probe(*, parent: QObject | None, service: SyncService) -> QueryOp[SyncBadge]:
    return QueryOp(lambda: service.badge(probe=True), parent=parent)


def sync_now(*, parent: QObject | None, service: SyncService) -> QueryOp[SyncBadge]:
    return QueryOp(service.sync_now, parent=parent)


def conflicts(*, parent: QObject | None, service: SyncService,
              numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> QueryOp[list[ConflictRow]]:
    return QueryOp(lambda: service.conflicts(numbering), parent=parent)


def resolve(*, parent: QObject | None, service: SyncService, conflict_id: int,
            keep: Literal["mine", "theirs"]) -> MutationOp[None]:
    return MutationOp(lambda: service.resolve(conflict_id, keep), parent=parent)


def background(*, parent: QObject | None, fn: Callable[[], None]) -> QueryOp[None]:
    """Start-up work that may wait on the network (starting the embedded server, the first sync)."""
    return QueryOp(fn, parent=parent)
