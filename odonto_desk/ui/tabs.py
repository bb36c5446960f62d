"""The patient tabs after Chart, and what each of them is given.

Every tab is a QWidget built as ``Tab(context)`` from a :class:`TabContext`; the window calls
``open_patient(patient_id | None)`` when another patient is opened, ``reload()`` after a sync or a
conflict resolution, and ``set_numbering(system)`` when the tooth numbering changes. A tab runs its
reads and writes as ops (``ui/ops/<noun>.py``) on ``context.tasks``; it never blocks the UI thread.

A tab is named here by ``"module:Class"`` and built the first time it is shown (or asked for with
:meth:`LazyTab.widget`): its module, and what that imports (pyqtgraph, pydicom, numpy), is not
paid for at start-up. Until then the placeholder remembers the patient and numbering it was given
and hands them over when the tab is built.
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
    TabSpec("&Perio", "perio", "odonto_desk.ui.perio.tab:PerioTab"),
    TabSpec("P&lan", "treatment plans", "odonto_desk.ui.plan.tab:PlanTab"),
    TabSpec("L&edger", "posting and claims", "odonto_desk.ui.ledger.tab:LedgerTab"),
    TabSpec("La&b", "lab orders", "odonto_desk.ui.lab.tab:LabTab"),
    TabSpec("&Imaging", "radiographs and CBCT", "odonto_desk.ui.imaging.tab:ImagingTab"),
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


class LazyTab(QWidget):
    """Stands in for a tab until it is first shown, then holds it."""

    def __init__(self, spec: TabSpec, context: TabContext) -> None:
        super().__init__()
        from PySide6.QtWidgets import QVBoxLayout

        self.spec, self.context = spec, context
        self.setAccessibleName(spec.name)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._built: QWidget | None = None
        self._patient: str | None = None
        self._numbering: NumberingSystem | None = None

    def widget(self) -> QWidget:
        """The tab itself, built now if it was not yet."""
        if self._built is None:
            self._built = _construct(self.spec, self.context)
            self._layout.addWidget(self._built)
            if self._numbering is not None:
                self._built.set_numbering(self._numbering)  # type: ignore[attr-defined]
            if self._patient is not None:
                self._built.open_patient(self._patient)  # type: ignore[attr-defined]
        return self._built

    @property
    def built(self) -> bool:
        return self._built is not None

    def showEvent(self, event: object) -> None:  # type: ignore[override]
        self.widget()
        super().showEvent(event)  # type: ignore[arg-type]

    def open_patient(self, patient_id: str | None) -> None:
        self._patient = patient_id
        if self._built is not None:
            self._built.open_patient(patient_id)  # type: ignore[attr-defined]

    def reload(self) -> None:
        if self._built is not None:
            self._built.reload()  # type: ignore[attr-defined]

    def set_numbering(self, system: NumberingSystem) -> None:
        self._numbering = system
        if self._built is not None:
            self._built.set_numbering(system)  # type: ignore[attr-defined]


def _construct(spec: TabSpec, context: TabContext) -> QWidget:
    if spec.factory is None:
        return _Notice(spec)
    module, _, name = spec.factory.partition(":")
    cls = getattr(importlib.import_module(module), name)
    widget = cls(context)
    widget.setAccessibleName(spec.name)
    return widget  # type: ignore[no-any-return]


def build_tab(spec: TabSpec, context: TabContext) -> LazyTab:
    return LazyTab(spec, context)
