"""File ▸ Set unlock PIN…: set, change or remove the signed-in user's own unlock PIN.

Changing or removing a PIN asks for the current one (the PIN store refuses otherwise). Mistakes are
said under the fields and the dialog stays open. Each check is one scrypt hash, about a tenth of a
second, so it runs here rather than as a background op; the OS keyring answers as fast.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.services.pins import MAX_DIGITS, MAX_TRIES, PinError, PinStore, validate

Outcome = Literal["set", "changed", "removed"]


def _pin_field(name: str) -> QLineEdit:
    field = QLineEdit()
    field.setAccessibleName(name)
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setMaxLength(MAX_DIGITS)
    field.setValidator(QRegularExpressionValidator(QRegularExpression(f"[0-9]{{0,{MAX_DIGITS}}}"), field))
    field.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly | Qt.InputMethodHint.ImhSensitiveData
                              | Qt.InputMethodHint.ImhNoPredictiveText)
    return field


class PinDialog(QDialog):
    """Accepted once the PIN is saved or removed; :attr:`outcome` says which."""

    def __init__(self, pins: PinStore, user: str, *, has_pin: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pins = pins
        self.user = user
        self.has_pin = has_pin
        self.outcome: Outcome | None = None
        self.setWindowTitle("Unlock PIN")
        self.setAccessibleName("Unlock PIN")
        intro = QLabel(
            ("Change or remove the PIN that unlocks this workstation for you." if has_pin else
             "A PIN only you know unlocks this workstation after it locks; without one, anyone can "
             "unlock it by typing your name.")
            + f" 4 to {MAX_DIGITS} digits, kept on this computer as a salted hash. After {MAX_TRIES} wrong "
            "PINs in a row the lock signs you out (open work is saved), and each further round waits "
            "longer. It guards your session: someone who signs out and in under their own name works, "
            "and is recorded, as themselves.")
        intro.setWordWrap(True)
        self.current = _pin_field("Current PIN")
        self.new = _pin_field("New PIN")
        self.confirm = _pin_field("Confirm new PIN")
        self.error = QLabel()
        self.error.setAccessibleName("PIN error")
        self.error.setStyleSheet("color:#B00020;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        if has_pin:
            form.addRow("&Current PIN", self.current)
        form.addRow("&New PIN", self.new)
        form.addRow("Con&firm new PIN", self.confirm)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("&Save PIN")
        self.save_button.setAccessibleName("Save PIN")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        self.remove_button: QPushButton | None = None
        if has_pin:
            self.remove_button = buttons.addButton("&Remove PIN", QDialogButtonBox.ButtonRole.DestructiveRole)
            self.remove_button.setAccessibleName("Remove PIN")
            self.remove_button.setToolTip("Unlock by name again (needs the current PIN)")
            self.remove_button.clicked.connect(self._remove)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(420)
        (self.current if has_pin else self.new).setFocus()

    def _refuse(self, text: str, field: QLineEdit) -> None:
        self.error.setText(text)
        field.selectAll()
        field.setFocus()

    def _save(self) -> None:
        new, current = self.new.text(), self.current.text()
        if self.has_pin and not current:
            self._refuse("Type your current PIN first.", self.current)
            return
        try:
            validate(new)
        except PinError as exc:
            self._refuse(str(exc), self.new)
            return
        if self.confirm.text() != new:
            self._refuse("The two new PINs differ: type it again to confirm.", self.confirm)
            return
        try:
            self.pins.set_pin(self.user, new, current=current if self.has_pin else None)
        except PinError as exc:
            self._refuse(str(exc), self.current if self.has_pin else self.new)
            return
        except Exception as exc:  # the keyring or the secrets file refused: say why, keep the dialog
            self._refuse(f"The PIN could not be saved: {exc}", self.new)
            return
        self.outcome = "changed" if self.has_pin else "set"
        self.accept()

    def _remove(self) -> None:
        if not self.current.text():
            self._refuse("Type your current PIN to remove it.", self.current)
            return
        try:
            self.pins.clear(self.user, self.current.text())
        except PinError as exc:
            self._refuse(str(exc), self.current)
            return
        except Exception as exc:
            self._refuse(f"The PIN could not be removed: {exc}", self.current)
            return
        self.outcome = "removed"
        self.accept()
