"""The patient tabs after Chart, and what each of them is given.

Every tab is a QWidget built as ``Tab(context)`` from a :class:`TabContext`; the window calls
``open_patient(patient_id | None)`` when another patient is opened, ``reload()`` after a sync or a
conflict resolution, and ``set_numbering(system)`` when the tooth numbering changes. A tab runs its
reads and writes as ops (``ui/ops/<noun>.py``) on ``context.tasks``; it never blocks the UI thread.

A tab is named here by ``"module:Class"`` so the window imports it only when it is built; a tab
that does not exist yet shows a short notice instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QLabel, QWidget

from odonto_desk.domain.cdt import Catalog
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.session import Session
from odonto_desk.ui.settings import Settings
from odonto_desk.ui.tasks import TaskManager


@dataclass
class TabContext:
    session: Session
    settings: Settings
    tasks: TaskManager
    undo_stack: QUndoStack
    catalog: Catalog
    numbering: NumberingSystem = NumberingSystem.UNIVERSAL
    status: Callable[[str], None] = field(default=lambda _text: None)  # a line in the status bar


class PatientTab(Protocol):
    def open_patient(self, patient_id: str | None) -> None: ...

    def reload(self) -> None: ...

    def set_numbering(self, system: NumberingSystem) -> None: ...


@dataclass(frozen=True)
class TabSpec:
    title: str  # with its & mnemonic
    what: str  # for the notice while the tab is not built
    factory: str | None = None  # "package.module:Class"

    @property
    def name(self) -> str:
        return self.title.replace("&", "")


TABS: tuple[TabSpec, ...] = (
    TabSpec("&Perio", "perio", None),
    TabSpec("P&lan", "treatment plans", None),
    TabSpec("L&edger", "posting and claims", None),
    TabSpec("La&b", "lab orders", None),
    TabSpec("&Imaging", "radiographs and CBCT", None),
)


class _Notice(QLabel):
    def __init__(self, spec: TabSpec) -> None:
        super().__init__(f"The {spec.name} screen ({spec.what}) is not built yet; its data already syncs "
                         "with the server.")
        from PySide6.QtCore import Qt

        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAccessibleName(spec.name)

    def open_patient(self, patient_id: str | None) -> None:
        pass

    def reload(self) -> None:
        pass

    def set_numbering(self, system: NumberingSystem) -> None:
        pass


def build_tab(spec: TabSpec, context: TabContext) -> QWidget:
    if spec.factory is None:
        return _Notice(spec)
    module, _, name = spec.factory.partition(":")
    cls = getattr(importlib.import_module(module), name)
    widget = cls(context)
    widget.setAccessibleName(spec.name)
    return widget  # type: ignore[no-any-return]
