"""The Lab tab: the patient's cases grouped by seat appointment, their status buttons, and the new-case form.

Reads and writes run as ops (``ui/ops/lab.py``); the list is redrawn from the cache after each write,
so a case sent offline shows at once, marked as waiting to be sent. A status button is enabled only
when the domain allows that move from the selected case's status, and a refused input comes back
next to the form naming the field; nothing is written until the service accepts the whole case.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import LabAttachment, LabStatus
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.lab import CaseForm, LabCase, LabService, LabView
from odonto_desk.ui.errors import show_error
from odonto_desk.ui.lab.form import WARN_STYLE, CaseFormWidget
from odonto_desk.ui.ops import lab as lab_ops
from odonto_desk.ui.tabs import TabContext

# "Status" is where the case is in the lab's workflow; "Server" whether the server has it yet (blank: it has).
COLUMNS = ("Seat appt.", "Case", "Lab", "Shade", "Due back", "Status", "Files", "Server")
WARN_COLOUR = QColor("#8A4B00")
OVERDUE_COLOUR = QColor("#B00020")
# The moves the front desk makes, in workflow order, with their buttons' words.
MOVES: tuple[tuple[LabStatus, str], ...] = (
    (LabStatus.RETURNED, "&Received"),
    (LabStatus.CHECKED, "Chec&ked"),
    (LabStatus.SEATED, "S&eated"),
    (LabStatus.IN_LAB, "&Back to lab"),
    (LabStatus.CANCELLED, "Cancel case"),
)


def _day(day: dt.date | None, today: dt.date | None = None) -> str:
    """``Wed 9 Dec``; the year only when it is not this year's, so an old case does not pass for a new one."""
    if day is None:
        return "—"
    year = f" {day.year}" if today is None or day.year != today.year else ""
    return f"{day:%a} {day.day} {day:%b}{year}"


def _teeth(case: LabCase, system: NumberingSystem) -> str:
    prefix = "#" if system is NumberingSystem.UNIVERSAL else ""
    return " ".join(prefix + t.format(system) for t in case.order.teeth)


