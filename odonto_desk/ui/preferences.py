"""The Preferences dialog: one editor per ``setting/…`` option, built from :data:`settings.OPTIONS`.

Nothing here knows an option by name: a choice becomes a combo box, a flag a check box, a number a
spin box and anything else a line edit, each titled from its option. OK checks every value with
its option's own parser first; if one is refused, the dialog stays open, names the option and its
reason beside it, and saves nothing (all or none).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.ui.settings import OPTIONS, Option, Settings

PREFIX = "setting/"
_LABELS = {"okabe-ito": "Okabe–Ito (colour-blind safe)", "maxillary-first": "Maxillary first",
           "facials-first": "Facials first", "mandibular-lingual-first": "Mandibular lingual last",
           "custom": "Custom (the passes below)", "universal": "Universal (1–32, A–T)",
           "fdi": "FDI (11–48, 51–85)", "palmer": "Palmer", "haderup": "Haderup"}


class PreferencesDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Preferences")
        self.setAccessibleName("Preferences")
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for key, option in OPTIONS.items():
            if key.startswith(PREFIX):
                editor = self._editor(option, settings.get(key))
                editor.setAccessibleName(option.title)
                editor.setToolTip(option.title)
                self.editors[key] = editor
                form.addRow(option.title, editor)
        self.error = QLabel("")
        self.error.setAccessibleName("Preferences message")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #B71C1C; font-weight: bold;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    @staticmethod
    def _editor(option: Option, value: Any) -> QWidget:
        if option.choices:
            box = QComboBox()
            for choice in option.choices:
                box.addItem(_LABELS.get(choice, choice), choice)
            box.setCurrentIndex(max(0, box.findData(value)))
            return box
        if isinstance(option.default, bool):
            check = QCheckBox()
            check.setChecked(bool(value))
            return check
        if isinstance(option.default, int):
            spin = QSpinBox()
            spin.setRange(0, 999)
            spin.setValue(int(value))
            return spin
        line = QLineEdit(str(value))
        line.setMinimumWidth(320)
        if option.key == "setting/server_url":
            line.setPlaceholderText("blank: the embedded reference server")
        return line

    def value(self, key: str) -> Any:
        """What the editor of ``key`` holds now, before its option checks it."""
        editor = self.editors[key]
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QSpinBox):
            return editor.value()
        assert isinstance(editor, QLineEdit)
        return editor.text()

    def accept(self) -> None:
        parsed: dict[str, Any] = {}
        for key in self.editors:
            option = OPTIONS[key]
            try:
                parsed[key] = option.parse(self.value(key))
            except (ValueError, KeyError, TypeError) as exc:
                reason = getattr(exc, "message", None) or str(exc)
                self.error.setText(f"{option.title}: {reason}. Nothing was saved.")
                self.editors[key].setFocus()
                return
        for key, value in parsed.items():
            self.settings.set(key, value)
        self.error.setText("")
        super().accept()
