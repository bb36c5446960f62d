"""The few questions asked when an image is imported: what kind it is, which teeth it shows, a title."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QWidget

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.imaging import parse_teeth
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.services.imaging import KINDS


class ImportDialog(QDialog):
    """Asks kind, teeth and title; refuses to close on teeth it cannot read, saying which."""

    def __init__(self, name: str, numbering: NumberingSystem, *, kind: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import {name}")
        self.numbering = numbering
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind of image")
        self.kind.addItem("From the file (DICOM) / not set", None)
        for value, label in KINDS.items():
            self.kind.addItem(label, value)
        if kind:
            self.kind.setCurrentIndex(max(0, self.kind.findData(kind)))
        self.teeth_edit = QLineEdit()
        self.teeth_edit.setAccessibleName("Teeth shown")
        self.teeth_edit.setPlaceholderText("e.g. 2-5, 30 31" if numbering is NumberingSystem.UNIVERSAL
                                           else "e.g. 46 47")
        self.title = QLineEdit(name.rsplit(".", 1)[0])
        self.title.setAccessibleName("Title")
        self.error = QLabel()
        self.error.setStyleSheet("color: #B00020;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("&Kind", self.kind)
        form.addRow(f"&Teeth ({numbering.value})", self.teeth_edit)
        form.addRow("T&itle", self.title)
        form.addRow(self.error)
        form.addRow(buttons)
        self.teeth: tuple[Tooth, ...] = ()

    def accept(self) -> None:
        try:
            self.teeth = parse_teeth(self.teeth_edit.text(), self.numbering)
        except DomainError as exc:
            self.error.setText(str(exc.message))
            self.teeth_edit.setFocus()
            return
        super().accept()

    @property
    def chosen_kind(self) -> str | None:
        value = self.kind.currentData()
        return str(value) if value else None
