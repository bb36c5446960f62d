"""The Chart tab: odontogram, legend, charting panel, the list of marks and the history slider.

Every edit runs as a background op through ``ui/ops/chart.py``; when it has been written to the
cache it is pushed on the window's undo stack as an already-applied command, whose undo and redo
run further ops. The chart is redrawn from the cache after each change.

At a cold start the tab can show the kept first frame (:meth:`ChartTab.show_first_frame`) before it
has a service: the odontogram answers at once (select, hover, keys) while the charting panel waits
for :meth:`ChartTab.attach`, which the window calls once the services are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.ui.chart.legend import Legend
from odonto_desk.ui.chart.panel import HINT_STYLE, CommandLine, MarkForm
from odonto_desk.ui.errors import show_error
from odonto_desk.ui.odontogram.widget import Odontogram
from odonto_desk.ui.ops import chart as chart_ops
from odonto_desk.ui.palette import STATUS_STYLES
from odonto_desk.ui.tasks import TaskManager

if TYPE_CHECKING:  # types only: the tab is built for the first frame, before the models load
    from odonto_desk.domain.cdt import Catalog
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.services.chart import ChartEdit, ChartService, ChartView, HistoryFrame
    from odonto_desk.services.first_frame import FirstFrame, MarkSketch


class _Applied(QUndoCommand):
    """An edit already written; undo/redo write its inverse / itself again through ops."""

    def __init__(self, tab: ChartTab, edit: ChartEdit) -> None:
        super().__init__(edit.label)
        self.tab = tab
        self.edit = edit
        self._first = True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.tab.run_edit(chart_ops.redo(parent=self.tab, service=self.tab.chart_service, edit=self.edit))

    def undo(self) -> None:
        self.tab.run_edit(chart_ops.undo(parent=self.tab, service=self.tab.chart_service, edit=self.edit))


class ChartTab(QWidget):
    chart_changed = Signal(object)  # ChartView, after every reload

    def __init__(self, service: ChartService | None, tasks: TaskManager, undo: QUndoStack, catalog: Catalog,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service  # None until attach(): the first frame of a cold start
        self.tasks = tasks
        self.undo_stack = undo
        self.view: ChartView | None = None
        self.patient_id: str | None = None
        self.numbering = NumberingSystem.UNIVERSAL
        self._frames: list[HistoryFrame] = []

        self.odontogram = Odontogram()
        self.legend = Legend()
        self.command = CommandLine()
        self.form = MarkForm(catalog)
        self.marks = QTableWidget(0, 6)
        self.marks.setAccessibleName("Chart marks")
        self.marks.setHorizontalHeaderLabels(["Tooth", "Surf.", "What", "Code", "Status", "Date"])
        self.marks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.marks.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.marks.verticalHeader().setVisible(False)
        self.marks.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.marks.horizontalHeader().setStretchLastSection(True)
        self.complete_button = QPushButton("Mark &completed")
        self.complete_button.setAccessibleName("Mark selected planned work completed")
        self.remove_button = QPushButton("&Remove (charted in error)")
        self.remove_button.setAccessibleName("Remove selected marks, charted in error")
        self.history = QSlider(Qt.Orientation.Horizontal)
        self.history.setAccessibleName("Chart history")
        self.history.setEnabled(False)
        self.history_label = QLabel("History: now")
        self.history_button = QPushButton("Load &history")
        self.history_button.setAccessibleName("Load chart history from the server")

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.odontogram, 1)
        ll.addWidget(self.legend)
        hist = QHBoxLayout()
        hist.addWidget(self.history_button)
        hist.addWidget(self.history, 1)
        hist.addWidget(self.history_label)
        ll.addLayout(hist)
        ll.addWidget(self.command)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.form)
        rl.addWidget(self.marks, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.complete_button)
        buttons.addWidget(self.remove_button)
        rl.addLayout(buttons)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 430])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.odontogram.selection_changed.connect(self._on_selection)
        self.command.submitted.connect(self._on_command)
        self.form.chart_requested.connect(self._on_form_chart)
        self.complete_button.clicked.connect(self._on_complete)
        self.remove_button.clicked.connect(self._on_remove)
        self.history_button.clicked.connect(self.load_history)
        self.history.valueChanged.connect(self._on_history_moved)
        self._frame_patient: str | None = None  # the first frame's patient, while it is shown
        if service is None:
            self._set_editable(False)

    def attach(self, service: ChartService) -> None:
        """The service has loaded: charting is possible (the real chart follows from open_patient)."""
        self.service = service
        self._set_editable(True)

    @property
    def chart_service(self) -> ChartService:
        if self.service is None:  # the controls that get here are disabled until attach()
            raise RuntimeError("the chart is still opening")
        return self.service

    def _set_editable(self, on: bool) -> None:
        for w in (self.command, self.form, self.complete_button, self.remove_button, self.history_button):
            w.setEnabled(on)
        if not on:
            self.command.message.setStyleSheet(HINT_STYLE)
            self.command.message.setText("Opening the chart…")
        else:
            self.command.message.setText(" ")

    def show_first_frame(self, frame: FirstFrame) -> None:
        """Draw the chart kept from the last session; the odontogram is usable, editing waits for attach()."""
        self._frame_patient = frame.patient.id
        self.patient_id = frame.patient.id
        self.form.patient_id = frame.patient.id
        self.odontogram.set_chart(frame.teeth, frame.marks)
        self._fill_marks(frame.marks)

    # --- opening -----------------------------------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.patient_id = patient_id
        self.form.patient_id = patient_id
        self._frames = []
        self.history.setEnabled(False)
        self.history_label.setText("History: now")
        if patient_id is None or patient_id != self._frame_patient:  # a selection made on the first frame stays
            self.odontogram.clear_selection()
        if patient_id is None:
            self.view = None
            self.odontogram.set_chart((), ())
            self.marks.setRowCount(0)
            return
        self.reload()

    def reload(self) -> None:
        if self.patient_id is None or self.service is None:
            return
        wanted = self.patient_id
        chart_ops.open_chart(parent=self, service=self.chart_service, patient_id=wanted).success(
            lambda view: self._show(view) if view.patient.id == self.patient_id else None).run(self.tasks)

    def _show(self, view: ChartView) -> None:
        self.view = view
        self._frame_patient = None
        self.odontogram.read_only = False
        self.odontogram.set_chart(view.teeth, view.marks)
        self._fill_marks(view.marks)
        self.chart_changed.emit(view)

    def set_numbering(self, numbering: NumberingSystem) -> None:
        self.numbering = numbering
        self.command.numbering = numbering
        self.odontogram.set_numbering(numbering)
        if self.view is not None:
            self._fill_marks(self.view.marks)

    def _fill_marks(self, marks: Sequence[ChartMark | MarkSketch]) -> None:
        self.marks.setRowCount(len(marks))
        for r, m in enumerate(marks):
            style = STATUS_STYLES[m.status.value]
            what = " ".join(x for x in (m.material.value if m.material else "", m.kind.value) if x)
            code = m.code or ""
            if code and code in self.form.catalog:
                code = f"{code} {self.form.catalog.label(code)}"
            cells = [m.tooth.format(self.numbering), m.surface_string, what, code,
                     f"{style.label} · {style.name}", m.date.isoformat() if m.date else ""]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, m.id)
                if c == 4:
                    item.setForeground(QColor(style.colour).darker(120))
                self.marks.setItem(r, c, item)

    # --- editing -------------------------------------------------------------------------------

    def run_edit(self, op: chart_ops.MutationOp[ChartEdit], *, push: bool = False) -> None:
        def done(edit: ChartEdit) -> None:
            if push:
                self.undo_stack.push(_Applied(self, edit))
            self.reload()

        op.success(done).failure(self._failed).run(self.tasks)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            self.command.show_error(exc)
        else:
            show_error(self, exc)

    def _on_selection(self) -> None:
        self.form.set_selection(self.odontogram.selection)

    def _on_command(self, text: str) -> None:
        if self.patient_id is None:
            return

        def done(edit: ChartEdit) -> None:
            self.command.show_done(f"charted: {edit.label}")
            self.command.edit.clear()
            self.undo_stack.push(_Applied(self, edit))
            self.reload()

        chart_ops.run_command(parent=self, service=self.chart_service, patient_id=self.patient_id, text=text,
                              numbering=self.numbering).success(done).failure(self._failed).run(self.tasks)

    def _on_form_chart(self, marks: list[ChartMark]) -> None:
        if self.patient_id is None:
            return
        self.run_edit(chart_ops.add_marks(parent=self, service=self.chart_service, patient_id=self.patient_id,
                                          marks=marks), push=True)

    def _selected_mark_ids(self) -> list[str]:
        rows = {i.row() for i in self.marks.selectedIndexes()}
        return [self.marks.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in sorted(rows)]

    def _on_complete(self) -> None:
        ids = self._selected_mark_ids()
        if ids and self.patient_id:
            self.run_edit(chart_ops.complete_marks(parent=self, service=self.chart_service, patient_id=self.patient_id,
                                                   mark_ids=ids), push=True)

    def _on_remove(self) -> None:
        ids = self._selected_mark_ids()
        if ids and self.patient_id:
            self.run_edit(chart_ops.retire_marks(parent=self, service=self.chart_service, patient_id=self.patient_id,
                                                 mark_ids=ids), push=True)

    # --- history -------------------------------------------------------------------------------

    def load_history(self) -> None:
        if self.patient_id is None:
            return
        self.history_label.setText("History: loading…")
        chart_ops.timeline(parent=self, service=self.chart_service, patient_id=self.patient_id).success(
            self._set_frames).run(self.tasks)

    def _set_frames(self, frames: list[HistoryFrame]) -> None:
        self._frames = frames
        self.history.blockSignals(True)
        self.history.setRange(0, max(0, len(frames) - 1))
        self.history.setValue(max(0, len(frames) - 1))
        self.history.blockSignals(False)
        self.history.setEnabled(len(frames) > 1)
        self.history_label.setText(f"History: now ({len(frames)} changes)")

    def _on_history_moved(self, index: int) -> None:
        if not self._frames or self.view is None:
            return
        frame = self._frames[index]
        last = index == len(self._frames) - 1
        self.odontogram.read_only = not last
        self.odontogram.set_chart(self.view.teeth, self.view.marks if last else frame.marks)
        self.history_label.setText("History: now" if last else f"History: {frame.at[:16].replace('T', ' ')} UTC")
