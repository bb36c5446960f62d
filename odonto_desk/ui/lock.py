"""The lock page: what the window shows instead of patient data while it is locked.

With an unlock PIN the page asks for it (the window checks it and counts wrong tries); without one
it keeps the older unlock by name, and says in one line that a PIN makes the lock the user's own.
Either way another person can sign out from here: open work is saved, queued edits stay queued.

Which users have a PIN is also noted in the settings (``persist/pin_users``, names only): a start
with no PIN then never loads the keyring, which is a quarter of a second of a cold start. The note
is only a hint for that start: every lock asks the PIN store itself and corrects the note.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.services.pins import MAX_DIGITS, normalise
from odonto_desk.ui.settings import Settings

PIN_USERS = "persist/pin_users"
SET_PIN_MENU = "File ▸ Set unlock PIN…"
# Calm and readable in light and dark themes: the card takes the theme's own colours.
CARD_STYLE = ("QFrame#lockCard { background: palette(base); border: 1px solid palette(mid); border-radius: 12px; }"
              "QLabel#lockTitle { font-size: 20pt; font-weight: 600; }"
              "QLabel#lockWho { font-size: 13pt; }"
              "QLabel#lockError { color: #B00020; font-weight: bold; }"
              "QLineEdit#lockPin { font-size: 16pt; padding: 4px 8px; }")


def pin_noted(settings: Settings, user: str) -> bool:
    """Whether the settings say ``user`` has a PIN here (a hint; the PIN store is the truth)."""
    return normalise(user) in settings.get(PIN_USERS).split("\n")


def note_pin(settings: Settings, user: str, has_pin: bool) -> None:
    names = set(settings.get(PIN_USERS).split("\n")) - {""}
    names = names | {normalise(user)} if has_pin else names - {normalise(user)}
    settings.set(PIN_USERS, "\n".join(names))


PIN_FAILURES = "persist/pin_failures"


def pin_failures(settings: Settings, user: str) -> tuple[int, float]:
    """(wrong PINs in a row, unix time of the last) for ``user``: (0, 0.0) after a right one."""
    import json

    count, last = json.loads(settings.get(PIN_FAILURES)).get(normalise(user), (0, 0.0))
    return int(count), float(last)


def note_pin_failure(settings: Settings, user: str, count: int, at: float) -> None:
    import json

    doc = json.loads(settings.get(PIN_FAILURES))
    if count:
        doc[normalise(user)] = [count, at]
    else:
        doc.pop(normalise(user), None)
    settings.set(PIN_FAILURES, json.dumps(doc))


class LockPage(QWidget):
    """The locked window's page. It only asks; :class:`MainWindow` decides (checks, counts, audits)."""

    pin_entered = Signal(str)  # Unlock, or Enter in the PIN field
    name_unlock_requested = Signal()  # Unlock when the user has no PIN: the name dialog
    sign_out_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Locked")
        self.uses_pin = False
        card = QFrame()
        card.setObjectName("lockCard")
        card.setFixedWidth(440)
        card.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Maximum)
        self.setStyleSheet(CARD_STYLE)

        self.title = QLabel("Locked")
        self.title.setObjectName("lockTitle")
        self.who = QLabel()
        self.who.setObjectName("lockWho")
        self.note = QLabel("Patient data is hidden.")
        for label in (self.title, self.who, self.note):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.pin = QLineEdit()
        self.pin.setObjectName("lockPin")
        self.pin.setAccessibleName("Unlock PIN")
        self.pin.setPlaceholderText("Unlock PIN")
        self.pin.setEchoMode(QLineEdit.EchoMode.Password)
        self.pin.setMaxLength(MAX_DIGITS)
        self.pin.setValidator(QRegularExpressionValidator(QRegularExpression(f"[0-9]{{0,{MAX_DIGITS}}}"), self.pin))
        self.pin.setInputMethodHints(Qt.InputMethodHint.ImhDigitsOnly | Qt.InputMethodHint.ImhSensitiveData
                                     | Qt.InputMethodHint.ImhNoPredictiveText)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setAccessibleName("Unlock")
        self.unlock_button.setDefault(True)
        policy = self.unlock_button.sizePolicy()
        policy.setVerticalPolicy(QSizePolicy.Policy.Preferred)  # as tall as the PIN field beside it
        self.unlock_button.setSizePolicy(policy)
        entry = QHBoxLayout()
        entry.addWidget(self.pin, 1)
        entry.addWidget(self.unlock_button)

        self.error = QLabel()
        self.error.setObjectName("lockError")
        self.error.setAccessibleName("Unlock error")
        self.error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.error.setWordWrap(True)
        self.error.hide()
        self.hint = QLabel(f"Set a PIN in {SET_PIN_MENU} so that only you can resume your session.")
        self.hint.setAccessibleName("Unlock PIN hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)

        rule = QFrame()
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        self.other = QLabel()
        self.other.setWordWrap(True)
        self.sign_out_button = QPushButton("Sign out")
        self.sign_out_button.setAccessibleName("Sign out")
        self.sign_out_button.setToolTip("Sign out so someone else can sign in; open work is saved")
        other = QHBoxLayout()
        other.addWidget(self.other, 1)
        other.addWidget(self.sign_out_button)

        body = QVBoxLayout(card)
        body.setContentsMargins(32, 28, 32, 24)
        body.setSpacing(10)
        body.addWidget(self.title)
        body.addWidget(self.who)
        body.addWidget(self.note)
        body.addSpacing(12)
        body.addLayout(entry)
        body.addWidget(self.error)
        body.addWidget(self.hint)
        body.addSpacing(12)
        body.addWidget(rule)
        body.addLayout(other)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        outer.addWidget(card, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(3)  # a little above the middle, where the eye goes first

        self.pin.returnPressed.connect(self._unlock)
        self.unlock_button.clicked.connect(self._unlock)
        self.sign_out_button.clicked.connect(self.sign_out_requested)

    def show_locked(self, *, user: str, role: str, uses_pin: bool, error: str = "") -> None:
        self.uses_pin = uses_pin
        self.who.setText(f"{user} · {role}")
        self.pin.clear()
        self.pin.setVisible(uses_pin)
        self.hint.setVisible(not uses_pin)
        self.other.setText(f"Not {user}? Sign out: open work is saved.")
        self.show_error(error)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def focus_entry(self) -> None:
        (self.pin if self.uses_pin else self.unlock_button).setFocus(Qt.FocusReason.OtherFocusReason)

    def _unlock(self) -> None:
        if self.uses_pin:
            self.pin_entered.emit(self.pin.text())
        else:
            self.name_unlock_requested.emit()
