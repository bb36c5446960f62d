"""The medical alerts editor: record an allergy, a medication, a condition or a premedication need,
mark one resolved or active again, or take back one recorded by mistake.

Nothing here decides what a valid alert is: the domain does (``domain/alerts.py``), and its
refusal is shown inline under the field, with nothing saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.alerts import ALERT_ORDER, MAX_ALERT_TEXT, AlertKind, MedicalAlert
from odonto_desk.domain.errors import DomainError
from odonto_desk.services.alerts import AlertService
from odonto_desk.ui.errors import describe, show_error
from odonto_desk.ui.ops import alerts as alert_ops
from odonto_desk.ui.tasks import MutationOp, TaskManager

RESOLVED_GREY = "#6B6B6B"
EXAMPLES = {AlertKind.ALLERGY: "e.g. penicillin, latex, chlorhexidine",
            AlertKind.PREMEDICATION: "e.g. premedicate: joint replacement",
            AlertKind.MEDICATION: "e.g. anticoagulant (warfarin)",
            AlertKind.CONDITION: "e.g. type 2 diabetes, pregnancy"}


class AlertsDialog(QDialog):
    changed = Signal()  # an alert was added or changed: the header must be redrawn

    def __init__(self, service: AlertService, tasks: TaskManager, patient_id: str, patient_name: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.tasks = tasks
        self.patient_id = patient_id
        self.alerts: list[MedicalAlert] = []
        self._writing = 0  # writes in flight: the dialog outlives its closing until they are done
        self._release_when_done = False
        self.setWindowTitle(f"Medical alerts — {patient_name}")
        self.setAccessibleName("Medical alerts editor")
        self.resize(620, 420)

        intro = QLabel(f"What to know before treating <b>{patient_name}</b>. Active alerts show in red under "
                       "the patient's name on every tab; resolved ones stay listed here.")
        intro.setWordWrap(True)
        self.list = QTreeWidget()
        self.list.setAccessibleName("Alerts of this patient")
        self.list.setHeaderLabels(["Kind", "Alert", "Recorded", "Status"])
        self.list.setRootIsDecorated(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.list.header().setStretchLastSection(False)
        self.empty = QLabel("No medical alerts recorded for this patient.")
        self.empty.setAccessibleName("No alerts recorded")
        self.empty.setStyleSheet(f"color:{RESOLVED_GREY}; font-style: italic;")
        self.empty.hide()

        self.kind = QComboBox()
        self.kind.setAccessibleName("Alert kind")
        for k in ALERT_ORDER:
            self.kind.addItem(k.value.capitalize(), k)
        self.text = QLineEdit()
        self.text.setAccessibleName("Alert text")
        self.text.setMaxLength(MAX_ALERT_TEXT + 20)  # longer than allowed: the domain says why, inline
        self.add_button = QPushButton("&Add")
        self.add_button.setAccessibleName("Add alert")
        self.add_button.setDefault(True)
        add_row = QHBoxLayout()
        add_row.addWidget(self.kind)
        add_row.addWidget(self.text, 1)
        add_row.addWidget(self.add_button)
        self.error = QLabel("")
        self.error.setAccessibleName("Alert error")
        self.error.setStyleSheet("color:#B00020;")
        self.error.setWordWrap(True)

        self.toggle_button = QPushButton("Mark &resolved")
        self.toggle_button.setAccessibleName("Mark resolved or active again")
        self.error_button = QPushButton("Entered in &error…")
        self.error_button.setAccessibleName("Entered in error")
        self.error_button.setToolTip("Recorded by mistake (e.g. on the wrong patient): kept in the record, "
                                     "shown nowhere")
        actions = QHBoxLayout()
        actions.addWidget(self.toggle_button)
        actions.addWidget(self.error_button)
        actions.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        actions.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addLayout(add_row)
        layout.addWidget(self.error)
        layout.addLayout(actions)

        self.add_button.clicked.connect(self.add)
        self.text.returnPressed.connect(self.add)
        self.text.textEdited.connect(lambda _t: self.error.setText(""))
        self.kind.currentIndexChanged.connect(self._placeholder)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.toggle_button.clicked.connect(self.toggle)
        self.error_button.clicked.connect(self.mark_in_error)
        QShortcut(QKeySequence.StandardKey.New, self, activated=self.text.setFocus)
        self.editable = service.editable
        if not self.editable:  # the list is there to read; the reason stands where the field would be
            for w in (self.kind, self.text, self.add_button):
                w.setEnabled(False)
            self.error.setText(f"{service.session.user.role.label}: read only. Medical alerts are changed "
                               "by a dentist.")
            self.error.setStyleSheet(f"color:{RESOLVED_GREY};")
        self._placeholder()
        self._update_buttons()
        self.text.setFocus()
        self.reload()

    # --- reading -------------------------------------------------------------------------------

    def reload(self) -> None:
        alert_ops.listed(parent=self, service=self.service, patient_id=self.patient_id) \
            .success(self._fill).run(self.tasks)

    def _fill(self, alerts: list[MedicalAlert]) -> None:
        keep = self.selected()
        self.alerts = alerts
        self.list.clear()
        for a in alerts:
            item = QTreeWidgetItem([a.kind.value.capitalize(), a.label,
                                    a.recorded.isoformat() if a.recorded else "—",
                                    "active" if a.active else "resolved"])
            item.setData(0, Qt.ItemDataRole.UserRole, a.id)
            font = QFont(item.font(1))
            if a.active:
                font.setBold(True)
            else:  # resolved: grey and struck through, so it reads as past without colour too
                font.setStrikeOut(True)
                for col in range(4):
                    item.setForeground(col, Qt.GlobalColor.darkGray)
            item.setFont(1, font)
            item.setToolTip(1, a.detail)
            self.list.addTopLevelItem(item)
            if keep is not None and a.id == keep.id:
                self.list.setCurrentItem(item)
        for col in (0, 2, 3):
            self.list.resizeColumnToContents(col)
        self.empty.setVisible(not alerts)
        self._update_buttons()

    def selected(self) -> MedicalAlert | None:
        item = self.list.currentItem()
        if item is None:
            return None
        aid = item.data(0, Qt.ItemDataRole.UserRole)
        return next((a for a in self.alerts if a.id == aid), None)

    # --- writing -------------------------------------------------------------------------------

    def release(self) -> None:
        """Delete the dialog once closed and its writes are done: a write still running when the
        dialog is closed (Enter, then Esc at once) still tells the window, or shows its error."""
        self._release_when_done = True
        if not self._writing:
            self.deleteLater()

    def _write(self, op: MutationOp[MedicalAlert], done: Callable[[MedicalAlert], None]) -> None:
        self._writing += 1

        def finish(then: Callable[[Any], None]) -> Callable[[Any], None]:
            def call(value: Any) -> None:
                self._writing -= 1
                then(value)
                if self._release_when_done and not self._writing:
                    self.deleteLater()
            return call

        op.success(finish(done)).failure(finish(self._refused)).run(self.tasks)

    def add(self) -> None:
        if self._writing:
            return  # one add at a time: Enter pressed twice records it once
        kind = AlertKind(self.kind.currentData())
        text = self.text.text()
        self.add_button.setEnabled(False)
        self._write(alert_ops.add(parent=self, service=self.service, patient_id=self.patient_id, text=text,
                                  kind=kind), self._added)

    def _added(self, alert: MedicalAlert) -> None:
        self.add_button.setEnabled(self.editable)
        self.text.clear()
        self.error.setText("")
        self.text.setFocus()
        self._changed()

    def toggle(self) -> None:
        alert = self.selected()
        if alert is None:
            return
        op = alert_ops.resolve if alert.active else alert_ops.reactivate
        self._write(op(parent=self, service=self.service, patient_id=self.patient_id, alert_id=alert.id),
                    lambda _a: self._changed())

    def mark_in_error(self) -> None:
        alert = self.selected()
        if alert is None or not self._confirm_in_error(alert):
            return
        self._write(alert_ops.entered_in_error(parent=self, service=self.service, patient_id=self.patient_id,
                                               alert_id=alert.id), lambda _a: self._changed())

    def _confirm_in_error(self, alert: MedicalAlert) -> bool:
        answer = QMessageBox.question(
            self, "Entered in error",
            f"“{alert.detail}” was recorded by mistake?\nIt is kept in the record but no longer shown.")
        return answer == QMessageBox.StandardButton.Yes

    def _changed(self) -> None:
        self.changed.emit()
        if self.isVisible():
            self.reload()

    def _refused(self, exc: Exception) -> None:
        self.add_button.setEnabled(self.editable)
        if not self.isVisible():  # closed while it ran: nothing saved, and the user must know
            show_error(self.parentWidget(), exc)
        elif isinstance(exc, DomainError | KeyError | PermissionError):
            why = exc.message if isinstance(exc, DomainError) else describe(exc)
            self.error.setText(why[:1].upper() + why[1:])  # the domain's reason, under the field; nothing saved
            self.text.setFocus()
        else:
            show_error(self, exc)

    def _placeholder(self) -> None:
        self.text.setPlaceholderText(EXAMPLES[AlertKind(self.kind.currentData())])

    def _update_buttons(self) -> None:
        alert = self.selected()
        self.toggle_button.setEnabled(alert is not None and self.editable)
        self.error_button.setEnabled(alert is not None and self.editable)
        self.toggle_button.setText("Mark &resolved" if alert is None or alert.active else "Mark &active again")
        self.toggle_button.setAccessibleName(self.toggle_button.text().replace("&", ""))
