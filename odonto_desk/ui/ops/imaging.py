"""Imaging ops: each returns an unstarted op around one ImagingService call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject

from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.imaging import (
    ImageRow,
    ImageStack,
    ImagingService,
    ProgressFn,
    UploadJob,
    UploadReport,
)
from odonto_desk.ui.tasks import MutationOp, QueryOp


def list_images(*, parent: QObject | None, service: ImagingService, patient_id: str) -> QueryOp[list[ImageRow]]:
    return QueryOp(lambda: service.images(patient_id), parent=parent)


def load_image(*, parent: QObject | None, service: ImagingService, row: ImageRow) -> QueryOp[ImageStack]:
    return QueryOp(lambda: service.load(row), parent=parent)


def import_image(*, parent: QObject | None, service: ImagingService, patient_id: str, path: Path, kind: str | None,
                 teeth: Sequence[Tooth], title: str | None) -> MutationOp[tuple[UploadJob, ImageStack]]:
    return MutationOp(lambda: service.import_image(patient_id, path, kind=kind, teeth=teeth, title=title),
                      parent=parent)


def upload_pending(*, parent: QObject | None, service: ImagingService,
                   on_progress: ProgressFn | None = None) -> QueryOp[UploadReport]:
    """Send the queue. A query, not a mutation: it runs for minutes on a CBCT volume and must not hold up
    chart edits on the serial write pool; the service lets one run at a time and writes only its own queue."""
    return QueryOp(lambda: service.upload_pending(on_progress=on_progress), parent=parent)