class LabTab(QWidget):
    """Built by the tab registry with the window's :class:`TabContext`."""

    def __init__(self, context: TabContext, *, today: dt.date | None = None) -> None:
        super().__init__()
        self.context = context
        self.service = LabService(context.session, today=today)
        self.patient_id: str | None = None
        self.view: LabView | None = None
        self.numbering = context.numbering

        self.cases = QTableWidget(0, len(COLUMNS))
        self.cases.setAccessibleName("Lab cases")
        self.cases.setHorizontalHeaderLabels(COLUMNS)
        self.cases.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.cases.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.cases.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.cases.verticalHeader().setVisible(False)
        self.cases.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.cases.horizontalHeader().setStretchLastSection(True)
        self.summary = QLabel("No patient open")
        self.summary.setAccessibleName("Lab cases summary")
        self.detail = QLabel()
        self.detail.setAccessibleName("Selected case")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.move_buttons: dict[LabStatus, QPushButton] = {}
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Mark selected case:"))
        for status, text in MOVES:
            button = QPushButton(text)
            button.setAccessibleName(f"Mark the selected case {status.label}")
            button.setEnabled(False)
            button.clicked.connect(lambda _=False, s=status: self._on_move(s))
            self.move_buttons[status] = button
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.form = CaseFormWidget(self.service.today)
        self.form.setEnabled(False)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.summary)
        ll.addWidget(self.cases, 1)
        ll.addWidget(self.detail)
        ll.addLayout(buttons)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.form)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([760, 440])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.cases.itemSelectionChanged.connect(self._on_selection)
        self.form.send_requested.connect(self._on_send)
        self.form.attach_requested.connect(self._on_attach)

    # --- the tab protocol ---------------------------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.patient_id = patient_id
        self.view = None
        self.form.reset()
        self.form.setEnabled(patient_id is not None)
        self._show(None)
        if patient_id is not None:
            self.reload()

    def reload(self) -> None:
        if self.patient_id is None:
            return
        pid = self.patient_id
        lab_ops.open_cases(parent=self, service=self.service, patient_id=pid) \
            .success(lambda view: self._on_loaded(pid, view)).run(self.context.tasks)

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self.form.set_numbering(system)
        self._show(self.view)

    # --- showing --------------------------------------------------------------------------------

    def _on_loaded(self, patient_id: str, view: LabView) -> None:
        if patient_id != self.patient_id:
            return  # another patient was opened meanwhile
        first = self.view is None
        self.view = view
        if first:
            self.form.set_calendar(view.calendar, view.today)
        self._show(view)

    def selected(self) -> LabCase | None:
        rows = self.cases.selectionModel().selectedRows()
        if not rows or self.view is None:
            return None
        order_id = self.cases.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        return next((c for c in self.view.cases if c.order.id == order_id), None)

    def _show(self, view: LabView | None) -> None:
        current = self.selected()
        keep = current.order.id if current else None
        self.cases.setRowCount(0)
        if view is None:
            self.summary.setText("No patient open" if self.patient_id is None else "Loading lab cases …")
            self._on_selection()
            return
        per_seat: dict[dt.date | None, int] = {}
        for case in view.cases:
            per_seat[case.order.seat] = per_seat.get(case.order.seat, 0) + 1
        for case in view.cases:
            self._add_row(case, per_seat[case.order.seat])
        open_cases = [c for c in view.cases if c.status not in (LabStatus.SEATED, LabStatus.CANCELLED)]
        warned = sum(1 for c in open_cases if c.warning)
        text = f"{len(open_cases)} open case{'s' if len(open_cases) != 1 else ''}, {len(view.cases)} in all"
        self.summary.setText(text + (f"  ·  ⚠ {warned} seat appointment{'s' if warned != 1 else ''} too early"
                                     if warned else ""))
        if keep:
            for row in range(self.cases.rowCount()):
                if self.cases.item(row, 0).data(Qt.ItemDataRole.UserRole) == keep:
                    self.cases.selectRow(row)
        self._on_selection()

    def _add_row(self, case: LabCase, sharing: int) -> None:
        order = case.order
        today = self.view.today if self.view else None
        seat = _day(order.seat, today) if order.seat else "not booked"
        if order.seat and sharing > 1:
            seat += f"  ({sharing} cases)"
        due = ("⚠ " if case.warning else "") + _day(order.due, today) + ("  overdue" if case.overdue else "")
        cells = (seat, f"{order.kind.value.capitalize()} {_teeth(case, self.numbering)}".strip(), case.lab_name,
                 order.shade or "—", due, case.status.label.capitalize(),
                 str(len(case.task.attachments)) if case.task and case.task.attachments else "",
                 "" if case.sync == "sent" else case.sync)
        row = self.cases.rowCount()
        self.cases.insertRow(row)
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if case.warning and col in (0, 4):
                item.setForeground(QBrush(WARN_COLOUR))
                item.setToolTip(case.warning)
            if case.overdue and col == 4:
                item.setForeground(QBrush(OVERDUE_COLOUR))
                item.setToolTip("Past its due date and not back from the lab: call the lab")
            if case.status in (LabStatus.SEATED, LabStatus.CANCELLED):
                item.setForeground(QBrush(QColor("#707070")))
            self.cases.setItem(row, col, item)
        self.cases.item(row, 0).setData(Qt.ItemDataRole.UserRole, order.id)

    def _on_selection(self) -> None:
        case = self.selected()
        for status, button in self.move_buttons.items():
            button.setEnabled(case is not None and case.order.can_move_to(status))
        in_lab = self.move_buttons[LabStatus.IN_LAB]
        in_lab.setText("At the &lab" if case is not None and case.status is LabStatus.SENT else "&Back to lab")
        self.detail.setText(self._describe(case) if case else "")

    def _describe(self, case: LabCase) -> str:
        order = case.order
        parts = [f"<b>{order.kind.value.capitalize()}</b> for {case.lab_name}"]
        if order.material:
            parts.append(order.material.value)
        if order.instructions:
            parts.append(f"“{order.instructions}”")
        if case.task and case.task.attachments:
            parts.append("files: " + ", ".join(f"{a.title} ({a.size})" for a in case.task.attachments))
        text = " · ".join(parts)
        if case.warning:
            text += f"<br><span style='{WARN_STYLE}'>⚠ {case.warning[0].upper()}{case.warning[1:]}</span>"
        return text

    # --- writing --------------------------------------------------------------------------------

    def _on_send(self, form: CaseForm) -> None:
        if self.patient_id is None:
            return
        self.form.send_button.setEnabled(False)
        lab_ops.send_case(parent=self, service=self.service, patient_id=self.patient_id, form=form) \
            .success(self._on_sent).failure(self._on_send_failed).run(self.context.tasks)

    def _on_sent(self, case: LabCase) -> None:
        self.form.send_button.setEnabled(True)
        self.form.reset()
        self.context.status(f"Lab case queued for {case.lab_name}: due back {_day(case.order.due, None)}")
        self.reload()

    def _on_send_failed(self, exc: Exception) -> None:
        self.form.send_button.setEnabled(True)
        if isinstance(exc, DomainError):
            self.form.show_error(exc)
        else:
            show_error(self, exc)

    def _on_attach(self, path: str) -> None:
        def added(attachment: LabAttachment) -> None:
            self.form.add_file(path, attachment)

        def refused(exc: Exception) -> None:
            if isinstance(exc, DomainError):
                self.form.show_error(exc)
            else:
                show_error(self, exc)

        lab_ops.check_file(parent=self, service=self.service, path=path).success(added).failure(refused) \
            .run(self.context.tasks)

    def _on_move(self, status: LabStatus) -> None:
        case = self.selected()
        if case is None or self.patient_id is None:
            return
        if status is LabStatus.CANCELLED and not self._confirm_cancel(case):
            return
        for button in self.move_buttons.values():
            button.setEnabled(False)
        lab_ops.move_case(parent=self, service=self.service, patient_id=self.patient_id, order_id=case.order.id,
                          status=status) \
            .success(lambda moved: self._on_moved(moved)).failure(self._on_move_failed).run(self.context.tasks)

    def _confirm_cancel(self, case: LabCase) -> bool:
        answer = QMessageBox.question(self, "Cancel lab case",
                                      f"Cancel the {case.order.kind.value} with {case.lab_name}? "
                                      "A cancelled case cannot be reopened.")
        return answer == QMessageBox.StandardButton.Yes

    def _on_moved(self, case: LabCase) -> None:
        self.context.status(f"{case.order.kind.value.capitalize()} marked {case.status.label}")
        self.reload()

    def _on_move_failed(self, exc: Exception) -> None:
        self._on_selection()
        show_error(self, exc)
