"""The new-case form: lab, what is made, teeth, shade, seat appointment, instructions and files.

The due date is worked out here as soon as the lab is picked (pure domain arithmetic on the
practice's calendar, no I/O) and the seat date is checked against it live, so the front desk sees
"book it on or after …" while booking, not after sending. Everything else is checked by the service
when the case is sent; a refusal comes back naming the field and is shown next to the form.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.chart import Material
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    LabAttachment,
    LabCalendar,
    LabKind,
    check_seat,
)
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.lab import CaseForm

ERROR_STYLE = "color:#B00020;"
WARN_STYLE = "color:#8A4B00;"
# What each service field is called on the form, so a refusal reads "Shade: …", not "shade: …".
FIELD_LABELS = {"lab": "Lab", "kind": "What", "teeth": "Teeth", "shade": "Shade", "material": "Material",
                "seat": "Seat appointment", "attachments": "Files", "instructions": "Instructions"}
_LAB_MATERIALS = (Material.ZIRCONIA, Material.PORCELAIN, Material.PFM, Material.GOLD, Material.METAL,
                  Material.COMPOSITE, Material.ACRYLIC, Material.RESIN, Material.TITANIUM)


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


class CaseFormWidget(QGroupBox):
    """Emits ``send_requested(CaseForm)``; ``attach_requested(path)`` asks the tab to check a picked file."""

    send_requested = Signal(object)
    attach_requested = Signal(str)

    def __init__(self, today: dt.date, parent: QWidget | None = None) -> None:
        super().__init__("New lab case", parent)
        self.calendar = LabCalendar()
        self.today = today  # the service's day (Session.today); set_calendar() brings it again with the lab list
        self.numbering = NumberingSystem.UNIVERSAL
        self.files: list[tuple[str, LabAttachment]] = []

        self.lab = QComboBox()
        self.lab.setAccessibleName("Lab")
        self.kind = QComboBox()
        self.kind.setAccessibleName("What the lab makes")
        self.kind.addItem("— choose —", None)
        for k in LabKind:
            self.kind.addItem(k.value.capitalize(), k.value)
        self.teeth = QLineEdit()
        self.teeth.setAccessibleName("Teeth")
        self.shade = QLineEdit()
        self.shade.setAccessibleName("Shade")
        self.shade.setPlaceholderText("VITA, e.g. A2 or 2M2")
        self.material = QComboBox()
        self.material.setAccessibleName("Material")
        self.material.addItem("— lab's choice —", None)
        for m in _LAB_MATERIALS:
            self.material.addItem(m.value, m.value)
        self.due = QLabel()
        self.due.setAccessibleName("Due back")
        self.due.setWordWrap(True)
        self.has_seat = QCheckBox("booked for")
        self.has_seat.setChecked(True)
        self.seat = QDateEdit()
        self.seat.setAccessibleName("Seat appointment date")
        self.seat.setCalendarPopup(True)
        self.seat.setDisplayFormat("ddd d MMM yyyy")
        self.seat_warning = QLabel()
        self.seat_warning.setAccessibleName("Seat appointment warning")
        self.seat_warning.setWordWrap(True)
        self.seat_warning.setStyleSheet(WARN_STYLE)
        self.instructions = QPlainTextEdit()
        self.instructions.setAccessibleName("Instructions to the lab")
        self.instructions.setPlaceholderText("margins, contacts, characterisation …")
        self.instructions.setFixedHeight(64)
        self.file_list = QListWidget()
        self.file_list.setAccessibleName("Files sent with the case")
        self.file_list.setFixedHeight(52)
        self.attach_button = QPushButton("&Attach file…")
        self.attach_button.setToolTip(f"Photos, Rx slip, small scans: up to {MAX_ATTACHMENTS} files of at most "
                                      f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB each")
        self.remove_file_button = QPushButton("Remove file")
        self.error = QLabel()
        self.error.setAccessibleName("Case form message")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.send_button = QPushButton("&Send to lab")
        self.send_button.setAccessibleName("Send the case to the lab")

        seat_row = QHBoxLayout()
        seat_row.addWidget(self.has_seat)
        seat_row.addWidget(self.seat, 1)
        files_row = QHBoxLayout()
        files_row.addWidget(self.attach_button)
        files_row.addWidget(self.remove_file_button)
        files_row.addStretch(1)
        form = QFormLayout()
        form.addRow("&Lab", self.lab)
        form.addRow("&What", self.kind)
        form.addRow("&Teeth", self.teeth)
        form.addRow("Sh&ade", self.shade)
        form.addRow("&Material", self.material)
        form.addRow("Due back", self.due)
        form.addRow("Seat appt.", seat_row)
        form.addRow("", self.seat_warning)
        form.addRow("&Instructions", self.instructions)
        form.addRow("Files", self.file_list)
        form.addRow("", files_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(self.send_button)
        lay.addStretch(1)

        self.lab.currentIndexChanged.connect(self._on_dates_changed)
        self.seat.dateChanged.connect(self._on_dates_changed)
        self.has_seat.toggled.connect(self._on_seat_toggled)
        self.attach_button.clicked.connect(self._on_attach)
        self.remove_file_button.clicked.connect(self._on_remove_file)
        self.send_button.clicked.connect(self._on_send)
        self.set_numbering(NumberingSystem.UNIVERSAL)

    # --- set up from the tab ----------------------------------------------------------------------

    def set_calendar(self, calendar: LabCalendar, today: dt.date) -> None:
        """The practice's labs; the seat date starts at the earliest safe day for the first lab."""
        self.calendar, self.today = calendar, today
        current = self.lab.currentData()
        self.lab.blockSignals(True)
        self.lab.clear()
        for lab in calendar.labs:
            self.lab.addItem(f"{lab.name} · {lab.turnaround_days} working days", lab.id)
        index = self.lab.findData(current)
        self.lab.setCurrentIndex(max(index, 0))
        self.lab.blockSignals(False)
        due = self.due_date()
        if due is not None:
            self.seat.blockSignals(True)
            self.seat.setDate(_qdate(calendar.earliest_seat(due)))
            self.seat.blockSignals(False)
        self._on_dates_changed()

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        example = {NumberingSystem.UNIVERSAL: "e.g. 8 9, or 3 5 for a bridge", NumberingSystem.FDI: "e.g. 11 21",
                   NumberingSystem.PALMER: "e.g. UR1 UL1", NumberingSystem.HADERUP: "e.g. 1+ +1"}[system]
        self.teeth.setPlaceholderText(f"{example} (none for a night guard or aligner)")

    def reset(self) -> None:
        """Clear what belongs to one case; the lab and the seat appointment stay for the next one."""
        self.kind.setCurrentIndex(0)
        for edit in (self.teeth, self.shade):
            edit.clear()
        self.material.setCurrentIndex(0)
        self.instructions.clear()
        self.files.clear()
        self.file_list.clear()
        self.error.clear()

    # --- dates ----------------------------------------------------------------------------------

    def due_date(self) -> dt.date | None:
        lab_id = self.lab.currentData()
        return self.calendar.due(lab_id, self.today) if lab_id else None

    def seat_date(self) -> dt.date | None:
        return self.seat.date().toPython() if self.has_seat.isChecked() else None  # type: ignore[no-any-return]

    def _on_seat_toggled(self, on: bool) -> None:
        self.seat.setEnabled(on)
        self._on_dates_changed()

    def _on_dates_changed(self, *_args: object) -> None:
        due = self.due_date()
        if due is None:
            self.due.setText("Add the practice's labs to work out due dates")
            self.seat_warning.clear()
            return
        lab = self.calendar.lab(self.lab.currentData())
        self.due.setText(f"<b>{_day(due)}</b> &nbsp;({lab.turnaround_days} working days; weekends and lab "
                         "holidays skipped)")
        try:
            check_seat(self.seat_date(), self.today)
            warning = self.calendar.seat_warning(self.seat_date(), due)
        except DomainError as exc:
            warning = exc.message
        self.seat_warning.setText(f"⚠ {warning[0].upper()}{warning[1:]}" if warning else "")

    # --- files ----------------------------------------------------------------------------------

    def _on_attach(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Attach a file to the lab case")
        if path:
            self.attach_requested.emit(path)

    def add_file(self, path: str, attachment: LabAttachment) -> None:
        if len(self.files) >= MAX_ATTACHMENTS:
            self.show_error(DomainError(f"a case carries at most {MAX_ATTACHMENTS} files", field="attachments"))
            return
        self.files.append((path, attachment))
        self.file_list.addItem(QListWidgetItem(f"{attachment.title}  ({attachment.size})"))
        self.error.clear()

    def _on_remove_file(self) -> None:
        row = self.file_list.currentRow()
        if row >= 0:
            self.files.pop(row)
            self.file_list.takeItem(row)

    # --- sending --------------------------------------------------------------------------------

    def case_form(self) -> CaseForm:
        return CaseForm(lab=self.lab.currentData() or "", kind=self.kind.currentData(), teeth=self.teeth.text(),
                        shade=self.shade.text().strip(), material=self.material.currentData(),
                        instructions=self.instructions.toPlainText(), seat=self.seat_date(),
                        files=tuple(path for path, _ in self.files), numbering=self.numbering)

    def _on_send(self) -> None:
        self.error.clear()
        self.send_requested.emit(self.case_form())

    def show_error(self, exc: DomainError) -> None:
        """A refusal, next to the form, named by the form's own label; focus goes to that field."""
        label = FIELD_LABELS.get((exc.field or "").split(".")[0].split("[")[0], "")
        self.error.setText(f"{label}: {exc.message}" if label else exc.message)
        widget = {"lab": self.lab, "kind": self.kind, "teeth": self.teeth, "shade": self.shade, "seat": self.seat,
                  "attachments": self.attach_button}.get(exc.field or "")
        if widget is not None:
            widget.setFocus()
